"""The audit log is append-only and written in the same transaction as the change it records.

Each change the accreditor cares about (submission, determination, staff override,
mitigation, token re-issue, import, owner exception, company merge, invitation) is made
through its real form: it writes exactly one event of its kind. Then the same change is
made to fail just after its event was written: neither the change nor the event remains.
Concurrent edits of one determination or activity: one wins, the other gets 409, never 500.
"""

from __future__ import annotations

import io
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from disclosures import audit
from disclosures.enums import AssignmentRole, MeetingRole, Nature
from disclosures.extensions import db
from disclosures.models import (
    Activity,
    ApiToken,
    AuditEvent,
    AuditLogIsAppendOnly,
    Company,
    Determination,
    Disclosure,
    Mitigation,
    OwnerDecision,
    Room,
)

from . import factories
from .routes import build_world, database_digest

PROGRAMME = (Path(__file__).parent / "data" / "programme.csv").read_bytes()


# ------------------------------------------------------------------ append-only


def test_audit_event_update_or_delete_through_the_orm_is_refused(app):
    person = factories.user()
    event = audit.record(None, "user.created", person, {"email": person.email}, subject=person)
    db.session.commit()
    event.changes = {"email": "someone-else@example.org"}
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEvent, event.id))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id).changes == {"email": person.email}


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_audit_event_bulk_update_or_delete_is_refused(app, statement):
    person = factories.user()
    event = audit.record(None, "user.created", person, {}, subject=person)
    db.session.commit()
    if statement == "update":
        query = sa.update(AuditEvent).where(AuditEvent.id == event.id).values(action="user.deleted")
    else:
        query = sa.delete(AuditEvent).where(AuditEvent.id == event.id)
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.execute(query)
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id).action == "user.created"


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET action = 'user.deleted' WHERE id = :id",
    "DELETE FROM audit_event WHERE id = :id",
], ids=["raw update", "raw delete"])
def test_the_database_refuses_raw_update_or_delete_of_audit_events(app, statement):
    # Below the ORM: a console session or script writing SQL cannot rewrite history either.
    person = factories.user()
    event = audit.record(None, "user.created", person, {}, subject=person)
    db.session.commit()
    with db.engine.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError, match="audit_event is append-only"):
            conn.execute(sa.text(statement), {"id": event.id})
        conn.rollback()
    db.session.expire_all()
    assert db.session.get(AuditEvent, event.id).action == "user.created"


@pytest.mark.parametrize("statement", [
    "TRUNCATE audit_event",
    "TRUNCATE user_account CASCADE",  # reaches audit_event through its foreign keys
], ids=["truncate", "truncate cascade"])
def test_postgresql_refuses_truncate_of_audit_events(app, statement):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's (SQLite has no such statement)")
    person = factories.user()
    audit.record(None, "user.created", person, {}, subject=person)
    audit.record(None, "user.invited", person, {}, subject=person)
    db.session.commit()
    with db.engine.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError, match="audit_event is append-only"):
            conn.execute(sa.text(statement))
        conn.rollback()
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == 2


def test_postgresql_migrations_add_and_remove_the_truncate_trigger(make_app, database):
    # Existing databases get the trigger from migration 0004e; its downgrade takes it away.
    if database["schema"] is None:
        pytest.skip("TRUNCATE is PostgreSQL's (SQLite has no such statement)")
    import uuid

    import flask_migrate

    schema = f"mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(database["url"])
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    migrated = make_app(SQLALCHEMY_DATABASE_URI=database["url"], SQLALCHEMY_ENGINE_OPTIONS={
        "connect_args": {"options": f"-csearch_path={schema}"}})
    try:
        with migrated.app_context():
            flask_migrate.upgrade(revision="0004e")
            with db.engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO audit_event (at, action, object_type, changes) "
                                     "VALUES (now(), 'user.created', 'User', '{}')"))
            with db.engine.connect() as conn:
                with pytest.raises(sa.exc.DBAPIError, match="audit_event is append-only"):
                    conn.execute(sa.text("TRUNCATE audit_event"))
                conn.rollback()
                assert conn.execute(sa.text("SELECT count(*) FROM audit_event")).scalar() == 1
            flask_migrate.downgrade(revision="0003")
            with db.engine.begin() as conn:
                conn.execute(sa.text("TRUNCATE audit_event"))
            db.engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# ------------------------------------------------------------------ one event per change


