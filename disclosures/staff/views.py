"""Meeting staff: meetings, people and invitations."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from .. import mail
from ..auth import operations as account_operations
from ..auth.forms import InvitationForm
from ..enums import Role
from ..extensions import db
from ..models import Activity, Meeting
from ..permissions import role_required

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.route("/")
@role_required(Role.STAFF)
def meetings():
    counts = (
        sa.select(Activity.meeting_id, sa.func.count(Activity.id))
        .group_by(Activity.meeting_id)
    )
    activity_counts = dict(db.session.execute(counts).all())
    rows = db.session.scalars(sa.select(Meeting).order_by(Meeting.starts_on.desc())).all()
    return render_template("staff/meetings.html", meetings=rows, activity_counts=activity_counts)


@bp.route("/people/invite", methods=["GET", "POST"])
@role_required(Role.STAFF)
def invite():
    form = InvitationForm()
    if form.validate_on_submit():
        try:
            user, token = account_operations.invite_user(
                current_user,
                form.email.data,
                form.full_name.data,
                degrees=form.degrees.data,
                institution=form.institution.data,
            )
        except account_operations.AccountError as exc:
            form.email.errors.append(str(exc))
        else:
            link = url_for("auth.accept_invitation", token=token, _external=True)
            message = mail.build_message(
                user.email,
                "Your CME disclosure: please set your password",
                render_template(
                    "auth/email_invitation.txt",
                    user=user,
                    link=link,
                    meeting_name=None,
                    expires=user.invitation_expires_at.strftime("%B %-d, %Y"),
                ),
            )
            db.session.commit()
            try:
                mail.send_messages([message])
                sent = not current_app.config.get("MAIL_SUPPRESS_SEND")
            except mail.MailError:
                sent = False
            flash(
                f"Account created for {user.full_name}."
                + (" The invitation email was sent." if sent else " No email was sent: give them the link below."),
                "success" if sent else "warning",
            )
            return render_template("staff/invited.html", user=user, link=link, sent=sent)
    return render_template("staff/invite.html", form=form), (400 if form.errors else 200)


# Staff pages live in one module per concern, all on this blueprint.
from . import companies, dashboard, programme, records, rooms  # noqa: E402,F401
