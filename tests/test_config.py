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
