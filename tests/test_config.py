import pytest

from config import ProductionConfig, normalise_database_url
from disclosures import create_app


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


def test_production_starts_with_a_real_key_and_secure_cookies(monkeypatch, database):
    monkeypatch.setenv("SECRET_KEY", "x" * 48)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://cme.example.org")
    app = create_app(ProductionConfig, SQLALCHEMY_DATABASE_URI=database["url"],
                     SQLALCHEMY_ENGINE_OPTIONS=database["options"])
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/login")
    assert "max-age=" in response.headers["Strict-Transport-Security"]


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