def _events(action: str) -> list[AuditEvent]:
    db.session.rollback()
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)).all()


def _submit(world, client):
    today = date.today()
    return client.post("/faculty/disclosure/new", data={
        "has_relationships": "yes", "relationships-0-company": "Newco Devices",
        "relationships-0-nature": "advisor",
        "relationships-0-started_on": (today - timedelta(days=60)).isoformat(),
        "relationships-0-ongoing": "y", "discusses_off_label": "no",
        "attestation_name": world.faculty_b.full_name, "attested_complete": "y", "submit": "1",
    })


def _decide(world, client, relevance="relevant", relationship=None, version=0):
    relationship = relationship or world.other_relationship
    prefix = f"d{relationship.id}-{world.assignment_a.id}"
    return client.post(
        f"/review/meetings/{world.meeting.id}/people/{world.faculty_a.id}"
        f"/determinations/{relationship.id}/{world.assignment_a.id}",
        data={f"{prefix}-relevance": relevance, f"{prefix}-rationale": "Sells fusion cages.",
              f"{prefix}-version": str(version), f"{prefix}-disclosure": str(relationship.disclosure_id)},
    )


def _override(world, client):
    return _decide(world, client, "not_relevant", world.relationship, world.determination.id)


def _mitigate(world, client):
    d = world.determination
    return client.post(
        f"/review/meetings/{world.meeting.id}/people/{world.faculty_a.id}/determinations/{d.id}/mitigations",
        data={f"m{d.id}-method": "attest_evidence", f"m{d.id}-notes": "Signed.",
              f"m{d.id}-version": str(d.id), f"m{d.id}-disclosure": str(world.relationship.disclosure_id)},
    )


def _issue_api_token(world, client):
    return client.post(f"/staff/meetings/{world.meeting.id}/api-tokens", data={"name": "App"})


def _revoke_api_token(world, client):
    return client.post(f"/staff/api-tokens/{world.api_token.id}/revoke")


def _reissue(world, client):
    return client.post(f"/staff/rooms/{world.room.id}/reissue-token")


def _import(world, client):
    meeting = factories.meeting(slug="spine-2027", starts_on=date(2027, 10, 6), days=3)
    factories.grant(world.staff, meeting, MeetingRole.STAFF)
    db.session.commit()
    preview = client.post(f"/staff/meetings/{meeting.id}/import",
                          data={"file": (io.BytesIO(PROGRAMME), "programme.csv")},
                          content_type="multipart/form-data")
    assert preview.status_code == 200, preview.get_data(as_text=True)[:2000]
    marker = 'name="upload_id" type="hidden" value="'
    upload_id = preview.get_data(as_text=True).split(marker, 1)[1].split('"', 1)[0]
    return client.post(f"/staff/meetings/{meeting.id}/import/confirm", data={"upload_id": upload_id})


def _owner(world, client):
    factories.disclosure(world.faculty_b, [(world.company, Nature.EMPLOYEE)])
    db.session.commit()
    return client.post(f"/staff/assignments/{world.assignment_b.id}/owner",
                       data={"company": world.company.id, "seen": 0,
                             "exception": "unrelated", "note": "Talk is on practice management."})


def _merge(world, client):
    return client.post(f"/staff/companies/{world.new_company.id}/merge",
                       data={"target": world.company.name})


def _invite(world, client):
    return client.post("/staff/people/invite",
                       data={"email": "newcomer@example.org", "full_name": "New Comer"})


