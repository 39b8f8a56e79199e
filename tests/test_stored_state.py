"""The stored state of every role, and the statement published for it, always equal what the
one rule says when judged from scratch, whatever sequence of operations happened and however
the clock moved in between (hypothesis stateful testing, on SQLite and PostgreSQL).

The operations are the real ones (the ones the pages call): a disclosure submitted, a
relevance decision recorded or changed, a mitigation (put in place on a day drawn before or
after the role's start), an owner/employee decision (any, "not an owner" included), a company
confirmed eligible or ineligible, a person added to or taken off an activity, an activity
moved. Days pass between them, sessions start and end, and nothing is refused for being late.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from disclosures import clock
from disclosures.enums import AssignmentRole, Nature, OwnerException
from disclosures.extensions import db
from disclosures.faculty.operations import DisclosureEntry, RelationshipEntry, submit_disclosure
from disclosures.models import Assignment, Company, Relationship
from disclosures.publication.operations import statement_data
from disclosures.registry import operations as registry
from disclosures.review import operations as review
from disclosures.staff import operations as staff
from disclosures.state import judgements

from . import factories

pytestmark = pytest.mark.slow

NATURES = [Nature.CONSULTANT, Nature.SPEAKER, Nature.EMPLOYEE, Nature.PRIVATE_STOCK, Nature.PUBLIC_STOCK, Nature.EXECUTIVE, Nature.RESEARCHER]


def check_stored_equals_judged() -> None:
    """Every role of every meeting: stored state, reasons and statement == the rule now."""
    db.session.expire_all()
    assignments = db.session.scalars(sa.select(Assignment)).all()
    judged = judgements([a.id for a in assignments])
    for a in assignments:
        j = judged[a.id]
        assert (a.state, tuple(a.state_reasons or ())) == (j.state, j.reasons), a
        assert bool(a.is_late) == j.late, a
        if a.removed_at is None:
            assert a.statement is not None and a.statement.data == statement_data(a, j), a


class Record(RuleBasedStateMachine):
    """A small meeting: two rooms, three activities, four people, three companies."""

    def __init__(self) -> None:
        super().__init__()
        from .conftest import _empty_all_tables

        clock.reset()
        db.session.rollback()
        _empty_all_tables()
        self.meeting = factories.meeting(starts_on=clock.now().date() + timedelta(days=10))
        rooms = [factories.room(self.meeting, f"Hall {n}") for n in "AB"]
        self.activities = [factories.activity(self.meeting, rooms[n % 2], title=f"Talk {n}")
                           for n in range(3)]
        self.people = [factories.user(full_name=f"Person {n}") for n in range(4)]
        self.companies = [factories.company(f"Company {n}") for n in range(3)]
        self.staff = factories.admin(full_name="Staff Member")
        for n, person in enumerate(self.people):
            factories.assignment(person, self.activities[n % 3])
        db.session.commit()

    def teardown(self) -> None:
        clock.reset()
        db.session.rollback()

    # -- operations --------------------------------------------------------------------------

    @rule(person=st.integers(0, 3), picks=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(NATURES),
                                                             st.integers(0, 900)), max_size=3))
    def submit(self, person, picks):
        who = self.people[person]
        today = clock.now().date()
        rows = [RelationshipEntry(self.companies[c].name, nature, today - timedelta(days=age),
                                  None, True, None) for c, nature, age in picks]
        unique = {r.company_name: r for r in rows}.values()  # one line per company
        submit_disclosure(who, DisclosureEntry(
            has_relationships=bool(rows), relationships=list(unique), attestation_name=who.full_name,
            attested_complete=True))
        db.session.commit()

    @rule(data=st.data(), relevant=st.booleans())
    def decide(self, data, relevant):
        pairs = self._pairs()
        if not pairs:
            return
        relationship, assignment = data.draw(st.sampled_from(pairs))
        subject = review.review_subject(assignment.user, self.meeting)
        current = review.existing_determination(relationship, assignment)
        try:
            review.record_determination(
                self.staff, subject, relationship, assignment, is_relevant=relevant,
                rationale="Judged.", seen_determination_id=current.id if current else 0,
                seen_disclosure_id=relationship.disclosure_id)
            db.session.commit()
        except review.ReviewError:
            db.session.rollback()

    @rule(data=st.data())
    def mitigate(self, data):
        candidates = [d for r, a in self._pairs()
                      if (d := review.existing_determination(r, a)) is not None and d.is_relevant]
        if not candidates:
            return
        determination = data.draw(st.sampled_from(candidates))
        subject = review.review_subject(determination.assignment.user, self.meeting)
        method = review.mitigation_methods(determination.assignment.role)[0]
        # Put in place some days ago (before or after the role's start, as time has passed).
        in_place_on = clock.meeting_today(self.meeting) - timedelta(days=data.draw(st.integers(0, 40)))
        try:
            review.record_mitigation(self.staff, subject, determination, method=method,
                                     notes=f"Done {clock.now().isoformat()}",
                                     seen_determination_id=determination.id,
                                     seen_disclosure_id=determination.relationship.disclosure_id,
                                     in_place_on=in_place_on)
            db.session.commit()
        except review.ReviewError:
            db.session.rollback()

    @rule(person=st.integers(0, 3), company=st.integers(0, 2), exception=st.sampled_from(list(OwnerException)))
    def owner_decision(self, person, company, exception):
        who, firm = self.people[person], self.companies[company]
        current = registry.owner_decision(who, firm)
        try:
            registry.record_owner_decision(self.staff, who, firm, exception, "Decided.",
                                           seen_decision_id=current.id if current else 0)
            db.session.commit()
        except registry.RegistryError:
            db.session.rollback()

    @rule(company=st.integers(0, 2), ineligible=st.booleans())
    def confirm_company(self, company, ineligible):
        registry.confirm_company(self.staff, self.companies[company], is_ineligible=ineligible, note=None)
        db.session.commit()

    @rule(person=st.integers(0, 3), activity=st.integers(0, 2))
    def assign(self, person, activity):
        try:
            staff.assign_person(self.staff, self.activities[activity], self.people[person],
                                AssignmentRole.PANELIST)
            db.session.commit()
        except staff.ProgrammeError:  # already on it: refused, nothing changes
            db.session.rollback()

    @rule(person=st.integers(0, 3), role=st.sampled_from(AssignmentRole.meeting_level()))
    def assign_for_the_meeting(self, person, role):
        """A planning committee member, course director or reviewer: judged as of the
        meeting's first day, not an activity's start."""
        try:
            staff.assign_meeting_role(self.staff, self.meeting, self.people[person], role)
            db.session.commit()
        except staff.ProgrammeError:  # holds it already: refused, nothing changes
            db.session.rollback()

    @rule(days=st.integers(-30, 30))
    def move_meeting(self, days):
        """The meeting's dates move: every role held for the whole meeting starts then."""
        staff.update_meeting(self.staff, self.meeting,
                             starts_on=self.meeting.starts_on + timedelta(days=days),
                             ends_on=self.meeting.ends_on + timedelta(days=days))
        db.session.commit()

    @rule(data=st.data())
    def remove(self, data):
        current = db.session.scalars(sa.select(Assignment).where(Assignment.removed_at.is_(None))).all()
        if current:
            staff.remove_assignment(self.staff, data.draw(st.sampled_from(current)))
            db.session.commit()

    @rule(activity=st.integers(0, 2), days=st.integers(-30, 30))
    def move(self, activity, days):
        a = self.activities[activity]
        staff.update_activity(self.staff, a, staff.ActivityValues(
            code=a.code, title=a.title, room=a.room, starts_at=a.starts_at + timedelta(days=days),
            ends_at=a.ends_at + timedelta(days=days), topics=list(a.topics or []),
            credit_hours=a.credit_hours or Decimal("1")))
        db.session.commit()

    @rule(days=st.integers(1, 400))
    def time_passes(self, days):
        clock.travel(clock.now() + timedelta(days=days))

    # -- what must always hold ----------------------------------------------------------------

    @invariant()
    def stored_equals_judged(self):
        check_stored_equals_judged()

    def _pairs(self) -> list[tuple[Relationship, Assignment]]:
        """(relationship of the latest disclosure, role) pairs a reviewer may decide."""
        pairs = []
        for a in db.session.scalars(sa.select(Assignment).where(Assignment.removed_at.is_(None))):
            latest = max(a.user.disclosures, key=lambda d: d.version, default=None)
            if latest is None:
                continue
            for r in latest.relationships:
                company = db.session.get(Company, r.company_id)
                if company.is_ineligible:
                    pairs.append((r, a))
        return pairs


def test_stored_state_and_statement_always_equal_the_rule(app):
    run_state_machine_as_test(Record, settings=settings(
        max_examples=20, stateful_step_count=12, deadline=None, derandomize=True,
        suppress_health_check=list(HealthCheck)))


@pytest.mark.parametrize("meeting", ["demo", "large"])
def test_demo_and_large_meetings_store_what_the_rule_says(app, meeting):
    from disclosures.demo import load_demo_meeting
    from disclosures.largedemo import load_large_meeting

    if meeting == "demo":
        load_demo_meeting(password="x" * 12)
    else:
        load_large_meeting(scale=0.02, today=clock.now().date(), password="x" * 12)
    db.session.commit()
    check_stored_equals_judged()
    for days in (30, 400):  # after the meeting, and 13 months on: nothing moves
        clock.travel(clock.now() + timedelta(days=days))
        try:
            check_stored_equals_judged()
        finally:
            clock.reset()

