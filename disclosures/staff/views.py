"""Meeting staff: meetings and who holds a role in them, rooms and their QR codes,
activities, assignments, and the dashboard of what blocks the meeting."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload

from .. import clock
from ..auth import operations as account_operations
from ..documents import qr, sign, spreadsheet
from ..enums import AssignmentRole, AssignmentState, MeetingRole, SiteRole, SupportKind
from ..extensions import db
from ..fields import ConfirmForm, PageSizeForm
from ..handlers import guarded, save
from ..links import external_url
from ..models import Activity, Assignment, CommercialSupport, Meeting, Membership, Room
from ..permissions import (
    CREATE_MEETING,
    LIST_MEETINGS,
    MANAGE_MEETING,
    REVIEW_MEETING,
    is_admin,
    is_auditor,
    meetings_where,
)
from ..reminders.operations import reminder_overview
from ..state import STATE_CSS, StateView
from . import forms, soon
from . import operations as ops
from .dashboard import (
    CSV_HEADER,
    build_dashboard,
    chosen_day,
    dashboard_csv_rows,
    load_all,
    load_day,
)

bp = Blueprint("staff", __name__, url_prefix="/staff")


def _meeting_page(meeting: Meeting, anchor: str = ""):
    return redirect(url_for("staff.meeting", meeting_id=meeting.id) + anchor)


def _form_page(template: str, form, **context):
    """The form's page: 400 when it was sent with errors, else 200."""
    return render_template(template, form=form, **context), (400 if form.errors else 200)


def _on_field(form, default: str, render):
    """The answer to a refusal: its message on the field it names, the page, its status."""

    def refused(error):
        field = getattr(form, error.field or default, None) or getattr(form, default)
        field.errors = [*field.errors, str(error)]
        body, _status = render()
        return body, error.status

    return refused


# --------------------------------------------------------------------------- meetings


@bp.route("/")
@guarded(LIST_MEETINGS)
def meetings():
    visible = sa.select(Meeting).order_by(Meeting.starts_on.desc())
    if not (is_admin(current_user) or is_auditor(current_user)):
        visible = visible.where(Meeting.id.in_(meetings_where(current_user, MANAGE_MEETING)))
    rows = db.session.scalars(visible).all()
    activity_counts = dict(db.session.execute(
        sa.select(Activity.meeting_id, sa.func.count(Activity.id))
        .where(Activity.meeting_id.in_([m.id for m in rows]))
        .group_by(Activity.meeting_id)
    ).all()) if rows else {}
    return render_template("staff/meetings.html", meetings=rows, activity_counts=activity_counts)


@bp.route("/people/invite", methods=["GET", "POST"])
@guarded(CREATE_MEETING)
def invite():
    """Site administrators create an account (optionally an administrator or auditor)."""
    form = forms.AccountForm()
    page = lambda: _form_page("staff/invite.html", form)  # noqa: E731
    if not form.validate_on_submit():
        return page()
    user, token = save(
        lambda: account_operations.invite_user(
            current_user, form.email.data, form.full_name.data, degrees=form.degrees.data,
            institution=form.institution.data,
            site_role=SiteRole(form.site_role.data) if form.site_role.data else None),
        refused=_on_field(form, "email", page), retry_on_duplicate=True)
    delivery = account_operations.send_invitation(user, token, None)
    flash(f"Account created for {user.full_name}. "
          + account_operations.INVITATION_DELIVERY[delivery],
          "success" if delivery == "sent" else "warning")
    return render_template("staff/invited.html", user=user, delivery=delivery,
                           link=external_url("auth.accept_invitation", token=token))


def _meeting_values(form: forms.MeetingForm) -> dict:
    return dict(name=form.name.data, slug=form.slug.data, location=form.location.data,
                starts_on=form.starts_on.data, ends_on=form.ends_on.data,
                timezone=form.timezone.data, disclosure_deadline=form.disclosure_deadline.data,
                provider_name=form.provider_name.data,
                joint_provider_name=form.joint_provider_name.data,
                disclosure_policy_url=form.disclosure_policy_url.data)


