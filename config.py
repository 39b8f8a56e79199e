"""Configuration classes, read from the environment with safe defaults.

``Config`` is the development default: SQLite in the instance folder and a
secret key generated once per checkout and kept in the instance folder (never
in the code). ``ProductionConfig`` refuses to start without a real
``SECRET_KEY`` and answers only to the host of ``PUBLIC_BASE_URL`` (plus
``TRUSTED_HOSTS``). ``TestConfig`` is what the test suite uses.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit


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


def _list(name: str) -> list[str]:
    """A comma-separated environment variable as a list (empty items dropped)."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


MIN_SECRET_KEY_BITS = 128
PLACEHOLDER_KEYS = {"dev", "change-me", "changeme", "secret"}
MAKE_A_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


def _shannon_bits(symbols) -> float:
    """Length × Shannon entropy of the symbols' distribution: what the key could hold at
    most if each symbol were drawn independently with the frequencies seen."""
    symbols = list(symbols)
    counts = Counter(symbols)
    total = len(symbols)
    return -sum(n * math.log2(n / total) for n in counts.values()) if total else 0.0


def secret_key_entropy_bits(key: str) -> float:
    """A rough, deliberately pessimistic estimate of the randomness in ``key``.

    The lower of: the entropy of its characters (``"x" * 48`` has none) and the entropy
    of the steps between neighbouring characters (``"abcdef..."`` or ``"0123..."`` use
    many characters but one step). A real random key scores far above 128 bits by both
    (``secrets.token_urlsafe(48)`` about 330).
    """
    steps = [ord(b) - ord(a) for a, b in zip(key, key[1:], strict=False)]
    return min(_shannon_bits(key), _shannon_bits(steps))


