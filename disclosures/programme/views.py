"""Staff pages of the programme import: upload → preview (nothing written) → confirm."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ..extensions import db
from ..handlers import guarded, save
from ..models import Meeting
from ..permissions import MANAGE_MEETING
from ..web import allows_upload
from . import forms
from .operations import confirm_import, plan_import, store_upload
from .reading import (
    COLUMNS,
    MAX_CELL_CHARS,
    MAX_ROWS,
    MAX_TOPICS,
    TEXT_LIMITS,
    import_max_bytes,
    read_programme,
)
from .spreadsheet import ProgrammeFileError

bp = Blueprint("programme", __name__, url_prefix="/staff")


def may_import_programme(user, meeting_id: int) -> bool:
    """Who may send a programme file to a meeting, and so gets the larger upload limit
    (asked before the body is read): the meeting's staff."""
    return MANAGE_MEETING(user, db.session.get(Meeting, meeting_id))


@bp.route("/meetings/<int:meeting_id>/import", methods=["GET", "POST"])
@allows_upload("IMPORT_MAX_BYTES", may_import_programme)  # larger than ordinary forms
@guarded(MANAGE_MEETING, Meeting)
def upload(meeting: Meeting):
    """Upload → preview (nothing written)."""
    form = forms.ImportUploadForm()
    if form.validate_on_submit():
        file = form.file.data
        filename = file.filename or "programme"
        data = file.read(import_max_bytes() + 1)
        try:
            parsed = read_programme(data, filename, meeting)
        except ProgrammeFileError as exc:
            form.file.errors.append(str(exc))
        else:
            plan = plan_import(meeting, parsed)
            upload_id = store_upload(data, filename, meeting, current_user) if plan.ok else None
            confirm = forms.ImportConfirmForm(upload_id=upload_id)
            return render_template(
                "staff/import_preview.html", meeting=meeting, plan=plan, filename=filename,
                confirm_form=confirm,
            ), (200 if plan.ok else 422)
    return render_template("staff/import.html", meeting=meeting, form=form, columns=COLUMNS,
                           max_mb=import_max_bytes() // (1024 * 1024), max_rows=MAX_ROWS,
                           max_cell=MAX_CELL_CHARS, max_topics=MAX_TOPICS, limits=TEXT_LIMITS
                           ), (400 if form.errors else 200)


@bp.route("/meetings/<int:meeting_id>/import/confirm", methods=["POST"])
@guarded(MANAGE_MEETING, Meeting)
def confirm(meeting: Meeting):
    """Re-read the stored upload, re-plan against today's data and write it in one go."""
    form = forms.ImportConfirmForm()
    if not form.validate_on_submit():
        abort(400, description="The confirmation was not accepted. Upload the file again.")

    def refused(error):
        if error.status == 409:
            abort(409, description="Someone changed the programme at the same moment. Nothing "
                                   "was imported: upload the file again to see a fresh preview.")
        abort(400, description=f"{error} Nothing was imported. Upload the file again.")

    counts = save(lambda: confirm_import(current_user, meeting, form.upload_id.data),
                  refused=refused)
    flash(
        "Programme imported. Activities: {activities_created} created, {activities_updated} "
        "updated, {activities_unchanged} unchanged. Added: {rooms_created} room(s), "
        "{people_created} new person(s), {assignments_created} assignment(s).".format(**counts),
        "success",
    )
    return redirect(url_for("staff.meeting", meeting_id=meeting.id))
