"""Reviewer decisions: relevance determinations and mitigations. Never commit; callers do.

Every function first checks that the reviewer decided on the person's latest
disclosure (``seen_disclosure_id``: the version the form was rendered from), then
checks what it is given against it, refuses with a ``ReviewError`` (the user reads
the message), a ``ReviewConflict`` (someone else decided first) or a
``DisclosureChanged`` (the person submitted a newer version since), writes one audit
event per row it creates, refreshes the roles' stored states and published statements
(``publication.refresh``), and flushes.

Decisions are records: a changed decision is a new ``Determination`` superseding the
one the reviewer saw (``seen_determination_id``), never an update, so the decision in
force at any moment (a session's start) can be read back. A mitigation belongs to the
decision it was recorded on; a decision changed but still relevant keeps the
mitigations recorded so far (copied, with who and when).

Rationale text is stored and audited (the accreditor asks for it) but never
written to the application log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from .. import clock
from ..audit import diff, record
from ..enums import AssignmentRole, MitigationMethod
from ..errors import Conflict, Refusal
from ..extensions import db
from ..models import (
    Activity,
    Assignment,
    Determination,
    Disclosure,
    Meeting,
    Mitigation,
    Relationship,
    User,
    asks_disclosure,
)
from ..models.base import in_force, utcnow
from ..models.review import mitigation_notes_key
from ..publication.operations import refresh


class ReviewError(Refusal):
    """A refusal the reviewer should read (relationship not reviewable, …)."""


class ReviewConflict(Conflict, ReviewError):
    """Someone saved this first; nothing was overwritten."""


class DisclosureChanged(ReviewConflict):
    """The person submitted a newer disclosure after the page was opened: nothing recorded.

    ``changes`` names, one line each, the relationships added, changed or no longer
    disclosed since the version the reviewer saw.
    """

    def __init__(self, message: str, changes: list[str]):
        super().__init__(message)
        self.changes = changes


def conflict_message(who: User | None, when, meeting: Meeting | None = None) -> str:
    """"Changed by NAME at TIME, reload": the words every optimistic-lock refusal uses."""
    name = who.full_name if who is not None else "another reviewer"
    if when is not None and meeting is not None:
        when = meeting.local(when)
    stamp = when.strftime("%b %-d, %Y %-I:%M %p %Z") if when is not None else "just now"
    return (
        f"This decision was changed by {name} at {stamp}, after you opened the page. "
        "Nothing you entered was saved: reload the page, read the new decision, then decide again."
    )


@dataclass
class ReviewSubject:
    """What one person's review page works on: their assignments in a meeting and latest disclosure."""

    person: User
    meeting: Meeting
    assignments: list[Assignment]
    disclosure: Disclosure | None

    @property
    def reviewable(self) -> list[Relationship]:
        """Relationships that need a relevance decision (ineligible companies only)."""
        if self.disclosure is None:
            return []
        return [r for r in self.disclosure.relationships if r.company.is_ineligible]

    def relationship(self, relationship_id: int) -> Relationship | None:
        return next((r for r in self.reviewable if r.id == relationship_id), None)

    def assignment(self, assignment_id: int) -> Assignment | None:
        return next((a for a in self.assignments if a.id == assignment_id), None)


def review_subject(person: User, meeting: Meeting) -> ReviewSubject:
    """The person's current assignments in ``meeting`` and their latest disclosure (4–5 queries)."""
    assignments = list(
        db.session.scalars(
            sa.select(Assignment)
            .outerjoin(Assignment.activity)
            .where(
                Assignment.user_id == person.id,
                Assignment.meeting_id == meeting.id,
                Assignment.removed_at.is_(None),
                asks_disclosure(),
            )
            .options(joinedload(Assignment.activity).joinedload(Activity.room),
                     joinedload(Assignment.meeting))
            # Roles for the whole meeting (committee, reviewers) first, then by start.
            .order_by(Activity.starts_at.is_not(None), Activity.starts_at, Assignment.id)
        )
    )
    disclosure = db.session.scalar(
        sa.select(Disclosure).where(Disclosure.user_id == person.id)
        .order_by(Disclosure.version.desc()).limit(1)
        .options(selectinload(Disclosure.relationships).joinedload(Relationship.company))
    )
    return ReviewSubject(person, meeting, assignments, disclosure)


def _describe(relationship: Relationship) -> str:
    started = relationship.started_on.strftime("%b %-d, %Y") if relationship.started_on else "no start date"
    ended = relationship.ended_on.strftime("%b %-d, %Y") if relationship.ended_on else "ongoing"
    return f"{relationship.company.name} ({relationship.nature.label.lower()}, {started} – {ended})"