@bp.route("/meetings/new", methods=["GET", "POST"])
@guarded(CREATE_MEETING)
def meeting_new():
    form = forms.MeetingForm()
    page = lambda: _form_page("staff/meeting_form.html", form, meeting=None)  # noqa: E731
    if not form.validate_on_submit():
        return page()
    meeting = save(lambda: ops.create_meeting(current_user, **_meeting_values(form)),
                   refused=_on_field(form, "name", page), retry_on_duplicate=True)
    flash(f"Meeting “{meeting.name}” created. Add rooms and activities, or import the "
          "programme.", "success")
    return _meeting_page(meeting)


@bp.route("/meetings/<int:meeting_id>/edit", methods=["GET", "POST"])
@guarded(MANAGE_MEETING, Meeting)
def meeting_edit(meeting: Meeting):
    form = forms.MeetingForm(obj=meeting)
    page = lambda: _form_page("staff/meeting_form.html", form, meeting=meeting)  # noqa: E731
    if not form.validate_on_submit():
        return page()
    changes = save(lambda: ops.update_meeting(current_user, meeting, **_meeting_values(form)),
                   refused=_on_field(form, "name", page))
    flash("Meeting saved." if changes else "Nothing to change.", "success")
    return _meeting_page(meeting)


@bp.route("/meetings/<int:meeting_id>")
@guarded(MANAGE_MEETING, Meeting)
def meeting(meeting: Meeting):
    activities = db.session.scalars(
        sa.select(Activity)
        .where(Activity.meeting_id == meeting.id)
        .options(
            selectinload(Activity.room),
            selectinload(Activity.assignments).selectinload(Assignment.user),
            selectinload(Activity.supports).joinedload(CommercialSupport.company),
        )
        .order_by(Activity.starts_at, Activity.code)
    ).all()
    current = [a for act in activities for a in act.assignments if a.removed_at is None]
    statuses = {a.id: StateView.of(a) for a in current}
    room_counts: dict[int, int] = {}
    for act in activities:
        if act.room_id:
            room_counts[act.room_id] = room_counts.get(act.room_id, 0) + 1
    return render_template(
        "staff/meeting.html",
        meeting=meeting,
        reminders=reminder_overview(meeting),
        activities=activities,
        statuses=statuses,
        room_counts=room_counts,
        people_count=len({a.user_id for a in current}),
        confirm_form=ConfirmForm(),
    )


# --------------------------------------------------------------------------- roles in the meeting


def _access_page(meeting: Meeting, form: forms.MembershipForm, status: int = 200):
    everyone = db.session.scalars(
        sa.select(Membership).where(Membership.meeting_id == meeting.id)
        .options(joinedload(Membership.user), joinedload(Membership.granted_by),
                 joinedload(Membership.revoked_by))
        .order_by(Membership.role, Membership.granted_at)
    ).all()
    return render_template("staff/access.html", meeting=meeting,
                           members=[m for m in everyone if m.is_current],
                           former=[m for m in everyone if not m.is_current], form=form,
                           confirm_form=ConfirmForm()), status


@bp.route("/meetings/<int:meeting_id>/access", methods=["GET", "POST"])
@guarded(MANAGE_MEETING, Meeting)
def access(meeting: Meeting):
    """Who may manage and review this meeting; staff add people (inviting new accounts)."""
    form = forms.MembershipForm()
    if not form.validate_on_submit():
        return _access_page(meeting, form, 400 if form.errors else 200)
    membership, token = save(
        lambda: ops.grant_role_by_email(current_user, meeting, form.email.data,
                                        MeetingRole(form.role.data), full_name=form.full_name.data),
        refused=_on_field(form, "email", lambda: _access_page(meeting, form)),
        retry_on_duplicate=True)
    message = f"{membership.user.full_name} is now {membership.role.label.lower()} of this meeting."
    if token is not None:
        delivery = account_operations.send_invitation(membership.user, token, meeting)
        message += " " + account_operations.INVITATION_DELIVERY[delivery]
    flash(message, "success")
    return redirect(url_for("staff.access", meeting_id=meeting.id))