def _count(model):
    return lambda world: db.session.scalar(sa.select(sa.func.count()).select_from(model))


CHANGES = {
    # action: (who, request, what the change changes)
    "disclosure.submitted": ("faculty_b", _submit, _count(Disclosure)),
    "determination.recorded": ("reviewer", _decide, _count(Determination)),
    "determination.changed": (
        "staff", _override,
        lambda w: db.session.scalar(sa.select(Determination.is_relevant).where(
            Determination.supersedes_id == w.determination.id)),
    ),
    "mitigation.recorded": ("reviewer", _mitigate, _count(Mitigation)),
    "api_token.issued": ("staff", _issue_api_token, _count(ApiToken)),
    "api_token.revoked": ("staff", _revoke_api_token, lambda w: db.session.scalar(
        sa.select(ApiToken.revoked_at).where(ApiToken.id == w.api_token.id))),
    "room.token_reissued": (
        "staff", _reissue,
        lambda w: db.session.scalar(sa.select(Room.public_token).where(Room.id == w.room.id)),
    ),
    "programme.imported": ("staff", _import, _count(Activity)),
    "owner_decision.recorded": ("staff", _owner, _count(OwnerDecision)),
    "company.merged": ("staff", _merge, _count(Company)),
    "user.invited": ("admin", _invite, lambda w: db.session.scalar(
        sa.text("SELECT count(*) FROM user_account"))),
}


@pytest.mark.parametrize("action", sorted(CHANGES))
def test_each_change_writes_one_event_of_its_kind(app, login_as, action):
    world = build_world()
    db.session.commit()
    who, send, observe = CHANGES[action]
    client = login_as(world.user(who))
    before = observe(world)
    already = len(_events(action))
    response = send(world, client)
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:2000]
    db.session.rollback()
    assert observe(world) != before, f"{action}: the change did not happen"
    events = _events(action)
    assert len(events) == already + 1
    assert events[-1].actor_id == world.user(who).id


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("action", sorted(CHANGES))
def test_a_change_that_fails_after_its_event_leaves_neither(app, login_as, request, action):
    world = build_world()
    db.session.commit()
    who, send, observe = CHANGES[action]
    client = login_as(world.user(who))
    if action == "owner_decision.recorded":
        # The set-up (B becomes an employee) is committed before the failing request.
        factories.disclosure(world.faculty_b, [(world.company, Nature.EMPLOYEE)])
        db.session.commit()
        send = _owner_without_setup

    def fail_once_the_event_is_written(session, flush_context):
        # After the flush that wrote the event, inside the request's transaction.
        if any(isinstance(o, AuditEvent) and o.action == action for o in session.new):
            raise Boom("the request fails after the event was written")

    sa.event.listen(Session, "after_flush", fail_once_the_event_is_written)
    request.addfinalizer(
        lambda: sa.event.remove(Session, "after_flush", fail_once_the_event_is_written))
    if action == "programme.imported":
        # The preview must succeed; only the confirming request fails.
        before_digest = None
    else:
        before_digest = database_digest()
    before = observe(world)
    already = len(_events(action))
    try:
        response = send(world, client)
    except Boom:
        response = None
    if response is not None and action == "programme.imported":
        # The import is a job: the request that started it answers at once; the job fails.
        assert response.status_code == 302
        assert "Stopped with an error" in client.get(response.headers["Location"]).get_data(
            as_text=True)
    elif response is not None:
        assert response.status_code == 500
    db.session.rollback()
    assert observe(world) == before, f"{action}: the change was saved without its event"
    assert len(_events(action)) == already, f"{action}: the event was saved without its change"
    if before_digest is not None:
        assert database_digest() == before_digest


def _owner_without_setup(world, client):
    return client.post(f"/staff/assignments/{world.assignment_b.id}/owner",
                       data={"company": world.company.id, "seen": 0,
                             "exception": "unrelated", "note": "Talk is on practice management."})


