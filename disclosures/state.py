"""The derived state of an assignment, computed in this one place.

``compute_state`` is a pure function of the person's latest disclosure, the
determinations recorded for this assignment, and the staff decision on an
owner/employee exception. ``states_for`` loads what it needs for many
assignments in a fixed number of queries.

    awaiting_disclosure → awaiting_review → needs_mitigation → cleared
    excluded: owner or employee of an ineligible company without an accepted exception
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from .enums import AssignmentState, OwnerException
from .extensions import db
from .models import Assignment, Determination, Disclosure, Relationship

STATE_CSS = {
    AssignmentState.AWAITING_DISCLOSURE: "state-awaiting-disclosure",
    AssignmentState.AWAITING_REVIEW: "state-awaiting-review",
    AssignmentState.NEEDS_MITIGATION: "state-needs-mitigation",
    AssignmentState.CLEARED: "state-cleared",
    AssignmentState.EXCLUDED: "state-excluded",
}


@dataclass
class AssignmentStatus:
    state: AssignmentState
    reasons: list[str] = field(default_factory=list)
    disclosure: Disclosure | None = None
    # Relationships judged relevant for this assignment, each with its determination.
    relevant: list[tuple[Relationship, Determination]] = field(default_factory=list)
    owner_or_employee: list[Relationship] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.state.label

    @property
    def css(self) -> str:
        return STATE_CSS[self.state]

    @property
    def is_cleared(self) -> bool:
        return self.state is AssignmentState.CLEARED


def needs_determination(relationship: Relationship) -> bool:
    """Only relationships with ineligible companies are judged for relevance."""
    return relationship.company.is_ineligible


def is_owner_or_employee(relationship: Relationship, today: date) -> bool:
    """An ongoing employee or ownership relationship with an ineligible company."""
    return (
        relationship.nature.makes_owner_or_employee
        and relationship.company.is_ineligible
        and (relationship.ended_on is None or relationship.ended_on >= today)
    )


def compute_state(
    assignment: Assignment,
    disclosure: Disclosure | None,
    determinations: Mapping[int, Determination],
    today: date,
) -> AssignmentStatus:
    """The state of one assignment.

    ``disclosure`` is the person's latest version (or None); ``determinations``
    maps relationship id → this assignment's determination.
    """
    if disclosure is None:
        return AssignmentStatus(AssignmentState.AWAITING_DISCLOSURE, ["No disclosure submitted"])
    if not disclosure.is_valid_on(today):
        return AssignmentStatus(
            AssignmentState.AWAITING_DISCLOSURE,
            [f"Disclosure expired on {disclosure.valid_until.strftime('%b %-d, %Y')}"],
            disclosure=disclosure,
        )

    status = AssignmentStatus(AssignmentState.CLEARED, disclosure=disclosure)
    status.owner_or_employee = [
        r for r in disclosure.relationships if is_owner_or_employee(r, today)
    ]
    if status.owner_or_employee:
        exception = assignment.owner_exception
        if exception is None or exception is OwnerException.NONE:
            status.state = AssignmentState.EXCLUDED
            status.reasons.append(
                "Owner or employee of an ineligible company: staff decision needed"
                if exception is None
                else "Owner or employee of an ineligible company: no exception applies"
            )
            return status

    missing = 0
    unmitigated = 0
    for relationship in disclosure.relationships:
        if not needs_determination(relationship):
            continue
        determination = determinations.get(relationship.id)
        if determination is None:
            missing += 1
        elif determination.is_relevant:
            status.relevant.append((relationship, determination))
            if not determination.mitigations:
                unmitigated += 1
    if missing:
        status.state = AssignmentState.AWAITING_REVIEW
        status.reasons.append(f"{missing} relationship(s) awaiting a relevance decision")
    elif unmitigated:
        status.state = AssignmentState.NEEDS_MITIGATION
        status.reasons.append(f"{unmitigated} relevant relationship(s) without a mitigation")
    return status


def latest_disclosures(user_ids: Iterable[int]) -> dict[int, Disclosure]:
    """Each person's latest disclosure version, relationships and companies loaded (2–3 queries)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    latest = (
        sa.select(Disclosure.user_id, sa.func.max(Disclosure.version).label("version"))
        .where(Disclosure.user_id.in_(ids))
        .group_by(Disclosure.user_id)
        .subquery()
    )
    stmt = (
        sa.select(Disclosure)
        .join(
            latest,
            sa.and_(Disclosure.user_id == latest.c.user_id, Disclosure.version == latest.c.version),
        )
        .options(selectinload(Disclosure.relationships).joinedload(Relationship.company))
    )
    return {d.user_id: d for d in db.session.scalars(stmt)}


def determinations_for(
    assignment_ids: Iterable[int], relationship_ids: Iterable[int]
) -> dict[tuple[int, int], Determination]:
    """(relationship id, assignment id) → determination, mitigations loaded."""
    a_ids = sorted(set(assignment_ids))
    r_ids = sorted(set(relationship_ids))
    if not a_ids or not r_ids:
        return {}
    # One IN list only: with both (3,000 assignments × 10,000 relationships) SQLite
    # plans the query badly (7 s instead of 0.6 s); the relationship filter is cheap here.
    wanted = set(r_ids)
    stmt = (
        sa.select(Determination)
        .where(Determination.assignment_id.in_(a_ids))
        .options(selectinload(Determination.mitigations))
    )
    return {
        (d.relationship_id, d.assignment_id): d
        for d in db.session.scalars(stmt)
        if d.relationship_id in wanted
    }


def states_for(assignments: list[Assignment], today: date) -> dict[int, AssignmentStatus]:
    """The status of each assignment, in a fixed number of queries whatever their count."""
    disclosures = latest_disclosures(a.user_id for a in assignments)
    relationship_ids = [r.id for d in disclosures.values() for r in d.relationships]
    found = determinations_for((a.id for a in assignments), relationship_ids)
    result: dict[int, AssignmentStatus] = {}
    for assignment in assignments:
        disclosure = disclosures.get(assignment.user_id)
        mine = {}
        if disclosure is not None:
            mine = {
                r.id: found[(r.id, assignment.id)]
                for r in disclosure.relationships
                if (r.id, assignment.id) in found
            }
        result[assignment.id] = compute_state(assignment, disclosure, mine, today)
    return result
