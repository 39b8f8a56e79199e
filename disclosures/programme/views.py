"""Staff pages of the programme import: upload → (choose columns) → preview → confirm.

A file whose header lacks a required column, even after synonyms and the meeting's
remembered map, gets a page to choose which of its columns holds each one
(``map_columns``); the choice is remembered for the meeting and stored with the upload,
so the confirmation imports exactly what the preview showed."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ..extensions import db
from ..handlers import guarded, save
from ..models import Meeting
from ..permissions import MANAGE_MEETING
from ..web import allows_upload
from ..words import plural
from . import forms
from .operations import (
    confirm_import,
    load_stored_upload,
    plan_import,
    remember_column_map,
    set_upload_column_map,
    store_upload,
)
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
            upload_id = store_upload(data, filename, meeting, current_user)
            form_class = forms.column_map_form(exc.columns)
            chosen = {forms.column_field_name(c): key for c, key in exc.found.items()}
            mapping = form_class(formdata=None, upload_id=upload_id, **chosen)
            return _mapping_page(meeting, filename, mapping, exc.missing)
        except ProgrammeFileError as exc:
            form.file.errors.append(str(exc))
        else:
            upload_id = (store_upload(data, filename, meeting, current_user, parsed.column_map)
                         if not parsed.errors else None)
            return _preview(meeting, parsed, filename, upload_id)
    return render_template("staff/import.html", meeting=meeting, form=form, columns=COLUMNS,
                           max_mb=import_max_bytes() // (1024 * 1024), max_rows=MAX_ROWS,
                           max_cell=MAX_CELL_CHARS, max_topics=MAX_TOPICS, limits=TEXT_LIMITS,
                           synonyms=SYNONYMS, required=REQUIRED_COLUMNS
                           ), (400 if form.errors else 200)


def _preview(meeting: Meeting, parsed, filename: str, upload_id: str | None):
    plan = plan_import(meeting, parsed)
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
    stored = load_stored_upload(upload_id, meeting, current_user)
    if stored is None:
        abort(400, description="This import has expired or belongs to someone else. Nothing "
                               "was imported: upload the file again.")
    try:
        columns = read_header(stored.data, stored.filename)
    except ProgrammeFileError as exc:
        abort(400, description=f"{exc} Upload the file again.")
    form = forms.column_map_form(columns)()
    if not form.validate_on_submit():
        _positions, _read_as, _ignored = resolve_columns([c.text for c in columns])
        missing = [c for c in REQUIRED_COLUMNS if c not in _positions]
        return _mapping_page(meeting, stored.filename, form, missing, 400)
    column_map = form.column_map()
    headers = {c.key: c.text for c in columns}

    def remember():
        remember_column_map(current_user, meeting, column_map,
                            {column: headers.get(key, key) for column, key in column_map.items()},
                            stored.filename)
        set_upload_column_map(stored, column_map)
        return read_programme(stored.data, stored.filename, meeting, column_map=column_map)

    parsed = save(remember, refused=lambda error: abort(400, description=f"{error} Nothing was "
                                                        "imported: upload the file again."))
    return _preview(meeting, parsed, stored.filename, None if parsed.errors else stored.upload_id)


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
        "updated, {activities_unchanged} unchanged. Added: ".format(**counts)
        + ", ".join((plural(counts["rooms_created"], "room"),
                     plural(counts["people_created"], "new person"),
                     plural(counts["assignments_created"], "assignment"))) + ".",
        "success",
    )
    return redirect(url_for("staff.meeting", meeting_id=meeting.id))
