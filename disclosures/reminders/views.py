"""Staff pages of reminders: send them, and see who awaits a disclosure and how they get in."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from ..enums import ReminderKind
from ..extensions import db
from ..fields import ConfirmForm
from ..handlers import guarded
from ..models import Meeting, Reminder
from ..permissions import MANAGE_MEETING
from .operations import (
    SendResult,
    open_invitations,
    plan_disclosure_reminders,
    plan_review_summaries,
    send_reminders,
)

bp = Blueprint("reminders", __name__, url_prefix="/staff")


def _flash_result(result: SendResult, what: str, *, links_shown: bool) -> None:
    if result.sent:
        flash(f"{len(result.sent)} {what} sent.", "success")
    if result.undelivered:
        flash(f"{len(result.undelivered)} {what} were not delivered: mail sending is switched "
              "off here (MAIL_SUPPRESS_SEND). They are not counted as sent, so nobody waits "
              f"{current_app.config['REMINDER_INTERVAL_HOURS']} hours for the next one. "
              + ("Give each person their invitation link below; " if links_shown else "")
              + "to send mail, set MAIL_SERVER.", "warning")
    if result.skipped:
        flash(f"{len(result.skipped)} not sent again: reminded within the last "
              f"{current_app.config['REMINDER_INTERVAL_HOURS']} hours.", "info")
    if result.error:
        flash(f"Sending stopped: {result.error}. {len(result.sent)} sent and recorded; "
              f"{len(result.failed)} not sent and not recorded: send again once the mail "
              "server works (those already reminded are not sent a second one).", "error")
    if not (result.sent or result.undelivered or result.skipped or result.error):
        flash(f"Nobody to remind: no {what} are due.", "info")


def _confirmed_or_400() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form was not accepted. Reload the page and try again.")


@bp.route("/meetings/<int:meeting_id>/reminders/disclosure", methods=["POST"])
@guarded(MANAGE_MEETING, Meeting)
def send_disclosure(meeting: Meeting):
    _confirmed_or_400()
    result = send_reminders(current_user, plan_disclosure_reminders(meeting))
    _flash_result(result, "disclosure reminders", links_shown=True)
    return redirect(url_for("reminders.overview", meeting_id=meeting.id))


@bp.route("/meetings/<int:meeting_id>/reminders/review", methods=["POST"])
@guarded(MANAGE_MEETING, Meeting)
def send_review(meeting: Meeting):
    _confirmed_or_400()
    result = send_reminders(current_user, plan_review_summaries(meeting))
    _flash_result(result, "reviewer summaries", links_shown=False)
    return redirect(url_for("staff.meeting", meeting_id=meeting.id) + "#reminders")


@bp.route("/meetings/<int:meeting_id>/reminders")
@guarded(MANAGE_MEETING, Meeting)
def overview(meeting: Meeting):
    """Who awaits a disclosure, when each was last reminded, and each invitation link: the
    page a reminder send lands on, where staff copy links when mail is not delivered."""
    plan = plan_disclosure_reminders(meeting)
    people = sorted([e.user for e in plan.due] + plan.recently_reminded,
                    key=lambda u: (u.full_name.lower(), u.id))
    ids = [u.id for u in people]
    last_reminded = dict(db.session.execute(
        sa.select(Reminder.user_id, sa.func.max(Reminder.sent_at))
        .where(Reminder.kind == ReminderKind.DISCLOSURE, Reminder.user_id.in_(ids))
        .group_by(Reminder.user_id)
    ).all()) if ids else {}
    return render_template(
        "staff/reminders.html", meeting=meeting, people=people,
        due={e.user.id for e in plan.due}, last_reminded=last_reminded,
        invitations=open_invitations(people),
        suppressed=bool(current_app.config.get("MAIL_SUPPRESS_SEND")),
        interval=current_app.config["REMINDER_INTERVAL_HOURS"],
        valid_days=current_app.config["INVITATION_VALID_HOURS"] // 24,
    )