def _planning_page(meeting: Meeting, form: forms.PlanningRoleForm, status: int = 200):
    roles = db.session.scalars(
        sa.select(Assignment).where(Assignment.meeting_id == meeting.id,
                                    Assignment.activity_id.is_(None))
        .options(joinedload(Assignment.user))
        .order_by(Assignment.role, Assignment.id)
    ).all()
    return render_template("staff/planning_roles.html", meeting=meeting, form=form,
                           current=[a for a in roles if not a.is_removed],
                           former=[a for a in roles if a.is_removed],
                           statuses={a.id: StateView.of(a) for a in roles},
                           confirm_form=ConfirmForm()), status


@bp.route("/meetings/<int:meeting_id>/planning-roles", methods=["GET", "POST"])
@guarded(MANAGE_MEETING, Meeting)
def planning_roles(meeting: Meeting):
    """Roles held for the whole meeting (planning committee, course director, reviewers, staff
    who control content): staff add people by email (inviting new accounts)."""
    form = forms.PlanningRoleForm()
    if not form.validate_on_submit():
        return _planning_page(meeting, form, 400 if form.errors else 200)
    assignment, user, token = save(
        lambda: ops.assign_meeting_role_by_email(
            current_user, meeting, form.email.data, AssignmentRole(form.role.data),
            full_name=form.full_name.data, degrees=form.degrees.data),
        refused=_on_field(form, "email", lambda: _planning_page(meeting, form)),
        retry_on_duplicate=True)
    message = (f"{user.full_name} is now {assignment.role.label.lower()} of this meeting: "
               "they must disclose, and be cleared, before they act.")
    if token is not None:
        delivery = account_operations.send_invitation(user, token, meeting)
        message += " " + account_operations.INVITATION_DELIVERY[delivery]
    flash(message, "success")
    return redirect(url_for("staff.planning_roles", meeting_id=meeting.id))


@bp.route("/memberships/<int:membership_id>/remove", methods=["POST"])
@guarded(MANAGE_MEETING, Membership)
def access_remove(membership: Membership):
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form was not accepted. Reload the page and try again.")
    meeting, person, role = membership.meeting, membership.user, membership.role

    def refused(error):
        flash(str(error), "warning")
        return redirect(url_for("staff.access", meeting_id=meeting.id))

    save(lambda: ops.revoke_role(current_user, membership), refused=refused)
    flash(f"{person.full_name} is no longer {role.label.lower()} of this meeting.", "success")
    return redirect(url_for("staff.access", meeting_id=meeting.id))


# --------------------------------------------------------------------------- rooms


def _file_slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "room"


def public_url(room: Room) -> str:
    """What the room's QR code encodes: PUBLIC_BASE_URL + /r/<token>."""
    return external_url("public.room_sheet", token=room.public_token)


@bp.route("/meetings/<int:meeting_id>/rooms")
@guarded(MANAGE_MEETING, Meeting)
def rooms(meeting: Meeting):
    counts = dict(db.session.execute(
        sa.select(Activity.room_id, sa.func.count(Activity.id))
        .where(Activity.meeting_id == meeting.id).group_by(Activity.room_id)
    ).all())
    rows = [(room, public_url(room), counts.get(room.id, 0)) for room in meeting.rooms]
    return render_template("staff/rooms.html", meeting=meeting, rows=rows, qr=qr)


@bp.route("/meetings/<int:meeting_id>/rooms/new", methods=["GET", "POST"])
@guarded(MANAGE_MEETING, Meeting)
def room_new(meeting: Meeting):
    form = forms.RoomForm()
    page = lambda: _form_page("staff/room_form.html", form, meeting=meeting, room=None)  # noqa: E731
    if not form.validate_on_submit():
        return page()
    room = save(lambda: ops.add_room(current_user, meeting, form.name.data),
                refused=_on_field(form, "name", page), retry_on_duplicate=True)
    flash(f"Room “{room.name}” added.", "success")
    return _meeting_page(meeting)


