"""The same form posted twice at the same moment: one row, and never a 500.

Each race sends two posts from two threads, each with its own logged-in client, started
together by a barrier. So that the race happens every time rather than by luck, the
inserts into the contested table are held back until both requests have passed their
duplicate check and wait on the insert, then let go together:

- PostgreSQL: the test's own connection holds ``LOCK TABLE … IN EXCLUSIVE MODE`` (reads
  go on, inserts wait) until ``pg_locks`` shows both requests waiting;
- SQLite: the test's own connection holds the write lock (``BEGIN IMMEDIATE``) for a
  moment; the requests wait on it through ``busy_timeout``.

On the code before the fix the second insert failed the unique constraint: a 500, or two
identical mitigations.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from disclosures.enums import AssignmentRole, MitigationMethod, Nature
from disclosures.extensions import db
from disclosures.models import Assignment, AuditEvent, Mitigation, Room, User

from . import factories

RUNS = 3  # each race runs several times per test run: a flaky race shows up here


@contextmanager
def inserts_held(table: str, waiters: int = 2):
    """Hold inserts into ``table`` back; the body starts the requests and calls the yielded
    ``release()`` once, which lets them go when ``waiters`` of them wait on the table."""
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        conn = db.engine.connect()
        conn.execute(sa.text(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE'))

        def release():
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                waiting = conn.execute(
                    sa.text("SELECT count(*) FROM pg_locks WHERE relation = CAST(:t AS regclass) "
                            "AND NOT granted"), {"t": table}).scalar()
                if waiting >= waiters:
                    break
                time.sleep(0.02)
            conn.commit()

        try:
            yield release
        finally:
            conn.close()
    else:
        conn = sqlite3.connect(db.engine.url.database, isolation_level=None, timeout=10)
        conn.execute("BEGIN IMMEDIATE")

        def release():
            time.sleep(1.0)  # both requests pass their check and wait on the write lock
            conn.execute("ROLLBACK")

        try:
            yield release
        finally:
            conn.close()


def race(clients, url: str, data: dict, table: str) -> list:
    """POST ``data`` to ``url`` from each client at the same moment; the responses."""
    barrier = threading.Barrier(len(clients))
    responses = [None] * len(clients)

    def post(index, client):
        barrier.wait(timeout=20)
        responses[index] = client.post(url, data=data)

    with inserts_held(table, waiters=len(clients)) as release:
        threads = [threading.Thread(target=post, args=(i, c)) for i, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        release()
        for thread in threads:
            thread.join(timeout=60)
    assert all(r is not None for r in responses), "a request did not finish"
    db.session.rollback()  # read what the requests committed
    return responses


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def events(action: str) -> int:
    return count(AuditEvent, AuditEvent.action == action)


@pytest.fixture()
def staff_clients(login_as, app):
    """Two staff members, each logged in on a client of their own."""
    first = factories.admin(full_name="Sam Staff")
    second = factories.admin(full_name="Sue Staff")
    return [login_as(first), login_as(second, app.test_client())]


def text(response) -> str:
    return response.get_data(as_text=True)


# ------------------------------------------------------------------ staff: unique rows


@pytest.mark.slow  # each run holds the database for a second to force the race
@pytest.mark.parametrize("run", range(RUNS))
def test_two_invitations_of_one_email_at_once_make_one_account(staff_clients, run):
    data = {"email": "new.speaker@example.org", "full_name": "New Speaker", "degrees": "MD",
            "institution": ""}
    responses = race(staff_clients, "/staff/people/invite", data, "user_account")
    assert sorted(r.status_code for r in responses) == [200, 400]
    refused = next(r for r in responses if r.status_code == 400)
    assert "An account for new.speaker@example.org already exists." in text(refused)
    assert count(User, User.email == "new.speaker@example.org") == 1
    assert events("user.invited") == 1


@pytest.mark.slow  # each run holds the database for a second to force the race
@pytest.mark.parametrize("run", range(RUNS))
def test_two_assignments_of_one_person_at_once_make_one_assignment(staff_clients, run):
    meeting = factories.meeting()
    activity = factories.activity(meeting, code="FUS-1")
    person = factories.user(full_name="Maria Okafor", email="maria@example.org")
    data = {"email": "maria@example.org", "role": AssignmentRole.SPEAKER.value, "full_name": "", "degrees": ""}
    responses = race(staff_clients, f"/staff/activities/{activity.id}/assign", data, "assignment")
    assert sorted(r.status_code for r in responses) == [302, 400]
    refused = next(r for r in responses if r.status_code == 400)
    assert "Maria Okafor is already speaker of FUS-1." in text(refused)
    assert count(Assignment, Assignment.user_id == person.id) == 1
    assert events("assignment.created") == 1


@pytest.mark.slow  # each run holds the database for a second to force the race
@pytest.mark.parametrize("run", range(RUNS))
def test_two_assignments_of_a_new_person_at_once_make_one_account_and_one_assignment(staff_clients, run):
    meeting = factories.meeting()
    activity = factories.activity(meeting, code="FUS-2")
    data = {"email": "ivan@example.org", "role": AssignmentRole.SPEAKER.value, "full_name": "Ivan New",
            "degrees": "PhD"}
    responses = race(staff_clients, f"/staff/activities/{activity.id}/assign", data, "user_account")
    assert sorted(r.status_code for r in responses) == [302, 400]
    refused = next(r for r in responses if r.status_code == 400)
    assert "Ivan New is already speaker of FUS-2." in text(refused)
    assert count(User, User.email == "ivan@example.org") == 1
    assert count(Assignment, Assignment.activity_id == activity.id) == 1
    assert events("user.invited") == 1 and events("assignment.created") == 1


@pytest.mark.slow  # each run holds the database for a second to force the race
@pytest.mark.parametrize("run", range(RUNS))
def test_two_new_rooms_of_one_name_at_once_make_one_room(staff_clients, run):
    meeting = factories.meeting()
    responses = race(staff_clients, f"/staff/meetings/{meeting.id}/rooms/new", {"name": "Ballroom A"}, "room")
    assert sorted(r.status_code for r in responses) == [302, 400]
    refused = next(r for r in responses if r.status_code == 400)
    assert "This meeting already has a room called “Ballroom A”." in text(refused)
    assert count(Room, Room.meeting_id == meeting.id) == 1
    assert events("room.created") == 1


# ------------------------------------------------------------------ mitigations


@pytest.fixture()
def relevant(app):
    """A relevant determination awaiting its mitigation, and two reviewers."""
    meeting = factories.meeting()
    activity = factories.activity(meeting, title="Lumbar fusion outcomes")
    person = factories.user(full_name="Maria Okafor")
    talk = factories.assignment(person, activity, AssignmentRole.SPEAKER)
    disclosure = factories.disclosure(person, [(factories.company("Meridian Spine"), Nature.CONSULTANT)])
    first = factories.reviewer(meeting, full_name="Renee Reviewer")
    second = factories.reviewer(meeting, full_name="Rafael Reviewer")
    determination = factories.determination(disclosure.relationships[0], talk, first, relevant=True)
    url = f"/review/meetings/{meeting.id}/people/{person.id}/determinations/{determination.id}/mitigations"
    return {"determination": determination, "disclosure": disclosure, "reviewers": (first, second), "url": url}


def mitigation_form(case, method="peer_review", notes="Slides peer reviewed by Dr. Chen."):
    d = case["determination"]
    return {f"m{d.id}-method": method, f"m{d.id}-notes": notes, f"m{d.id}-version": str(d.id),
            f"m{d.id}-disclosure": str(case["disclosure"].id)}


def mitigations() -> list[Mitigation]:
    return db.session.scalars(sa.select(Mitigation).order_by(Mitigation.id)).all()


@pytest.mark.slow  # each run holds the database for a second to force the race
@pytest.mark.parametrize("run", range(RUNS))
def test_one_mitigation_form_sent_twice_at_once_is_stored_once(login_as, app, relevant, run):
    reviewer = relevant["reviewers"][0]
    clients = [login_as(reviewer), login_as(reviewer, app.test_client())]  # a double click, two tabs
    responses = race(clients, relevant["url"], mitigation_form(relevant), "mitigation")
    assert [r.status_code for r in responses] == [302, 302]
    assert len(mitigations()) == 1
    assert events("mitigation.recorded") == 1


@pytest.mark.slow  # each run holds the database for a second to force the race
@pytest.mark.parametrize("run", range(RUNS))
def test_two_reviewers_recording_the_same_mitigation_at_once_store_it_once(login_as, app, relevant, run):
    first, second = relevant["reviewers"]
    clients = [login_as(first), login_as(second, app.test_client())]
    responses = race(clients, relevant["url"], mitigation_form(relevant, "attest_evidence", ""), "mitigation")
    assert [r.status_code for r in responses] == [302, 302]
    rows = mitigations()
    assert [(m.method, m.notes) for m in rows] == [(MitigationMethod.ATTEST_EVIDENCE, None)]
    assert events("mitigation.recorded") == 1


def test_same_mitigation_sent_again_later_says_it_is_already_recorded(login_as, relevant):
    client = login_as(relevant["reviewers"][0])
    assert client.post(relevant["url"], data=mitigation_form(relevant)).status_code == 302
    # The same statement, spaced and cased differently, is the same mitigation.
    again = client.post(relevant["url"], data=mitigation_form(relevant, notes="  slides peer reviewed by  Dr. Chen. "),
                        follow_redirects=True)
    assert again.status_code == 200
    assert "already recorded by Renee Reviewer" in text(again) and "nothing was added" in text(again)
    assert len(mitigations()) == 1
    assert events("mitigation.recorded") == 1


def test_different_mitigations_of_one_determination_are_all_kept(login_as, relevant):
    client = login_as(relevant["reviewers"][0])
    for method, notes in [("peer_review", "Slides peer reviewed by Dr. Chen."),
                          ("peer_review", "Second review by Dr. Osei."),
                          ("attest_evidence", "Slides peer reviewed by Dr. Chen.")]:
        response = client.post(relevant["url"], data=mitigation_form(relevant, method, notes))
        assert response.status_code == 302
    assert len(mitigations()) == 3
    assert events("mitigation.recorded") == 3
