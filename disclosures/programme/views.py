"""Staff pages of the programme import: upload → preview (nothing written) → confirm."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user

from ..enums import JobKind
from ..extensions import db
from ..handlers import guarded
from ..jobs.programme import draft_for, keep_upload
from ..jobs.views import launch
from ..models import Meeting
from ..permissions import MANAGE_MEETING
from ..web import allows_upload
from . import forms
from .operations import plan_import
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
            upload_id = None
            if plan.ok:  # kept in the database: any app server can confirm it
                upload_id = keep_upload(current_user, meeting, data, filename)
                db.session.commit()
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
    """Start the import job of the upload previewed: it re-reads the file, re-plans against
    the data as it is then and writes it (``apply_import``), with a progress page."""
    form = forms.ImportConfirmForm()
    if not form.validate_on_submit():
        abort(400, description="The confirmation was not accepted. Upload the file again.")
    draft = draft_for(form.upload_id.data, meeting, current_user)
    if draft is None:
        abort(400, description="This import preview has expired or belongs to someone else. "
                               "Nothing was imported. Upload the file again.")
    return launch(JobKind.PROGRAMME_IMPORT, meeting, job=draft)
