"""Build objects with explicit defaults and no surprises. Each factory flushes, never commits.

Like the operations they stand in for, the factories that change what a role's state or
public statement depends on (a role, a disclosure, a decision, a mitigation, an owner
decision) publish it (``publication.refresh``), so the stored states, the statements and
the room sheets are what the app would have written. Nothing else is done for you.
"""

from __future__ import annotations

import functools
import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from disclosures import clock
from disclosures.enums import (
    AssignmentRole,
    MeetingRole,
    MitigationMethod,
    Nature,
    OwnerException,
    SiteRole,
)
from disclosures.extensions import db
from disclosures.models import (
    Activity,
    Assignment,
    Company,
    CompanyAlias,
    Determination,
    Disclosure,
    Meeting,
    Membership,
    Mitigation,
    OwnerDecision,
    Relationship,
    Room,
    User,
)
from disclosures.publication.operations import refresh

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


@functools.cache
def _password_hash() -> str:
    # Cheap hash for tests only; production hashes use werkzeug's default (scrypt).
    return generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


def _n() -> int:
    return next(_counter)


def user(*, email: str | None = None, full_name: str | None = None, degrees: str | None = "MD",
         password: bool = True, site_role: SiteRole | None = None, **fields) -> User:
    """A person with no role anywhere (faculty are people with assignments)."""
    n = _n()
    person = User(
        email=email or f"person{n}@example.org",
        full_name=full_name or f"Person Number{n}",
        degrees=degrees,
        site_role=site_role,
        **fields,
    )
    if password:
        person.password_hash = _password_hash()
    db.session.add(person)
    db.session.flush()
    return person


def admin(**fields) -> User:
    """A site administrator: may do everything, in every meeting."""
    return user(site_role=SiteRole.ADMIN, **fields)


def auditor(**fields) -> User:
    """A site-wide auditor: reads every meeting's records and the audit log, changes nothing."""
    return user(site_role=SiteRole.AUDITOR, **fields)


def grant(person: User, meeting_: Meeting, role: MeetingRole) -> Membership:
    m = Membership(user=person, meeting=meeting_, role=role)
    db.session.add(m)
    db.session.flush()
    return m


def staff(meeting_: Meeting, *, cleared: bool = False, **fields) -> User:
    """A new person who is staff of ``meeting_`` (and of nothing else). ``cleared``: they
    also hold a cleared "staff who control content" role, so they may record review
    decisions (reviewers disclose too: ``cleared_role``)."""
    person = user(**fields)
    grant(person, meeting_, MeetingRole.STAFF)
    if cleared:
        cleared_role(person, meeting_, AssignmentRole.CONTENT_STAFF)
    return person


def reviewer(meeting_: Meeting, *, cleared: bool = True, **fields) -> User:
    """A new person who is a reviewer of ``meeting_`` (and of nothing else). ``cleared``:
    they also hold a cleared COI reviewer role, so they may record decisions."""
    person = user(**fields)
    grant(person, meeting_, MeetingRole.REVIEWER)
    if cleared:
        cleared_role(person, meeting_)
    return person


def meeting_role(person: User, meeting_: Meeting,
                 role: AssignmentRole = AssignmentRole.PLANNING_COMMITTEE) -> Assignment:
    """A role held for the whole meeting (no activity), published."""
    a = Assignment(user=person, meeting=meeting_, role=role)
    db.session.add(a)
    db.session.flush()
    refresh([a.id])
    return a


def cleared_role(person: User, meeting_: Meeting,
                 role: AssignmentRole = AssignmentRole.COI_REVIEWER) -> Assignment:
    """ACCME Standard 3: reviewers are in control of content and decide only once their own
    disclosure for the meeting is current and reviewed. A meeting-level ``role`` for
    ``person``, cleared: if they have no disclosure yet, one with no relationships,
    submitted before the meeting starts and valid on its first day."""
    if not person.disclosures:
        start = meeting_.starts_at
        submitted = min(clock.now() - timedelta(days=1), start - timedelta(days=1))
        disclosure(person, [], submitted_at=submitted,
                   valid_days=max(365, (meeting_.starts_on - submitted.date()).days + 1))
    return meeting_role(person, meeting_, role)


def meeting(*, starts_on: date | None = None, days: int = 3, **fields) -> Meeting:
    n = _n()
    start = starts_on or (clock.now().date() + timedelta(days=30))
    m = Meeting(
        name=fields.pop("name", f"Annual Meeting {n}"),
        slug=fields.pop("slug", f"annual-{n}"),
        starts_on=start,
        ends_on=start + timedelta(days=days),
        timezone=fields.pop("timezone", "America/Chicago"),
        disclosure_deadline=fields.pop("disclosure_deadline", start - timedelta(days=7)),
        **fields,
    )
    db.session.add(m)
    db.session.flush()
    return m


def room(meeting_: Meeting, name: str | None = None) -> Room:
    r = Room(meeting=meeting_, name=name or f"Room {_n()}")
    db.session.add(r)
    db.session.flush()
    refresh(rooms=[r.id])
    return r


