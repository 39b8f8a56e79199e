import secrets
import string

import pytest

from config import ProductionConfig, normalise_database_url
from disclosures import create_app


@pytest.fixture()
def production(monkeypatch, database):
    """``production(**overrides)``: an app under ProductionConfig with a real key."""
    monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://cme.example.org")

    def build(**overrides):
        settings = {"SQLALCHEMY_DATABASE_URI": database["url"],
                    "SQLALCHEMY_ENGINE_OPTIONS": database["options"],
                    "PUBLIC_BASE_URL": "https://cme.example.org", "TRUSTED_HOSTS": None}
        settings.update(overrides)
        return create_app(ProductionConfig, **settings)

    return build


def test_production_refuses_to_start_without_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://cme.example.org")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(ProductionConfig)


def test_production_refuses_a_weak_secret_key(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "dev")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://cme.example.org")
    with pytest.raises(RuntimeError, match="at least 32 characters"):
        create_app(ProductionConfig)


@pytest.mark.parametrize(
    "key, reason",
    [
        ("x" * 32, "one character repeated"),
        ("x" * 64, "one character repeated"),
        ("abc" * 16, "repeats the same 3-character pattern"),
        ("0123456789abcdef" * 3, "repeats the same 16-character pattern"),
        (secrets.token_urlsafe(12) * 3, "repeats the same"),
        (string.ascii_letters[:40], "bits of randomness"),  # every letter once, in order
        ("0123456789" * 3 + "0123", "repeats the same 10-character pattern"),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "bits of randomness"),
        ("correct-horse" + "a" * 30, "bits of randomness"),
    ],
)
def test_production_refuses_a_secret_key_with_little_randomness(monkeypatch, key, reason):
    monkeypatch.setenv("SECRET_KEY", key)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://cme.example.org")
    with pytest.raises(RuntimeError) as refused:
        create_app(ProductionConfig)
    message = str(refused.value)
    assert reason in message
    assert "secrets.token_urlsafe(48)" in message  # says how to make a good one
    assert key not in message  # and does not print the key


@pytest.mark.parametrize("make", [lambda: secrets.token_urlsafe(48), lambda: secrets.token_urlsafe(32),
                                  lambda: secrets.token_hex(32)])
def test_production_accepts_keys_from_a_random_generator(production, make, monkeypatch):
    for _ in range(20):
        monkeypatch.setenv("SECRET_KEY", make())
        production()


def test_production_starts_with_a_real_key_and_secure_cookies(production):
    app = production()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/login", base_url="https://cme.example.org")
    assert response.status_code == 200
    assert "max-age=" in response.headers["Strict-Transport-Security"]


def test_production_answers_only_to_the_public_host(production):
    client = production().test_client()
    assert client.get("/login", base_url="https://cme.example.org").status_code == 200
    assert client.get("/login", headers={"Host": "cme.example.org:443"}).status_code == 200
    for host in ("evil.example", "cme.example.org.evil.example", "127.0.0.1"):
        response = client.get("/login", headers={"Host": host})
        assert response.status_code == 400, host
        body = response.get_data(as_text=True)
        assert "does not answer to that address" in body and "https://cme.example.org" in body
        assert host not in body
        response = client.post("/password/reset", data={"email": "a@example.org"},
                               headers={"Host": host})
        assert response.status_code == 400, host


def test_health_check_answers_a_load_balancer_host_listed_in_trusted_hosts(production):
    client = production(TRUSTED_HOSTS=["10.0.0.7", "lb.internal"]).test_client()
    assert client.get("/healthz", headers={"Host": "10.0.0.7:8000"}).get_json() == {"status": "ok"}
    assert client.get("/healthz", headers={"Host": "lb.internal"}).status_code == 200
    assert client.get("/healthz", base_url="https://cme.example.org").status_code == 200
    assert client.get("/healthz", headers={"Host": "10.0.0.8"}).status_code == 400


def test_behind_a_proxy_the_forwarded_host_is_the_one_checked(production):
    client = production(TRUSTED_PROXIES=1).test_client()
    upstream = {"Host": "127.0.0.1:8000"}  # a proxy that passes its upstream's address
    response = client.get("/login", headers={**upstream, "X-Forwarded-Host": "cme.example.org"})
    assert response.status_code == 200
    response = client.get("/login", headers={**upstream, "X-Forwarded-Host": "evil.example"})
    assert response.status_code == 400


def test_development_answers_to_any_host_unless_trusted_hosts_is_set(make_app, app):
    assert make_app().test_client().get("/login", headers={"Host": "laptop.local"}).status_code == 200
    listed = make_app(TRUSTED_HOSTS=["cme.test"]).test_client()
    assert listed.get("/login", headers={"Host": "laptop.local"}).status_code == 400
    assert listed.get("/login", headers={"Host": "cme.test"}).status_code == 200


def test_development_key_is_kept_in_the_instance_folder(tmp_path, monkeypatch, database):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DISCLOSURES_INSTANCE", str(tmp_path))
    from config import Config

    class Dev(Config):
        SECRET_KEY = None

    first = create_app(Dev, SQLALCHEMY_DATABASE_URI=database["url"],
                       SQLALCHEMY_ENGINE_OPTIONS=database["options"])
    second = create_app(Dev, SQLALCHEMY_DATABASE_URI=database["url"],
                        SQLALCHEMY_ENGINE_OPTIONS=database["options"])
    assert len(first.config["SECRET_KEY"]) >= 32
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "given, expected",
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_url_is_normalised_for_psycopg3(given, expected):
    assert normalise_database_url(given) == expected
