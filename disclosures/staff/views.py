"""Meeting staff: meetings, people and invitations."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from .. import mail
from ..auth import operations as account_operations
from ..auth.forms import InvitationForm
from ..enums import AssignmentRole, Role
from ..extensions import db
from ..links import external_url
from ..models import Activity, Assignment, Meeting, Room, User
from ..permissions import role_required
from ..state import summaries_for
from . import forms
from . import operations as ops

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
            user, token = save_refusing_duplicates(lambda: account_operations.invite_user(
                current_user,
                form.email.data,
                form.full_name.data,
                degrees=form.degrees.data,
                institution=form.institution.data,
            ))
        except account_operations.AccountError as exc:
            db.session.rollback()
            form.email.errors.append(str(exc))
        else:
            delivery = send_invitation(user, token, None)
            flash(f"Account created for {user.full_name}. " + INVITATION_DELIVERY[delivery],
                  "success" if delivery == "sent" else "warning")
            return render_template("staff/invited.html", user=user, delivery=delivery,
                                   link=external_url("auth.accept_invitation", token=token))
    return render_template("staff/invite.html", form=form), (400 if form.errors else 200)



INVITATION_DELIVERY = {
    "sent": "The invitation email was sent.",
    "switched_off": "No email was sent: mail sending is switched off here (MAIL_SUPPRESS_SEND). "
                    "Give them the invitation link yourself.",
    "failed": "The invitation email could not be sent: the mail server refused or could not "
              "be reached. Give them the invitation link yourself, or send a reminder later.",
}


def send_invitation(user: User, token: str, meeting: Meeting | None) -> str:
    """Mail the invitation link (after the commit: the account exists whatever the mail
    server does). Returns "sent", "switched_off" (MAIL_SUPPRESS_SEND) or "failed" (the
    server refused or was down: logged, never raised). The link itself stays valid, and
    staff see it on the meeting page and the reminders page."""
    link = external_url("auth.accept_invitation", token=token)
    message = mail.build_message(
        user.email,
        "Your CME disclosure: please set your password",
        render_template(
            "auth/email_invitation.txt",
            user=user,
            link=link,
            meeting_name=meeting.name if meeting else None,
            expires=user.invitation_expires_at.strftime("%B %-d, %Y"),
        ),
    )
    try:
        mail.send_messages([message])
    except mail.MailError as exc:
        current_app.logger.warning("Invitation to user %s could not be sent: %s", user.id, exc)
        return "failed"
    return "switched_off" if current_app.config.get("MAIL_SUPPRESS_SEND") else "sent"


def save_refusing_duplicates(operation):
    """Run ``operation`` and commit, for operations whose own check refuses a duplicate
    (an account's email, a room's name, a person's role in an activity).

    Two requests can pass that check at the same moment; the database's unique
    constraint then stops the second at flush or commit (IntegrityError, a 500 until
    now). Roll back and run ``operation`` once more: its check now sees the committed
    row and raises the refusal a plain duplicate gets, so the user reads the same
    message. A full rollback rather than a SAVEPOINT: pysqlite does not emit BEGIN
    before a SAVEPOINT, so on SQLite releasing it would commit early.
    """
    try:
        result = operation()
        db.session.commit()
        return result
    except IntegrityError:
        db.session.rollback()
    try:
        result = operation()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        abort(409, description="Someone saved the same thing at the same moment. Nothing you sent "
                               "was saved: reload the page to see theirs, then try again if needed.")
    return result


def commit_or_409(message: str) -> None:
    """Commit; a concurrent save of a versioned row answers 409 with ``message``."""
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        abort(409, description=message)


def _meeting_or_404(meeting_id: int) -> Meeting:
    return db.get_or_404(Meeting, meeting_id)


@bp.route("/meetings/new", methods=["GET", "POST"])
@role_required(Role.STAFF)
def meeting_new():
    form = forms.MeetingForm()
    if form.validate_on_submit():
        try:
            meeting = ops.create_meeting(
                current_user,
                name=form.name.data, slug=form.slug.data, location=form.location.data,
                starts_on=form.starts_on.data, ends_on=form.ends_on.data,
                timezone=form.timezone.data, disclosure_deadline=form.disclosure_deadline.data,
            )
        except ops.ProgrammeError as exc:
            getattr(form, exc.field or "name").errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"Meeting “{meeting.name}” created. Add rooms and activities, or import the "
                  "programme.", "success")
            return redirect(url_for("staff.meeting", meeting_id=meeting.id))
    return render_template("staff/meeting_form.html", form=form, meeting=None), (
        400 if form.errors else 200
    )


@bp.route("/meetings/<int:meeting_id>/edit", methods=["GET", "POST"])
@role_required(Role.STAFF)
def meeting_edit(meeting_id: int):
    meeting = _meeting_or_404(meeting_id)
    form = forms.MeetingForm(obj=meeting)
    if form.validate_on_submit():
        try:
            changes = ops.update_meeting(
                current_user, meeting,
                name=form.name.data, slug=form.slug.data, location=form.location.data,
                starts_on=form.starts_on.data, ends_on=form.ends_on.data,
                timezone=form.timezone.data, disclosure_deadline=form.disclosure_deadline.data,
            )
        except ops.ProgrammeError as exc:
            db.session.rollback()
            getattr(form, exc.field or "name").errors.append(str(exc))
        else:
            db.session.commit()
            flash("Meeting saved." if changes else "Nothing to change.", "success")
            return redirect(url_for("staff.meeting", meeting_id=meeting.id))
    return render_template("staff/meeting_form.html", form=form, meeting=meeting), (
        400 if form.errors else 200
    )


@bp.route("/meetings/<int:meeting_id>")
@role_required(Role.STAFF)
def meeting(meeting_id: int):
    meeting = _meeting_or_404(meeting_id)
    activities = db.session.scalars(
        sa.select(Activity)
        .where(Activity.meeting_id == meeting.id)
        .options(
            selectinload(Activity.room),
            selectinload(Activity.assignments).selectinload(Assignment.user),
        )
        .order_by(Activity.starts_at, Activity.code)
    ).all()
    current = [a for act in activities for a in act.assignments if a.removed_at is None]
    statuses = summaries_for(current, date.today())
    room_counts = {}
    for act in activities:
        if act.room_id:
            room_counts[act.room_id] = room_counts.get(act.room_id, 0) + 1
    from .reminders import reminder_overview

    return render_template(
        "staff/meeting.html",
        meeting=meeting,
        reminders=reminder_overview(meeting),
        activities=activities,
        statuses=statuses,
        room_counts=room_counts,
        people_count=len({a.user_id for a in current}),
        confirm_form=forms.ConfirmForm(),
    )


@bp.route("/meetings/<int:meeting_id>/rooms/new", methods=["GET", "POST"])
@role_required(Role.STAFF)
def room_new(meeting_id: int):
    meeting = _meeting_or_404(meeting_id)
    form = forms.RoomForm()
    if form.validate_on_submit():
        try:
            room = save_refusing_duplicates(lambda: ops.add_room(current_user, meeting, form.name.data))
        except ops.ProgrammeError as exc:
            db.session.rollback()
            form.name.errors.append(str(exc))
        else:
            flash(f"Room “{room.name}” added.", "success")
            return redirect(url_for("staff.meeting", meeting_id=meeting.id))
    return render_template("staff/room_form.html", form=form, meeting=meeting, room=None), (
        400 if form.errors else 200
    )


@bp.route("/rooms/<int:room_id>/edit", methods=["GET", "POST"])
@role_required(Role.STAFF)
def room_edit(room_id: int):
    room = db.get_or_404(Room, room_id)
    form = forms.RoomForm(obj=room)
    if form.validate_on_submit():
        try:
            changed = ops.rename_room(current_user, room, form.name.data)
        except ops.ProgrammeError as exc:
            form.name.errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"Room renamed to “{room.name}”." if changed else "Nothing to change.", "success")
            return redirect(url_for("staff.meeting", meeting_id=room.meeting_id))
    return render_template("staff/room_form.html", form=form, meeting=room.meeting, room=room), (
        400 if form.errors else 200
    )


def _activity_values(form: forms.ActivityForm, meeting: Meeting) -> ops.ActivityValues:
    room = None
    if form.room_id.data:
        room = db.session.get(Room, form.room_id.data)
        if room is None or room.meeting_id != meeting.id:
            abort(400, description="Choose one of this meeting's rooms.")
    return ops.ActivityValues(
        code=form.code.data,
        title=form.title.data,
        room=room,
        starts_at=form.starts_local,
        ends_at=form.ends_local,
        topics=form.topic_list(),
        credit_hours=form.credit_hours.data,
        commercial_supporters=form.supporters(),
    )


CONFLICT_MESSAGE = (
    "Someone else saved this activity at the same moment. Your changes were not saved: "
    "reload the page to see theirs, then make your change again."
)


@bp.route("/meetings/<int:meeting_id>/activities/new", methods=["GET", "POST"])
@role_required(Role.STAFF)
def activity_new(meeting_id: int):
    meeting = _meeting_or_404(meeting_id)
    form = forms.ActivityForm(meeting)
    if form.validate_on_submit():
        try:
            activity = ops.create_activity(current_user, meeting, _activity_values(form, meeting))
        except ops.ProgrammeError as exc:
            getattr(form, exc.field or "code").errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"Activity {activity.code} added.", "success")
            return redirect(url_for("staff.meeting", meeting_id=meeting.id) + f"#activity-{activity.id}")
    return render_template("staff/activity_form.html", form=form, meeting=meeting, activity=None), (
        400 if form.errors else 200
    )


@bp.route("/activities/<int:activity_id>/edit", methods=["GET", "POST"])
@role_required(Role.STAFF)
def activity_edit(activity_id: int):
    activity = db.get_or_404(Activity, activity_id)
    meeting = activity.meeting
    form = forms.ActivityForm(meeting)
    if not form.is_submitted():
        local_fmt = "%Y-%m-%dT%H:%M"
        form.version_id.data = str(activity.version_id)
        form.code.data = activity.code
        form.title.data = activity.title
        form.room_id.data = activity.room_id or 0
        form.starts_at.data = meeting.local(activity.starts_at).strftime(local_fmt)
        form.ends_at.data = meeting.local(activity.ends_at).strftime(local_fmt)
        form.topics.data = "\n".join(activity.topics or [])
        form.credit_hours.data = activity.credit_hours
        form.commercial_supporters.data = "\n".join(
            s["name"] + (f" | {s['in_kind']}" if s.get("in_kind") else "")
            for s in activity.commercial_supporters or []
        )
    elif form.validate_on_submit():
        try:
            expected = int(form.version_id.data)
        except (TypeError, ValueError):
            expected = None
        try:
            changes = ops.update_activity(
                current_user, activity, _activity_values(form, meeting), expected_version=expected
            )
        except ops.ConcurrentEdit as exc:
            db.session.rollback()
            abort(409, description=str(exc))
        except ops.ProgrammeError as exc:
            db.session.rollback()
            getattr(form, exc.field or "code").errors.append(str(exc))
        else:
            commit_or_409(CONFLICT_MESSAGE)
            flash(f"Activity {activity.code} saved." if changes else "Nothing to change.", "success")
            return redirect(url_for("staff.meeting", meeting_id=meeting.id) + f"#activity-{activity.id}")
    return render_template(
        "staff/activity_form.html", form=form, meeting=meeting, activity=activity
    ), (400 if form.errors else 200)


@bp.route("/activities/<int:activity_id>/assign", methods=["GET", "POST"])
@role_required(Role.STAFF)
def assignment_new(activity_id: int):
    activity = db.get_or_404(Activity, activity_id)
    form = forms.AssignmentForm()
    if form.validate_on_submit():
        try:
            assignment, user, token = save_refusing_duplicates(lambda: ops.assign_by_email(
                current_user, activity, form.email.data, AssignmentRole(form.role.data),
                full_name=form.full_name.data, degrees=form.degrees.data,
            ))
        except (ops.ProgrammeError, account_operations.AccountError) as exc:
            db.session.rollback()
            getattr(form, getattr(exc, "field", None) or "email").errors.append(str(exc))
        else:
            message = f"{user.full_name} assigned as {assignment.role.label.lower()} of {activity.code}."
            if token is not None:
                delivery = send_invitation(user, token, activity.meeting)
                message += " " + INVITATION_DELIVERY[delivery]
                if delivery != "sent":
                    message += " The link is shown with their name below."
            flash(message, "success")
            return redirect(url_for("staff.meeting", meeting_id=activity.meeting_id)
                            + f"#activity-{activity.id}")
    return render_template("staff/assignment_form.html", form=form, activity=activity,
                           meeting=activity.meeting), (400 if form.errors else 200)


@bp.route("/assignments/<int:assignment_id>/remove", methods=["POST"])
@role_required(Role.STAFF)
def assignment_remove(assignment_id: int):
    assignment = db.get_or_404(Assignment, assignment_id)
    form = forms.ConfirmForm()
    if not form.validate_on_submit():
        abort(400, description="The form was not accepted. Reload the page and try again.")
    try:
        ops.remove_assignment(current_user, assignment)
    except ops.ProgrammeError as exc:
        flash(str(exc), "warning")
    else:
        commit_or_409("Someone else changed this assignment at the same moment. Reload and retry.")
        flash(f"{assignment.user.full_name} removed from {assignment.activity.code}. Their "
              "disclosure and its review stay on record.", "success")
    return redirect(url_for("staff.meeting", meeting_id=assignment.activity.meeting_id)
                    + f"#activity-{assignment.activity_id}")

# Staff pages live in one module per concern, all on this blueprint.
from . import companies, dashboard, programme, records, reminders, rooms  # noqa: E402,F401
