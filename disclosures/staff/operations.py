"""Changes made by staff: meetings, who holds a role in them, rooms, activities, assignments.

One function per transition. Each checks what it must, changes the objects, writes
the audit event, refreshes what the public reads where it may have changed
(``publication.refresh``: roles' states and statements, room sheets, the meeting's
publication step) and flushes. None of them commits: the view or command does, once.
The programme import writes many at once (``audit=False``) and refreshes the meeting
once at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa

from ..audit import diff, record
from ..auth import operations as account_operations
from ..enums import AssignmentRole, MeetingRole, SupportKind
from ..errors import Conflict, Refusal
from ..extensions import db
from ..models import (
    Activity,
    Assignment,
    CommercialSupport,
    Company,
    Meeting,
    Membership,
    Room,
    User,
    utcnow,
)
from ..publication.operations import refresh
from ..words import comparison_key


class ProgrammeError(Refusal):
    """A refusal staff should read (slug taken, duplicate code, …)."""


class ConcurrentEdit(Conflict, ProgrammeError):
    """Someone saved the same record after this form was opened."""


MEETING_FIELDS = ("name", "slug", "location", "starts_on", "ends_on", "timezone",
                  "disclosure_deadline", "provider_name", "joint_provider_name",
                  "disclosure_policy_url")
PROVIDER_FIELDS = ("provider_name", "joint_provider_name", "disclosure_policy_url")


def find_meeting(slug: str) -> Meeting:
    """The meeting with this short name; ``ProgrammeError`` naming the known ones if none."""
    meeting = db.session.scalar(sa.select(Meeting).where(Meeting.slug == slug))
    if meeting is None:
        known = ", ".join(db.session.scalars(sa.select(Meeting.slug).order_by(Meeting.slug))) or "none"
        raise ProgrammeError(f"No meeting has the short name {slug!r}. Known: {known}.")
    return meeting


def _meeting_values(meeting: Meeting) -> dict:
    return {f: getattr(meeting, f) for f in MEETING_FIELDS}


def _check_slug(slug: str, meeting: Meeting | None) -> None:
    stmt = sa.select(Meeting.id).where(Meeting.slug == slug)
    if meeting is not None and meeting.id is not None:
        stmt = stmt.where(Meeting.id != meeting.id)
    if db.session.scalar(stmt) is not None:
        raise ProgrammeError(f"Another meeting already uses the short name “{slug}”.", "slug")


def create_meeting(actor: User | None, *, name: str, slug: str, location: str | None,
                   starts_on: date, ends_on: date, timezone: str,
                   disclosure_deadline: date | None, provider_name: str | None = None,
                   joint_provider_name: str | None = None,
                   disclosure_policy_url: str | None = None) -> Meeting:
    """Create a meeting (with its accredited provider, joint provider and the provider's
    disclosure policy address, when given; an address must be https).

    Side effects: adds the ``Meeting``; audit ``meeting.created`` with its fields; the
    person who creates it becomes its staff (``grant_role``).
    Raises ``ProgrammeError`` when the slug is taken.
    """
    _check_slug(slug, None)
    meeting = Meeting(name=" ".join(name.split()), slug=slug, location=(location or "").strip() or None,
                      starts_on=starts_on, ends_on=ends_on, timezone=timezone,
                      disclosure_deadline=disclosure_deadline,
                      **_provider_values(provider_name=provider_name,
                                         joint_provider_name=joint_provider_name,
                                         disclosure_policy_url=disclosure_policy_url))
    db.session.add(meeting)
    db.session.flush()
    record(actor, "meeting.created", meeting, diff({}, _meeting_values(meeting)))
    if actor is not None:
        grant_role(actor, meeting, actor, MeetingRole.STAFF)
    return meeting


# --------------------------------------------------------------------------- roles in a meeting


def grant_role(actor: User | None, meeting: Meeting, person: User, role: MeetingRole) -> Membership:
    """``person`` holds ``role`` in ``meeting`` (staff, reviewer).

    Side effects: adds a ``Membership``; audit ``membership.granted`` with the person as
    subject. Raises ``ProgrammeError`` when they already hold it.
    """
    existing = db.session.scalar(sa.select(Membership).where(
        Membership.user_id == person.id, Membership.meeting_id == meeting.id,
        Membership.role == role, Membership.revoked_at.is_(None)))
    if existing is not None:
        raise ProgrammeError(f"{person.full_name} is already {role.label.lower()} of this meeting.",
                             "email")
    membership = Membership(user=person, meeting=meeting, role=role,
                            granted_by_id=actor.id if actor else None, granted_at=utcnow())
    db.session.add(membership)
    db.session.flush()
    record(actor, "membership.granted", membership, {"role": role, "meeting_id": meeting.id},
           subject=person)
    if role is MeetingRole.REVIEWER:
        # Reviewers are in control of content (ACCME Standard 3): they disclose as COI
        # reviewers of the meeting, and decide only once that role is cleared.
        holds = db.session.scalar(sa.select(sa.literal(1)).where(
            Assignment.user_id == person.id, Assignment.meeting_id == meeting.id,
            Assignment.activity_id.is_(None), Assignment.removed_at.is_(None)).limit(1))
        if holds is None:
            assign_meeting_role(actor, meeting, person, AssignmentRole.COI_REVIEWER)
    return membership


def revoke_role(actor: User | None, membership: Membership) -> None:
    """Take a role in a meeting away; the membership stays on record with when it ended.

    Side effects: sets ``revoked_at`` and ``revoked_by``; audit ``membership.revoked``.
    Raises ``ProgrammeError`` when it was already revoked, or when it would leave the
    meeting without staff.
    """
    if membership.revoked_at is not None:
        raise ProgrammeError(f"{membership.user.full_name} no longer holds this role.")
    if membership.role is MeetingRole.STAFF:
        others = db.session.scalar(sa.select(sa.func.count(Membership.id)).where(
            Membership.meeting_id == membership.meeting_id, Membership.role == MeetingRole.STAFF,
            Membership.revoked_at.is_(None), Membership.id != membership.id))
        if not others:
            raise ProgrammeError("This is the meeting's only staff member: give someone else the "
                                 "staff role first.")
    membership.revoked_at = utcnow()
    membership.revoked_by_id = actor.id if actor else None
    record(actor, "membership.revoked", membership,
           {"role": membership.role, "meeting_id": membership.meeting_id}, subject=membership.user)
    db.session.flush()


def grant_role_by_email(actor: User | None, meeting: Meeting, email: str, role: MeetingRole,
                        *, full_name: str | None = None) -> tuple[Membership, str | None]:
    """Give the person with this email ``role`` in ``meeting``, creating and inviting the
    account if needed (as ``assign_by_email``). Returns (membership, invitation token or None).
    """
    person, token = _person_by_email(actor, email, full_name, None)
    return grant_role(actor, meeting, person, role), token


def update_meeting(actor: User | None, meeting: Meeting, **values) -> dict:
    """Change a meeting's details.

    Side effects: sets the given fields; audit ``meeting.updated`` with before/after of
    what changed (nothing written when nothing changed). Activity times stay the same
    instants in UTC when the time zone changes. Returns the diff.
    """
    if "slug" in values:
        _check_slug(values["slug"], meeting)
    if "name" in values:
        values["name"] = " ".join(values["name"].split())
    if "location" in values:
        values["location"] = (values["location"] or "").strip() or None
    values.update(_provider_values(**{k: values[k] for k in PROVIDER_FIELDS if k in values}))
    before = _meeting_values(meeting)
    for key, value in values.items():
        if key not in MEETING_FIELDS:
            raise TypeError(f"unknown meeting field {key}")
        setattr(meeting, key, value)
    changes = diff(before, _meeting_values(meeting))
    if changes:
        record(actor, "meeting.updated", meeting, changes)
        refresh(meetings=[meeting.id])  # names on every sheet; the time zone moves start days
    return changes


def _provider_values(**values: str | None) -> dict:
    """Provider names with spaces collapsed (empty: none); the policy address must be https
    (``ProgrammeError`` on ``disclosure_policy_url`` otherwise)."""
    cleaned = {key: " ".join((value or "").split()) or None for key, value in values.items()}
    url = cleaned.get("disclosure_policy_url")
    if url is not None:
        if " " in url or not url.lower().startswith("https://") or len(url) <= len("https://"):
            raise ProgrammeError("The disclosure policy address must start with https:// "
                                 "(e.g. https://cme.example.org/disclosure-policy).",
                                 "disclosure_policy_url")
    return cleaned


def _check_room_name(meeting: Meeting, name: str, room: Room | None) -> None:
    """One room per name ignoring case, spaces and punctuation ("ballroom a" is Ballroom
    A): a twin would get a QR code of its own and split the room's sheet."""
    stmt = sa.select(Room.name).where(Room.meeting_id == meeting.id)
    if room is not None:
        stmt = stmt.where(Room.id != room.id)
    key = comparison_key(name)
    twin = next((n for n in db.session.scalars(stmt) if comparison_key(n) == key), None)
    if twin == name:
        raise ProgrammeError(f"This meeting already has a room called “{name}”.", "name")
    if twin is not None:
        raise ProgrammeError(f"This meeting already has the room “{twin}”, the same name written "
                             "differently: use that room, or rename it.", "name")


