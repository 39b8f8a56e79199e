"""Reminders: to people whose assignments await a disclosure, and a summary to reviewers.

``plan_*`` functions read only; the reminders job (``disclosures.jobs``) sends them
through ``_prepare`` and ``_store``, which record. Each message
carries the person's way in: for an account without a password, its invitation link (the
open invitation's own link, the one staff may already have handed out, now valid for
another ``INVITATION_VALID_HOURS``; a new one only if it expired or there was none), else
the login link.

Only a delivered reminder counts: it is a ``Reminder`` row and a ``reminder.sent`` audit
event (recipient and counts only, never the link), and nobody gets the same kind of
reminder twice within ``REMINDER_INTERVAL_HOURS``. With mail sending switched off
(``MAIL_SUPPRESS_SEND``, the development default) nothing is delivered, so nothing is
counted or locked: the invitations are kept open, staff hand the links out from the
reminders page, and a ``reminder.not_delivered`` audit event says what happened.

Messages go out in batches over one SMTP connection each; what the server accepted is
recorded (committed) batch by batch. If the server fails mid-batch, the messages it had
accepted are recorded and nothing else: the others are reminded next time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage

import sqlalchemy as sa
from flask import current_app, render_template
from sqlalchemy.orm import joinedload

from .. import mail
from ..audit import record
from ..auth import operations as account_operations
from ..enums import AssignmentState, MeetingRole, ReminderKind
from ..extensions import db
from ..links import external_url
from ..models import (
    Activity,
    Assignment,
    Meeting,
    Membership,
    Reminder,
    User,
    asks_disclosure,
    utcnow,
)


def interval() -> timedelta:
    return timedelta(hours=int(current_app.config["REMINDER_INTERVAL_HOURS"]))


@dataclass
class PendingActivity:
    meeting: Meeting
    activity: Activity | None  # None: a role held for the whole meeting (committee, reviewer)
    role_label: str
    # The disclosure on file expires on this day, before the session: renew it (None: none
    # was submitted).
    expires_on: date | None = None


@dataclass
class DisclosureReminder:
    user: User
    items: list[PendingActivity] = field(default_factory=list)

    @property
    def meeting_ids(self) -> set[int]:
        return {i.meeting.id for i in self.items}


@dataclass
class ReviewSummary:
    user: User
    # meeting → (assignments awaiting review, needing mitigation, awaiting an owner decision)
    counts: list[tuple[Meeting, int, int, int]] = field(default_factory=list)


@dataclass
class ReminderPlan:
    kind: ReminderKind
    due: list  # DisclosureReminder | ReviewSummary
    recently_reminded: list[User]
    meetings: list[Meeting]


def _meetings(meeting: Meeting | None, today: date) -> list[Meeting]:
    if meeting is not None:
        return [meeting]
    return list(db.session.scalars(
        sa.select(Meeting).where(Meeting.ends_on >= today).order_by(Meeting.starts_on)
    ))


def _current_assignments(meetings: list[Meeting]) -> list[Assignment]:
    if not meetings:
        return []
    return list(db.session.scalars(
        sa.select(Assignment)
        .outerjoin(Activity, Assignment.activity_id == Activity.id)
        .where(Assignment.meeting_id.in_([m.id for m in meetings]), Assignment.removed_at.is_(None),
               asks_disclosure())
        .options(joinedload(Assignment.user), joinedload(Assignment.meeting),
                 joinedload(Assignment.state_disclosure), joinedload(Assignment.activity))
        # Meeting-level roles (planning committee, reviewers) first: they act before sessions.
        .order_by(Activity.starts_at.is_not(None), Activity.starts_at, Activity.code, Assignment.id)
    ).unique())


def _recent(kind: ReminderKind, user_ids: Iterable[int], now: datetime) -> set[int]:
    ids = sorted(set(user_ids))
    if not ids:
        return set()
    return set(db.session.scalars(
        sa.select(Reminder.user_id).where(
            Reminder.kind == kind, Reminder.user_id.in_(ids), Reminder.sent_at > now - interval()
        )
    ))


def plan_disclosure_reminders(meeting: Meeting | None, now: datetime | None = None) -> ReminderPlan:
    """Who is due a disclosure reminder: an active person with at least one current
    assignment awaiting disclosure (in ``meeting``, or in every meeting not yet over).

    That includes a role whose disclosure on file expires before its session (the rule
    judges it as of the session's day): the person is asked, ahead of the session, to
    renew it, and the message names the day it expires."""
    now = now or utcnow()
    today = now.date()
    meetings = _meetings(meeting, today)
    assignments = _current_assignments(meetings)
    people: dict[int, DisclosureReminder] = {}
    for a in assignments:
        if a.state is not AssignmentState.AWAITING_DISCLOSURE or not a.user.is_active:
            continue
        entry = people.setdefault(a.user_id, DisclosureReminder(a.user))
        expiring = a.state_disclosure.valid_until if a.state_disclosure is not None else None
        entry.items.append(PendingActivity(a.meeting, a.activity, a.role.label, expiring))
    recent = _recent(ReminderKind.DISCLOSURE, people, now)
    due = [p for uid, p in people.items() if uid not in recent]
    due.sort(key=lambda p: p.user.full_name.lower())
    return ReminderPlan(ReminderKind.DISCLOSURE, due,
                        [people[uid].user for uid in recent], meetings)


def plan_review_summaries(meeting: Meeting | None, now: datetime | None = None) -> ReminderPlan:
    """The reviewers of each meeting (active accounts) with the count of what awaits
    review, needs a mitigation or an owner decision in the meetings they review. Nothing
    is sent when nothing awaits."""
    now = now or utcnow()
    today = now.date()
    meetings = _meetings(meeting, today)
    assignments = _current_assignments(meetings)
    counts: dict[int, list[int]] = {m.id: [0, 0, 0] for m in meetings}
    for a in assignments:
        index = {AssignmentState.AWAITING_REVIEW: 0, AssignmentState.NEEDS_MITIGATION: 1,
                 AssignmentState.AWAITING_OWNER_DECISION: 2}.get(a.state)
        if index is not None:
            counts[a.meeting_id][index] += 1
    waiting = {m.id: (m, *counts[m.id]) for m in meetings if any(counts[m.id])}
    # Each reviewer hears about the meetings they review, and only those.
    theirs: dict[int, list] = {}
    reviewers: dict[int, User] = {}
    if waiting:
        for person, meeting_id in db.session.execute(
            sa.select(User, Membership.meeting_id)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.role == MeetingRole.REVIEWER, Membership.revoked_at.is_(None),
                   Membership.meeting_id.in_(list(waiting)), User.is_active.is_(True))
            .order_by(User.full_name, Membership.meeting_id)
        ):
            reviewers[person.id] = person
            theirs.setdefault(person.id, []).append(waiting[meeting_id])
    recent = _recent(ReminderKind.REVIEW_SUMMARY, reviewers, now)
    due = [ReviewSummary(r, theirs[r.id]) for r in reviewers.values() if r.id not in recent]
    return ReminderPlan(ReminderKind.REVIEW_SUMMARY, due,
                        [r for r in reviewers.values() if r.id in recent], meetings)


@dataclass
class _Outgoing:
    """One message about to be sent, and what to store once the server has accepted it."""

    entry: DisclosureReminder | ReviewSummary
    invitation: account_operations.InvitationLink | None
    message: EmailMessage


def _access(user: User, now: datetime) -> tuple[str, account_operations.InvitationLink | None]:
    """(link, invitation to keep) for the message: the invitation link of an account
    without a password (nothing stored yet), else the login link."""
    if user.password_hash:
        return external_url("auth.login"), None
    invitation = account_operations.invitation_link(user, now)
    return external_url("auth.accept_invitation", token=invitation.token), invitation


def _disclosure_message(entry: DisclosureReminder, link: str, expires: datetime | None):
    user = entry.user
    deadlines = sorted({i.meeting.disclosure_deadline for i in entry.items
                        if i.meeting.disclosure_deadline})
    body = render_template(
        "staff/email_disclosure_reminder.txt",
        user=user, items=entry.items, link=link,
        has_password=bool(user.password_hash),
        deadline=deadlines[0] if deadlines else None,
        expires=expires,
    )
    names = sorted({i.meeting.name for i in entry.items})
    subject = "Reminder: your CME disclosure is needed" + (f" for {names[0]}" if len(names) == 1 else "")
    return mail.build_message(user.email, subject, body)


def _summary_message(entry: ReviewSummary, link: str):
    body = render_template(
        "staff/email_review_summary.txt", user=entry.user, counts=entry.counts, link=link,
        queue=external_url("review.queue"),
    )
    return mail.build_message(entry.user.email, "Disclosures awaiting your review", body)


def _prepare(plan: ReminderPlan, entry, now: datetime) -> _Outgoing:
    """The message for ``entry``. Reads only: nothing is stored before the server accepts."""
    link, invitation = _access(entry.user, now)
    if plan.kind is ReminderKind.DISCLOSURE:
        message = _disclosure_message(entry, link, invitation.expires_at if invitation else None)
    else:
        message = _summary_message(entry, link)
    return _Outgoing(entry, invitation, message)


def _store(actor: User | None, plan: ReminderPlan, outgoing: _Outgoing, *, delivered: bool) -> None:
    """Record one message the server accepted (``delivered``) or that was not delivered
    because sending is switched off: the invitation it carries is kept open either way;
    only a delivered one is a ``Reminder`` (and so counts against the interval)."""
    entry, user = outgoing.entry, outgoing.entry.user
    if outgoing.invitation is not None:
        account_operations.keep_invitation(actor, user, outgoing.invitation)
    meeting_id = plan.meetings[0].id if len(plan.meetings) == 1 else None
    if plan.kind is ReminderKind.DISCLOSURE:
        detail = {"kind": plan.kind, "activities": len(entry.items)}
        if meeting_id is None and len(entry.meeting_ids) == 1:
            meeting_id = min(entry.meeting_ids)
    else:
        detail = {"kind": plan.kind,
                  "awaiting": {m.slug: [r, mi, o] for m, r, mi, o in entry.counts}}
    if not delivered:
        record(actor, "reminder.not_delivered", user,
               {**detail, "reason": "mail sending is switched off (MAIL_SUPPRESS_SEND)"},
               subject=user)
        return
    reminder = Reminder(user=user, meeting_id=meeting_id, kind=plan.kind, sent_at=utcnow(),
                        sent_by_id=actor.id if actor else None)
    db.session.add(reminder)
    db.session.flush()
    record(actor, "reminder.sent", reminder, detail, subject=user)


# --- Pages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenInvitation:
    url: str
    expires_at: datetime


def open_invitations(users: Iterable[User], now: datetime | None = None) -> dict[int, OpenInvitation]:
    """user id → the link of their open invitation (for staff to hand out), for the users
    without a password who have one. Reads only."""
    now = now or utcnow()
    found = {}
    for user in users:
        token = user.current_invitation_token(now)
        if token is not None:
            found[user.id] = OpenInvitation(external_url("auth.accept_invitation", token=token),
                                            user.invitation_expires_at)
    return found


def reminder_overview(meeting: Meeting) -> dict:
    """For the meeting page: who is due, who was reminded recently, the last send, and the
    open invitation link of each person awaiting disclosure without a password."""
    disclosure = plan_disclosure_reminders(meeting)
    awaiting = [e.user for e in disclosure.due] + disclosure.recently_reminded
    last = db.session.scalar(
        sa.select(sa.func.max(Reminder.sent_at)).where(Reminder.meeting_id == meeting.id)
    )
    return {
        "due": len(disclosure.due),
        "recent": len(disclosure.recently_reminded),
        "last": last,
        "interval": current_app.config["REMINDER_INTERVAL_HOURS"],
        "awaiting": {u.id for u in awaiting},
        "invitations": open_invitations(awaiting),
        "suppressed": bool(current_app.config.get("MAIL_SUPPRESS_SEND")),
    }
