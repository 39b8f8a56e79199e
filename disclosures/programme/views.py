"""Staff pages of the programme import: upload → (choose columns) → preview → confirm.

A file whose header lacks a required column, even after synonyms and the meeting's
remembered map, gets a page to choose which of its columns holds each one
(``map_columns``); the choice is remembered for the meeting and kept with the draft import
job (its params), so the confirmation imports exactly what the preview showed."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user

from ..enums import JobKind
from ..extensions import db
from ..handlers import guarded, save
from ..jobs.programme import draft_for, keep_upload, set_draft_column_map
from ..jobs.views import launch
from ..models import Meeting
from ..permissions import MANAGE_MEETING
from ..web import allows_upload
from . import forms
from .operations import plan_import, remember_column_map
from .reading import (
    COLUMNS,
    MAX_CELL_CHARS,
    MAX_ROWS,
    MAX_TOPICS,
    REQUIRED_COLUMNS,
    SYNONYMS,
    TEXT_LIMITS,
    MissingColumns,
    import_max_bytes,
    read_header,
    read_programme,
    resolve_columns,
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
            parsed = read_programme(data, filename, meeting,
                                    column_map=meeting.import_column_map)
        except MissingColumns as exc:
            # Kept as a draft job until staff choose the columns (then previewed, confirmed).
            upload_id = keep_upload(current_user, meeting, data, filename)
            db.session.commit()
            form_class = forms.column_map_form(exc.columns)
            chosen = {forms.column_field_name(c): key for c, key in exc.found.items()}
            mapping = form_class(formdata=None, upload_id=upload_id, **chosen)
            return _mapping_page(meeting, filename, mapping, exc.missing)
        except ProgrammeFileError as exc:
            form.file.errors.append(str(exc))
        else:
            plan = plan_import(meeting, parsed)
            upload_id = None
            if plan.ok:  # kept in the database (a draft job): any app server can confirm it
                upload_id = keep_upload(current_user, meeting, data, filename, parsed.column_map)
                db.session.commit()
            return _preview(meeting, plan, filename, upload_id)
    return render_template("staff/import.html", meeting=meeting, form=form, columns=COLUMNS,
                           max_mb=import_max_bytes() // (1024 * 1024), max_rows=MAX_ROWS,
                           max_cell=MAX_CELL_CHARS, max_topics=MAX_TOPICS, limits=TEXT_LIMITS,
                           synonyms=SYNONYMS, required=REQUIRED_COLUMNS
                           ), (400 if form.errors else 200)


def _preview(meeting: Meeting, plan, filename: str, upload_id: str | None):
    confirm = forms.ImportConfirmForm(upload_id=upload_id if plan.ok else None)
    return render_template(
        "staff/import_preview.html", meeting=meeting, plan=plan, filename=filename,
        confirm_form=confirm,
    ), (200 if plan.ok else 422)


def _mapping_page(meeting: Meeting, filename: str, form, missing: list[str], status: int = 200):
    return render_template("staff/import_columns.html", meeting=meeting, filename=filename,
                           form=form, missing=missing), status


@bp.route("/meetings/<int:meeting_id>/import/columns", methods=["POST"])
@guarded(MANAGE_MEETING, Meeting)
def map_columns(meeting: Meeting):
    """Staff chose which of the file's columns holds each required column: remember it for
    the meeting (audited), keep it with the upload, and show the preview."""
    upload_id = forms.ColumnMapForm(meta={"csrf": False}).upload_id.data or ""
    draft = draft_for(upload_id, meeting, current_user)
    if draft is None:
        abort(400, description="This import has expired or belongs to someone else. Nothing "
                               "was imported: upload the file again.")
    data, filename = draft.input_data or b"", draft.input_name or "programme"
    try:
        columns = read_header(data, filename)
    except ProgrammeFileError as exc:
        abort(400, description=f"{exc} Upload the file again.")
    form = forms.column_map_form(columns)()
    if not form.validate_on_submit():
        _positions, _read_as, _ignored = resolve_columns([c.text for c in columns])
        missing = [c for c in REQUIRED_COLUMNS if c not in _positions]
        return _mapping_page(meeting, filename, form, missing, 400)
    column_map = form.column_map()
    headers = {c.key: c.text for c in columns}

    def remember():
        remember_column_map(current_user, meeting, column_map,
                            {column: headers.get(key, key) for column, key in column_map.items()},
                            filename)
        set_draft_column_map(draft, column_map)  # the confirmation reads the file the same way
        return read_programme(data, filename, meeting, column_map=column_map)

    parsed = save(remember, refused=lambda error: abort(400, description=f"{error} Nothing was "
                                                        "imported: upload the file again."))
    plan = plan_import(meeting, parsed)
    return _preview(meeting, plan, filename, upload_id if plan.ok else None)


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
