"""Fixtures: one app per test session, a clean database per test, clients and logins.

Runs on SQLite by default and on PostgreSQL when DATABASE_URL is set. On
PostgreSQL each test run gets its own empty schema (dropped at the end), so
runs never see each other's rows.
"""

from __future__ import annotations

import contextvars
import os
import uuid

import pytest
import sqlalchemy as sa
from flask import has_app_context
from flask.testing import FlaskClient

from config import TestConfig, normalise_database_url
from disclosures import create_app
from disclosures.extensions import db
from disclosures.models.audit import APPEND_ONLY_DDL, APPEND_ONLY_DROP
from disclosures.models.base import append_only_triggers, drop_append_only_triggers, record_tables

from . import factories


def _is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


@pytest.fixture(scope="session")
def database(tmp_path_factory):
    """(url, engine options) of an empty database for this test run."""
    url = normalise_database_url(os.environ.get("DATABASE_URL"))
    if url and _is_postgres(url):
        schema = f"test_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(url)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        options = {"connect_args": {"options": f"-csearch_path={schema}"}, "pool_pre_ping": True}
        yield {"url": url, "options": options, "schema": schema}
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("db") / "test.sqlite"
        yield {"url": f"sqlite:///{path}", "options": {}, "schema": None}


@pytest.fixture()
def empty_database(database, tmp_path):
    """(url, engine options) of a database with nothing in it, for building a schema from
    the migrations: a new SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if database["schema"] is None:
        yield f"sqlite:///{tmp_path / 'migrated.sqlite'}", {}
        return
    schema = f"mig_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(database["url"])
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield database["url"], {"connect_args": {"options": f"-csearch_path={schema}"}}
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(scope="session")
def make_app(database, tmp_path_factory):
    """Build an app on the test database with config overrides (CSRF on, limits on, …)."""
    instance = tmp_path_factory.mktemp("instance")
    os.environ["DISCLOSURES_INSTANCE"] = str(instance)

    def build(**overrides):
        settings = {
            "SQLALCHEMY_DATABASE_URI": database["url"],
            "SQLALCHEMY_ENGINE_OPTIONS": database["options"],
        }
        settings.update(overrides)
        app = create_app(TestConfig, **settings)
        app.test_client_class = IsolatedClient
        return app

    return build


class IsolatedClient(FlaskClient):
    """Each request runs in its own app context, as in production (its own ``g`` and
    database session). Afterwards the test's session ends its transaction, so the test
    reads what the request committed."""

    def open(self, *args, **kwargs):
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if has_app_context():  # not inside a redirect being followed
            db.session.rollback()
        return response


@pytest.fixture(scope="session")
def _session_app(make_app):
    app = make_app()
    with app.app_context():
        db.create_all()
    return app


def _empty_postgresql_quickly() -> bool:
    """PostgreSQL: delete the rows of the tables a test wrote to, and restart their ids, in
    one transaction with triggers off (``session_replication_role = replica``: neither the
    append-only triggers nor the foreign-key checks fire, so no order and no DDL is needed).
    A TRUNCATE of every table took about 330 ms per test, a third of the suite; this takes
    a few. False when the database user may not switch triggers off (not a superuser)."""
    tables = db.metadata.sorted_tables
    probe = " UNION ALL ".join(
        f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in tables)  # noqa: S608
    written = list(db.session.scalars(sa.text(probe)))
    if not written:
        db.session.rollback()
        return True
    try:
        db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    except sa.exc.DBAPIError:
        db.session.rollback()
        return False
    by_name = {t.name: t for t in tables}
    for name in written:
        db.session.execute(sa.text(f'DELETE FROM "{name}"'))  # noqa: S608 (our table names)
        if "id" in by_name[name].c:
            db.session.execute(sa.text("SELECT setval(pg_get_serial_sequence(:t, 'id'), 1, false)"),
                               {"t": f'"{name}"'})
    db.session.commit()
    return True


def _empty_all_tables() -> None:
    if db.engine.dialect.name == "postgresql" and _empty_postgresql_quickly():
        return
    # The append-only triggers refuse DELETE (SQLite) and TRUNCATE (PostgreSQL) on
    # audit_event and the record tables: lift them for the wipe only, in its own transaction.
    tables = db.metadata.sorted_tables
    dialect = db.engine.dialect.name
    records = record_tables(db.Model)
    for statement in APPEND_ONLY_DROP[dialect]:
        db.session.execute(sa.text(statement))
    for table in records:
        for statement in drop_append_only_triggers(table)[dialect]:
            db.session.execute(sa.text(statement))
    if dialect == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        # assignment → statement → assignment is a cycle (statement_id is use_alter):
        # check the foreign keys once, at commit, when everything is gone.
        db.session.execute(sa.text("PRAGMA defer_foreign_keys = ON"))
        for table in reversed(tables):
            db.session.execute(table.delete())
    for statement in APPEND_ONLY_DDL[dialect]:
        db.session.execute(sa.text(statement))
    for table in records:
        for statement in append_only_triggers(table)[dialect]:
            db.session.execute(sa.text(statement))
    db.session.commit()


@pytest.fixture()
def app(_session_app):
    """The app, inside an app context, with an empty database and an empty outbox."""
    _session_app.extensions["mail_outbox"] = []
    with _session_app.app_context():
        yield _session_app
        db.session.remove()
        _empty_all_tables()
        db.session.remove()
        # A wiped database gives its ids again: forget what this worker kept by id.
        from disclosures.public import microcache
        from disclosures.public.views import booklets

        microcache.clear()
        booklets.clear()


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def login_as(app):
    """``login_as(user)`` → a test client logged in as that user (through the real login form)."""

    def login(user, client=None):
        db.session.commit()  # the request sees only what is committed
        client = client or app.test_client()
        response = client.post(
            "/login", data={"email": user.email, "password": factories.PASSWORD}
        )
        assert response.status_code == 302, f"login failed for {user.email}"
        return client

    return login


@pytest.fixture()
def outbox(app):
    return app.extensions["mail_outbox"]