def activity(meeting_: Meeting, room_: Room | None = None, *, title: str | None = None,
             starts_at: datetime | None = None, minutes: int = 60, topics=None, **fields) -> Activity:
    n = _n()
    start = starts_at or datetime.combine(meeting_.starts_on, datetime.min.time(), tzinfo=UTC) + timedelta(hours=14)
    a = Activity(
        meeting=meeting_,
        room=room_,
        code=fields.pop("code", f"A{n:04d}"),
        title=title or f"Activity {n}",
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        topics=topics if topics is not None else ["lumbar fusion"],
        credit_hours=fields.pop("credit_hours", Decimal("1.00")),
        **{k: v for k, v in fields.items() if k != "commercial_supporters"},
    )
    db.session.add(a)
    db.session.flush()
    for item in fields.get("commercial_supporters") or []:  # [{"name": ..., "in_kind": ...}]
        support(meeting_, item["name"], item.get("in_kind"), activity_=a, refresh_=False)
    if a.room_id:
        refresh(rooms=[a.room_id])
    return a


def assignment(person: User, activity_: Activity, role: AssignmentRole = AssignmentRole.SPEAKER,
               **fields) -> Assignment:
    a = Assignment(user=person, activity=activity_, role=role, **fields)
    db.session.add(a)
    db.session.flush()
    refresh([a.id])
    return a


def company(name: str | None = None, *, ineligible: bool = True, aliases=(), **fields) -> Company:
    c = Company(name=name or f"Company {_n()}", is_ineligible=ineligible, **fields)
    c.aliases = [CompanyAlias(name=alias) for alias in aliases]
    db.session.add(c)
    db.session.flush()
    return c


def disclosure(person: User, relationships=(), *, version: int | None = None,
               submitted_at: datetime | None = None, valid_days: int = 365, **fields) -> Disclosure:
    """``relationships``: iterable of (company, nature) or (company, nature, started_on, ended_on)."""
    submitted = submitted_at or clock.now() - timedelta(days=1)
    if version is None:
        version = len(person.disclosures) + 1
    d = Disclosure(
        user=person,
        version=version,
        submitted_at=submitted,
        attested_at=submitted,
        valid_until=submitted.date() + timedelta(days=valid_days),
        has_relationships=bool(relationships),
        attestation_name=person.full_name,
        attested_complete=True,
        **fields,
    )
    for item in relationships:
        company_, nature, *dates = item
        started = dates[0] if dates else clock.now().date() - timedelta(days=200)
        ended = dates[1] if len(dates) > 1 else None
        d.relationships.append(
            Relationship(company=company_, nature=Nature(nature), started_on=started, ended_on=ended)
        )
    db.session.add(d)
    db.session.flush()
    _refresh_person(person)
    return d


def _refresh_person(person: User) -> None:
    refresh(db.session.scalars(sa.select(Assignment.id).where(Assignment.user_id == person.id)))


def determination(relationship: Relationship, assignment_: Assignment, reviewer: User, *,
                  relevant: bool, rationale: str = "Judged by the reviewer.",
                  decided_at: datetime | None = None, supersedes: Determination | None = None,
                  carried_from: Determination | None = None) -> Determination:
    d = Determination(relationship=relationship, assignment=assignment_, is_relevant=relevant,
                      rationale=rationale, reviewer=reviewer, supersedes_id=supersedes.id if supersedes else None,
                      carried_from_id=carried_from.id if carried_from else None,
                      **({"decided_at": decided_at} if decided_at else {}))
    db.session.add(d)
    db.session.flush()
    refresh([assignment_.id])
    return d


def mitigation(determination_: Determination, by: User,
               method: MitigationMethod = MitigationMethod.PEER_REVIEW,
               notes: str = "Slides reviewed.", recorded_at: datetime | None = None) -> Mitigation:
    m = Mitigation(determination=determination_, method=method, notes=notes, recorded_by=by,
                   **({"recorded_at": recorded_at} if recorded_at else {}))
    db.session.add(m)
    db.session.flush()
    refresh([determination_.assignment_id])
    return m


def owner_decision(person: User, company_: Company, exception: OwnerException, by: User | None = None,
                   *, note: str = "Decided by staff.", decided_at: datetime | None = None) -> OwnerDecision:
    o = OwnerDecision(user=person, company=company_, exception=exception, note=note, decided_by=by,
                      **({"decided_at": decided_at} if decided_at else {}))
    db.session.add(o)
    db.session.flush()
    _refresh_person(person)
    return o


def stored_states(assignments) -> dict:
    """Each role's state as stored on its ``Assignment`` row (what every page reads), freshly
    loaded from the database: ``{assignment id: StateView}``."""
    from disclosures.state import StateView

    db.session.flush()
    ids = [a.id for a in assignments]
    rows = db.session.scalars(
        sa.select(Assignment).where(Assignment.id.in_(ids))
        .execution_options(populate_existing=True)
    )
    return {a.id: StateView.of(a) for a in rows}


def support(meeting_: Meeting, name: str, in_kind: str | None = None, *,
            activity_: Activity | None = None, refresh_: bool = True):
    """Commercial support from the registry company ``name`` (created, confirmed, when
    new): of ``activity_``, or of the whole meeting."""
    from disclosures.enums import SupportKind
    from disclosures.models import CommercialSupport, normalise_company_name

    found = db.session.scalar(sa.select(Company).where(
        Company.normalized_name == normalise_company_name(name)))
    if found is None:
        found = Company(name=name, is_ineligible=True)
        db.session.add(found)
        db.session.flush()
    row = CommercialSupport(meeting_id=meeting_.id, activity_id=activity_.id if activity_ else None,
                            company_id=found.id,
                            kind=SupportKind.IN_KIND if in_kind else SupportKind.MONETARY,
                            in_kind_detail=in_kind)
    db.session.add(row)
    db.session.flush()
    if refresh_:
        if activity_ is None:
            refresh(meetings=[meeting_.id])
        else:
            refresh([x.id for x in activity_.assignments],
                    rooms=[activity_.room_id] if activity_.room_id else [])
    return row
