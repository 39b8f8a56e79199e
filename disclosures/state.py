"""The derived state of an assignment, computed in this one place.

``decide`` is the rule: a pure function of plain facts (is there a valid
disclosure, is the person an owner or employee without an accepted exception,
how many relationships await a decision, how many relevant ones lack a
mitigation). Two loaders feed it: ``states_for`` loads the objects (for pages
that show relationships: review, sheets, records), ``summaries_for`` lets the
database count (for lists of thousands: queue, dashboard, programme). A test
checks they agree.

    awaiting_disclosure → awaiting_review → needs_mitigation → cleared
    excluded: owner or employee of an ineligible company without an accepted exception
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from .enums import AssignmentState, Nature, OwnerException
from .extensions import db
from .models import (
    Assignment,
    Company,
    Determination,
    Disclosure,
    Mitigation,
    Relationship,
)
from .words import plural

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


@dataclass(frozen=True)
class StateFacts:
    """Everything the rule below needs to know about one assignment, as plain values."""

    has_disclosure: bool
    valid_until: date | None = None
    owners_or_employees: int = 0  # ongoing employee/ownership relationships, ineligible companies
    owner_exception: OwnerException | None = None
    missing: int = 0  # relationships needing a determination that have none
    unmitigated: int = 0  # relevant determinations without any mitigation


def decide(facts: StateFacts, today: date) -> tuple[AssignmentState, list[str]]:
    """THE rule of Standard 3's workflow: the state of an assignment and why."""
    if not facts.has_disclosure:
        return AssignmentState.AWAITING_DISCLOSURE, ["No disclosure submitted"]
    if facts.valid_until is not None and today > facts.valid_until:
        return AssignmentState.AWAITING_DISCLOSURE, [
            f"Disclosure expired on {facts.valid_until.strftime('%b %-d, %Y')}"
        ]
    if facts.owners_or_employees and facts.owner_exception in (None, OwnerException.NONE):
        return AssignmentState.EXCLUDED, [
            "Owner or employee of an ineligible company: staff decision needed"
            if facts.owner_exception is None
            else "Owner or employee of an ineligible company: no exception applies"
        ]
    if facts.missing:
        return AssignmentState.AWAITING_REVIEW, [
            f"{plural(facts.missing, 'relationship')} awaiting a relevance decision"
        ]
    if facts.unmitigated:
        return AssignmentState.NEEDS_MITIGATION, [
            f"{plural(facts.unmitigated, 'relevant relationship')} without a mitigation"
        ]
    return AssignmentState.CLEARED, []


def compute_state(
    assignment: Assignment,
    disclosure: Disclosure | None,
    determinations: Mapping[int, Determination],
    today: date,
) -> AssignmentStatus:
    """The state of one assignment, with the objects behind it.

    ``disclosure`` is the person's latest version (or None); ``determinations``
    maps relationship id → this assignment's determination.
    """
    if disclosure is None:
        state, reasons = decide(StateFacts(has_disclosure=False), today)
        return AssignmentStatus(state, reasons)
    status = AssignmentStatus(AssignmentState.CLEARED, disclosure=disclosure)
    status.owner_or_employee = [
        r for r in disclosure.relationships if is_owner_or_employee(r, today)
    ]
    missing = unmitigated = 0
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
    facts = StateFacts(
        has_disclosure=True,
        valid_until=disclosure.valid_until,
        owners_or_employees=len(status.owner_or_employee),
        owner_exception=assignment.owner_exception,
        missing=missing,
        unmitigated=unmitigated,
    )
    status.state, status.reasons = decide(facts, today)
    if status.state is not AssignmentState.CLEARED:
        status.relevant = []  # only a cleared assignment has a list to show learners
    if status.state is AssignmentState.AWAITING_DISCLOSURE:
        status.owner_or_employee = []
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
    assignment_ids: Iterable[int], relationship_ids: Iterable[int], *, with_people: bool = False
) -> dict[tuple[int, int], Determination]:
    """(relationship id, assignment id) → determination, mitigations loaded.

    ``with_people`` also loads who decided and who recorded each mitigation (for the
    review page, which names them): without it each distinct person costs one query.
    """
    a_ids = sorted(set(assignment_ids))
    r_ids = sorted(set(relationship_ids))
    if not a_ids or not r_ids:
        return {}
    # One IN list only: with both (3,000 assignments × 10,000 relationships) SQLite
    # plans the query badly (7 s instead of 0.6 s); the relationship filter is cheap here.
    wanted = set(r_ids)
    stmt = sa.select(Determination).where(Determination.assignment_id.in_(a_ids))
    if with_people:
        # One statement whatever the data: a selectin load of the mitigations would be
        # skipped when there is no determination, so the count would depend on the data.
        stmt = stmt.options(
            joinedload(Determination.reviewer),
            joinedload(Determination.mitigations).joinedload(Mitigation.recorded_by),
        )
    else:
        stmt = stmt.options(selectinload(Determination.mitigations))
    return {
        (d.relationship_id, d.assignment_id): d
        for d in db.session.scalars(stmt).unique()
        if d.relationship_id in wanted
    }