def _repeating_period(key: str) -> int | None:
    """The length of a shorter pattern that ``key`` repeats (``"abcabcab"`` → 3), if any."""
    for period in range(1, len(key) // 2 + 1):
        if all(key[i] == key[i - period] for i in range(period, len(key))):
            return period
    return None


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` is not fit to sign production sessions, or None when it is."""
    if len(key) < 32:
        return "is shorter than 32 characters"
    if key.lower() in PLACEHOLDER_KEYS:
        return "is a placeholder"
    period = _repeating_period(key)
    if period == 1:
        return "is one character repeated"
    if period is not None:
        return f"repeats the same {period}-character pattern"
    bits = secret_key_entropy_bits(key)
    if bits < MIN_SECRET_KEY_BITS:
        return (f"looks like it holds only about {bits:.0f} bits of randomness "
                f"(at least {MIN_SECRET_KEY_BITS} are needed)")
    return None


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
    # With REDIS_URL set, every app server counts in the same Redis (a limit one server
    # counted is seen by all).
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or os.environ.get(
        "REDIS_URL") or "memory://"
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    RATELIMIT_HEADERS_ENABLED = True
    # Behind a reverse proxy: how many proxies in front of the app set X-Forwarded-For,
    # -Proto and -Host (nginx as in the README: 1). 0 trusts none of those headers.
    TRUSTED_PROXIES = _int("TRUSTED_PROXIES", 0)
    # Hosts the app answers to (Flask's TRUSTED_HOSTS; others get 400). None: any host.
    # ProductionConfig adds the host of PUBLIC_BASE_URL (see init_app).
    TRUSTED_HOSTS = _list("TRUSTED_HOSTS") or None
    # Per client address, every POST to log in, accept an invitation or reset a password.
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;100 per hour")
    # Per account, FAILED log-ins only, from browsers without that account's device cookie
    # (a browser that logged in to the account before has its own budget of the same size).
    LOGIN_ACCOUNT_RATE_LIMIT = os.environ.get("LOGIN_ACCOUNT_RATE_LIMIT", "10 per 15 minutes")
    # Per e-mail address asked for: password reset requests (no mail-bombing one person).
    RESET_ADDRESS_RATE_LIMIT = os.environ.get("RESET_ADDRESS_RATE_LIMIT", "5 per hour")
    # How long a browser that logged in keeps its device cookie (exempt from the per-account
    # lock-out that failed attempts from elsewhere cause).
    LOGIN_DEVICE_DAYS = _int("LOGIN_DEVICE_DAYS", 180)
    # Searches of the public all-faculty page, per client address (letter pages and room
    # sheets are never limited). Attendees behind one venue NAT share it: raise it there.
    SEARCH_RATE_LIMIT = os.environ.get("SEARCH_RATE_LIMIT", "30 per minute")
    # Requests to the JSON API (/api/v1) per token (per client address without one).
    API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "120 per minute")

    # Per-worker micro-cache of anonymous room sheets (a burst of scans costs no query).
    # The worker that saves a change shows it at once; other workers within this many
    # seconds. 0 turns it off. Memory per worker is bounded by entries and bytes.
    PUBLIC_CACHE_SECONDS = _float("PUBLIC_CACHE_SECONDS", 2.0)
    PUBLIC_CACHE_MAX_ENTRIES = _int("PUBLIC_CACHE_MAX_ENTRIES", 1024)
    PUBLIC_CACHE_MAX_BYTES = _int("PUBLIC_CACHE_MAX_BYTES", 64 * 1024 * 1024)

    # Jobs (disclosures.jobs): the task queue. Redis when REDIS_URL is set (production, several
    # app servers and workers), else SQLite in the instance folder (instance/huey.db).
    REDIS_URL = os.environ.get("REDIS_URL") or None
    HUEY_IMMEDIATE = _bool("HUEY_IMMEDIATE", False)  # run each job inside the request (tests)
    # A running job stamps itself every JOB_HEARTBEAT_SECONDS; one silent for
    # JOB_STALE_SECONDS (its worker died) is taken over by another worker.
    JOB_HEARTBEAT_SECONDS = _float("JOB_HEARTBEAT_SECONDS", 5.0)
    JOB_STALE_SECONDS = _float("JOB_STALE_SECONDS", 60.0)
    # How long a job's result file (the records ZIP) stays downloadable.
    JOB_RESULT_HOURS = _int("JOB_RESULT_HOURS", 72)
    # Reminders: a message the server answers 4xx, or a lost connection, is tried again this
    # many times, waiting JOB_SMTP_BACKOFF_SECONDS, then twice that, … (the job then stops
    # and is resumed later); a 5xx answer fails that message alone, with the server's reason.
    JOB_SMTP_RETRIES = _int("JOB_SMTP_RETRIES", 6)
    JOB_SMTP_BACKOFF_SECONDS = _float("JOB_SMTP_BACKOFF_SECONDS", 1.0)
    # Periodic work of the worker (no cron lines): publish-static every minute when this is
    # set; disclosure reminders and reviewer summaries every day at this UTC hour; each hour,
    # disclosure reminders for meetings that start within STARTING_SOON_DAYS.
    PUBLISH_STATIC_DIR = os.environ.get("PUBLISH_STATIC_DIR") or None
    DAILY_REMINDERS_HOUR = _int("DAILY_REMINDERS_HOUR", 8)
    STARTING_SOON_DAYS = _int("STARTING_SOON_DAYS", 3)
    # Staff's "starting soon" list: roles not cleared whose session starts within these hours.
    STARTING_SOON_HOURS = _int("STARTING_SOON_HOURS", 48)

    @staticmethod
    def init_app(app) -> None:
        """Settings derived from others once the app's configuration is complete."""


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
        problem = "is not set" if not key else secret_key_problem(key)
        if problem:
            raise RuntimeError(
                f"ProductionConfig needs a real SECRET_KEY: the SECRET_KEY environment variable "
                f"{problem}. Set it to a random value of at least 32 characters, made by a "
                f"random generator, for example the output of `{MAKE_A_KEY}`."
            )
        if not os.environ.get("PUBLIC_BASE_URL"):
            raise RuntimeError(
                "ProductionConfig needs PUBLIC_BASE_URL (the https address attendees reach, "
                "printed in every room QR code)."
            )

    @staticmethod
    def init_app(app) -> None:
        """Answer only to the host of PUBLIC_BASE_URL and the hosts listed in TRUSTED_HOSTS
        (e.g. the address a load balancer's health check uses); any other Host is a 400."""
        public_host = urlsplit(app.config["PUBLIC_BASE_URL"]).hostname
        listed = app.config.get("TRUSTED_HOSTS") or []
        app.config["TRUSTED_HOSTS"] = list(dict.fromkeys([h for h in [public_host, *listed] if h]))


class TestConfig(Config):
    NAME = "test"
    TESTING = True
    SECRET_KEY = "test-only-secret-key-not-for-production"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = normalise_database_url(os.environ.get("DATABASE_URL"))
    PUBLIC_BASE_URL = "https://cme.example.org"
    WTF_CSRF_ENABLED = False
    # The limiter stays on (it is one object shared by every app); the suite's limit is high
    # and tests of the limit build an app with a low one.
    TRUSTED_HOSTS = None
    TRUSTED_PROXIES = 0
    LOGIN_RATE_LIMIT = "10000 per minute"
    LOGIN_ACCOUNT_RATE_LIMIT = "10000 per minute"
    RESET_ADDRESS_RATE_LIMIT = "10000 per minute"
    SEARCH_RATE_LIMIT = "10000 per minute"
    API_RATE_LIMIT = "10000 per minute"
    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 8025
    MAIL_SUPPRESS_SEND = True
    SERVER_NAME = None
    HUEY_IMMEDIATE = True  # jobs run inside the request that starts them
    REDIS_URL = None
    RATELIMIT_STORAGE_URI = "memory://"
    PUBLISH_STATIC_DIR = None
    JOB_SMTP_BACKOFF_SECONDS = 0.01


CONFIGS = {"development": Config, "production": ProductionConfig, "test": TestConfig}