@bp.route("/rooms/<int:room_id>/edit", methods=["GET", "POST"])
@guarded(MANAGE_MEETING, Room)
def room_edit(room: Room):
    form = forms.RoomForm(obj=room)
    page = lambda: _form_page("staff/room_form.html", form, meeting=room.meeting, room=room)  # noqa: E731
    if not form.validate_on_submit():
        return page()
    changed = save(lambda: ops.rename_room(current_user, room, form.name.data),
                   refused=_on_field(form, "name", page), retry_on_duplicate=True)
    flash(f"Room renamed to “{room.name}”." if changed else "Nothing to change.", "success")
    return _meeting_page(room.meeting)


@bp.route("/rooms/<int:room_id>/qr.svg")
@guarded(MANAGE_MEETING, Room)
def room_qr_svg(room: Room):
    response = Response(qr.svg(public_url(room), scale=10), mimetype="image/svg+xml")
    response.headers["Content-Disposition"] = f'attachment; filename="qr-{_file_slug(room.name)}.svg"'
    return response


@bp.route("/rooms/<int:room_id>/qr.png")
@guarded(MANAGE_MEETING, Room)
def room_qr_png(room: Room):
    response = Response(qr.png(public_url(room), scale=12), mimetype="image/png")
    response.headers["Content-Disposition"] = f'attachment; filename="qr-{_file_slug(room.name)}.png"'
    return response


@bp.route("/rooms/<int:room_id>/sign.pdf")
@guarded(MANAGE_MEETING, Room)
def room_sign(room: Room):
    """A printable sign for the room door (?size=letter|a4)."""
    form = PageSizeForm(request.args)
    if not form.validate():
        abort(400, description="Choose the paper size with ?size=letter or ?size=a4.")
    meeting = room.meeting
    content = sign.sign_pdf(meeting.name, room.name, public_url(room), form.page_size(),
                            starts_on=meeting.starts_on, ends_on=meeting.ends_on,
                            provider=meeting.provider_name,
                            joint_provider=meeting.joint_provider_name)
    response = Response(content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'inline; filename="sign-{_file_slug(room.name)}-{form.page_size()}.pdf"'
    )
    return response


@bp.route("/rooms/<int:room_id>/reissue-token", methods=["GET", "POST"])
@guarded(MANAGE_MEETING, Room)
def room_reissue_token(room: Room):
    """GET: what replacing the code does, and the form that does it; POST: replace it."""
    form = forms.ReissueTokenForm()
    if not form.is_submitted():
        return render_template("staff/room_reissue.html", room=room, meeting=room.meeting,
                               url=public_url(room), form=form)
    if not form.validate_on_submit():
        abort(400, description="The form could not be accepted. Reload the rooms page and try again.")
    save(lambda: ops.reissue_room_token(current_user, room), refused=lambda error: abort(409))
    flash(f"{room.name} has a new QR code. The old sign no longer shows the room's "
          "disclosures: print the new sign and post it in its place.", "success")
    return redirect(url_for("staff.rooms", meeting_id=room.meeting_id) + f"#room-{room.id}")


# --------------------------------------------------------------------------- activities


def _activity_values(form: forms.ActivityForm, meeting: Meeting) -> ops.ActivityValues:
    return ops.ActivityValues(
        code=form.code.data,
        title=form.title.data,
        room=ops.room_in(meeting, form.room_id.data),
        starts_at=form.starts_local,
        ends_at=form.ends_local,
        topics=form.topic_list(),
        credit_hours=form.credit_hours.data,
        is_accredited=form.is_accredited,
    )


def _activity_page(activity: Activity):
    return _meeting_page(activity.meeting, f"#activity-{activity.id}")


@bp.route("/meetings/<int:meeting_id>/activities/new", methods=["GET", "POST"])
@guarded(MANAGE_MEETING, Meeting)
def activity_new(meeting: Meeting):
    form = forms.ActivityForm(meeting)
    page = lambda: _form_page("staff/activity_form.html", form, meeting=meeting, activity=None)  # noqa: E731
    if not form.validate_on_submit():
        return page()
    activity = save(
        lambda: ops.create_activity(current_user, meeting, _activity_values(form, meeting)),
        refused=_on_field(form, "code", page), retry_on_duplicate=True)
    flash(f"Activity {activity.code} added.", "success")
    for warning in form.printed_warnings():
        flash(warning, "warning")
    return _activity_page(activity)


