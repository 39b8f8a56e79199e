"""Staff pages of reminders: send them, and see who awaits a disclosure and how they get in."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, render_template

from ..enums import JobKind, ReminderKind
from ..extensions import db
from ..fields import ConfirmForm
from ..handlers import guarded
from ..jobs.views import launch
from ..models import Meeting, Reminder
from ..permissions import MANAGE_MEETING
from .operations import open_invitations, plan_disclosure_reminders

bp = Blueprint("reminders", __name__, url_prefix="/staff")


def _confirmed_or_400() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form was not accepted. Reload the page and try again.")


@bp.route("/meetings/<int:meeting_id>/reminders/disclosure", methods=["POST"])
@guarded(MANAGE_MEETING, Meeting)
def send_disclosure(meeting: Meeting):
    """Start the disclosure reminders job (who is due: ``plan_disclosure_reminders``)."""
    _confirmed_or_400()
    return launch(JobKind.DISCLOSURE_REMINDERS, meeting)


@bp.route("/meetings/<int:meeting_id>/reminders/review", methods=["POST"])
@guarded(MANAGE_MEETING, Meeting)
def send_review(meeting: Meeting):
    """Start the reviewer summaries job (who: ``plan_review_summaries``)."""
    _confirmed_or_400()
    return launch(JobKind.REVIEW_SUMMARIES, meeting)


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


