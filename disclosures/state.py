"""The state of a role (an assignment), judged in this one place, as of its start.

A role's start is its activity's start; a role held for the whole meeting (planning
committee, course director, reviewers: ``AssignmentRole.is_meeting_level``) starts with the
meeting, on its first day at 00:00 in the meeting's time zone: planners act before it.

``judge`` is the rule of Standard 3's workflow: a pure function of plain facts. ``gather``
reads those facts for any number of roles in a fixed number of queries, as they stood at a
cutoff: each role's own start (what learners met: the state that is stored), or now (the
latest state, with decisions recorded after the start).

As of a role's start (the day it starts, in the meeting's time zone):

- the disclosure in force is the person's latest version submitted before the start, and
  it must still be valid on that day (disclosures are valid for ``DISCLOSURE_VALID_DAYS``);
- the relationships that count are those of the ``DISCLOSURE_LOOKBACK_MONTHS`` (24) before
  the start; only relationships with ineligible companies are judged;
- a relevance decision, a mitigation or an owner/employee decision counts only if it was
  recorded before the start. One recorded later is kept (and makes the role ``late``);
- a mitigation counts only once it is in place: the reviewer records the day it was put in
  place (``Mitigation.in_place_on``). One in place after the start day is kept, makes the
  role ``late``, and does not mitigate the role as of its start (rows recorded before the
  day was asked have none: they count from when they were recorded);
- an owner or employee (``Nature.makes_owner_or_employee``: employee, executive or board
  member, private stock or founder; never publicly traded stock or stock options) awaits a
  staff decision per company; "not an owner or employee" makes that company's
  relationships ordinary ones, judged for relevance.

    awaiting_disclosure → awaiting_review → needs_mitigation → cleared
    awaiting_owner_decision: owner or employee of an ineligible company, staff to decide
    excluded: owner or employee of an ineligible company, no exception applies

A relevant relationship whose company staff have not yet confirmed in the registry (one
typed in by faculty: ``Company.needs_review``) keeps the role from being cleared: only
vetted company names reach learners. The registry is read as it stands now (as for a
company's name and eligibility); confirming a company refreshes the roles that name it.

Time passing changes nothing here: every fact is timestamped and read as of a fixed
moment. The stored ``Assignment.state`` is written by ``publication.refresh`` only.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from .enums import AssignmentState, Nature, OwnerException
from .extensions import db
from .models import (
    Activity,
    Assignment,
    Company,
    Determination,
    Disclosure,
    Meeting,
    Mitigation,
    OwnerDecision,
    Relationship,
)
from .models.meeting import meeting_start

STATE_CSS = {
    AssignmentState.AWAITING_DISCLOSURE: "state-awaiting-disclosure",
    AssignmentState.AWAITING_REVIEW: "state-awaiting-review",
    AssignmentState.NEEDS_MITIGATION: "state-needs-mitigation",
    AssignmentState.CLEARED: "state-cleared",
    AssignmentState.AWAITING_OWNER_DECISION: "state-excluded",
    AssignmentState.EXCLUDED: "state-excluded",
}

START = "start"  # the cutoff that is each role's own start
# In a reason when a typed-in company still awaits staff (who must act: ``staff.soon``).
AWAITING_COMPANY_CONFIRMATION = "awaiting confirmation by staff"
# How the reason starts when the disclosure on file expires before the session (a renewal).
DISCLOSURE_EXPIRES = "Disclosure expires on"


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (clamped to the month's end)."""
    total = day.year * 12 + (day.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _day(value: date) -> str:
    return f"{value:%b} {value.day}, {value.year}"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# --------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class DisclosureFact:
    id: int
    version: int
    submitted_at: datetime
    valid_until: date


@dataclass(frozen=True)
class RelationshipFact:
    id: int
    company_id: int
    company_name: str
    company_ineligible: bool
    company_confirmed: bool  # staff confirmed the company and its public name
    nature: Nature
    started_on: date | None
    ended_on: date | None
    detail: str | None = None  # what the person wrote; for "Other", what learners read


@dataclass(frozen=True)
class DecisionFact:
    """The relevance decision in force for one relationship and role, at the cutoff."""

    id: int
    is_relevant: bool
    decided_at: datetime
    mitigated: bool  # at least one mitigation recorded by the cutoff and in place by its day


@dataclass(frozen=True)
class RoleFacts:
    """Everything the rule needs to know about one role, as plain values."""

    assignment_id: int
    start_day: date
    lookback_months: int
    disclosure: DisclosureFact | None
    submitted_after_start: bool = False  # a disclosure version exists, submitted later
    relationships: tuple[RelationshipFact, ...] = ()
    decisions: Mapping[int, DecisionFact] = field(default_factory=dict)  # by relationship id
    owner_decisions: Mapping[int, OwnerException] = field(default_factory=dict)  # by company id
    late: bool = False  # a decision about this role was recorded after its start


@dataclass(frozen=True)
class RelevantLine:
    relationship_id: int
    company: str
    nature: Nature
    detail: str | None = None  # the description of an "Other" relationship

    @property
    def described_nature(self) -> str:
        """The nature as learners read it: an "Other" relationship's own description."""
        if self.nature is Nature.OTHER and (self.detail or "").strip():
            return " ".join(self.detail.split())
        return self.nature.label


@dataclass(frozen=True)
class Judgement:
    """What the rule says about one role: its state, why, and what learners may read."""

    state: AssignmentState
    reasons: tuple[str, ...]
    disclosure: DisclosureFact | None = None
    relevant: tuple[RelevantLine, ...] = ()  # a cleared role's relevant relationships
    owners: tuple[RelationshipFact, ...] = ()  # ongoing owner/employee relationships
    late: bool = False

    @property
    def is_cleared(self) -> bool:
        return self.state is AssignmentState.CLEARED

    @property
    def label(self) -> str:
        return self.state.label

    @property
    def css(self) -> str:
        return STATE_CSS[self.state]


# --------------------------------------------------------------------------- the rule


def judge(facts: RoleFacts) -> Judgement:
    """THE rule: the state of one role as of the facts' cutoff, and why."""
    disclosure = facts.disclosure
    if disclosure is None:
        reason = ("No disclosure before the session: the one received came after it started"
                  if facts.submitted_after_start else "No disclosure submitted")
        return Judgement(AssignmentState.AWAITING_DISCLOSURE, (reason,), late=facts.late)
    if facts.start_day > disclosure.valid_until:
        return Judgement(
            AssignmentState.AWAITING_DISCLOSURE,
            (f"{DISCLOSURE_EXPIRES} {_day(disclosure.valid_until)}, before the session on "
             f"{_day(facts.start_day)}",),
            disclosure=disclosure, late=facts.late,
        )
    first = months_before(facts.start_day, facts.lookback_months)
    counted = [r for r in facts.relationships
               if r.company_ineligible and (r.ended_on is None or r.ended_on >= first)]
    owners = tuple(
        r for r in counted
        if r.nature.makes_owner_or_employee and (r.ended_on is None or r.ended_on >= facts.start_day)
    )
    # Staff may find someone is not an owner or employee after all: that company's
    # relationships are then judged for relevance like any other.
    deciding = [r for r in owners
                if facts.owner_decisions.get(r.company_id) is not OwnerException.NOT_OWNER]
    if deciding:
        exceptions = [facts.owner_decisions.get(r.company_id) for r in deciding]
        if OwnerException.NONE in exceptions:
            return Judgement(AssignmentState.EXCLUDED, (
                "Owner or employee of an ineligible company: no exception applies",),
                disclosure=disclosure, owners=owners, late=facts.late)
        if None in exceptions:
            return Judgement(AssignmentState.AWAITING_OWNER_DECISION, (
                "Owner or employee of an ineligible company: staff decision needed",),
                disclosure=disclosure, owners=owners, late=facts.late)
    missing = [r for r in counted if r.id not in facts.decisions]
    if missing:
        return Judgement(AssignmentState.AWAITING_REVIEW, (
            _count(len(missing), "relationship awaiting a relevance decision",
                   "relationships awaiting a relevance decision"),),
            disclosure=disclosure, owners=owners, late=facts.late)
    unmitigated = [r for r in counted
                   if facts.decisions[r.id].is_relevant and not facts.decisions[r.id].mitigated]
    unconfirmed = {r.company_id for r in counted
                   if facts.decisions[r.id].is_relevant and not r.company_confirmed}
    reasons = []
    if unmitigated:
        reasons.append(_count(len(unmitigated), "relevant relationship without a mitigation",
                              "relevant relationships without a mitigation"))
    if unconfirmed:  # never published before staff vet the company's public name
        reasons.append(_count(len(unconfirmed), f"company {AWAITING_COMPANY_CONFIRMATION}",
                              f"companies {AWAITING_COMPANY_CONFIRMATION}"))
    if reasons:
        state = AssignmentState.NEEDS_MITIGATION if unmitigated else AssignmentState.AWAITING_REVIEW
        return Judgement(state, tuple(reasons), disclosure=disclosure, owners=owners,
                         late=facts.late)
    relevant = tuple(RelevantLine(r.id, r.company_name, r.nature, r.detail)
                     for r in counted if facts.decisions[r.id].is_relevant)
    return Judgement(AssignmentState.CLEARED, (), disclosure=disclosure, relevant=relevant,
                     owners=owners, late=facts.late)


# --------------------------------------------------------------------------- reading the facts


def _as_of(rows, cutoff: datetime, key):
    """The row with the latest ``key`` at or before ``cutoff`` (ties: the highest id)."""
    best = None
    for row in rows:
        moment = key(row)
        if moment <= cutoff and (best is None or (key(best), best.id) < (moment, row.id)):
            best = row
    return best


@dataclass(frozen=True)
class _RoleRow:
    id: int
    user_id: int
    timezone: str
    starts_at: datetime  # the activity's start, or the meeting's (meeting-level roles)


def gather(assignment_ids: Iterable[int], cutoff: str | datetime = START) -> dict[int, RoleFacts]:
    """The facts of each role, as they stood at ``cutoff``: ``START`` (each role's own
    start) or a moment (now, for the latest state). Five queries whatever the count."""
    ids = sorted(set(assignment_ids))
    if not ids:
        return {}
    lookback = int(current_app.config.get("DISCLOSURE_LOOKBACK_MONTHS", 24))
    roles = [
        _RoleRow(row.id, row.user_id, row.timezone,
                 row.starts_at if row.starts_at is not None
                 else meeting_start(row.starts_on, row.timezone))
        for row in db.session.execute(
            sa.select(Assignment.id, Assignment.user_id, Activity.starts_at, Meeting.starts_on,
                      Meeting.timezone)
            .outerjoin(Activity, Activity.id == Assignment.activity_id)
            .join(Meeting, Meeting.id == Assignment.meeting_id)
            .where(Assignment.id.in_(ids))
        )
    ]
    user_ids = sorted({r.user_id for r in roles})
    versions: dict[int, list] = {}
    for row in db.session.execute(
        sa.select(Disclosure.id, Disclosure.user_id, Disclosure.version, Disclosure.submitted_at,
                  Disclosure.valid_until)
        .where(Disclosure.user_id.in_(user_ids))
    ):
        versions.setdefault(row.user_id, []).append(row)

    # Which version is in force for each role, at its cutoff.
    chosen: dict[int, DisclosureFact | None] = {}
    later: dict[int, bool] = {}
    cutoffs: dict[int, datetime] = {}
    for role in roles:
        moment = role.starts_at if cutoff == START else cutoff
        cutoffs[role.id] = moment
        mine = versions.get(role.user_id, [])
        row = _as_of(mine, moment, lambda r: r.submitted_at)
        chosen[role.id] = None if row is None else DisclosureFact(
            row.id, row.version, row.submitted_at, row.valid_until)
        later[role.id] = row is None and any(r.submitted_at > moment for r in mine)

    disclosure_ids = sorted({d.id for d in chosen.values() if d is not None})
    relationships: dict[int, list[RelationshipFact]] = {}
    if disclosure_ids:
        for row in db.session.execute(
            sa.select(Relationship.id, Relationship.disclosure_id, Relationship.company_id,
                      Company.name, Company.is_ineligible, Company.needs_review,
                      Relationship.nature, Relationship.started_on, Relationship.ended_on,
                      Relationship.detail)
            .join(Company, Company.id == Relationship.company_id)
            .where(Relationship.disclosure_id.in_(disclosure_ids))
            .order_by(Relationship.id)
        ):
            relationships.setdefault(row.disclosure_id, []).append(RelationshipFact(
                row.id, row.company_id, row.name, bool(row.is_ineligible),
                not row.needs_review, row.nature, row.started_on, row.ended_on, row.detail))

    decided: dict[tuple[int, int], list] = {}
    decided_rows: dict[int, list] = {}  # by assignment, every decision row
    for row in db.session.execute(
        sa.select(Determination.id, Determination.relationship_id, Determination.assignment_id,
                  Determination.is_relevant, Determination.decided_at)
        .where(Determination.assignment_id.in_(ids))
    ):
        decided.setdefault((row.relationship_id, row.assignment_id), []).append(row)
        decided_rows.setdefault(row.assignment_id, []).append(row)
    mitigated_at: dict[int, list[tuple[datetime, date | None]]] = {}  # (recorded, in place)
    for determination_id, recorded_at, in_place_on in db.session.execute(
        sa.select(Mitigation.determination_id, Mitigation.recorded_at, Mitigation.in_place_on)
        .join(Determination, Determination.id == Mitigation.determination_id)
        .where(Determination.assignment_id.in_(ids))
    ):
        mitigated_at.setdefault(determination_id, []).append((recorded_at, in_place_on))

    owner_rows: dict[tuple[int, int], list] = {}
    owner_rows_of: dict[int, list] = {}  # by person
    for row in db.session.execute(
        sa.select(OwnerDecision.id, OwnerDecision.user_id, OwnerDecision.company_id,
                  OwnerDecision.exception, OwnerDecision.decided_at)
        .where(OwnerDecision.user_id.in_(user_ids))
    ):
        owner_rows.setdefault((row.user_id, row.company_id), []).append(row)
        owner_rows_of.setdefault(row.user_id, []).append(row)

    result: dict[int, RoleFacts] = {}
    for role in roles:
        moment = cutoffs[role.id]
        zone = ZoneInfo(role.timezone)
        start_day = role.starts_at.astimezone(zone).date()
        moment_day = moment.astimezone(zone).date()

        def in_place(at: datetime, on: date | None, moment=moment, moment_day=moment_day) -> bool:
            return at <= moment and (on is None or on <= moment_day)
        disclosure = chosen[role.id]
        rels = tuple(relationships.get(disclosure.id, ())) if disclosure else ()
        decisions = {}
        for relationship in rels:
            row = _as_of(decided.get((relationship.id, role.id), ()), moment,
                         lambda r: r.decided_at)
            if row is not None:
                decisions[relationship.id] = DecisionFact(
                    row.id, bool(row.is_relevant), row.decided_at,
                    any(in_place(at, on) for at, on in mitigated_at.get(row.id, ())))
        owners = {}
        for relationship in rels:
            row = _as_of(owner_rows.get((role.user_id, relationship.company_id), ()), moment,
                         lambda r: r.decided_at)
            if row is not None:
                owners[relationship.company_id] = row.exception
        mine = decided_rows.get(role.id, ())
        companies = {r.company_id for r in rels}
        late = (
            any(r.decided_at > role.starts_at for r in mine)
            or any(at > role.starts_at or (on is not None and on > start_day)
                   for r in mine for at, on in mitigated_at.get(r.id, ()))
            or any(r.decided_at > role.starts_at for r in owner_rows_of.get(role.user_id, ())
                   if r.company_id in companies)
        )
        result[role.id] = RoleFacts(
            assignment_id=role.id, start_day=start_day, lookback_months=lookback,
            disclosure=disclosure, submitted_after_start=later[role.id], relationships=rels,
            decisions=decisions, owner_decisions=owners, late=late,
        )
    return result


def judgements(assignment_ids: Iterable[int], cutoff: str | datetime = START) -> dict[int, Judgement]:
    """``judge`` applied to each role's facts at ``cutoff`` (see ``gather``)."""
    return {aid: judge(facts) for aid, facts in gather(assignment_ids, cutoff).items()}


@dataclass(frozen=True)
class StateView:
    """A role's stored state as pages show it (read from ``Assignment``, never judged)."""

    state: AssignmentState
    reasons: tuple[str, ...] = ()
    late: bool = False
    disclosure_submitted_at: datetime | None = None

    @classmethod
    def of(cls, assignment, disclosure_submitted_at: datetime | None = None) -> StateView:
        return cls(assignment.state, tuple(assignment.state_reasons or ()), bool(assignment.is_late),
                   disclosure_submitted_at)

    @property
    def label(self) -> str:
        return self.state.label

    @property
    def css(self) -> str:
        return STATE_CSS[self.state]

    @property
    def is_cleared(self) -> bool:
        return self.state is AssignmentState.CLEARED


def state_counts(states: Iterable[AssignmentState]) -> dict[AssignmentState, int]:
    """How many of ``states`` are in each state, zeros included."""
    counts = {state: 0 for state in AssignmentState}
    for state in states:
        counts[state] += 1
    return counts