def disclosure_changes(seen: Disclosure | None, latest: Disclosure) -> list[str]:
    """What a reviewer who read ``seen`` has not read in ``latest``, one line per relationship.

    Relationships are the same when company, nature, start and end are (the rule that
    carries a review over to a new version). One with the same company and nature but
    other dates is "changed"; ``seen`` None (unknown) makes every relationship "new".
    """
    before = list(seen.relationships) if seen is not None else []
    lines, added = [], []
    for relationship in latest.relationships:
        same = next((old for old in before if old.identity == relationship.identity), None)
        if same is not None:
            before.remove(same)
        else:
            added.append(relationship)
    for relationship in added:
        old = next((o for o in before if (o.company_id, o.nature) == (relationship.company_id, relationship.nature)),
                   None)
        if old is not None:
            before.remove(old)
            lines.append(f"Changed relationship: {_describe(relationship)}, was {_describe(old)}")
        else:
            lines.append(f"New relationship: {_describe(relationship)}")
    lines.extend(f"No longer disclosed: {_describe(old)}" for old in before)
    return lines


def check_seen_disclosure(subject: ReviewSubject, seen_disclosure_id: int | None) -> None:
    """Refuse a decision made on an older disclosure than the person's latest.

    ``seen_disclosure_id`` is the id of the disclosure version the reviewer's form was
    rendered from. Raises ``DisclosureChanged`` (with what changed since) when it is not
    the latest, ``ReviewError`` when there is no disclosure to decide on.
    """
    latest = subject.disclosure
    if latest is None:
        raise ReviewError(f"{subject.person.full_name} has not submitted a disclosure: there is nothing to decide.")
    if seen_disclosure_id == latest.id:
        return
    seen = db.session.get(Disclosure, seen_disclosure_id) if 0 < (seen_disclosure_id or 0) < 2**31 else None
    if seen is not None and seen.user_id != subject.person.id:
        seen = None
    what = f"version {seen.version}" if seen is not None else "an earlier version"
    raise DisclosureChanged(
        f"Nothing was recorded: {subject.person.full_name} submitted a new disclosure (version "
        f"{latest.version}) after you opened this page on {what}. The page now shows version "
        f"{latest.version}: read what changed, listed here, then decide again.",
        disclosure_changes(seen, latest),
    )


def current_decisions(relationship_ids, assignment_ids) -> dict[tuple[int, int], Determination]:
    """(relationship id, assignment id) → the decision in force now (none supersedes it)."""
    rows = db.session.scalars(
        sa.select(Determination).where(
            Determination.relationship_id.in_(list(relationship_ids)),
            Determination.assignment_id.in_(list(assignment_ids)),
            in_force(Determination),
        )
    )
    return {(d.relationship_id, d.assignment_id): d for d in rows}


def existing_determination(relationship: Relationship, assignment: Assignment) -> Determination | None:
    """The decision in force now for this pair, if any."""
    return current_decisions([relationship.id], [assignment.id]).get((relationship.id, assignment.id))


def _snapshot(determination: Determination) -> dict:
    return {
        "is_relevant": determination.is_relevant,
        "rationale": determination.rationale,
        "reviewer_id": determination.reviewer_id,
    }


def _check_pair(subject: ReviewSubject, relationship: Relationship, assignment: Assignment) -> None:
    if subject.relationship(relationship.id) is None:
        raise ReviewError(
            "This relationship is not part of the person's latest disclosure, or it is with an "
            "eligible organisation and needs no decision. Reload the page."
        )
    if subject.assignment(assignment.id) is None:
        raise ReviewError("This role is not one of the person's current roles in this meeting. Reload the page.")


