"""A role's state: one rule, judged as of the activity's start, stored by the operations.

Each test reads the stored ``Assignment.state`` (what every list page shows) and checks it
equals what the rule gives when judged again from scratch (``state.judgements``).
"""

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from disclosures import clock
from disclosures.enums import AssignmentState, Nature, OwnerException
from disclosures.extensions import db
from disclosures.models import Assignment
from disclosures.state import START, judgements

from . import factories


@pytest.fixture()
def setting(app):
    reviewer = factories.user()
    person = factories.user()
    activity = factories.activity(factories.meeting())
    assignment = factories.assignment(person, activity)
    return reviewer, person, assignment


def state_of(assignment):
    """The stored state, checked against the rule judged again from scratch."""
    db.session.flush()
    db.session.expire_all()
    stored = db.session.get(Assignment, assignment.id)
    judged = judgements([assignment.id])[assignment.id]
    assert (stored.state, tuple(stored.state_reasons)) == (judged.state, judged.reasons)
    return judged


def test_no_disclosure_awaits_disclosure(setting):
    _, _, assignment = setting
    status = state_of(assignment)
    assert status.state is AssignmentState.AWAITING_DISCLOSURE
    assert status.label == "Awaiting disclosure"


def test_no_relationships_is_cleared_at_once(setting):
    _, person, assignment = setting
    factories.disclosure(person, [])
    assert state_of(assignment).state is AssignmentState.CLEARED


def test_relationship_without_determination_awaits_review(setting):
    _, person, assignment = setting
    factories.disclosure(person, [(factories.company(), Nature.CONSULTANT)])
    assert state_of(assignment).state is AssignmentState.AWAITING_REVIEW


def test_relevant_without_mitigation_needs_mitigation_then_cleared(setting):
    reviewer, person, assignment = setting
    d = factories.disclosure(person, [(factories.company(), Nature.CONSULTANT)])
    determination = factories.determination(d.relationships[0], assignment, reviewer, relevant=True)
    assert state_of(assignment).state is AssignmentState.NEEDS_MITIGATION
    factories.mitigation(determination, reviewer)
    status = state_of(assignment)
    assert status.state is AssignmentState.CLEARED
    assert [line.company for line in status.relevant] == [d.relationships[0].company.name]


def test_not_relevant_is_cleared_and_not_listed(setting):
    reviewer, person, assignment = setting
    d = factories.disclosure(person, [(factories.company(), Nature.SPEAKER)])
    factories.determination(d.relationships[0], assignment, reviewer, relevant=False)
    status = state_of(assignment)
    assert status.state is AssignmentState.CLEARED and status.relevant == ()


def test_eligible_company_needs_no_determination(setting):
    _, person, assignment = setting
    factories.disclosure(person, [(factories.company("City Hospital", ineligible=False), Nature.EMPLOYEE)])
    assert state_of(assignment).state is AssignmentState.CLEARED


def test_a_disclosure_that_expires_before_the_session_awaits_a_new_one(setting):
    """Valid today is not enough: it must still be valid on the day the session starts."""
    _, person, assignment = setting
    start_day = assignment.activity.starts_at.astimezone(assignment.activity.meeting.tz).date()
    submitted = datetime.combine(start_day - timedelta(days=366), datetime.min.time(), tzinfo=UTC)
    factories.disclosure(person, [], submitted_at=submitted)  # valid until the day before
    status = state_of(assignment)
    assert status.state is AssignmentState.AWAITING_DISCLOSURE
    assert "before the session" in status.reasons[0]


@pytest.mark.parametrize("nature", [Nature.EMPLOYEE, Nature.EXECUTIVE, Nature.PRIVATE_STOCK, Nature.OWNERSHIP])
def test_owner_or_employee_waits_for_staff_then_an_exception_lets_them_take_part(setting, nature):
    """ACCME: an owner or employee (employee, executive or board member, private stock or
    founder; a former "ownership interest" row is treated as ownership) awaits the staff
    decision, is then excluded (no exception) or takes part under an exception."""
    reviewer, person, assignment = setting
    company = factories.company()
    d = factories.disclosure(person, [(company, nature)])
    assert state_of(assignment).state is AssignmentState.AWAITING_OWNER_DECISION
    none = factories.owner_decision(person, company, OwnerException.NONE)
    assert state_of(assignment).state is AssignmentState.EXCLUDED
    db.session.add(factories.OwnerDecision(user=person, company=company, supersedes_id=none.id,
                                           exception=OwnerException.BASIC_SCIENCE, note="Basic science."))
    db.session.flush()
    factories.refresh([assignment.id])
    assert state_of(assignment).state is AssignmentState.AWAITING_REVIEW
    factories.determination(d.relationships[0], assignment, reviewer, relevant=False)
    assert state_of(assignment).state is AssignmentState.CLEARED


