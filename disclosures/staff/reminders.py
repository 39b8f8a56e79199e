"""Reminders: to people whose assignments await a disclosure, and a summary to reviewers.

``plan_*`` functions read only; ``send_reminders`` sends and records. Each message
carries the person's way in: a fresh invitation link for an account without a password
(the previous link stops working) or the login link. Every reminder sent is a
``Reminder`` row and a ``reminder.sent`` audit event (recipient and counts only, never
the link). Nobody gets the same kind of reminder twice within
``REMINDER_INTERVAL_HOURS``.

Messages go out in batches over one SMTP connection each; a batch is recorded (committed)
only after the server accepted it, so a failure leaves the unsent people to be reminded
next time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from .. import mail
from ..audit import record
from ..auth import operations as account_operations
from ..enums import AssignmentState, ReminderKind, Role
from ..extensions import db
from ..links import external_url
from ..models import Activity, Assignment, Meeting, Reminder, User, utcnow
from ..permissions import role_required
from ..state import summaries_for
from . import forms
from .views import bp

BATCH_SIZE = 50


def interval() -> timedelta:
    return timedelta(hours=int(current_app.config["REMINDER_INTERVAL_HOURS"]))


@dataclass
class PendingActivity:
    meeting: Meeting
    activity: Activity
    role_label: str


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
        .join(Activity, Assignment.activity_id == Activity.id)
        .where(Activity.meeting_id.in_([m.id for m in meetings]), Assignment.removed_at.is_(None))
        .options(joinedload(Assignment.user), joinedload(Assignment.activity).joinedload(Activity.meeting))
        .order_by(Activity.starts_at, Activity.code, Assignment.id)
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
    assignment awaiting disclosure (in ``meeting``, or in every meeting not yet over)."""
    now = now or utcnow()
    today = now.date()
    meetings = _meetings(meeting, today)
    assignments = _current_assignments(meetings)
    statuses = summaries_for(assignments, today)
    people: dict[int, DisclosureReminder] = {}
    for a in assignments:
        if statuses[a.id].state is not AssignmentState.AWAITING_DISCLOSURE or not a.user.is_active:
            continue
        entry = people.setdefault(a.user_id, DisclosureReminder(a.user))
        entry.items.append(PendingActivity(a.activity.meeting, a.activity, a.role.label))
    recent = _recent(ReminderKind.DISCLOSURE, people, now)
    due = [p for uid, p in people.items() if uid not in recent]
    due.sort(key=lambda p: p.user.full_name.lower())
    return ReminderPlan(ReminderKind.DISCLOSURE, due,
                        [people[uid].user for uid in recent], meetings)


def plan_review_summaries(meeting: Meeting | None, now: datetime | None = None) -> ReminderPlan:
    """Reviewers (active reviewer accounts) with the count of what awaits review, needs a
    mitigation or an owner decision, per meeting. Nothing is sent when nothing awaits."""
    now = now or utcnow()
    today = now.date()
    meetings = _meetings(meeting, today)
    assignments = _current_assignments(meetings)
    statuses = summaries_for(assignments, today)
    counts: dict[int, list[int]] = {m.id: [0, 0, 0] for m in meetings}
    for a in assignments:
        state = statuses[a.id].state
        index = {AssignmentState.AWAITING_REVIEW: 0, AssignmentState.NEEDS_MITIGATION: 1}.get(state)
        if state is AssignmentState.EXCLUDED and a.owner_exception is None:
            index = 2
        if index is not None:
            counts[a.activity.meeting_id][index] += 1
    waiting = [(m, *counts[m.id]) for m in meetings if any(counts[m.id])]
    reviewers = list(db.session.scalars(
        sa.select(User).where(User.role == Role.REVIEWER, User.is_active.is_(True))
        .order_by(User.full_name)
    )) if waiting else []
    recent = _recent(ReminderKind.REVIEW_SUMMARY, (r.id for r in reviewers), now)
    due = [ReviewSummary(r, waiting) for r in reviewers if r.id not in recent]
    return ReminderPlan(ReminderKind.REVIEW_SUMMARY, due,
                        [r for r in reviewers if r.id in recent], meetings)


def _access_link(actor: User | None, user: User) -> str:
    """The invitation link (re-issued) for an account without a password, else the login."""
    if not user.password_hash:
        token = account_operations.reissue_invitation(actor, user)
        return external_url("auth.accept_invitation", token=token)
    return external_url("auth.login")