def add_room(actor: User | None, meeting: Meeting, name: str) -> Room:
    """Add a room (its public QR token is created with it).

    Side effects: adds the ``Room``; audit ``room.created``.
    """
    name = " ".join(name.split())
    _check_room_name(meeting, name, None)
    room = Room(meeting=meeting, name=name)
    db.session.add(room)
    db.session.flush()
    record(actor, "room.created", room, {"name": name, "meeting_id": meeting.id})
    refresh(rooms=[room.id])  # its (empty) sheet is published at once
    return room


def rename_room(actor: User | None, room: Room, name: str) -> bool:
    """Rename a room; its QR token is unchanged so printed signs keep working.

    Side effects: sets ``name``; audit ``room.renamed``. Returns False when unchanged.
    """
    name = " ".join(name.split())
    if name == room.name:
        return False
    _check_room_name(room.meeting, name, room)
    record(actor, "room.renamed", room, diff({"name": room.name}, {"name": name}))
    room.name = name
    refresh(rooms=[room.id], bump=[room.meeting_id])
    return True


@dataclass
class ActivityValues:
    """What staff (or an import) set on an activity; times are aware datetimes."""

    code: str
    title: str
    room: Room | None
    starts_at: datetime
    ends_at: datetime
    topics: list[str]
    credit_hours: Decimal
    is_accredited: bool | None = None  # None: leave unchanged (an import without the column)

    def as_dict(self) -> dict:
        values = {
            "code": self.code,
            "title": " ".join(self.title.split()),
            "room": self.room.name if self.room else None,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "topics": list(self.topics),
            "credit_hours": Decimal(self.credit_hours).quantize(Decimal("0.01")),
        }
        if self.is_accredited is not None:
            values["is_accredited"] = bool(self.is_accredited)
        return values