# ------------------------------------------------------------------ concurrent edits


def _race(requests):
    """Send the requests at the same moment from threads; returns their status codes."""
    barrier = threading.Barrier(len(requests))
    results = [None] * len(requests)

    def run(index, request):
        barrier.wait()
        results[index] = request().status_code

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_reviewers_changing_one_determination_at_once_one_wins_one_gets_409(app, login_as):
    world = build_world()
    second = factories.admin(full_name="Second Staff")
    factories.cleared_role(second, world.meeting, AssignmentRole.CONTENT_STAFF)  # disclosed too
    db.session.commit()
    seen = world.determination.id
    determination_id = world.determination.id
    prefix = f"d{world.relationship.id}-{world.assignment_a.id}"
    url = (f"/review/meetings/{world.meeting.id}/people/{world.faculty_a.id}"
           f"/determinations/{world.relationship.id}/{world.assignment_a.id}")
    data = {f"{prefix}-relevance": "not_relevant", f"{prefix}-rationale": "Unrelated after all.",
            f"{prefix}-version": str(seen), f"{prefix}-disclosure": str(world.relationship.disclosure_id)}
    first_client = login_as(world.reviewer)
    second_client = login_as(second, app.test_client())
    statuses = _race([
        lambda: first_client.post(url, data=data),
        lambda: second_client.post(url, data=data),
    ])
    assert sorted(statuses) == [302, 409], statuses
    db.session.rollback()
    [row] = db.session.scalars(sa.select(Determination).where(
        Determination.supersedes_id == determination_id)).all()
    assert row.is_relevant is False
    assert db.session.get(Determination, determination_id).is_relevant is True  # kept
    assert len(_events("determination.changed")) == 1


def test_two_staff_editing_one_activity_at_once_one_wins_one_gets_409(app, login_as):
    world = build_world()
    other = factories.admin(full_name="Other Staff")
    db.session.commit()
    activity = world.activity
    local = world.meeting.local(activity.starts_at)
    data = {
        "version_id": str(activity.version_id), "code": activity.code, "room_id": str(world.room.id),
        "starts_at": local.strftime("%Y-%m-%d %H:%M"),
        "ends_at": (local + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"),
        "topics": "lumbar fusion", "credit_hours": "1", "commercial_supporters": "",
    }
    activity_id = activity.id
    url = f"/staff/activities/{activity_id}/edit"
    clients = [login_as(world.staff), login_as(other, app.test_client())]
    statuses = _race([
        lambda: clients[0].post(url, data={**data, "title": "First"}),
        lambda: clients[1].post(url, data={**data, "title": "Second"}),
    ])
    assert sorted(statuses) == [302, 409], statuses
    db.session.rollback()
    saved = db.session.get(Activity, activity_id)
    assert saved.title in ("First", "Second")
    assert len(_events("activity.updated")) == 1


def test_two_staff_deciding_one_owner_exception_at_once_never_500(app, login_as):
    world = build_world()
    other = factories.admin(full_name="Other Staff")
    factories.disclosure(world.faculty_b, [(world.company, Nature.EMPLOYEE)])
    db.session.commit()
    url = f"/staff/assignments/{world.assignment_b.id}/owner"
    company_id = world.company.id
    clients = [login_as(world.staff), login_as(other, app.test_client())]
    statuses = _race([
        lambda: clients[0].post(url, data={"company": company_id, "seen": 0, "exception": "unrelated",
                                           "note": "Practice management."}),
        lambda: clients[1].post(url, data={"company": company_id, "seen": 0, "exception": "none",
                                           "note": "Sells the device discussed."}),
    ])
    assert set(statuses) <= {302, 409} and 302 in statuses, statuses
    # Every saved decision has its event, and no refused one does.
    assert len(_events("owner_decision.recorded")) == statuses.count(302)
