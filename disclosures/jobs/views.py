"""Job pages: progress (refreshes itself every 2 s while the job runs, no JavaScript
needed), a meeting's jobs, and the result download. ``launch`` is how a feature's POST
route starts a job and answers."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, abort, make_response, redirect, render_template, url_for
from flask_login import current_user

from ..audit import record
from ..enums import JobKind, JobStatus
from ..extensions import db
from ..handlers import guarded
from ..models import Job, Meeting, utcnow
from ..permissions import MANAGE_MEETING, READ_RECORDS
from .operations import JobRunning, start_job, take_running_key
from .queue import enqueue

bp = Blueprint("jobs", __name__, url_prefix="/staff")

REFRESH_SECONDS = 2


def _already_running(error: JobRunning):
    job = error.job
    return make_response(render_template("jobs/already_running.html", job=job,
                                         meeting=job.meeting), 409)


def launch(kind: JobKind, meeting: Meeting | None, job: Job | None = None, **kwargs):
    """Start a job of ``kind`` (or queue the draft ``job``), commit, hand it to the worker
    and redirect to its page; 409 naming the running one if one is already running."""
    try:
        if job is None:
            job = start_job(current_user, kind, meeting, **kwargs)
        else:
            take_running_key(job)
    except JobRunning as error:
        db.session.rollback()
        abort(_already_running(error))
    db.session.commit()
    job_id = job.id
    enqueue(job_id)
    return redirect(url_for("jobs.show", job_id=job_id))


def _require_for(job: Job) -> None:
    """Records ZIPs are for whoever reads the records; other jobs for the meeting's staff."""
    if job.kind is not JobKind.RECORDS_ZIP:
        MANAGE_MEETING.require(current_user, job.meeting)
    if job.status is JobStatus.DRAFT:
        abort(404, description="There is no such job.")


@bp.route("/jobs/<int:job_id>")
@guarded(READ_RECORDS, Job)
def show(job: Job):
    _require_for(job)
    from .reminders import report_rows

    messages = report_rows(job) if job.kind in (JobKind.DISCLOSURE_REMINDERS,
                                                JobKind.REVIEW_SUMMARIES) else []
    response = make_response(render_template(
        "jobs/job.html", job=job, meeting=job.meeting, messages=messages,
        refresh=REFRESH_SECONDS if job.is_active else None,
        downloadable=job.result_name is not None and job.result_expires_at is not None
        and job.result_expires_at > utcnow() and job.status is JobStatus.DONE,
    ))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/meetings/<int:meeting_id>/jobs")
@guarded(MANAGE_MEETING, Meeting)
def meeting_jobs(meeting: Meeting):
    jobs = db.session.scalars(
        sa.select(Job).where(Job.meeting_id == meeting.id, Job.status != JobStatus.DRAFT)
        .order_by(Job.id.desc()).limit(100)).all()
    return render_template("jobs/jobs.html", meeting=meeting, jobs=jobs)


@bp.route("/jobs/<int:job_id>/download")
@guarded(READ_RECORDS, Job)
def download(job: Job):
    """The job's result file (the records ZIP); each download audited as an export."""
    _require_for(job)
    if job.status is not JobStatus.DONE or job.result_name is None:
        abort(404, description="This job has no file to download.")
    if job.result_data is None or (job.result_expires_at and job.result_expires_at <= utcnow()):
        abort(410, description="This file has expired: start the job again to make a new one.")
    record(current_user, "records.exported", job.meeting, {"format": "zip", "job": job.id})
    db.session.commit()
    response = Response(job.result_data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{job.result_name}"'
    return response
