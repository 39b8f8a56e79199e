"""The rules of a disclosure. Operations never commit.

Faculty side: ``submit_disclosure`` checks every Standard 3 rule (the 24-month
window, dates, the explicit has/has-not choice, the attestation) and saves a
new ``Disclosure`` version, carrying the review of unchanged relationships.

The company registry (matching what faculty type) is ``registry.operations``.

Each operation writes its audit event. Disclosure contents (company names,
natures, details) never go into the audit ``changes``: only ids and counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from ..audit import record
from ..enums import Nature
from ..errors import Refusal
from ..extensions import db
from ..models import (
    Assignment,
    Company,
    Determination,
    Disclosure,
    Mitigation,
    Relationship,
    User,
    normalise_company_name,
    utcnow,
)
from ..models.base import in_force
from ..publication.operations import refresh
from ..registry.operations import find_company
from ..state import months_before
from ..words import plural, signature_key


def lookback_months() -> int:
    """How far back relationships are disclosed: ``DISCLOSURE_LOOKBACK_MONTHS`` (Standard 3: 24)."""
    return int(current_app.config.get("DISCLOSURE_LOOKBACK_MONTHS", 24))

DEFAULT_VALID_DAYS = 365
OTHER_DETAIL_MAX = 150  # an "Other" relationship's description, printed for learners


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class Problem:
    """One refusal: ``field`` names the form field; ``row`` the relationship row (0-based)."""

    field: str
    message: str
    row: int | None = None


class DisclosureRejected(ValueError):
    """The submission breaks a rule; nothing was saved. ``problems`` says what to fix."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


# --------------------------------------------------------------------------- input


@dataclass
class RelationshipEntry:
    """One relationship as the person typed it (plain data, no form objects)."""

    company_name: str
    nature: Nature | None
    started_on: date | None
    ended_on: date | None
    ongoing: bool
    detail: str | None = None

    @property
    def is_blank(self) -> bool:
        return not (self.company_name or "").strip() and self.nature is None and not (
            self.started_on or self.ended_on or self.ongoing or (self.detail or "").strip()
        )


@dataclass
class DisclosureEntry:
    has_relationships: bool | None
    relationships: list[RelationshipEntry]
    attestation_name: str
    attested_complete: bool


@dataclass
class SubmissionResult:
    disclosure: Disclosure
    carried: int = 0
    new_companies: list[Company] = field(default_factory=list)
    # Typed name → registry name, where they differ (shown to the person, never logged).
    matched: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- dates


def window_start(submitted_on: date, months: int | None = None) -> date:
    """First day of the disclosure window: relationships ending before it need not be disclosed."""
    return months_before(submitted_on, lookback_months() if months is None else months)


