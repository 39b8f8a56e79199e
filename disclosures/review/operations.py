"""Reviewer decisions: relevance determinations and mitigations. Never commit; callers do.

Every function checks what it is given against the person's latest disclosure,
refuses with a ``ReviewError`` (the user reads the message) or a
``ReviewConflict`` (someone else saved first: optimistic locking), writes one
audit event per row it creates or changes, and flushes.

Rationale text is stored and audited (the accreditor asks for it) but never
written to the application log.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ..audit import diff, record
from ..enums import MitigationMethod
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
)
from ..models.base import utcnow
from ..state import latest_disclosures, needs_determination


class ReviewError(ValueError):
    """A refusal the reviewer should read (relationship not reviewable, …)."""


class ReviewConflict(ReviewError):
    """Someone saved this first; nothing was overwritten."""


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
        return [r for r in self.disclosure.relationships if needs_determination(r)]

    def relationship(self, relationship_id: int) -> Relationship | None:
        return next((r for r in self.reviewable if r.id == relationship_id), None)

    def assignment(self, assignment_id: int) -> Assignment | None:
        return next((a for a in self.assignments if a.id == assignment_id), None)


def review_subject(person: User, meeting: Meeting) -> ReviewSubject:
    """The person's current assignments in ``meeting`` and their latest disclosure (4–5 queries)."""
    assignments = list(
        db.session.scalars(
            sa.select(Assignment)
            .join(Assignment.activity)
            .where(
                Assignment.user_id == person.id,
                Activity.meeting_id == meeting.id,
                Assignment.removed_at.is_(None),
            )
            .options(joinedload(Assignment.activity).joinedload(Activity.room))
            .order_by(Activity.starts_at, Assignment.id)
        )
    )
    disclosure = latest_disclosures([person.id]).get(person.id)
    return ReviewSubject(person, meeting, assignments, disclosure)


def existing_determination(relationship: Relationship, assignment: Assignment) -> Determination | None:
    return db.session.scalar(
        sa.select(Determination).where(
            Determination.relationship_id == relationship.id,
            Determination.assignment_id == assignment.id,
        )
    )


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
    seen_version: int,
) -> Determination | None:
    """Record (or change) whether ``relationship`` is relevant to ``assignment``.

    ``seen_version`` is the determination version the reviewer saw (0: none yet).

    Side effects: adds a ``Determination`` (audit ``determination.recorded``) or
    updates the existing one, setting ``reviewer`` to ``actor`` and ``decided_at``
    to now (audit ``determination.changed`` with before/after). A carried-over
    determination that is changed stops being "carried over". Returns None and
    writes nothing when the decision is unchanged. Flushes.

    Raises ``ReviewConflict`` when the determination is not at ``seen_version``
    (someone else saved first), ``ReviewError`` for a pair that is not reviewable.
    """
    _check_pair(subject, relationship, assignment)
    rationale = (rationale or "").strip() or None
    existing = existing_determination(relationship, assignment)
    if existing is None:
        if seen_version:
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
        return determination

    if existing.version_id != seen_version:
        raise ReviewConflict(conflict_message(existing.reviewer, existing.decided_at, subject.meeting))
    before = _snapshot(existing)
    if before["is_relevant"] == is_relevant and before["rationale"] == rationale:
        return None
    existing.is_relevant = is_relevant
    existing.rationale = rationale
    existing.reviewer = actor
    existing.decided_at = utcnow()
    existing.carried_from_id = None
    db.session.flush()  # the UPDATE checks version_id: a concurrent save raises StaleDataError
    changes = diff(before, _snapshot(existing))
    record(
        actor,
        "determination.changed",
        existing,
        {"relationship_id": relationship.id, "assignment_id": assignment.id, **changes},
        subject=subject.person,
    )
    return existing


def record_none_relevant(actor: User, subject: ReviewSubject, rationale: str) -> list[Determination]:
    """The "none relevant" shortcut: one not-relevant determination for every undecided pair.

    Pairs already decided (by anyone, including carried-over decisions) are left
    as they are. Side effects: adds one ``Determination`` per undecided pair, each
    with its own ``determination.recorded`` audit event. Flushes. A concurrent
    insert of the same pair fails the unique constraint at flush (the caller
    turns that into a conflict).
    """
    rationale = (rationale or "").strip()
    if not rationale:
        raise ReviewError("Give the reason none of the relationships is relevant.")
    pairs = [(r, a) for r in subject.reviewable for a in subject.assignments]
    if not pairs:
        return []
    decided = set(
        db.session.execute(
            sa.select(Determination.relationship_id, Determination.assignment_id).where(
                Determination.relationship_id.in_([r.id for r in subject.reviewable]),
                Determination.assignment_id.in_([a.id for a in subject.assignments]),
            )
        ).all()
    )
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
    return created


def record_mitigation(
    actor: User,
    subject: ReviewSubject,
    determination: Determination,
    *,
    method: MitigationMethod,
    notes: str,
    seen_version: int,
) -> Mitigation:
    """Record how a relevant relationship is mitigated for one assignment.

    Several mitigations may be recorded for one determination.

    Side effects: adds a ``Mitigation`` with ``recorded_by`` = ``actor`` and
    ``recorded_at`` = now; audit ``mitigation.recorded`` with the method and
    notes as "after". Flushes.

    Raises ``ReviewConflict`` when the determination changed since the reviewer
    saw it (version ``seen_version``), ``ReviewError`` when it is not relevant or
    not part of this review.
    """
    _check_pair(subject, determination.relationship, determination.assignment)
    if determination.version_id != seen_version:
        raise ReviewConflict(
            conflict_message(determination.reviewer, determination.decided_at, subject.meeting)
        )
    if not determination.is_relevant:
        raise ReviewError("This relationship was judged not relevant, so it needs no mitigation.")
    notes = (notes or "").strip() or None
    if method is MitigationMethod.OTHER and not notes:
        raise ReviewError("Describe the mitigation in the notes when you choose “Other”.")
    mitigation = Mitigation(
        determination=determination,
        method=method,
        notes=notes,
        recorded_by=actor,
        recorded_at=utcnow(),
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
            **diff({}, {"method": method, "notes": notes}),
        },
        subject=subject.person,
    )
    return mitigation