def states_for(
    assignments: list[Assignment],
    today: date,
    *,
    disclosures: Mapping[int, Disclosure] | None = None,
    determinations: Mapping[tuple[int, int], Determination] | None = None,
) -> dict[int, AssignmentStatus]:
    """The status of each assignment, in a fixed number of queries whatever their count.

    A caller that already holds the latest disclosures (user id → disclosure) and the
    determinations of these assignments (as ``determinations_for`` returns them) passes
    them in and saves the queries.
    """
    if disclosures is None:
        disclosures = latest_disclosures(a.user_id for a in assignments)
    found = determinations
    if found is None:
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


@dataclass(frozen=True)
class AssignmentSummary:
    """State and reasons only, for lists of hundreds or thousands of assignments."""

    state: AssignmentState
    reasons: list[str]
    disclosure_id: int | None = None
    disclosure_version: int | None = None
    disclosure_submitted_at: datetime | None = None

    @property
    def label(self) -> str:
        return self.state.label

    @property
    def css(self) -> str:
        return STATE_CSS[self.state]

    @property
    def is_cleared(self) -> bool:
        return self.state is AssignmentState.CLEARED


def state_counts(statuses: Iterable) -> dict[AssignmentState, int]:
    """How many of ``statuses`` (summaries or statuses) are in each state, zeros included."""
    counts = {state: 0 for state in AssignmentState}
    for status in statuses:
        counts[status.state] += 1
    return counts


def _owner_or_employee_sql(today: date):
    """SQL twin of ``is_owner_or_employee`` (the company is already known to be ineligible)."""
    natures = [n for n in Nature if n.makes_owner_or_employee]
    return sa.and_(
        Relationship.nature.in_(natures),
        sa.or_(Relationship.ended_on.is_(None), Relationship.ended_on >= today),
    )


