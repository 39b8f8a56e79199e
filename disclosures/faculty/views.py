"""Faculty: home page, the disclosure form, past versions, company suggestions."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload, selectinload

from .. import clock, permissions
from ..extensions import db
from ..handlers import save
from ..models import Activity, Assignment, Disclosure, Meeting, Relationship, utcnow
from ..registry import operations as registry
from ..state import StateView
from ..words import plural
from . import operations
from .forms import CompanyQueryForm, DisclosureForm, OffLabelForm, RelationshipForm

bp = Blueprint("faculty", __name__, url_prefix="/faculty")


def _valid_days() -> int:
    return int(current_app.config.get("DISCLOSURE_VALID_DAYS", operations.DEFAULT_VALID_DAYS))


@bp.route("/")
@login_required
def home():
    now = utcnow()
    assignments = db.session.scalars(
        sa.select(Assignment)
        .outerjoin(Assignment.activity)
        .join(Meeting, Meeting.id == Assignment.meeting_id)
        .where(
            Assignment.user_id == current_user.id,
            Assignment.removed_at.is_(None),
            # Roles for the whole meeting (committee, reviewers) until the meeting ends.
            sa.or_(Activity.ends_at >= now,
                   sa.and_(Assignment.activity_id.is_(None), Meeting.ends_on >= now.date())),
        )
        .options(joinedload(Assignment.activity).joinedload(Activity.room))
        .options(joinedload(Assignment.meeting))
        .order_by(Meeting.starts_on, Activity.starts_at.is_not(None), Activity.starts_at,
                  Assignment.id)
    ).all()
    statuses = {a.id: StateView.of(a) for a in assignments}
    versions = db.session.scalars(
        sa.select(Disclosure)
        .where(Disclosure.user_id == current_user.id)
        .order_by(Disclosure.version.desc())
        .options(selectinload(Disclosure.relationships))
    ).all()
    latest = versions[0] if versions else None
    return render_template(
        "faculty/home.html",
        assignments=assignments,
        statuses=statuses,
        latest=latest,
        is_current=bool(latest and latest.is_valid_on(clock.now().date())),
        versions=versions,
    )


@bp.route("/disclosure/new", methods=["GET", "POST"])
@login_required
def disclose():
    form = DisclosureForm()
    latest = operations.latest_disclosure(current_user)
    if not form.is_submitted() and latest is not None:
        form.fill_from(latest, clock.now().date())
    status = 200
    if form.is_submitted() and form.row_action() is None:
        if form.validate():
            try:
                result = operations.submit_disclosure(
                    current_user, form.to_entry(), valid_days=_valid_days()
                )
            except operations.DisclosureRejected as exc:
                db.session.rollback()
                form.add_problems(exc.problems)
            else:
                disclosure = result.disclosure
                db.session.commit()
                message = (
                    f"Thank you. Version {disclosure.version} of your disclosure was submitted; "
                    f"it is valid until {disclosure.valid_until:%B} {disclosure.valid_until.day}, "
                    f"{disclosure.valid_until.year}."
                )
                if result.matched:
                    message += " Matched to the company registry: " + "; ".join(
                        f"“{typed}” as {name}" for typed, name in result.matched.items()
                    ) + "."
                if result.carried:
                    message += (
                        f" {plural(result.carried, 'unchanged relationship')} "
                        f"{'keeps its' if result.carried == 1 else 'keep their'} review."
                    )
                flash(message, "success")
                for warning in form.printed_warnings():
                    flash(warning, "warning")
                return redirect(url_for("faculty.disclosure", disclosure_id=disclosure.id))
        status = 400
    return (
        render_template(
            "faculty/disclose.html",
            form=form,
            latest=latest,
            window_start=operations.window_start(clock.now().date()),
            row_template=RelationshipForm(prefix="relationships-__index__-"),
        ),
        status,
    )


@bp.route("/roles/<int:assignment_id>/off-label", methods=["GET", "POST"])
@login_required
def off_label(assignment_id: int):
    """Off-label or investigational use in one of the person's presentations (per role)."""
    assignment = db.get_or_404(Assignment, assignment_id, description="There is no such role.")
    permissions.require(assignment.user_id == current_user.id,
                        "You can only declare off-label use for your own presentations.")
    form = OffLabelForm()
    if not form.is_submitted():
        form.fill_from(assignment)

    def page(error=None):
        if error is not None:
            form.off_label_detail.errors = [*form.off_label_detail.errors, str(error)]
        return render_template("faculty/off_label.html", form=form, assignment=assignment), 400

    if form.validate_on_submit():
        discusses, detail = form.declaration()
        changed = save(lambda: operations.declare_off_label(current_user, assignment, discusses,
                                                            detail), refused=page)
        flash("Saved: printed for this presentation only." if changed else "Nothing changed.",
              "success")
        for warning in form.printed_warnings():
            flash(warning, "warning")
        return redirect(url_for("faculty.home"))
    if form.is_submitted():
        return page()
    return render_template("faculty/off_label.html", form=form, assignment=assignment)


@bp.route("/disclosure/<int:disclosure_id>")
@login_required
def disclosure(disclosure_id: int):
    shown = db.first_or_404(
        sa.select(Disclosure)
        .where(Disclosure.id == disclosure_id)
        .options(
            joinedload(Disclosure.user),
            selectinload(Disclosure.relationships).joinedload(Relationship.company),
        )
    )
    refusal = permissions.disclosure_refusal(current_user, shown.user)
    permissions.require(refusal is None, refusal)
    latest_version = db.session.scalar(
        sa.select(sa.func.max(Disclosure.version)).where(Disclosure.user_id == shown.user_id)
    )
    return render_template(
        "faculty/disclosure.html",
        disclosure=shown,
        latest_version=latest_version,
        is_own=shown.user_id == current_user.id,
    )


@bp.route("/companies/suggest")
@login_required
def company_suggestions():
    """Registry names matching what is typed (names and aliases), for the form's datalist."""
    form = CompanyQueryForm(request.args)
    if not form.validate():
        return jsonify({"error": "Type at most 200 characters."}), 400
    return jsonify(registry.suggest_companies(form.q.data or ""))
