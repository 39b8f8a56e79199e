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


def _counts(engine) -> dict[str, int]:
    tables = ("user_account", "meeting", "room", "activity", "assignment", "company",
              "disclosure", "relationship", "determination", "mitigation", "audit_event")
    with engine.connect() as conn:
        return {t: conn.execute(sa.select(sa.func.count()).select_from(sa.table(t))).scalar()
                for t in tables}


def test_length_checks_upgrade_a_database_with_data_and_lose_nothing(make_app, empty_database):
    # 0002 rebuilds every table on SQLite (batch mode, foreign keys off for the rebuild):
    # a meeting's worth of rows must come through intact, and over-long text is then refused
    # by the schema itself, not only by the forms.
    from disclosures.demo import load_demo_meeting
    from disclosures.extensions import db

    url, options = empty_database
    app = make_app(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options)
    with app.app_context():
        # The demo is written through today's models, so into today's schema; then the
        # database goes back to 0001 with its rows (later revisions add columns the demo
        # fills, which a 0001 schema lacks).
        flask_migrate.upgrade()
        load_demo_meeting()
        db.session.commit()
        db.session.remove()
        flask_migrate.downgrade(revision="0001")
        before = _counts(db.engine)
        assert before["determination"] > 50 and before["mitigation"] > 5
        flask_migrate.upgrade()
        assert _counts(db.engine) == before
        flask_migrate.check()
        with db.engine.connect() as conn:
            relationship_id = conn.execute(sa.text("SELECT min(id) FROM relationship")).scalar()
            with pytest.raises(sa.exc.IntegrityError):
                conn.execute(sa.text("UPDATE relationship SET detail = :d WHERE id = :i"),
                             {"d": "x" * 501, "i": relationship_id})
            conn.rollback()
            conn.execute(sa.text("UPDATE relationship SET detail = :d WHERE id = :i"),
                         {"d": "x" * 500, "i": relationship_id})
            conn.rollback()
        flask_migrate.downgrade(revision="0001")
        assert _counts(db.engine) == before
        db.session.remove()
        db.engine.dispose()