def summaries_for(assignments: Iterable, today: date) -> dict[int, AssignmentSummary]:
    """The same states and reasons as ``states_for``, counted by the database in two queries.

    For pages that list many assignments (queue, dashboard, programme) and need no
    relationship details. Both functions feed the same ``decide``; a test checks they
    agree on every state.

    ``assignments`` may be ORM objects or plain rows: only ``id``, ``user_id`` and
    ``owner_exception`` are read. Both queries return plain column tuples (no ORM
    objects, no identity map) and ``decide`` runs once per distinct set of facts, so a
    list of thousands costs a few milliseconds of Python on top of the two queries.
    """
    assignments = list(assignments)
    if not assignments:
        return {}
    assignment_ids = sorted({a.id for a in assignments})
    user_ids = sorted({a.user_id for a in assignments})
    latest_version = (
        sa.select(Disclosure.user_id, sa.func.max(Disclosure.version).label("version"))
        .where(Disclosure.user_id.in_(user_ids))
        .group_by(Disclosure.user_id)
        .subquery()
    )
    disclosures = {
        user_id: (disclosure_id, version, submitted_at, valid_until)
        for disclosure_id, user_id, version, submitted_at, valid_until in db.session.execute(
            sa.select(
                Disclosure.id, Disclosure.user_id, Disclosure.version,
                Disclosure.submitted_at, Disclosure.valid_until,
            ).join(
                latest_version,
                sa.and_(
                    Disclosure.user_id == latest_version.c.user_id,
                    Disclosure.version == latest_version.c.version,
                ),
            )
        )
    }
    mitigated = (
        sa.select(Mitigation.determination_id).group_by(Mitigation.determination_id).subquery()
    )
    # "No newer version exists" rather than "version = (SELECT max(version) …)": the
    # same rows, but PostgreSQL estimates the anti-join well, while the correlated max
    # in a join condition made it guess 17 rows instead of 2,842 and pick a plan five
    # times slower (85 ms instead of 17 ms at the large meeting). SQLite: the same 20 ms.
    newer = sa.orm.aliased(Disclosure)
    has_newer = (
        sa.select(newer.id)
        .where(newer.user_id == Disclosure.user_id, newer.version > Disclosure.version)
        .correlate(Disclosure)
        .exists()
    )
    one = sa.literal(1)
    counts_stmt = (
        sa.select(
            Assignment.id,
            sa.func.sum(sa.case((Determination.id.is_(None), one), else_=0)).label("missing"),
            sa.func.sum(
                sa.case(
                    (sa.and_(Determination.is_relevant, mitigated.c.determination_id.is_(None)), one),
                    else_=0,
                )
            ).label("unmitigated"),
            sa.func.sum(sa.case((_owner_or_employee_sql(today), one), else_=0)).label("owners"),
        )
        .select_from(Assignment)
        .join(
            Disclosure,
            sa.and_(Disclosure.user_id == Assignment.user_id, ~has_newer),
        )
        .join(Relationship, Relationship.disclosure_id == Disclosure.id)
        .join(Company, sa.and_(Company.id == Relationship.company_id, Company.is_ineligible))
        .outerjoin(
            Determination,
            sa.and_(
                Determination.relationship_id == Relationship.id,
                Determination.assignment_id == Assignment.id,
            ),
        )
        .outerjoin(mitigated, mitigated.c.determination_id == Determination.id)
        .where(Assignment.id.in_(assignment_ids))
        .group_by(Assignment.id)
    )
    counts = {
        assignment_id: (int(missing or 0), int(unmitigated or 0), int(owners or 0))
        for assignment_id, missing, unmitigated, owners in db.session.execute(counts_stmt)
    }
    no_counts = (0, 0, 0)
    decided: dict[tuple, tuple[AssignmentState, list[str]]] = {}
    result: dict[int, AssignmentSummary] = {}
    for assignment in assignments:
        disclosure = disclosures.get(assignment.user_id)
        valid_until = disclosure[3] if disclosure else None
        missing, unmitigated, owners = counts.get(assignment.id, no_counts)
        # Many assignments share the same facts: decide (and format the reasons) once each.
        key = (disclosure is not None, valid_until, owners, assignment.owner_exception, missing, unmitigated)
        outcome = decided.get(key)
        if outcome is None:
            facts = StateFacts(
                has_disclosure=disclosure is not None,
                valid_until=valid_until,
                owners_or_employees=owners,
                owner_exception=assignment.owner_exception,
                missing=missing,
                unmitigated=unmitigated,
            )
            outcome = decided[key] = decide(facts, today)
        state, reasons = outcome
        if disclosure is None:
            result[assignment.id] = AssignmentSummary(state, list(reasons))
        else:
            result[assignment.id] = AssignmentSummary(
                state,
                list(reasons),
                disclosure_id=disclosure[0],
                disclosure_version=disclosure[1],
                disclosure_submitted_at=disclosure[2],
            )
    return result