def activity_values(activity: Activity) -> dict:
    return {
        "code": activity.code,
        "title": activity.title,
        "room": activity.room.name if activity.room else None,
        "starts_at": activity.starts_at,
        "ends_at": activity.ends_at,
        "topics": list(activity.topics or []),
        "credit_hours": Decimal(activity.credit_hours or 0).quantize(Decimal("0.01")),
        "is_accredited": bool(activity.is_accredited),
    }


def _check_code(meeting: Meeting, code: str, activity: Activity | None) -> None:
    stmt = sa.select(Activity.id).where(Activity.meeting_id == meeting.id, Activity.code == code)
    if activity is not None and activity.id is not None:
        stmt = stmt.where(Activity.id != activity.id)
    if db.session.scalar(stmt) is not None:
        raise ProgrammeError(f"Another activity of this meeting already has the code “{code}”.",
                             "code")


def _apply(activity: Activity, values: ActivityValues) -> None:
    activity.code = values.code
    activity.title = " ".join(values.title.split())
    activity.room = values.room
    activity.starts_at = values.starts_at
    activity.ends_at = values.ends_at
    activity.topics = list(values.topics)
    activity.credit_hours = Decimal(values.credit_hours).quantize(Decimal("0.01"))
    if values.is_accredited is not None:
        activity.is_accredited = bool(values.is_accredited)


