"""The migrations build the schema from nothing, and match the models exactly."""

import uuid

import flask_migrate
import pytest
import sqlalchemy as sa


@pytest.fixture()
def empty_database(database, tmp_path):
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


def test_upgrade_from_empty_then_check_reports_no_difference(make_app, empty_database):
    url, options = empty_database
    app = make_app(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options)
    with app.app_context():
        flask_migrate.upgrade()
        flask_migrate.check()  # raises if models and migrations differ
        from disclosures.extensions import db

        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"user_account", "meeting", "room", "activity", "assignment", "company",
                "disclosure", "relationship", "determination", "mitigation",
                "audit_event"} <= tables
        flask_migrate.downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
