"""Who may do what: named permissions on (person, meeting), used by views (always, on the
server) and by templates (to hide what a person cannot use).

Roles are held per meeting (``Membership``: staff, reviewer), as Indico's
``event.can_manage(user)``, plus a small set of site-wide roles (``User.site_role``):
a site administrator may do everything; an auditor may read every meeting's records
and the audit log, and change nothing. A meeting's staff may also review its
disclosures.

Each ``Permission`` answers for one person and one meeting (or the site, for the few
that are site-wide) and carries the sentence a refused person reads (the 403).
404 for what does not exist, 403 for what the person may not touch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import abort, current_app
from sqlalchemy.orm import aliased

from .enums import AssignmentState, MeetingRole, SiteRole
from .extensions import db
from .models import Assignment, Company, Disclosure, Meeting, Membership, Relationship, User
from .models.base import utcnow
from .state import months_before


def _signed_in(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def meeting_roles(user: User, meeting: Meeting | int | None) -> set[MeetingRole]:
    """The roles ``user`` holds in ``meeting`` (read from their loaded memberships)."""
    if meeting is None or not _signed_in(user):
        return set()
    meeting_id = meeting if isinstance(meeting, int) else meeting.id
    return {m.role for m in user.memberships if m.meeting_id == meeting_id}


def _holds_anywhere(user: User, role: MeetingRole) -> bool:
    return any(m.role is role for m in user.memberships)


def is_admin(user) -> bool:
    return _signed_in(user) and user.site_role is SiteRole.ADMIN


def is_auditor(user) -> bool:
    return _signed_in(user) and user.site_role is SiteRole.AUDITOR


@dataclass(frozen=True)
class Permission:
    """``permission(user, meeting)`` → may they? ``permission.require(user, meeting)`` → 403."""

    name: str
    test: Callable[[User, Meeting | None], bool]
    refusal: str

    def __call__(self, user, meeting: Meeting | None = None) -> bool:
        return _signed_in(user) and bool(self.test(user, meeting))

    def require(self, user, meeting: Meeting | None = None) -> None:
        if not self(user, meeting):
            abort(403, description=self.refusal)


MANAGE_MEETING = Permission(
    "manage_meeting",
    lambda user, meeting: is_admin(user) or MeetingRole.STAFF in meeting_roles(user, meeting),
    "This page is for the staff of this meeting.",
)
REVIEW_MEETING = Permission(
    "review_meeting",
    lambda user, meeting: is_admin(user)
    or bool(meeting_roles(user, meeting) & {MeetingRole.STAFF, MeetingRole.REVIEWER}),
    "Only this meeting's reviewers and staff review its disclosures.",
)
READ_RECORDS = Permission(
    "read_records",
    lambda user, meeting: is_admin(user) or is_auditor(user)
    or MeetingRole.STAFF in meeting_roles(user, meeting),
    "The records of a meeting are for its staff and for auditors.",
)
# Site-wide permissions (the meeting argument is not used).
CREATE_MEETING = Permission(
    "create_meeting",
    lambda user, meeting: is_admin(user),
    "Only site administrators create meetings and accounts with site-wide roles.",
)
MANAGE_REGISTRY = Permission(
    "manage_registry",
    lambda user, meeting: is_admin(user) or _holds_anywhere(user, MeetingRole.STAFF),
    "The company registry is kept by meeting staff.",
)
LIST_MEETINGS = Permission(
    "list_meetings",
    lambda user, meeting: is_admin(user) or is_auditor(user)
    or _holds_anywhere(user, MeetingRole.STAFF),
    "The meetings list is for meeting staff and auditors.",
)
REVIEW_ANYWHERE = Permission(
    "review_anywhere",
    lambda user, meeting: is_admin(user) or _holds_anywhere(user, MeetingRole.STAFF)
    or _holds_anywhere(user, MeetingRole.REVIEWER),
    "The review queue is for reviewers and meeting staff.",
)
READ_AUDIT_LOG = Permission(
    "read_audit_log",
    lambda user, meeting: is_admin(user) or is_auditor(user)
    or _holds_anywhere(user, MeetingRole.STAFF),
    "The audit log is for meeting staff and auditors.",
)


def meetings_where(user: User, permission: Permission) -> sa.Select:
    """The ids of the meetings where ``user`` has ``permission`` (a subquery for filters)."""
    if is_admin(user) or (permission is READ_RECORDS and is_auditor(user)):
        return sa.select(Meeting.id)
    roles = {
        MANAGE_MEETING: [MeetingRole.STAFF],
        READ_RECORDS: [MeetingRole.STAFF],
        REVIEW_MEETING: [MeetingRole.STAFF, MeetingRole.REVIEWER],
    }[permission]
    return sa.select(Membership.meeting_id).where(
        Membership.user_id == user.id, Membership.role.in_(roles), Membership.revoked_at.is_(None)
    )


def shares_activity(a: User | int, b: User | int) -> bool:
    """True when both people hold a (current) role in the same activity."""
    a_id = a if isinstance(a, int) else a.id
    b_id = b if isinstance(b, int) else b.id
    mine = aliased(Assignment)
    theirs = aliased(Assignment)
    stmt = (
        sa.select(sa.literal(1))
        .select_from(mine)
        .join(theirs, theirs.activity_id == mine.activity_id)
        .where(
            mine.user_id == a_id,
            theirs.user_id == b_id,
            mine.removed_at.is_(None),
            theirs.removed_at.is_(None),
        )
        .limit(1)
    )
    return db.session.execute(stmt).first() is not None


def review_refusal(user, person: User, meeting: Meeting) -> str | None:
    """Why ``user`` may not review ``person``'s disclosure in ``meeting``, or None."""
    if not REVIEW_MEETING(user, meeting):
        return REVIEW_MEETING.refusal
    if user.id == person.id:
        return "You cannot review your own disclosure. Another reviewer must do it."
    if shares_activity(user, person):
        return (
            f"You are co-faculty with {person.full_name} in at least one activity, "
            "so another reviewer must review this disclosure."
        )
    return None