def record_determination(
    actor: User,
    subject: ReviewSubject,
    relationship: Relationship,
    assignment: Assignment,
    *,
    is_relevant: bool,
    rationale: str,
    seen_determination_id: int,
    seen_disclosure_id: int | None,
) -> Determination | None:
    """Record (or change) whether ``relationship`` is relevant to ``assignment``.

    ``seen_determination_id`` is the decision the reviewer saw (0: none yet);
    ``seen_disclosure_id`` the disclosure version the form was rendered from.

    Side effects: adds a ``Determination`` by ``actor``, now: a first decision (audit
    ``determination.recorded``) or one superseding the decision in force (audit
    ``determination.changed`` with before/after), which keeps copies of its
    mitigations if it is still relevant; refreshes the role's state and statement.
    Returns None and writes nothing when the decision is unchanged. Flushes.

    Raises ``DisclosureChanged`` when a newer disclosure was submitted since
    ``seen_disclosure_id``, ``ReviewConflict`` when the decision in force is not the one
    the reviewer saw (someone else decided first), ``ReviewError`` for a pair that is
    not reviewable.
    """
    check_seen_disclosure(subject, seen_disclosure_id)
    _check_pair(subject, relationship, assignment)
    rationale = (rationale or "").strip() or None
    existing = existing_determination(relationship, assignment)
    if existing is None:
        if seen_determination_id:
            raise ReviewConflict(conflict_message(None, None))
        determination = Determination(
            relationship=relationship,
            assignment=assignment,
            is_relevant=is_relevant,
            rationale=rationale,
            reviewer=actor,
            decided_at=utcnow(),
        )
        db.session.add(determination)
        db.session.flush()
        record(
            actor,
            "determination.recorded",
            determination,
            {
                "relationship_id": relationship.id,
                "assignment_id": assignment.id,
                **diff({}, _snapshot(determination)),
            },
            subject=subject.person,
        )
        refresh([assignment.id])
        return determination

    if existing.id != seen_determination_id:
        raise ReviewConflict(conflict_message(existing.reviewer, existing.decided_at, subject.meeting))
    before = _snapshot(existing)
    if before["is_relevant"] == is_relevant and before["rationale"] == rationale:
        return None
    # Still relevant: the mitigations in place stay in place (copied onto the new decision).
    kept = [
        Mitigation(method=m.method, notes=m.notes, notes_key=m.notes_key,
                   recorded_by_id=m.recorded_by_id, recorded_at=m.recorded_at)
        for m in (existing.mitigations if is_relevant and existing.is_relevant else [])
    ]
    changed = Determination(
        relationship=relationship,
        assignment=assignment,
        is_relevant=is_relevant,
        rationale=rationale,
        reviewer=actor,
        decided_at=utcnow(),
        supersedes_id=existing.id,
        mitigations=kept,
    )
    db.session.add(changed)
    db.session.flush()  # a concurrent change of the same decision fails here (unique supersedes_id)
    record(
        actor,
        "determination.changed",
        changed,
        {"relationship_id": relationship.id, "assignment_id": assignment.id,
         "supersedes_id": existing.id, **diff(before, _snapshot(changed))},
        subject=subject.person,
    )
    refresh([assignment.id])
    return changed


def record_none_relevant(
    actor: User, subject: ReviewSubject, rationale: str, *, seen_disclosure_id: int | None
) -> list[Determination]:
    """The "none relevant" shortcut: one not-relevant determination for every undecided pair.

    Only for the disclosure the reviewer read: ``DisclosureChanged`` (nothing recorded)
    when the person submitted a newer version than ``seen_disclosure_id``, so a
    relationship the reviewer never saw is never judged "not relevant".

    Pairs already decided (by anyone, including carried-over decisions) are left
    as they are. Side effects: adds one ``Determination`` per undecided pair, each
    with its own ``determination.recorded`` audit event; refreshes the roles. Flushes. A concurrent
    insert of the same pair fails the unique constraint at flush (the caller
    turns that into a conflict).
    """
    check_seen_disclosure(subject, seen_disclosure_id)
    rationale = (rationale or "").strip()
    if not rationale:
        raise ReviewError("Give the reason none of the relationships is relevant.")
    pairs = [(r, a) for r in subject.reviewable for a in subject.assignments]
    if not pairs:
        return []
    decided = set(current_decisions([r.id for r in subject.reviewable],
                                    [a.id for a in subject.assignments]))
    created = []
    for relationship, assignment in pairs:
        if (relationship.id, assignment.id) in decided:
            continue
        created.append(
            Determination(
                relationship=relationship,
                assignment=assignment,
                is_relevant=False,
                rationale=rationale,
                reviewer=actor,
                decided_at=utcnow(),
            )
        )
    db.session.add_all(created)
    db.session.flush()
    for determination in created:
        record(
            actor,
            "determination.recorded",
            determination,
            {
                "relationship_id": determination.relationship_id,
                "assignment_id": determination.assignment_id,
                "shortcut": "none_relevant",
                **diff({}, _snapshot(determination)),
            },
            subject=subject.person,
        )
    if created:
        refresh({d.assignment_id for d in created})
    return created


# The mitigations Standard 3 names for each kind of role: planners (activity planners and
# every meeting-level role: committee, course director, reviewers) have their planning
# decisions peer reviewed or recuse themselves from the related planning and content;
# faculty may attest that their
# recommendations are evidence-based.
PLANNER_METHODS = (
    MitigationMethod.PEER_REVIEW_PLANNING, MitigationMethod.RECUSE, MitigationMethod.DIVEST,
    MitigationMethod.PEER_REVIEW, MitigationMethod.ALTER_ROLE, MitigationMethod.OTHER,
)
FACULTY_METHODS = (
    MitigationMethod.PEER_REVIEW, MitigationMethod.ATTEST_EVIDENCE, MitigationMethod.DIVEST,
    MitigationMethod.ALTER_ROLE, MitigationMethod.OTHER,
)


