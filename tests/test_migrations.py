"""The migrations build the schema from nothing, and match the models exactly."""


import flask_migrate
import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.slow  # each test builds a database from the migrations


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


# Rows of roles held for the whole meeting (0020a) and the decisions about them.
MEETING_LEVEL_ROWS = {
    "assignment": "SELECT count(*) FROM assignment WHERE activity_id IS NULL",
    "determination": "SELECT count(*) FROM determination WHERE assignment_id IN "
                     "(SELECT id FROM assignment WHERE activity_id IS NULL)",
    "mitigation": "SELECT count(*) FROM mitigation WHERE determination_id IN "
                  "(SELECT d.id FROM determination d JOIN assignment a ON a.id = d.assignment_id "
                  "WHERE a.activity_id IS NULL)",
}


def _meeting_level_rows(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {table: conn.execute(sa.text(query)).scalar()
                for table, query in MEETING_LEVEL_ROWS.items()}


def test_length_checks_upgrade_a_database_with_data_and_lose_nothing(make_app, empty_database):
    # 0002 rebuilds every table on SQLite (batch mode, foreign keys off for the rebuild):
    # a meeting's worth of rows must come through intact, and over-long text is then refused
    # by the schema itself, not only by the forms.
    from disclosures.demo import load_demo_meeting
    from disclosures.extensions import db

    url, options = empty_database
    app = make_app(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options)
    with app.app_context():
        # The demo is written with today's models, so at head; back to 0001 keeps every row.
        flask_migrate.upgrade()
        load_demo_meeting()
        db.session.commit()
        db.session.remove()
        before = _counts(db.engine)
        assert before["determination"] > 50 and before["mitigation"] > 5
        # 0020a: roles held for the whole meeting (planning committee, reviewers) cannot exist
        # before it; its downgrade takes them and their decisions away, and nothing else.
        before = {table: n - _meeting_level_rows(db.engine).get(table, 0)
                  for table, n in before.items()}
        flask_migrate.downgrade(revision="0001")
        assert _counts(db.engine) == before
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


def test_mitigation_key_keeps_every_existing_duplicate_and_refuses_new_ones(make_app, empty_database):
    # 0004d: a determination holds each (method, notes) once. Rows recorded twice before
    # are part of the record: they stay, with keys of their own, and still carry over
    # when the person submits a new version.
    from disclosures.demo import load_demo_meeting
    from disclosures.extensions import db
    from disclosures.faculty.operations import DisclosureEntry, RelationshipEntry, submit_disclosure
    from disclosures.models import Disclosure, Mitigation, User

    url, options = empty_database
    app = make_app(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options)
    with app.app_context():
        flask_migrate.upgrade()
        load_demo_meeting()
        db.session.commit()
        flask_migrate.downgrade(revision="0003")
        with db.engine.begin() as conn:
            first = conn.execute(sa.text("SELECT min(id) FROM mitigation")).scalar()
            notes = conn.execute(sa.text("SELECT notes FROM mitigation WHERE id = :i"), {"i": first}).scalar()
            for copy in (notes, f"  {notes.upper()} "):  # the same, and the same spaced and cased
                conn.execute(sa.text(
                    "INSERT INTO mitigation (determination_id, method, notes, recorded_by_id, recorded_at, "
                    "version_id) SELECT determination_id, method, :notes, recorded_by_id, recorded_at, 1 "
                    "FROM mitigation WHERE id = :i"), {"i": first, "notes": copy})
        before = _counts(db.engine)
        flask_migrate.upgrade()
        assert _counts(db.engine) == before
        flask_migrate.check()
        original = db.session.get(Mitigation, first)
        copies = db.session.scalars(sa.select(Mitigation).where(
            Mitigation.determination_id == original.determination_id, Mitigation.method == original.method,
            Mitigation.id != first)).all()
        assert len(copies) == 2
        assert [c.notes_key for c in copies] == [f"legacy-{c.id}" for c in copies]
        assert len(original.notes_key) == 64

        with pytest.raises(sa.exc.IntegrityError):
            db.session.add(Mitigation(determination_id=original.determination_id, method=original.method,
                                      notes=original.notes.upper(), recorded_by_id=original.recorded_by_id))
            db.session.flush()
        db.session.rollback()

        # The person resubmits the same relationships: every mitigation is carried over.
        relationship = original.determination.relationship
        person = db.session.get(User, relationship.disclosure.user_id)
        latest = relationship.disclosure
        entry = DisclosureEntry(
            has_relationships=True,
            relationships=[RelationshipEntry(r.company.name, r.nature, r.started_on, r.ended_on, r.ended_on is None)
                           for r in latest.relationships],
            attestation_name=person.full_name, attested_complete=True,
        )
        carried_before = db.session.scalar(sa.select(sa.func.count(Mitigation.id)))
        submit_disclosure(person, entry)
        db.session.commit()
        newest = db.session.scalar(sa.select(Disclosure).where(Disclosure.user_id == person.id)
                                   .order_by(Disclosure.version.desc()).limit(1))
        assert newest.version == latest.version + 1
        carried = db.session.scalar(sa.select(sa.func.count(Mitigation.id))) - carried_before
        assert carried == sum(len(d.mitigations) for r in latest.relationships for d in r.determinations)
        assert carried >= 3

        db.session.remove()  # its read locks would hold the downgrade's ALTER TABLE on PostgreSQL
        flask_migrate.downgrade(revision="0003")
        db.engine.dispose()


def test_roles_become_memberships_and_nobody_loses_access(make_app, empty_database):
    """0005: a staff account becomes a site administrator and staff of every meeting, a
    reviewer a reviewer of every meeting, faculty hold no role; the downgrade gives back
    the old ranks."""
    from disclosures.extensions import db

    url, options = empty_database
    app = make_app(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options)
    with app.app_context():
        flask_migrate.upgrade(revision="0004e")
        with db.engine.begin() as conn:
            for n, role in enumerate(("staff", "reviewer", "faculty"), start=1):
                conn.execute(sa.text(
                    "INSERT INTO user_account (id, email, full_name, role, is_active, "
                    "session_nonce, created_at) VALUES (:id, :email, :name, :role, :active, "
                    "'n', CURRENT_TIMESTAMP)"),
                    {"id": n, "email": f"{role}@example.org", "name": role.title(), "role": role,
                     "active": True})
            for n in (1, 2):
                conn.execute(sa.text(
                    "INSERT INTO meeting (id, name, slug, starts_on, ends_on, timezone, created_at) "
                    "VALUES (:id, :name, :slug, '2027-10-06', '2027-10-09', 'UTC', CURRENT_TIMESTAMP)"),
                    {"id": n, "name": f"Meeting {n}", "slug": f"meeting-{n}"})
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            site_roles = dict(conn.execute(sa.text("SELECT email, site_role FROM user_account")).all())
            memberships = sorted(conn.execute(sa.text(
                "SELECT user_id, meeting_id, role FROM membership")).all())
        assert site_roles == {"staff@example.org": "admin", "reviewer@example.org": None,
                              "faculty@example.org": None}
        assert [tuple(m) for m in memberships] == [(1, 1, "staff"), (1, 2, "staff"),
                                                   (2, 1, "reviewer"), (2, 2, "reviewer")]
        flask_migrate.downgrade(revision="0004e")
        with db.engine.connect() as conn:
            roles = dict(conn.execute(sa.text("SELECT email, role FROM user_account")).all())
        assert roles == {"staff@example.org": "staff", "reviewer@example.org": "reviewer",
                         "faculty@example.org": "faculty"}
        db.engine.dispose()


def test_provider_and_column_map_columns_upgrade_keep_meetings_and_downgrade_cleanly(make_app, empty_database):
    """0016p: a meeting keeps its rows through the upgrade (no provider, no column map yet),
    the provider's name is bounded like every text, and the downgrade removes the columns
    and keeps the meeting."""
    from disclosures.extensions import db

    url, options = empty_database
    app = make_app(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options)
    with app.app_context():
        flask_migrate.upgrade(revision="0019")  # 0016p follows 0019
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO meeting (id, name, slug, starts_on, ends_on, timezone, created_at, "
                "publication_seq) VALUES (1, 'Spine', 'spine', '2027-10-06', '2027-10-09', 'UTC', "
                "CURRENT_TIMESTAMP, 0)"))
        flask_migrate.upgrade(revision="0016p")
        with db.engine.begin() as conn:
            row = conn.execute(sa.text("SELECT name, provider_name, import_column_map FROM meeting")).one()
            assert tuple(row) == ("Spine", None, None)
            conn.execute(sa.text("UPDATE meeting SET provider_name = 'Society', "
                                 "disclosure_policy_url = 'https://example.org/p', "
                                 "import_column_map = :map"), {"map": '{"day": "programmeday"}'})
        with pytest.raises((sa.exc.IntegrityError, sa.exc.DataError)), db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE meeting SET provider_name = :name"), {"name": "x" * 201})
        flask_migrate.downgrade(revision="0019")
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("meeting")}
        assert not columns & {"provider_name", "joint_provider_name", "disclosure_policy_url",
                              "import_column_map"}
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name FROM meeting")).scalar() == "Spine"
        db.engine.dispose()