def test_past_employment_does_not_exclude(setting):
    _, person, assignment = setting
    ended = clock.now().date() - timedelta(days=100)
    factories.disclosure(person, [(factories.company(), Nature.EMPLOYEE, ended - timedelta(days=300), ended)])
    assert state_of(assignment).state is AssignmentState.AWAITING_REVIEW


def test_determinations_are_per_assignment(setting):
    reviewer, person, assignment = setting
    other = factories.assignment(person, factories.activity(assignment.activity.meeting))
    d = factories.disclosure(person, [(factories.company(), Nature.CONSULTANT)])
    factories.determination(d.relationships[0], assignment, reviewer, relevant=False)
    assert state_of(assignment).state is AssignmentState.CLEARED
    assert state_of(other).state is AssignmentState.AWAITING_REVIEW


def test_the_window_is_the_24_months_before_the_session_not_before_the_form(setting):
    """Standard 3: relationships of the 24 months before the person's involvement. One
    that ended 25 months before the session is not judged; one that ended 23 months
    before it is, even though the form was filled in later."""
    _, person, assignment = setting
    start_day = assignment.activity.starts_at.astimezone(assignment.activity.meeting.tz).date()
    from disclosures.state import months_before

    first = months_before(start_day, 24)
    outside = factories.company("Long Ago Devices")
    inside = factories.company("Recent Devices")
    factories.disclosure(person, [
        (outside, Nature.CONSULTANT, first - timedelta(days=400), first - timedelta(days=1)),
        (inside, Nature.CONSULTANT, first - timedelta(days=400), first + timedelta(days=30)),
    ])
    status = state_of(assignment)
    assert status.state is AssignmentState.AWAITING_REVIEW
    assert status.reasons == ("1 relationship awaiting a relevance decision",)


def test_a_decision_recorded_after_the_start_is_kept_but_the_role_stays_as_it_was(setting):
    """History is never refused; the role was not cleared at its start, and says so."""
    reviewer, person, assignment = setting
    d = factories.disclosure(person, [(factories.company(), Nature.CONSULTANT)])
    clock.travel(assignment.activity.starts_at + timedelta(hours=2))
    try:
        factories.determination(d.relationships[0], assignment, reviewer, relevant=False)
    finally:
        clock.reset()
    stored = db.session.get(Assignment, assignment.id)
    assert stored.state is AssignmentState.AWAITING_REVIEW and stored.is_late
    latest = judgements([assignment.id], assignment.activity.starts_at + timedelta(hours=3))[assignment.id]
    assert latest.state is AssignmentState.CLEARED


def test_a_disclosure_submitted_after_the_session_started_does_not_change_its_record(setting):
    _, person, assignment = setting
    factories.disclosure(person, [(factories.company(), Nature.CONSULTANT)])
    assert state_of(assignment).state is AssignmentState.AWAITING_REVIEW
    factories.disclosure(person, [], submitted_at=assignment.activity.starts_at + timedelta(minutes=5))
    status = state_of(assignment)
    assert status.state is AssignmentState.AWAITING_REVIEW  # judged on the version in force at the start


def test_no_day_passing_changes_any_stored_state_of_the_demo_meeting(app):
    from disclosures.demo import load_demo_meeting

    load_demo_meeting(password="x" * 12)
    db.session.commit()
    ids = list(db.session.scalars(sa.select(Assignment.id)))
    stored = dict(db.session.execute(sa.select(Assignment.id, Assignment.state)).all())
    assert set(stored.values()) == set(AssignmentState)
    for days in (0, 40, 400, 4000):  # today, after the meeting, 13 months and 11 years later
        clock.travel(clock.now() + timedelta(days=days))
        try:
            again = {aid: j.state for aid, j in judgements(ids, START).items()}
        finally:
            clock.reset()
        assert again == stored, f"{days} days later the rule says something else"


def test_judging_any_number_of_roles_takes_a_fixed_number_of_queries(app):
    from disclosures.demo import load_demo_meeting

    from .sql import statements

    load_demo_meeting(password="x" * 12)
    db.session.commit()
    ids = list(db.session.scalars(sa.select(Assignment.id)))
    with statements() as few:
        judgements(ids[:5])
    with statements() as many:
        judgements(ids)
    assert len(few) == len(many) <= 6


def test_start_day_is_the_meetings_day_not_the_servers(app):
    """A session at 8 pm in Chicago starts on the next day in UTC: it is judged on the
    Chicago day (a disclosure valid through that day is valid)."""
    meeting = factories.meeting(timezone="America/Chicago", starts_on=date(2031, 3, 10))
    evening = datetime(2031, 3, 11, 2, 0, tzinfo=UTC)  # March 10, 8 pm in Chicago
    person = factories.user()
    assignment = factories.assignment(person, factories.activity(meeting, starts_at=evening))
    submitted = datetime(2030, 3, 10, 12, 0, tzinfo=UTC)
    factories.disclosure(person, [], submitted_at=submitted, valid_days=365)  # valid until 2031-03-10
    assert state_of(assignment).state is AssignmentState.CLEARED