def create_activity(actor: User | None, meeting: Meeting, values: ActivityValues,
                    *, audit: bool = True, flush: bool = True,
                    code_checked: bool = False) -> Activity:
    """Add an activity to the programme.

    Side effects: adds the ``Activity``; audit ``activity.created`` (unless ``audit`` is
    False: the programme import writes one event for the whole file). ``flush=False``
    (the import, without audit): the caller flushes many at once; ``code_checked``: the
    caller's plan found the code free (the unique constraint still holds at the flush).
    """
    if not code_checked:
        _check_code(meeting, values.code, None)
    activity = Activity(meeting=meeting, is_accredited=True)
    _apply(activity, values)
    db.session.add(activity)
    if flush or audit:
        db.session.flush()
    if audit:
        record(actor, "activity.created", activity, diff({}, values.as_dict()))
        refresh(rooms=[activity.room_id] if activity.room_id else [])
    return activity


def update_activity(actor: User | None, activity: Activity, values: ActivityValues,
                    *, expected_version: int | None = None, audit: bool = True) -> dict:
    """Change an activity.

    ``expected_version`` is the ``version_id`` the editor saw: if someone saved in the
    meantime, ``ConcurrentEdit`` is raised and nothing changes (the database's version
    check catches the race at commit as well). Side effects: sets the fields; audit
    ``activity.updated`` with before/after of what changed. Returns the diff.
    """
    if expected_version is not None and expected_version != activity.version_id:
        raise ConcurrentEdit(
            "Someone else saved this activity after you opened it. Your changes were not "
            "saved: reload the page to see theirs, then make your change again."
        )
    _check_code(activity.meeting, values.code, activity)
    old_room_id = activity.room_id
    before = activity_values(activity)
    after = {**before, **values.as_dict()}
    changes = diff(before, after)
    if not changes:
        return {}
    _apply(activity, values)
    if audit:
        record(actor, "activity.updated", activity, changes)
        # Moved, renamed, retimed: its roles are judged as of the new start, and the
        # sheets of the room it left and the room it joined change.
        refresh([a.id for a in activity.assignments],
                rooms=[r for r in (old_room_id, activity.room_id) if r],
                bump=[activity.meeting_id])
    db.session.flush()
    return changes


def find_assignment(activity: Activity, user: User, role: AssignmentRole) -> Assignment | None:
    return db.session.scalar(
        sa.select(Assignment).where(
            Assignment.activity_id == activity.id,
            Assignment.user_id == user.id,
            Assignment.role == role,
        )
    )


def assign_person(actor: User | None, activity: Activity, user: User, role: AssignmentRole,
                  *, audit: bool = True) -> tuple[Assignment, bool]:
    """Give ``user`` the ``role`` in ``activity``.

    A removed assignment for the same role is restored (its history stays on it).
    Side effects: adds or restores the ``Assignment``; audit ``assignment.created`` or
    ``assignment.restored`` with the person as subject. Returns (assignment, changed);
    raises ``ProgrammeError`` when the person already holds that role.
    """
    existing = find_assignment(activity, user, role)
    if existing is not None:
        if existing.removed_at is None:
            if not audit:
                return existing, False
            raise ProgrammeError(
                f"{user.full_name} is already {role.label.lower()} of {activity.code}.", "email"
            )
        existing.removed_at = None
        if audit:
            record(actor, "assignment.restored", existing,
                   {"activity": activity.code, "role": role}, subject=user)
            refresh([existing.id])
        return existing, True
    assignment = Assignment(user=user, activity=activity, role=role)
    db.session.add(assignment)
    db.session.flush()
    if audit:
        record(actor, "assignment.created", assignment,
               {"activity": activity.code, "role": role}, subject=user)
        refresh([assignment.id])
    return assignment, True


def assign_by_email(actor: User | None, activity: Activity, email: str, role: AssignmentRole,
                    *, full_name: str | None = None, degrees: str | None = None
                    ) -> tuple[Assignment, User, str | None]:
    """Assign the person with this email, creating and inviting the account if needed.

    Side effects: as ``assign_person``; for a new person also ``invite_user`` (the account,
    audit ``user.invited``). Returns (assignment, user, invitation token or None).
    Raises ``ProgrammeError`` when the email is unknown and no name was given.
    """
    user, token = _person_by_email(actor, email, full_name, degrees)
    assignment, _ = assign_person(actor, activity, user, role)
    return assignment, user, token


