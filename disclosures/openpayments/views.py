"""Open Payments pages: a person's NPI (theirs, or by a meeting's staff), the staff import
and manufacturer links, and the reviewer's record of what was done about the advisory
check. ``review_panel`` is what the review page adds (templates/openpayments/_review_panel.html).

Only reviewers who may review a person (and staff, admins) see that person's payments;
faculty and attendees never see any.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from ..extensions import db
from ..handlers import guarded, save, signed_in
from ..models import Manufacturer, Meeting, OpenPaymentsImport, User
from ..permissions import MANAGE_MEETING, MANAGE_REGISTRY, require, review_refusal
from . import operations as ops
from .forms import ActionForm, ImportForm, LinkManufacturerForm, NpiForm

bp = Blueprint("openpayments", __name__)

DEFAULT_UPLOAD_MAX_BYTES = 8 * 1024**3  # CMS's General file of one year is several GB


def raise_upload_limit() -> None:
    """Before every other request hook (CSRF parses the form first): the import page
    accepts files up to ``OPEN_PAYMENTS_UPLOAD_MAX_BYTES`` instead of ``MAX_CONTENT_LENGTH``."""
    if request.endpoint == "openpayments.import_files" and request.method == "POST":
        request.max_content_length = int(
            current_app.config.get("OPEN_PAYMENTS_UPLOAD_MAX_BYTES") or DEFAULT_UPLOAD_MAX_BYTES)


# --------------------------------------------------------------------------- NPI


def _npi_page(form: NpiForm, person: User, action: str, back: str, status: int = 200):
    return render_template("openpayments/npi.html", form=form, person=person, action=action,
                           back=back, own=person.id == current_user.id), status


def _save_npi(form: NpiForm, person: User, action: str, back: str):
    if not form.validate_on_submit():
        return _npi_page(form, person, action, back, 400)

    def refused(error):
        form.npi.errors = [str(error)]
        return _npi_page(form, person, action, back, error.status)

    changed = save(lambda: ops.set_npi(current_user, person, form.npi.data), refused=refused)
    if not changed:
        flash("Nothing changed: the NPI is as it was.", "info")
    elif person.npi:
        flash(f"NPI {person.npi} saved for {person.full_name}.", "success")
    else:
        flash(f"NPI removed from {person.full_name}'s profile.", "success")
    return redirect(back)


@bp.route("/account/npi", methods=["GET", "POST"])
@signed_in
def my_npi():
    form = NpiForm(npi=current_user.npi)
    return _save_npi(form, current_user, url_for(".my_npi"), url_for("auth.account")) \
        if request.method == "POST" else _npi_page(form, current_user, url_for(".my_npi"),
                                                   url_for("auth.account"))


@bp.route("/staff/meetings/<int:meeting_id>/people/<int:user_id>/npi", methods=["GET", "POST"])
@guarded(MANAGE_MEETING, Meeting)
def person_npi(meeting: Meeting, user_id: int):
    person = db.get_or_404(User, user_id, description="There is no such person.")
    if not ops.holds_role_in(person, meeting):
        abort(404, description=f"{person.full_name} has no current role in {meeting.name}.")
    form = NpiForm(npi=person.npi)
    action = url_for(".person_npi", meeting_id=meeting.id, user_id=person.id)
    back = url_for("staff.meeting", meeting_id=meeting.id)
    if request.method == "POST":
        return _save_npi(form, person, action, back)
    return _npi_page(form, person, action, back)


# --------------------------------------------------------------------------- import


def _upload_dir() -> Path:
    path = Path(current_app.instance_path) / "open-payments"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _import_page(form: ImportForm, status: int = 200, problem: str | None = None):
    recent = db.session.scalars(
        sa.select(OpenPaymentsImport).order_by(OpenPaymentsImport.id.desc()).limit(20)).all()
    unlinked = len(ops.unlinked_manufacturers())
    return render_template("openpayments/import.html", form=form, recent=recent,
                           unlinked=unlinked, problem=problem), status


@bp.route("/staff/open-payments", methods=["GET", "POST"])
@guarded(MANAGE_REGISTRY)
def import_files():
    form = ImportForm()
    if request.method == "GET":
        return _import_page(form)
    if not form.validate_on_submit():
        return _import_page(form, 400)
    stored: list[tuple[Path, str]] = []
    try:
        for upload in form.files.data:
            if not upload.filename:
                continue
            path = _upload_dir() / f"{secrets.token_hex(12)}.csv"
            upload.save(path)
            stored.append((path, Path(upload.filename).name))
        reports = save(
            lambda: [ops.import_file(path, actor=current_user, file_name=name)
                     for path, name in stored],
            refused=lambda error: _import_page(form, error.status, problem=str(error)),
        )
    finally:
        for path, _name in stored:
            path.unlink(missing_ok=True)
    for report in reports:
        flash(f"{report.file} ({report.kind.label.lower()}): {report.rows_read:,} rows read, "
              f"{report.rows_kept:,} kept for people with a role"
              + (f", {report.rows_refused:,} left out (unreadable values)" if report.rows_refused else "")
              + ".", "success")
    return redirect(url_for(".import_files"))


# --------------------------------------------------------------------------- manufacturers


@bp.route("/staff/open-payments/manufacturers")
@guarded(MANAGE_REGISTRY)
def manufacturers():
    rows = ops.unlinked_manufacturers()
    forms = {m.id: LinkManufacturerForm(formdata=None, prefix=f"m{m.id}") for m, _n in rows}
    return render_template("openpayments/manufacturers.html", rows=rows, forms=forms)


@bp.route("/staff/open-payments/manufacturers/<int:manufacturer_id>/link", methods=["POST"])
@guarded(MANAGE_REGISTRY)
def manufacturer_link(manufacturer_id: int):
    manufacturer = db.get_or_404(Manufacturer, manufacturer_id,
                                 description="There is no such manufacturer.")
    form = LinkManufacturerForm(prefix=f"m{manufacturer.id}")

    def page(status: int):
        rows = ops.unlinked_manufacturers()
        forms = {m.id: LinkManufacturerForm(formdata=None, prefix=f"m{m.id}") for m, _n in rows}
        forms[manufacturer.id] = form
        return render_template("openpayments/manufacturers.html", rows=rows, forms=forms), status

    if not form.validate_on_submit():
        return page(400)

    def refused(error):
        form.company.errors = [str(error)]
        return page(error.status)

    company = save(lambda: ops.link_manufacturer(current_user, manufacturer, form.company.data),
                   refused=refused)
    flash(f"{manufacturer.name} (CMS ID {manufacturer.cms_id}) is now linked to {company.name}.",
          "success")
    return redirect(url_for(".manufacturers"))


# --------------------------------------------------------------------------- review page


def review_panel(person: User, meeting: Meeting, disclosure, form: ActionForm | None = None) -> dict:
    """What the review page's Open Payments panel shows (the caller has checked that the
    current user may review ``person`` in ``meeting``)."""
    months = int(current_app.config.get("DISCLOSURE_LOOKBACK_MONTHS") or 24)
    return {
        "advisory": ops.advisory_for(person, meeting, disclosure, months),
        "form": form or ActionForm(formdata=None, prefix="op"),
        "may_edit_npi": MANAGE_MEETING(current_user, meeting),
    }


@bp.route("/review/meetings/<int:meeting_id>/people/<int:user_id>/open-payments",
          methods=["POST"])
@signed_in
def record_action(meeting_id: int, user_id: int):
    meeting = db.get_or_404(Meeting, meeting_id, description="There is no such meeting.")
    person = db.get_or_404(User, user_id, description="There is no such person.")
    refusal = review_refusal(current_user, person, meeting)
    require(refusal is None, refusal)
    if not ops.holds_role_in(person, meeting):
        abort(404, description=f"{person.full_name} has no current role in {meeting.name}.")
    form = ActionForm(prefix="op")
    if not form.validate_on_submit():
        from ..faculty.operations import latest_disclosure

        panel = review_panel(person, meeting, latest_disclosure(person), form)
        return render_template("openpayments/review_action.html", person=person,
                               meeting=meeting, open_payments=panel), 400
    save(lambda: ops.record_action(current_user, person, meeting, form.action_enum, form.note.data),
         refused=lambda error: (str(error), error.status))
    flash(f"Recorded for {person.full_name}: {form.action_enum.label}.", "success")
    return redirect(url_for("review.person", meeting_id=meeting.id, user_id=person.id,
                            _anchor="open-payments"))
