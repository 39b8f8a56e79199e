"""The records ZIP job: the records' own ``records_zip`` of the meeting, kept in the job
row (any app server hands it out) until JOB_RESULT_HOURS have passed."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from ..models import Job, utcnow
from ..records.operations import meeting_records, records_zip
from .operations import progress


def run_records_zip(job: Job) -> None:
    meeting = job.meeting
    progress(job, done=0, total=1, stage="Building the room sheets, the booklet and the data")
    body = records_zip(meeting, meeting_records(meeting))
    now = utcnow()
    job.result_data = body
    job.result_size = len(body)
    job.result_name = f"{meeting.slug}-records-{now.date().isoformat()}.zip"
    job.result_expires_at = now + timedelta(hours=int(current_app.config["JOB_RESULT_HOURS"]))
    job.report = {"bytes": len(body)}
    progress(job, done=1, stage="Ready to download")