def _person_by_email(actor: User | None, email: str, full_name: str | None,
                     degrees: str | None) -> tuple[User, str | None]:
    """The account with this email, or a new one invited (with its invitation token)."""
    user = account_operations.find_user_by_email(email)
    if user is not None:
        return user, None
    if not (full_name or "").strip():
        raise ProgrammeError(
            "No account uses this email yet: enter the person's full name too, and they "
            "will be invited.",
            "full_name",
        )
    return account_operations.invite_user(actor, email, full_name, degrees=degrees)


def assign_meeting_role(actor: User | None, meeting: Meeting, user: User, role: AssignmentRole,
                        *, audit: bool = True) -> tuple[Assignment, bool]:
    """Give ``user`` a ``role`` held for the whole meeting (planning committee, course
    director, COI reviewer, content reviewer, staff who control content).

    A removed one is restored (its history stays on it). Side effects: adds or restores
    the ``Assignment`` (no activity); audit ``assignment.created`` or
    ``assignment.restored`` with the person as subject; refreshes its state (judged as of
    the meeting's start). Returns (assignment, changed); raises ``ProgrammeError`` when the
    role is not a meeting-level one or the person already holds it (unless ``audit`` is
    False: an import naming it again changes nothing; the import audits and refreshes once
    for everything it wrote).
    """
    if not role.is_meeting_level:
        raise ProgrammeError(f"{role.label} is a role in one activity, not in the whole meeting.",
                             "role")
    existing = db.session.scalar(sa.select(Assignment).where(
        Assignment.meeting_id == meeting.id, Assignment.activity_id.is_(None),
        Assignment.user_id == user.id, Assignment.role == role))
    if existing is not None:
        if existing.removed_at is None:
            if not audit:
                return existing, False
            raise ProgrammeError(f"{user.full_name} is already {role.label.lower()} of this meeting.",
                                 "email")
        existing.removed_at = None
        if audit:
            record(actor, "assignment.restored", existing,
                   {"meeting_id": meeting.id, "role": role}, subject=user)
            refresh([existing.id])
        return existing, True
    assignment = Assignment(user=user, meeting=meeting, activity=None, role=role)
    db.session.add(assignment)
    db.session.flush()
    if audit:
        record(actor, "assignment.created", assignment, {"meeting_id": meeting.id, "role": role},
               subject=user)
        refresh([assignment.id])
    return assignment, True


def assign_meeting_role_by_email(actor: User | None, meeting: Meeting, email: str,
                                 role: AssignmentRole, *, full_name: str | None = None,
                                 degrees: str | None = None
                                 ) -> tuple[Assignment, User, str | None]:
    """As ``assign_by_email``, for a role held for the whole meeting."""
    user, token = _person_by_email(actor, email, full_name, degrees)
    assignment, _ = assign_meeting_role(actor, meeting, user, role)
    return assignment, user, token


def remove_assignment(actor: User | None, assignment: Assignment) -> None:
    """Take a person off an activity. Nothing is deleted: the disclosure, determinations
    and mitigations stay, and the assignment keeps its history with ``removed_at`` set.

    Side effects: sets ``removed_at``; audit ``assignment.removed`` with the person as subject.
    Raises ``ProgrammeError`` if it was already removed.
    """
    if assignment.removed_at is not None:
        raise ProgrammeError("This person was already removed from the activity."
                             if assignment.activity is not None else
                             "This person no longer holds this role.")
    assignment.removed_at = utcnow()
    where = ({"activity": assignment.activity.code} if assignment.activity is not None
             else {"meeting_id": assignment.meeting_id})
    record(actor, "assignment.removed", assignment, {**where, "role": assignment.role},
           subject=assignment.user)
    refresh([assignment.id], bump=[assignment.meeting_id])


# --------------------------------------------------------------------------- rooms' codes


def reissue_room_token(actor: User, room: Room) -> str:
    """Give the room a new public token; the old URL and printed QR stop working at once.

    Side effects: changes ``room.public_token`` and ``room.token_issued_at``; keeps the old
    token's hash (``RoomTokenRetired``: its page then names the meeting); writes the
    audit event ``room.token_reissued`` (the tokens themselves are not logged); flushes.
    Returns the new token.
    """
    issued_before = room.token_issued_at
    room.reissue_token()
    record(actor, "room.token_reissued", room, {
        "room": room.name,
        "token_issued_at": {"before": issued_before, "after": room.token_issued_at},
    })
    db.session.flush()
    return room.public_token


