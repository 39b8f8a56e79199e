"""Records for the accreditor: a meeting's exports (CSV, JSON, ZIP) and the audit log.

Meeting staff and auditors read them; every download is itself audited.
"""

from __future__ import annotations

import json
from datetime import date

import sqlalchemy as sa
from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from ..audit import record
from ..enums import JobKind, JobStatus
from ..extensions import db
from ..fields import ConfirmForm
from ..handlers import guarded
from ..jobs.views import launch
from ..models import Assignment, AuditEvent, Job, Meeting, Room
from ..permissions import READ_AUDIT_LOG, READ_RECORDS
from . import forms
from .operations import (
    AUDIT_PAGE_SIZE,
    AuditFilters,
    audit_query,
    meeting_records,
    records_csv,
    records_json,
    sheet_history,
)

bp = Blueprint("records", __name__, url_prefix="/staff")


def _download(meeting: Meeting, kind: str, body, mimetype: str, extension: str) -> Response:
    record(current_user, "records.exported", meeting, {"format": kind})
    db.session.commit()
    stamp = date.today().isoformat()
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{meeting.slug}-records-{stamp}.{extension}"'
    )
    return response


@bp.route("/meetings/<int:meeting_id>/records")
@guarded(READ_RECORDS, Meeting)
def index(meeting: Meeting):
    counts = db.session.execute(
        sa.select(sa.func.count(Assignment.id), sa.func.count(sa.distinct(Assignment.user_id)))
        .where(Assignment.meeting_id == meeting.id)
    ).one()
    zips = db.session.scalars(
        sa.select(Job).where(Job.meeting_id == meeting.id, Job.kind == JobKind.RECORDS_ZIP,
                             Job.status != JobStatus.DRAFT).order_by(Job.id.desc()).limit(5)).all()
    return render_template("staff/records.html", meeting=meeting, assignment_count=counts[0],
                           people_count=counts[1], zips=zips)


@bp.route("/rooms/<int:room_id>/versions")
@guarded(READ_RECORDS, Room)
def sheet_versions(room: Room):
    """Every version of a room's public sheet: when it was public, its fingerprint, what
    changed, and each one to open or download as it was served."""
    return render_template("staff/sheet_versions.html", room=room, meeting=room.meeting,
                           history=sheet_history(room))


@bp.route("/meetings/<int:meeting_id>/records.csv")
@guarded(READ_RECORDS, Meeting)
def csv_download(meeting: Meeting):
    # A BOM so Excel opens the UTF-8 file with accents intact.
    body = "\ufeff" + records_csv(meeting_records(meeting))
    return _download(meeting, "csv", body, "text/csv; charset=utf-8", "csv")


@bp.route("/meetings/<int:meeting_id>/records.json")
@guarded(READ_RECORDS, Meeting)
def json_download(meeting: Meeting):
    return _download(meeting, "json", records_json(meeting_records(meeting)),
                     "application/json", "json")


@bp.route("/meetings/<int:meeting_id>/records.zip", methods=["POST"])
@guarded(READ_RECORDS, Meeting)
def zip_start(meeting: Meeting):
    """Start the job that builds the ZIP (``records_zip``); its page offers the download."""
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form was not accepted. Reload the page and try again.")
    return launch(JobKind.RECORDS_ZIP, meeting)


@bp.route("/audit")
@guarded(READ_AUDIT_LOG)
def audit_log():
    """The audit log, newest first: every event for site administrators and auditors; for
    meeting staff, the events of their meetings and of the people who hold roles there."""
    form = forms.AuditFilterForm(request.args)
    if request.args and not form.validate():
        events = []
        page = None
        status = 400
    else:
        filters = AuditFilters(form.person.data, form.actor.data, form.action.data,
                               form.date_from.data, form.date_to.data)
        stmt = audit_query(filters, current_user).options(
            joinedload(AuditEvent.actor), joinedload(AuditEvent.subject_user)
        )
        page = db.paginate(stmt, page=form.page.data or 1, per_page=AUDIT_PAGE_SIZE,
                           error_out=False, count=True)
        events = page.items
        status = 200
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("staff/audit_log.html", form=form, events=events, page=page,
                           args=args, page_size=AUDIT_PAGE_SIZE), status


@bp.app_template_global()
def audit_page_url(args: dict, number: int) -> str:
    return url_for("records.audit_log", **args, page=number)


@bp.app_template_global()
def audit_changes_text(changes: dict) -> str:
    """A short readable line for the ``changes`` column of one event."""
    if not changes:
        return ""
    text = json.dumps(changes, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "…"