@bp.route("/activities/<int:activity_id>/edit", methods=["GET", "POST"])
@guarded(MANAGE_MEETING, Activity)
def activity_edit(activity: Activity):
    meeting = activity.meeting
    form = forms.ActivityForm(meeting)
    page = lambda: _form_page("staff/activity_form.html", form, meeting=meeting, activity=activity)  # noqa: E731
    if not form.is_submitted():
        form.fill_from(activity)
        return page()
    if not form.validate_on_submit():
        return page()

    def refused(error):
        if error.status == 409:
            abort(409, description=str(error))
        return _on_field(form, "code", page)(error)

    changes = save(
        lambda: ops.update_activity(current_user, activity, _activity_values(form, meeting),
                                    expected_version=form.expected_version),
        refused=refused)
    flash(f"Activity {activity.code} saved." if changes else "Nothing to change.", "success")
    for warning in form.printed_warnings():
        flash(warning, "warning")
    return _activity_page(activity)


# --------------------------------------------------------------------------- commercial support


def _support_page(meeting: Meeting, form, status: int = 200):
    supports = db.session.scalars(
        sa.select(CommercialSupport).where(CommercialSupport.meeting_id == meeting.id,
                                           CommercialSupport.removed_at.is_(None))
        .options(joinedload(CommercialSupport.company), joinedload(CommercialSupport.activity))
        .order_by(CommercialSupport.activity_id.is_not(None), CommercialSupport.id)
    ).all()
    return render_template("staff/support.html", meeting=meeting, form=form, supports=supports,
                           confirm=ConfirmForm()), status


@bp.route("/meetings/<int:meeting_id>/support", methods=["GET", "POST"])
@guarded(MANAGE_MEETING, Meeting)
def support(meeting: Meeting):
    """Commercial support (ACCME Standard 4) of the meeting and of its activities."""
    form = forms.SupportForm(meeting)
    if not form.is_submitted():
        return _support_page(meeting, form)
    if not form.validate_on_submit():
        return _support_page(meeting, form, 400)
    added = save(
        lambda: ops.add_support_by_name(current_user, meeting, form.company.data,
                                        SupportKind(form.kind.data), form.in_kind_detail.data,
                                        form.activity_id.data or None),
        refused=_on_field(form, "company", lambda: _support_page(meeting, form, 400)))
    flash(f"Commercial support from {added.company.name} added: it is acknowledged on the "
          "sheets, the all-faculty page, the booklet and the first slides.", "success")
    for warning in form.printed_warnings():
        flash(warning, "warning")
    return redirect(url_for("staff.support", meeting_id=meeting.id))


@bp.route("/support/<int:commercial_support_id>/remove", methods=["POST"])
@guarded(MANAGE_MEETING, CommercialSupport)
def support_remove(commercial_support: CommercialSupport):
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form was not accepted. Reload the page and try again.")
    save(lambda: ops.remove_support(current_user, commercial_support),
         refused=lambda error: abort(error.status, description=str(error)))
    flash(f"Commercial support from {commercial_support.company.name} removed.", "success")
    return redirect(url_for("staff.support", meeting_id=commercial_support.meeting_id))


@bp.route("/activities/<int:activity_id>/assign", methods=["GET", "POST"])
@guarded(MANAGE_MEETING, Activity)
def assignment_new(activity: Activity):
    form = forms.AssignmentForm()
    page = lambda: _form_page("staff/assignment_form.html", form, activity=activity,  # noqa: E731
                              meeting=activity.meeting)
    if not form.validate_on_submit():
        return page()
    assignment, user, token = save(
        lambda: ops.assign_by_email(current_user, activity, form.email.data,
                                    AssignmentRole(form.role.data), full_name=form.full_name.data,
                                    degrees=form.degrees.data),
        refused=_on_field(form, "email", page), retry_on_duplicate=True)
    message = f"{user.full_name} assigned as {assignment.role.label.lower()} of {activity.code}."
    if token is not None:
        delivery = account_operations.send_invitation(user, token, activity.meeting)
        message += " " + account_operations.INVITATION_DELIVERY[delivery]
        if delivery != "sent":
            message += " The link is shown with their name below."
    flash(message, "success")
    return _activity_page(activity)