def room_in(meeting: Meeting, room_id: int | None) -> Room | None:
    """The meeting's room with this id (None for none); another meeting's room is refused."""
    if not room_id:
        return None
    room = db.session.get(Room, room_id)
    if room is None or room.meeting_id != meeting.id:
        raise ProgrammeError("Choose one of this meeting's rooms.", "room_id")
    return room


# --------------------------------------------------------------------------- commercial support


def add_support(actor: User | None, meeting: Meeting, company: Company, kind: SupportKind,
                in_kind_detail: str | None = None, activity: Activity | None = None
                ) -> CommercialSupport:
    """Record commercial support (ACCME Standard 4) from a registry company: for
    ``activity``, or for the whole meeting. In-kind support says what was given.

    Side effects: adds a ``CommercialSupport``; audit ``support.added``; republishes what
    acknowledges it (the activity's roles and room, or every sheet of the meeting).
    Raises ``ProgrammeError`` (an activity of another meeting, in kind without what).
    """
    if activity is not None and activity.meeting_id != meeting.id:
        raise ProgrammeError("That activity is not part of this meeting.", "activity_id")
    detail = " ".join((in_kind_detail or "").split()) or None
    if kind is SupportKind.IN_KIND and not detail:
        raise ProgrammeError("Say what was given in kind, e.g. “loan of ultrasound equipment”.",
                             "in_kind_detail")
    if kind is SupportKind.MONETARY:
        detail = None
    if detail is not None and len(detail) > 300:
        raise ProgrammeError("Describe the in-kind support in under 300 characters.",
                             "in_kind_detail")
    support = CommercialSupport(meeting_id=meeting.id, activity_id=activity.id if activity else None,
                                company_id=company.id, kind=kind, in_kind_detail=detail,
                                created_by_id=actor.id if actor else None)
    db.session.add(support)
    db.session.flush()
    record(actor, "support.added", support,
           {"company_id": company.id, "activity_id": support.activity_id, "kind": kind.value,
            "in_kind_detail": detail})
    _republish_support(support)
    return support


def add_support_by_name(actor: User | None, meeting: Meeting, company_name: str,
                        kind: SupportKind, in_kind_detail: str | None = None,
                        activity_id: int | None = None) -> CommercialSupport:
    """``add_support`` for a company named as staff typed it: the registry company of that
    name or alias, which staff must have confirmed (its public name is what learners read).
    Raises ``ProgrammeError`` (unknown or unconfirmed company, unknown activity)."""
    from ..registry.operations import find_company

    company = find_company(company_name or "")
    if company is None:
        raise ProgrammeError(f"“{' '.join((company_name or '').split())}” is not in the company "
                             "registry. Add it on the registry's page first, then add the support.",
                             "company")
    if company.needs_review:
        raise ProgrammeError(f"{company.name} is not yet confirmed in the registry: confirm its "
                             "public name first (learners read it as printed).", "company")
    activity = None
    if activity_id:
        activity = db.session.get(Activity, activity_id)
        if activity is None or activity.meeting_id != meeting.id:
            raise ProgrammeError("That activity is not part of this meeting.", "activity_id")
    return add_support(actor, meeting, company, kind, in_kind_detail, activity)


def remove_support(actor: User | None, support: CommercialSupport) -> None:
    """Stop acknowledging a commercial support (the row stays, with when and by whom).

    Side effects: sets ``removed_at``/``removed_by_id``; audit ``support.removed``;
    republishes as ``add_support``. Raises ``ProgrammeError`` when already removed."""
    if support.removed_at is not None:
        raise ProgrammeError("This commercial support was already removed.")
    support.removed_at = utcnow()
    support.removed_by_id = actor.id if actor else None
    db.session.flush()
    record(actor, "support.removed", support,
           {"company_id": support.company_id, "activity_id": support.activity_id})
    _republish_support(support)


def _republish_support(support: CommercialSupport) -> None:
    if support.activity_id is None:  # acknowledged on every sheet and the booklet
        refresh(meetings=[support.meeting_id])
        return
    activity = db.session.get(Activity, support.activity_id)
    refresh([a.id for a in activity.assignments],
            rooms=[activity.room_id] if activity.room_id else [], bump=[activity.meeting_id])