def mitigation_methods(role: AssignmentRole) -> tuple[MitigationMethod, ...]:
    """How a relevant relationship of someone in ``role`` may be mitigated."""
    return PLANNER_METHODS if role.plans else FACULTY_METHODS


def record_mitigation(
    actor: User,
    subject: ReviewSubject,
    determination: Determination,
    *,
    method: MitigationMethod,
    notes: str,
    seen_determination_id: int,
    seen_disclosure_id: int | None,
    in_place_on: date | None = None,
) -> tuple[Mitigation, bool]:
    """Record how a relevant relationship is mitigated for one assignment.

    Several mitigations may be recorded for one determination, each (method, notes)
    once: when the same one is already there (the form sent twice, or by two
    reviewers) it is returned and nothing is written. Returns (mitigation, created).

    ``in_place_on``: the day it was put in place, in the meeting's time zone (default: the
    meeting's today). A mitigation is recorded once it is in place, so a day after today
    is refused. One in place after the role's start day is kept, but the role is judged
    unmitigated as of its start and flagged late (``state``): never silently accepted.

    Side effects when created: adds a ``Mitigation`` with ``recorded_by`` = ``actor``,
    ``recorded_at`` = now and ``in_place_on``; audit ``mitigation.recorded`` with the method and
    notes as "after"; refreshes the role's state and statement. Flushes. Two identical mitigations inserted at the same moment
    fail the unique constraint at flush for the second: run again after the rollback,
    this function then finds the first and returns it.

    Raises ``DisclosureChanged`` when a newer disclosure was submitted since
    ``seen_disclosure_id``, ``ReviewConflict`` when the decision was changed since the
    reviewer saw it (``seen_determination_id``), ``ReviewError`` when it is not relevant,
    not part of this review, or ``method`` is not one the role allows
    (``mitigation_methods``).
    """
    check_seen_disclosure(subject, seen_disclosure_id)
    _check_pair(subject, determination.relationship, determination.assignment)
    current = existing_determination(determination.relationship, determination.assignment)
    if current is None or current.id != determination.id or seen_determination_id != determination.id:
        latest = current or determination
        raise ReviewConflict(conflict_message(latest.reviewer, latest.decided_at, subject.meeting))
    if not determination.is_relevant:
        raise ReviewError("This relationship was judged not relevant, so it needs no mitigation.")
    allowed = mitigation_methods(determination.assignment.role)
    if method not in allowed:
        raise ReviewError(
            f"“{method.label}” is not a mitigation Standard 3 names for a "
            f"{determination.assignment.role.label.lower()}: choose one of "
            + "; ".join(m.label for m in allowed) + "."
        )
    today = clock.meeting_today(subject.meeting)
    in_place_on = in_place_on or today
    if in_place_on > today:
        raise ReviewError(
            f"{in_place_on:%B} {in_place_on.day}, {in_place_on.year} is after today: record a "
            "mitigation once it is in place, with the day it was put in place.", "in_place_on")
    notes = (notes or "").strip() or None
    if method is MitigationMethod.OTHER and not notes:
        raise ReviewError("Describe the mitigation in the notes when you choose “Other”.")
    same = db.session.scalar(
        sa.select(Mitigation).where(
            Mitigation.determination_id == determination.id,
            Mitigation.method == method,
            Mitigation.notes_key == mitigation_notes_key(notes),
        )
    )
    if same is not None:
        return same, False
    mitigation = Mitigation(
        determination=determination,
        method=method,
        notes=notes,
        recorded_by=actor,
        recorded_at=utcnow(),
        in_place_on=in_place_on,
    )
    db.session.add(mitigation)
    db.session.flush()
    record(
        actor,
        "mitigation.recorded",
        mitigation,
        {
            "determination_id": determination.id,
            "relationship_id": determination.relationship_id,
            "assignment_id": determination.assignment_id,
            **diff({}, {"method": method, "notes": notes,
                        "in_place_on": in_place_on.isoformat()}),
        },
        subject=subject.person,
    )
    refresh([determination.assignment_id])
    return mitigation, True


def decisions_with_people(relationship_ids, assignment_ids) -> dict[tuple[int, int], Determination]:
    """``current_decisions`` with who decided and who recorded each mitigation loaded (one
    statement: the review page names them)."""
    rows = db.session.scalars(
        sa.select(Determination).where(
            Determination.relationship_id.in_(list(relationship_ids)),
            Determination.assignment_id.in_(list(assignment_ids)),
            in_force(Determination),
        ).options(joinedload(Determination.reviewer),
                  joinedload(Determination.mitigations).joinedload(Mitigation.recorded_by))
    ).unique()
    return {(d.relationship_id, d.assignment_id): d for d in rows}
