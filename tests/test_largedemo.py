"""The large meeting for benchmarks: its size, every state, and the same data on every run."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date

import pytest
import sqlalchemy as sa

from disclosures import largedemo
from disclosures.enums import AssignmentState, MeetingRole
from disclosures.extensions import db
from disclosures.largedemo import load_large_meeting, plan_large_meeting
from disclosures.models import (
    Activity,
    Assignment,
    Company,
    Determination,
    Disclosure,
    Meeting,
    Mitigation,
    OwnerDecision,
    Relationship,
    Room,
    User,
)

from . import factories

# The large meeting, planned at full size or loaded at a fiftieth: `make test-fast` skips it.
pytestmark = pytest.mark.slow

TODAY = date(2026, 3, 2)
SMALL = 0.02  # 3 rooms, 12 sessions, 40 faculty: fast, and still every state


def _content_digest() -> str:
    """What a person would see of the meeting, in a stable order (ids and tokens left out)."""
    lines = []
    users = {u.id: u.email for u in db.session.scalars(sa.select(User))}
    rooms = {r.id: r.name for r in db.session.scalars(sa.select(Room))}
    activities = {}
    for a in db.session.scalars(sa.select(Activity).order_by(Activity.code)):
        activities[a.id] = a.code
        lines.append(f"A {a.code} {a.title} {rooms[a.room_id]} {a.starts_at.isoformat()}")
    assignments = {}
    for a in db.session.scalars(sa.select(Assignment)):
        where = activities[a.activity_id] if a.activity_id else "whole meeting"
        assignments[a.id] = f"{users[a.user_id]}/{where}/{a.role.value}"
        lines.append(f"S {assignments[a.id]} {a.state.value}")
    companies = {c.id: c.name for c in db.session.scalars(sa.select(Company))}
    relationships = {}
    for r in db.session.scalars(sa.select(Relationship).join(Disclosure)):
        key = (f"{users[r.disclosure.user_id]}/v{r.disclosure.version}/{companies[r.company_id]}"
               f"/{r.nature.value}/{r.started_on}/{r.ended_on}")
        relationships[r.id] = key
        lines.append(f"R {key} {r.disclosure.submitted_at.isoformat()}")
    for o in db.session.scalars(sa.select(OwnerDecision)):
        lines.append(f"O {users[o.user_id]} {o.company_id and companies[o.company_id]} {o.exception.value}")
    for d in db.session.scalars(sa.select(Determination)):
        methods = ",".join(m.method.value for m in d.mitigations)
        lines.append(f"D {relationships[d.relationship_id]} {assignments[d.assignment_id]} "
                     f"{d.is_relevant} {users[d.reviewer_id]} {methods}")
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def _delete_everything() -> None:
    from .conftest import _empty_all_tables

    _empty_all_tables()


def test_large_meeting_plan_has_the_sizes_of_a_real_meeting():
    counts = plan_large_meeting(today=TODAY).counts()
    assert counts["rooms"] == 120
    assert counts["activities"] == 600
    # 3,000 in sessions, and the staff member's and six reviewers' roles for the whole meeting.
    assert counts["assignments"] == 3000 + 7
    assert counts["relationships"] == 10_000
    plan = plan_large_meeting(today=TODAY)
    staff_and_reviewers = {plan.staff_ix, *plan.reviewer_ixs}
    faculty = [u for ix, u in enumerate(plan.users) if ix not in staff_and_reviewers]
    assert len(faculty) == 2000
    assert counts["determinations"] > 5000 and counts["mitigations"] > 2000


def test_large_meeting_plan_is_the_same_for_the_same_seed_and_differs_for_another():
    first = plan_large_meeting(scale=SMALL, today=TODAY)
    assert plan_large_meeting(scale=SMALL, today=TODAY) == first
    assert plan_large_meeting(scale=SMALL, seed=7, today=TODAY) != first


def test_large_meeting_loads_the_same_data_twice(app):
    load_large_meeting(scale=SMALL, today=TODAY, password="demo password 1")
    db.session.commit()
    first = _content_digest()
    _delete_everything()
    load_large_meeting(scale=SMALL, today=TODAY, password="demo password 1")
    db.session.commit()
    assert _content_digest() == first


def test_large_meeting_has_assignments_in_every_state(app):
    load_large_meeting(scale=SMALL, today=TODAY, password="demo password 1")
    db.session.commit()
    assignments = db.session.scalars(sa.select(Assignment)).all()
    states = Counter(s.state for s in factories.stored_states(assignments).values())
    assert set(states) == set(AssignmentState)
    # Mitigations exist, and some relevant relationships still lack one.
    assert db.session.scalar(sa.select(sa.func.count(Mitigation.id))) > 0
    assert states[AssignmentState.NEEDS_MITIGATION] > 0


def test_large_meeting_busiest_person_logs_in_as_faculty_and_has_most_assignments(app):
    logins = load_large_meeting(scale=SMALL, today=TODAY, password="demo password 1")
    db.session.commit()
    per_person = Counter(db.session.scalars(sa.select(Assignment.user_id)))
    busiest_id, _ = per_person.most_common(1)[0]
    assert db.session.get(User, busiest_id).email == logins.faculty == "faculty@example.org"
    staff = db.session.scalar(sa.select(User).where(User.email == logins.staff))
    assert {m.role for m in staff.memberships} == {MeetingRole.STAFF}
    assert staff.check_password("demo password 1")
    reviewer = db.session.scalar(sa.select(User).where(User.email == logins.reviewer))
    assert {m.role for m in reviewer.memberships} == {MeetingRole.REVIEWER}
    assert reviewer.check_password("demo password 1")


def test_demo_data_size_large_loads_the_large_meeting(app, monkeypatch):
    real = largedemo.load_large_meeting
    monkeypatch.setattr(largedemo, "load_large_meeting",
                        lambda **kwargs: real(scale=SMALL, today=TODAY, **kwargs))
    result = app.test_cli_runner().invoke(
        args=["demo-data", "--size", "large", "--password", "demo password 1"])
    assert result.exit_code == 0, result.output
    assert "faculty@example.org" in result.output
    meeting = db.session.scalar(sa.select(Meeting))
    assert "(large)" in meeting.name
    assert db.session.scalar(sa.select(sa.func.count(Room.id))) == 3


@pytest.mark.parametrize("size", ["demo", "large"])
def test_demo_data_refuses_a_second_meeting_of_either_size(app, monkeypatch, size):
    real = largedemo.load_large_meeting
    monkeypatch.setattr(largedemo, "load_large_meeting",
                        lambda **kwargs: real(scale=SMALL, today=TODAY, **kwargs))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo-data", "--size", size, "--password", "demo password 1"]).exit_code == 0
    again = runner.invoke(args=["demo-data", "--size", "large"])
    assert again.exit_code != 0 and "already has a meeting" in again.output
    assert db.session.scalar(sa.select(sa.func.count(Meeting.id))) == 1
