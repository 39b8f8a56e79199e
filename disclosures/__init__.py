"""disclosures: faculty disclosure and conflict mitigation for accredited CME (ACCME Standard 3)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from .extensions import csrf, db, limiter, login_manager, migrate

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
MIGRATIONS_DIR = PROJECT_DIR / "migrations"


def _config_class(config):
    import config as config_module

    if config is None:
        name = os.environ.get("DISCLOSURES_CONFIG", "development")
        try:
            return config_module.CONFIGS[name]
        except KeyError:
            raise RuntimeError(
                f"DISCLOSURES_CONFIG={name!r} is not one of {sorted(config_module.CONFIGS)}"
            ) from None
    if isinstance(config, str):
        return config_module.CONFIGS[config]
    return config


def _instance_secret_key(instance_path: str) -> str:
    """Development only: a random key kept in the instance folder, never in the code."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite: enforce foreign keys, and WAL so readers never block the writer."""
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


def create_app(config=None, **overrides) -> Flask:
    """Build the application. ``config``: a class, a name, or None (``DISCLOSURES_CONFIG``)."""
    config_class = _config_class(config)
    if hasattr(config_class, "check"):
        config_class.check()

    app = Flask(
        __name__,
        template_folder=str(PROJECT_DIR / "templates"),
        instance_path=os.environ.get("DISCLOSURES_INSTANCE", str(PROJECT_DIR / "instance")),
        instance_relative_config=True,
    )
    app.config.from_object(config_class)
    app.config.update(overrides)
    if hasattr(config_class, "init_app"):
        config_class.init_app(app)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    # Behind TRUSTED_PROXIES reverse proxies, the client's address, scheme and host are the
    # ones the proxies forwarded (rate limits key on the client, not on the proxy). With 0,
    # the headers are ignored: a client could forge them.
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret_key(app.instance_path)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = (
            f"sqlite:///{Path(app.instance_path) / 'disclosures.db'}"
        )

    db.init_app(app)
    # A commit that wrote anything empties this process's micro-cache of public room sheets.
    from .public.microcache import watch_writes

    watch_writes(db.session)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), compare_type=True, render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    from .jobs.queue import init_queue

    init_queue(app)

    from . import models  # noqa: F401  (register every table with the metadata)
    from .api import views as api_views
    from .auth import views as auth_views
    from .faculty import views as faculty_views
    from .jobs import views as jobs_views
    from .main import views as main_views
    from .openpayments import views as openpayments_views
    from .programme import views as programme_views
    from .public import views as public_views
    from .records import views as records_views
    from .registry import views as registry_views
    from .reminders import views as reminders_views
    from .review import views as review_views
    from .staff import views as staff_views
    from .web import register_web

    register_web(app)
    for module in (auth_views, main_views, faculty_views, review_views, staff_views,
                   programme_views, reminders_views, records_views, registry_views, public_views,
                   openpayments_views,
                   jobs_views):
        app.register_blueprint(module.bp)
    app.register_blueprint(api_views.bp)
    app.register_blueprint(api_views.tokens_bp)
    # First of all request hooks: CSRF reads the form, and so the upload limit, before any other.
    app.before_request_funcs.setdefault(None, []).insert(0, openpayments_views.raise_upload_limit)

    from .cli import register_cli
    from .jobs.commands import worker_command
    from .openpayments.commands import import_open_payments_command
    from .programme.commands import import_programme_command
    from .publication.commands import refresh_record_command, verify_sheet_command
    from .records.commands import export_records_command
    from .reminders.commands import send_reminders_command

    register_cli(app)
    for command in (import_programme_command, send_reminders_command, export_records_command,
                    refresh_record_command, verify_sheet_command,
                    import_open_payments_command, worker_command):
        app.cli.add_command(command)
    return app