def _disclosure_message(entry: DisclosureReminder, link: str):
    user = entry.user
    deadlines = sorted({i.meeting.disclosure_deadline for i in entry.items
                        if i.meeting.disclosure_deadline})
    body = render_template(
        "staff/email_disclosure_reminder.txt",
        user=user, items=entry.items, link=link,
        has_password=bool(user.password_hash),
        deadline=deadlines[0] if deadlines else None,
        expires=user.invitation_expires_at,
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


@dataclass
class SendResult:
    sent: list[User] = field(default_factory=list)
    skipped: list[User] = field(default_factory=list)  # reminded within the interval
    failed: list[User] = field(default_factory=list)
    error: str | None = None


def send_reminders(actor: User | None, plan: ReminderPlan, *, batch_size: int = BATCH_SIZE) -> SendResult:
    """Send the plan's messages and record them.

    Side effects, per batch: re-issues invitations for accounts without a password
    (audit ``user.invitation_reissued``), adds a ``Reminder`` row and a ``reminder.sent``
    audit event per person, sends the batch, then COMMITS the batch (this function is a
    command's body: it commits so that what was sent is recorded, and only that). If the
    mail server fails, the batch is rolled back and sending stops; ``error`` says why.
    """
    result = SendResult(skipped=list(plan.recently_reminded))
    due = list(plan.due)
    meeting_id = plan.meetings[0].id if len(plan.meetings) == 1 else None
    for start in range(0, len(due), batch_size):
        batch = due[start:start + batch_size]
        messages = []
        for entry in batch:
            user = entry.user
            link = _access_link(actor, user)
            if plan.kind is ReminderKind.DISCLOSURE:
                messages.append(_disclosure_message(entry, link))
                detail = {"kind": plan.kind, "activities": len(entry.items)}
                mid = meeting_id or (min(entry.meeting_ids) if len(entry.meeting_ids) == 1 else None)
            else:
                messages.append(_summary_message(entry, link))
                detail = {"kind": plan.kind,
                          "awaiting": {m.slug: [r, mi, o] for m, r, mi, o in entry.counts}}
                mid = meeting_id
            reminder = Reminder(user=user, meeting_id=mid, kind=plan.kind, sent_at=utcnow(),
                                sent_by_id=actor.id if actor else None)
            db.session.add(reminder)
            db.session.flush()
            record(actor, "reminder.sent", reminder, detail, subject=user)
        try:
            mail.send_messages(messages)
        except mail.MailError as exc:
            db.session.rollback()
            result.failed.extend(e.user for e in due[start:])
            result.error = str(exc)
            current_app.logger.error("Reminders stopped: %s", exc)
            break
        db.session.commit()
        result.sent.extend(e.user for e in batch)
    return result


# --- Pages -----------------------------------------------------------------------------


def _flash_result(result: SendResult, what: str) -> None:
    suppressed = current_app.config.get("MAIL_SUPPRESS_SEND")
    if result.sent:
        flash(f"{len(result.sent)} {what} sent."
              + (" Mail sending is switched off here (MAIL_SUPPRESS_SEND): nothing was "
                 "delivered." if suppressed else ""),
              "warning" if suppressed else "success")
    if result.skipped:
        flash(f"{len(result.skipped)} not sent again: reminded within the last "
              f"{current_app.config['REMINDER_INTERVAL_HOURS']} hours.", "info")
    if result.error:
        flash(f"Sending stopped, {len(result.failed)} not sent: {result.error}", "error")
    if not (result.sent or result.skipped or result.error):
        flash(f"Nobody to remind: no {what} are due.", "info")


@bp.route("/meetings/<int:meeting_id>/reminders/disclosure", methods=["POST"])
@role_required(Role.STAFF)
def send_disclosure_reminders(meeting_id: int):
    meeting = db.get_or_404(Meeting, meeting_id)
    form = forms.ConfirmForm()
    if not form.validate_on_submit():
        abort(400, description="The form was not accepted. Reload the page and try again.")
    result = send_reminders(current_user, plan_disclosure_reminders(meeting))
    _flash_result(result, "disclosure reminders")
    return redirect(url_for("staff.meeting", meeting_id=meeting.id) + "#reminders")


@bp.route("/meetings/<int:meeting_id>/reminders/review", methods=["POST"])
@role_required(Role.STAFF)
def send_review_summaries(meeting_id: int):
    meeting = db.get_or_404(Meeting, meeting_id)
    form = forms.ConfirmForm()
    if not form.validate_on_submit():
        abort(400, description="The form was not accepted. Reload the page and try again.")
    result = send_reminders(current_user, plan_review_summaries(meeting))
    _flash_result(result, "reviewer summaries")
    return redirect(url_for("staff.meeting", meeting_id=meeting.id) + "#reminders")


def reminder_overview(meeting: Meeting) -> dict:
    """For the meeting page: who is due, who was reminded recently, the last send."""
    disclosure = plan_disclosure_reminders(meeting)
    last = db.session.scalar(
        sa.select(sa.func.max(Reminder.sent_at)).where(Reminder.meeting_id == meeting.id)
    )
    return {
        "due": len(disclosure.due),
        "recent": len(disclosure.recently_reminded),
        "last": last,
        "interval": current_app.config["REMINDER_INTERVAL_HOURS"],
    }