def can_review(user, person: User, meeting: Meeting) -> bool:
    return review_refusal(user, person, meeting) is None


def _meetings_of(person: User) -> sa.Select:
    """The meetings where ``person`` holds a current role (in an activity or for the meeting)."""
    return (
        sa.select(Assignment.meeting_id)
        .where(Assignment.user_id == person.id, Assignment.removed_at.is_(None))
        .distinct()
    )


OWN_DISCLOSURE_PATH = "/faculty/"  # the person's own page: their roles and their disclosure


def decision_refusal(user, meeting: Meeting) -> str | None:
    """Why ``user`` may not record review decisions (relevance, mitigation) in ``meeting``
    yet, or None.

    ACCME Standard 3: everyone in control of content discloses, reviewers included. A
    reviewer (or staff member, or administrator acting as one) decides only while holding
    a role for the whole meeting (COI reviewer, content reviewer, committee member …) whose
    stored state is cleared: their own disclosure is in force at the meeting's start and
    was reviewed by someone else (nobody reviews their own: ``review_refusal``).
    """
    states = set(db.session.scalars(
        sa.select(Assignment.state).where(
            Assignment.user_id == user.id, Assignment.meeting_id == meeting.id,
            Assignment.activity_id.is_(None), Assignment.removed_at.is_(None))))
    if AssignmentState.CLEARED in states:
        return None
    if not states:
        return (
            "Reviewers are in control of content, so they disclose too (ACCME Standard 3): "
            f"you hold no reviewer role in {meeting.name}. Staff add you as COI reviewer on the "
            "meeting's Planning and review roles page; then submit your own disclosure "
            f"(My disclosures, {OWN_DISCLOSURE_PATH}) and have another reviewer review it "
            "before you record decisions."
        )
    shown = sorted(state.label.lower() for state in states)
    return (
        "Reviewers are in control of content, so they disclose too (ACCME Standard 3): "
        f"your own disclosure for {meeting.name} must be current and reviewed by someone else "
        f"before you record decisions (your role is {' / '.join(shown)}). Submit or update it "
        f"on My disclosures ({OWN_DISCLOSURE_PATH}) and ask another reviewer to review it."
    )


def conflicted_companies(user: User | int, meeting: Meeting) -> dict[int, str]:
    """The companies (id → name) ``user`` has a financial relationship with, of any
    nature, in their latest disclosure, ongoing or ended within the lookback (24 months)
    before the meeting's start (or before today, if later)."""
    user_id = user if isinstance(user, int) else user.id
    latest = (sa.select(Disclosure.id).where(Disclosure.user_id == user_id)
              .order_by(Disclosure.version.desc()).limit(1).scalar_subquery())
    lookback = int(current_app.config.get("DISCLOSURE_LOOKBACK_MONTHS", 24))
    first = months_before(min(meeting.starts_on, utcnow().date()), lookback)
    rows = db.session.execute(
        sa.select(Company.id, Company.name)
        .join(Relationship, Relationship.company_id == Company.id)
        .where(Relationship.disclosure_id == latest,
               sa.or_(Relationship.ended_on.is_(None), Relationship.ended_on >= first))
    ).all()
    return {row.id: row.name for row in rows}


def conflict_refusal(user, company_id: int, meeting: Meeting,
                     conflicts: dict[int, str] | None = None) -> str | None:
    """Why ``user`` may not decide about another person's relationship with ``company_id``:
    they have a relationship with that company themselves (ACCME Standard 3: relevance is
    identified, and mitigation reviewed, by people without relevant relationships)."""
    conflicts = conflicted_companies(user, meeting) if conflicts is None else conflicts
    if company_id not in conflicts:
        return None
    return (f"You disclosed a financial relationship with {conflicts[company_id]}, so you cannot "
            f"decide about another person's relationship with {conflicts[company_id]}: "
            "another reviewer must.")


def disclosure_refusal(user, person: User) -> str | None:
    """Why ``user`` may not read ``person``'s disclosure in full, or None when they may.

    A disclosure is personal financial data, shown only to those who need it: the
    person, site administrators and auditors, the staff of a meeting where the person
    holds a role, and that meeting's reviewers who may review it (not co-faculty:
    another reviewer decides, so they see the public statement like everyone else).
    """
    if not _signed_in(user):
        return "Log in to see disclosures."
    if user.id == person.id or is_admin(user) or is_auditor(user):
        return None
    theirs = set(db.session.scalars(_meetings_of(person)))
    mine = {m.meeting_id: m.role for m in user.memberships if m.meeting_id in theirs}
    if MeetingRole.STAFF in mine.values():
        return None
    if MeetingRole.REVIEWER not in mine.values():
        return "You can see only your own disclosures, and those of people in meetings you review."
    if shares_activity(user, person):
        return (
            f"You are co-faculty with {person.full_name} in at least one activity, "
            "so another reviewer must review this disclosure."
        )
    return None


def require(allowed: bool, message: str | None = None) -> None:
    if not allowed:
        abort(403, description=message)
