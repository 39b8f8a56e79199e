"""The derived assignment state: one function, every transition."""

from datetime import UTC, date, datetime, timedelta

import pytest

from disclosures.enums import AssignmentState, Nature, OwnerException
from disclosures.extensions import db
from disclosures.state import states_for, summaries_for

from . import factories


@pytest.fixture()
def setting(app):
    reviewer = factories.user()
    person = factories.user()
    activity = factories.activity(factories.meeting())
    assignment = factories.assignment(person, activity)
    return reviewer, person, assignment


def state_of(assignment, today=None):
    """The state from both loaders; they must agree."""
    db.session.flush()
    db.session.expire_all()
    day = today or date.today()
    status = states_for([assignment], day)[assignment.id]
    summary = summaries_for([assignment], day)[assignment.id]
    assert (summary.state, summary.reasons) == (status.state, status.reasons)
    return status


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
    assert [r.company.name for r, _ in status.relevant] == [d.relationships[0].company.name]


def test_not_relevant_is_cleared_and_not_listed(setting):
    reviewer, person, assignment = setting
    d = factories.disclosure(person, [(factories.company(), Nature.SPEAKER)])
    factories.determination(d.relationships[0], assignment, reviewer, relevant=False)
    status = state_of(assignment)
    assert status.state is AssignmentState.CLEARED and status.relevant == []


def test_eligible_company_needs_no_determination(setting):
    _, person, assignment = setting
    factories.disclosure(person, [(factories.company("City Hospital", ineligible=False), Nature.EMPLOYEE)])
    assert state_of(assignment).state is AssignmentState.CLEARED


def test_expired_disclosure_goes_back_to_awaiting_disclosure(setting):
    _, person, assignment = setting
    old = datetime.now(UTC) - timedelta(days=400)
    factories.disclosure(person, [], submitted_at=old)
    status = state_of(assignment)
    assert status.state is AssignmentState.AWAITING_DISCLOSURE
    assert "expired" in status.reasons[0]


@pytest.mark.parametrize("nature", [Nature.EMPLOYEE, Nature.OWNERSHIP])
def test_owner_or_employee_is_excluded_until_an_exception_is_accepted(setting, nature):
    reviewer, person, assignment = setting
    d = factories.disclosure(person, [(factories.company(), nature)])
    assert state_of(assignment).state is AssignmentState.EXCLUDED
    assignment.owner_exception = OwnerException.NONE
    assert state_of(assignment).state is AssignmentState.EXCLUDED
    assignment.owner_exception = OwnerException.BASIC_SCIENCE
    assert state_of(assignment).state is AssignmentState.AWAITING_REVIEW
    factories.determination(d.relationships[0], assignment, reviewer, relevant=False)
    assert state_of(assignment).state is AssignmentState.CLEARED


def test_past_employment_does_not_exclude(setting):
    _, person, assignment = setting
    ended = date.today() - timedelta(days=100)
    factories.disclosure(person, [(factories.company(), Nature.EMPLOYEE, ended - timedelta(days=300), ended)])
    assert state_of(assignment).state is AssignmentState.AWAITING_REVIEW


def test_determinations_are_per_assignment(setting):
    reviewer, person, assignment = setting
    other = factories.assignment(person, factories.activity(assignment.activity.meeting))
    d = factories.disclosure(person, [(factories.company(), Nature.CONSULTANT)])
    factories.determination(d.relationships[0], assignment, reviewer, relevant=False)
    db.session.flush()
    for loader in (states_for, summaries_for):
        states = loader([assignment, other], date.today())
        assert states[assignment.id].state is AssignmentState.CLEARED
        assert states[other.id].state is AssignmentState.AWAITING_REVIEW


def test_disclosure_submitted_today_in_utc_counts_on_the_local_day_before(setting):
    """At 8 pm in Chicago it is already tomorrow in UTC: a disclosure just submitted is valid."""
    _, person, assignment = setting
    just_now = datetime.now(UTC)
    factories.disclosure(person, [], submitted_at=just_now)
    status = state_of(assignment, today=just_now.date() - timedelta(days=1))
    assert status.state is AssignmentState.CLEARED


def test_both_loaders_agree_on_every_assignment_of_the_demo_meeting(app):
    import sqlalchemy as sa

    from disclosures.demo import load_demo_meeting
    from disclosures.models import Assignment

    load_demo_meeting(password="x" * 12)
    db.session.flush()
    assignments = db.session.scalars(sa.select(Assignment)).all()
    for day in (date.today(), date.today() + timedelta(days=400)):
        full = states_for(assignments, day)
        counted = summaries_for(assignments, day)
        assert {a.id: (full[a.id].state, full[a.id].reasons) for a in assignments} == {
            a.id: (counted[a.id].state, counted[a.id].reasons) for a in assignments
        }
    assert {s.state for s in states_for(assignments, date.today()).values()} == set(AssignmentState)


def test_summary_needs_a_fixed_number_of_queries(app):
    import sqlalchemy as sa

    from disclosures.demo import load_demo_meeting
    from disclosures.models import Assignment

    load_demo_meeting(password="x" * 12)
    db.session.commit()
    statements = []

    def count(*args):
        statements.append(1)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        few = db.session.scalars(sa.select(Assignment).limit(5)).all()
        statements.clear()
        summaries_for(few, date.today())
        small = len(statements)
        many = db.session.scalars(sa.select(Assignment)).all()
        statements.clear()
        summaries_for(many, date.today())
        assert len(statements) == small == 2
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