def _fmt(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def names_match(typed: str, *names: str | None) -> bool:
    """The attestation signature: the same words as one of ``names`` (the account's full
    name, or the name as the person writes it with degrees), after Unicode normalisation
    (NFKD: a name pasted in decomposed form matches) and ignoring case and spacing."""
    key = signature_key(typed)
    return any(key == signature_key(name) for name in names if name)


# --------------------------------------------------------------------------- rules


def check_relationship(entry: RelationshipEntry, row: int, submitted_on: date) -> list[Problem]:
    """Every rule one relationship row must meet (pure: no database)."""
    problems: list[Problem] = []
    if not (entry.company_name or "").strip():
        problems.append(Problem("company", "Enter the company's name.", row))
    elif len(entry.company_name.strip()) > 200:
        problems.append(Problem("company", "Shorten the company name to 200 characters.", row))
    if entry.nature is None:
        problems.append(Problem("nature", "Choose the nature of the relationship.", row))
    elif not entry.nature.offered:  # the former "ownership interest": say which it is
        problems.append(Problem(
            "nature", "Say which kind of ownership this is: “"
            f"{Nature.PUBLIC_STOCK.label}”, or “{Nature.PRIVATE_STOCK.label}”.", row))
    elif entry.nature is Nature.OTHER:
        described = " ".join((entry.detail or "").split())
        if not described:
            problems.append(Problem(
                "detail", "Describe this “Other” relationship in a few words, for example "
                "“Travel grant” or “Data safety monitoring board”: learners read your "
                "description in place of “Other”.", row))
        elif len(described) > OTHER_DETAIL_MAX:
            problems.append(Problem(
                "detail", f"Keep the description of an “Other” relationship to "
                f"{OTHER_DETAIL_MAX} characters: learners read it on the disclosure sheet.", row))
    if entry.started_on is None:
        problems.append(
            Problem("started_on", "Enter when the relationship started (an approximate date is fine).", row)
        )
    elif entry.started_on > submitted_on:
        problems.append(
            Problem(
                "started_on",
                f"The start date {_fmt(entry.started_on)} is in the future. Disclose relationships "
                "that have started; add this one when it begins.",
                row,
            )
        )
    if entry.ongoing and entry.ended_on is not None:
        problems.append(
            Problem("ended_on", "Either enter an end date or tick “Ongoing”, not both.", row)
        )
    elif not entry.ongoing and entry.ended_on is None:
        problems.append(
            Problem("ended_on", "Enter when the relationship ended, or tick “Ongoing”.", row)
        )
    if entry.ended_on is not None:
        first = window_start(submitted_on)
        if entry.started_on is not None and entry.ended_on < entry.started_on:
            problems.append(
                Problem("ended_on", "The end date is before the start date. Check both dates.", row)
            )
        elif entry.ended_on < first:
            problems.append(
                Problem(
                    "ended_on",
                    f"This relationship ended before {_fmt(first)}, the first day of the "
                    f"{lookback_months()}-month window. It need not be disclosed: remove the row.",
                    row,
                )
            )
    return problems


def check_disclosure(entry: DisclosureEntry, person: User, submitted_on: date) -> list[Problem]:
    """Every rule of a whole submission (pure: no database)."""
    problems: list[Problem] = []
    rows = [(i, r) for i, r in enumerate(entry.relationships) if not r.is_blank]
    if entry.has_relationships is None:
        problems.append(
            Problem(
                "has_relationships",
                "Say whether you have had financial relationships with ineligible companies "
                f"in the past {lookback_months()} months.",
            )
        )
    elif entry.has_relationships and not rows:
        problems.append(
            Problem(
                "has_relationships",
                "You said you have had financial relationships, but listed none. Add each "
                "relationship below, or choose “I have had none”.",
            )
        )
    elif not entry.has_relationships and rows:
        problems.append(
            Problem(
                "has_relationships",
                f"You chose “I have had none” but filled in {plural(len(rows), 'relationship row')}. "
                "Choose “I have had financial relationships”, or remove the rows.",
            )
        )
    if entry.has_relationships:
        for index, relationship in rows:
            problems.extend(check_relationship(relationship, index, submitted_on))
    if not (entry.attestation_name or "").strip():
        problems.append(Problem("attestation_name", "Type your full name to sign the disclosure."))
    elif not names_match(entry.attestation_name, person.full_name, person.display_name):
        problems.append(
            Problem(
                "attestation_name",
                f"The name you typed does not match your account name. Type it as “{person.full_name}”.",
            )
        )
    if not entry.attested_complete:
        problems.append(
            Problem(
                "attested_complete",
                "Tick the box to confirm the disclosure is complete, whatever the amounts.",
            )
        )
    return problems


# --------------------------------------------------------------------------- submission


def latest_disclosure(person: User) -> Disclosure | None:
    return db.session.scalar(
        sa.select(Disclosure)
        .where(Disclosure.user_id == person.id)
        .order_by(Disclosure.version.desc())
        .limit(1)
        .options(selectinload(Disclosure.relationships).joinedload(Relationship.company))
    )


def _carry_review(new: Relationship, old: Relationship) -> None:
    """Copy each decision in force about ``old`` (and its mitigations) onto ``new``: a
    first decision about ``new``, dated as the decision it copies."""
    determinations = db.session.scalars(
        sa.select(Determination)
        .where(Determination.relationship_id == old.id,
               in_force(Determination))
        .options(selectinload(Determination.mitigations))
    ).all()
    for previous in determinations:
        copy = Determination(
            relationship=new,
            assignment_id=previous.assignment_id,
            is_relevant=previous.is_relevant,
            rationale=previous.rationale,
            reviewer_id=previous.reviewer_id,
            decided_at=previous.decided_at,
            carried_from_id=previous.id,
        )
        copy.mitigations = [
            Mitigation(
                method=m.method,
                notes=m.notes,
                notes_key=m.notes_key,  # keeps rows the 0004d migration kept apart apart
                recorded_by_id=m.recorded_by_id,
                recorded_at=m.recorded_at,
                in_place_on=m.in_place_on,
            )
            for m in previous.mitigations
        ]
        db.session.add(copy)


def submit_disclosure(
    person: User,
    entry: DisclosureEntry,
    *,
    now: datetime | None = None,
    valid_days: int = DEFAULT_VALID_DAYS,
) -> SubmissionResult:
    """Save ``entry`` as ``person``'s next disclosure version.

    Raises ``DisclosureRejected`` (nothing added to the session) when a rule is
    broken. Side effects otherwise:

    - adds a ``Disclosure`` with ``version`` = previous + 1, ``valid_until`` =
      submission date + ``valid_days``, the attestation and its timestamp;
      earlier versions are not touched;
    - resolves each company by name or alias; an unknown one is created
      ``is_ineligible=True, needs_review=True`` for staff to confirm or merge;
    - a relationship identical to one in the previous version (same company,
      nature, start and end) gets ``carried_from_id`` and copies of that
      relationship's determinations and mitigations, so its review stands;
      changed or new relationships start without any;
    - owner/employee decisions are per company, so an owner or employee of a company
      new in this version awaits a staff decision for it (nothing to clear);
    - refreshes the person's roles (``publication.refresh``): a role whose session has
      not started judges this version; one already started keeps the version in force
      at its start;
    - writes one ``disclosure.submitted`` audit event (ids and counts only).
    """
    now = now or utcnow()
    today = now.date()
    problems = check_disclosure(entry, person, today)
    if problems:
        raise DisclosureRejected(problems)

    previous = latest_disclosure(person)
    disclosure = Disclosure(
        user=person,
        version=(previous.version + 1) if previous else 1,
        submitted_at=now,
        valid_until=today + timedelta(days=valid_days),
        has_relationships=bool(entry.has_relationships),
        attestation_name=" ".join(entry.attestation_name.split()),
        attested_complete=True,
        attested_at=now,
    )
    db.session.add(disclosure)
    result = SubmissionResult(disclosure)

    created: dict[str, Company] = {}
    unused_previous = list(previous.relationships) if previous else []
    rows = [r for r in entry.relationships if not r.is_blank] if entry.has_relationships else []
    for row in rows:
        typed = " ".join(row.company_name.split())
        key = normalise_company_name(typed)
        company = created.get(key) or find_company(typed)
        if company is None:
            company = Company(name=typed, is_ineligible=True, needs_review=True)
            db.session.add(company)
            db.session.flush()
            created[key] = company
            result.new_companies.append(company)
        elif company.name != typed and key not in created:
            result.matched[typed] = company.name
        relationship = Relationship(
            disclosure=disclosure,
            company=company,
            nature=row.nature,
            started_on=row.started_on,
            ended_on=None if row.ongoing else row.ended_on,
            detail=(row.detail or "").strip() or None,
        )
        db.session.add(relationship)
        match = next(
            (
                old
                for old in unused_previous
                if old.company_id == company.id
                and old.nature is relationship.nature
                and old.started_on == relationship.started_on
                and old.ended_on == relationship.ended_on
            ),
            None,
        )
        if match is not None:
            unused_previous.remove(match)
            relationship.carried_from_id = match.id
            _carry_review(relationship, match)
            result.carried += 1

    db.session.flush()
    record(
        person,
        "disclosure.submitted",
        disclosure,
        {
            "version": disclosure.version,
            "has_relationships": disclosure.has_relationships,
            "relationship_count": len(disclosure.relationships),
            "carried_count": result.carried,
            "new_company_ids": [c.id for c in result.new_companies],
            "valid_until": disclosure.valid_until,
        },
        subject=person,
    )
    refresh(db.session.scalars(sa.select(Assignment.id).where(Assignment.user_id == person.id)))
    return result




class OffLabelRefused(Refusal):
    """The role cannot take an off-label declaration (someone else's, removed, or over)."""


def declare_off_label(person: User, assignment: Assignment, discusses: bool,
                      detail: str | None) -> bool:
    """Record whether ``person``'s presentation (``assignment``) discusses off-label or
    investigational use, and which. Printed only for this role.

    Side effects: updates ``Assignment.discusses_off_label`` / ``off_label_detail``; writes
    ``assignment.off_label_declared`` (whether it is declared and whether the detail changed,
    never the detail itself); republishes the role (``publication.refresh``: a new
    ``Statement`` and sheet version when the printed words change). Returns False (and
    writes nothing) when nothing changed. Raises ``OffLabelRefused``.
    """
    if assignment.user_id != person.id:
        raise OffLabelRefused("This is not one of your roles.")
    if assignment.removed_at is not None:
        raise OffLabelRefused("This role was removed from the programme.")
    if assignment.activity_id is None:
        raise OffLabelRefused("Off-label use is declared for a presentation: a role held for "
                              "the whole meeting has none.")
    detail = " ".join((detail or "").split()) or None if discusses else None
    if detail is not None and len(detail) > 2000:
        raise OffLabelRefused("Keep the off-label detail under 2,000 characters.")
    if (assignment.discusses_off_label, assignment.off_label_detail) == (bool(discusses), detail):
        return False
    changes = {"discusses_off_label": [assignment.discusses_off_label, bool(discusses)],
               "detail_changed": assignment.off_label_detail != detail}
    assignment.discusses_off_label = bool(discusses)
    assignment.off_label_detail = detail
    db.session.flush()
    record(person, "assignment.off_label_declared", assignment, changes, subject=person)
    refresh([assignment.id])
    return True