@bp.route("/assignments/<int:assignment_id>/remove", methods=["POST"])
@guarded(MANAGE_MEETING, Assignment)
def assignment_remove(assignment: Assignment):
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form was not accepted. Reload the page and try again.")
    activity = assignment.activity
    if activity is None:  # a role held for the whole meeting
        meeting = assignment.meeting

        def refused_here(error):
            if error.status == 409:
                abort(409, description="Someone else changed this role at the same moment. "
                                       "Reload and retry.")
            flash(str(error), "warning")
            return redirect(url_for("staff.planning_roles", meeting_id=meeting.id))

        save(lambda: ops.remove_assignment(current_user, assignment), refused=refused_here)
        flash(f"{assignment.user.full_name} is no longer {assignment.role.label.lower()} of this "
              "meeting. Their disclosure and its review stay on record.", "success")
        return redirect(url_for("staff.planning_roles", meeting_id=meeting.id))

    def refused(error):
        if error.status == 409:
            abort(409, description="Someone else changed this assignment at the same moment. "
                                   "Reload and retry.")
        flash(str(error), "warning")
        return _activity_page(activity)

    save(lambda: ops.remove_assignment(current_user, assignment), refused=refused)
    flash(f"{assignment.user.full_name} removed from {activity.code}. Their "
          "disclosure and its review stay on record.", "success")
    return _activity_page(activity)


# --------------------------------------------------------------------------- dashboard


@bp.route("/meetings/<int:meeting_id>/dashboard")
@guarded(MANAGE_MEETING, Meeting)
def dashboard(meeting: Meeting):
    """Counts for the whole meeting; the blocked activities of one day (``?day=YYYY-MM-DD``).

    An unusable day is answered 400 with the default day's page and a message saying why.
    """
    data = build_dashboard(meeting, clock.meeting_today(meeting))
    day, problem = chosen_day(data, request.args.get("day"))
    return render_template(
        "staff/dashboard.html",
        meeting=meeting,
        data=data,
        day=day,
        groups=load_day(data, day),
        problem=problem,
        # Asked once per page, not once per row.
        link_reviews=REVIEW_MEETING(current_user, meeting),
        states=AssignmentState,
        state_css=STATE_CSS,
    ), (400 if problem else 200)


@bp.route("/meetings/<int:meeting_id>/starting-soon")
@guarded(MANAGE_MEETING, Meeting)
def starting_soon(meeting: Meeting):
    """Every role not cleared whose session starts within the next STARTING_SOON_HOURS
    (``?hours=`` from 1 to 336 for another window), with who must act before it."""
    hours, problem = soon.window_hours(), None
    raw = request.args.get("hours")
    if raw is not None:
        if raw.isdigit() and 1 <= int(raw) <= 336:
            hours = int(raw)
        else:
            problem = (f"“{raw[:20]}” is not a number of hours from 1 to 336: "
                       f"showing the next {hours} hours instead.")
    roles = soon.starting_soon(meeting, clock.now(), hours)
    return render_template(
        "staff/starting_soon.html", meeting=meeting, roles=roles, hours=hours, problem=problem,
        actors=soon.Actor, link_reviews=REVIEW_MEETING(current_user, meeting),
    ), (400 if problem else 200)


@bp.route("/meetings/<int:meeting_id>/dashboard.csv")
@guarded(MANAGE_MEETING, Meeting)
def dashboard_csv(meeting: Meeting):
    data = load_all(build_dashboard(meeting, clock.meeting_today(meeting)))
    text = spreadsheet.csv_text(CSV_HEADER, dashboard_csv_rows(data))
    filename = f"{meeting.slug}-not-cleared-{data.today.isoformat()}.csv"
    return Response(
        "\ufeff" + text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