def test_stock_owner_decisions_and_mitigation_dates_upgrade_and_downgrade_keeping_the_record(
        make_app, empty_database):
    """0020b: new natures (private/public stock), "not an owner or employee", an excluded
    role's statement and the day a mitigation was put in place: the downgrade maps them to
    the nearest former values and drops the day; both ways the append-only tables still
    refuse UPDATE (SQLite rebuilds a table to change its CHECK constraint)."""
    from disclosures.demo import load_demo_meeting
    from disclosures.extensions import db

    url, options = empty_database
    app = make_app(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options)

    def refuses_update(table):
        with pytest.raises(sa.exc.DatabaseError), db.engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {table} SET id = id"))  # noqa: S608 (our table names)

    with app.app_context():
        flask_migrate.upgrade()
        load_demo_meeting()
        db.session.commit()
        db.session.remove()
        with db.engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM relationship")).scalar()
            assert conn.execute(sa.text("SELECT count(*) FROM statement WHERE kind = 'excluded'")).scalar() >= 1
            assert conn.execute(sa.text(
                "SELECT count(*) FROM owner_decision WHERE exception = 'not_owner'")).scalar() == 1
        flask_migrate.downgrade(revision="0016p")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM relationship")).scalar() == count
            assert conn.execute(sa.text(
                "SELECT count(*) FROM relationship WHERE nature IN ('private_stock', 'public_stock')")).scalar() == 0
            assert conn.execute(sa.text("SELECT count(*) FROM statement WHERE kind = 'excluded'")).scalar() == 0
        assert "in_place_on" not in {c["name"] for c in sa.inspect(db.engine).get_columns("mitigation")}
        for table in ("owner_decision", "statement", "mitigation"):
            refuses_update(table)
        flask_migrate.upgrade()
        flask_migrate.check()
        for table in ("owner_decision", "statement", "mitigation"):
            refuses_update(table)
        db.engine.dispose()
