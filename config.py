"""Configuration classes, read from the environment with safe defaults.

``Config`` is the development default: SQLite in the instance folder and a
secret key generated once per checkout and kept in the instance folder (never
in the code). ``ProductionConfig`` refuses to start without a real
``SECRET_KEY``. ``TestConfig`` is what the test suite uses.
"""

from __future__ import annotations

import os
from datetime import timedelta


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def normalise_database_url(url: str | None) -> str | None:
    """Let people paste the usual ``postgres://`` URL; we drive it with psycopg 3."""
    if not url:
        return None
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://"):]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY")  # None: create_app uses the instance key file
    SQLALCHEMY_DATABASE_URI = normalise_database_url(os.environ.get("DATABASE_URL"))
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")

    # Mail (reminders, invitations, password resets).
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
    MAIL_PORT = _int("MAIL_PORT", 25)
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
    MAIL_USE_SSL = _bool("MAIL_USE_SSL", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "cme-office@localhost")
    # Without MAIL_SERVER set, messages are kept in memory (development): staff see the links.
    MAIL_SUPPRESS_SEND = _bool("MAIL_SUPPRESS_SEND", "MAIL_SERVER" not in os.environ)

    # Workflow rules.
    DISCLOSURE_VALID_DAYS = _int("DISCLOSURE_VALID_DAYS", 365)
    DISCLOSURE_LOOKBACK_MONTHS = 24
    INVITATION_VALID_HOURS = _int("INVITATION_VALID_HOURS", 24 * 14)
    PASSWORD_RESET_VALID_SECONDS = _int("PASSWORD_RESET_VALID_SECONDS", 3600)
    REMINDER_INTERVAL_HOURS = _int("REMINDER_INTERVAL_HOURS", 72)

    # Requests and sessions.
    MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 16 * 1024 * 1024)
    # Programme uploads (CSV/XLSX) may be larger; the import route allows this much.
    IMPORT_MAX_BYTES = _int("IMPORT_MAX_BYTES", 50 * 1024 * 1024)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=_int("SESSION_HOURS", 12))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None  # a disclosure form may stay open for a long time
    SECURITY_HSTS = False

    # Rate limits (Flask-Limiter). In-memory by default; Redis via RATELIMIT_STORAGE_URI.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;100 per hour")
    # Searches of the public all-faculty page, per client address (letter pages and room
    # sheets are never limited). Attendees behind one venue NAT share it: raise it there.
    SEARCH_RATE_LIMIT = os.environ.get("SEARCH_RATE_LIMIT", "30 per minute")

    # Where generated PDFs are cached (keyed by the data they show).
    DOCUMENT_CACHE_DIR = os.environ.get("DOCUMENT_CACHE_DIR")  # default: instance/cache
    # Longest time a rename of a person or company can take to show on a cached public page
    # (reviews, disclosures and programme changes show at once: they change the fingerprint).
    DOCUMENT_CACHE_SECONDS = _int("DOCUMENT_CACHE_SECONDS", 600)
    # Per-worker micro-cache of anonymous room sheets (a burst of scans costs no query).
    # The worker that saves a change shows it at once; other workers within this many
    # seconds. 0 turns it off. Memory per worker is bounded by entries and bytes.
    PUBLIC_CACHE_SECONDS = _float("PUBLIC_CACHE_SECONDS", 2.0)
    PUBLIC_CACHE_MAX_ENTRIES = _int("PUBLIC_CACHE_MAX_ENTRIES", 1024)
    PUBLIC_CACHE_MAX_BYTES = _int("PUBLIC_CACHE_MAX_BYTES", 64 * 1024 * 1024)


class ProductionConfig(Config):
    NAME = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    SECURITY_HSTS = True
    PREFERRED_URL_SCHEME = "https"

    @classmethod
    def check(cls) -> None:
        """Refuse to start with a missing or weak secret key."""
        key = os.environ.get("SECRET_KEY", "")
        if len(key) < 32 or key.lower() in {"dev", "change-me", "changeme", "secret"}:
            raise RuntimeError(
                "ProductionConfig needs a real SECRET_KEY: set the SECRET_KEY environment "
                "variable to a random value of at least 32 characters, for example the output "
                "of `python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
            )
        if not os.environ.get("PUBLIC_BASE_URL"):
            raise RuntimeError(
                "ProductionConfig needs PUBLIC_BASE_URL (the https address attendees reach, "
                "printed in every room QR code)."
            )


class TestConfig(Config):
    NAME = "test"
    TESTING = True
    SECRET_KEY = "test-only-secret-key-not-for-production"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = normalise_database_url(os.environ.get("DATABASE_URL"))
    PUBLIC_BASE_URL = "https://cme.example.org"
    WTF_CSRF_ENABLED = False
    # The limiter stays on (it is one object shared by every app); the suite's limit is high
    # and tests of the limit build an app with a low one.
    LOGIN_RATE_LIMIT = "10000 per minute"
    SEARCH_RATE_LIMIT = "10000 per minute"
    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 8025
    MAIL_SUPPRESS_SEND = True
    SERVER_NAME = None


CONFIGS = {"development": Config, "production": ProductionConfig, "test": TestConfig}
