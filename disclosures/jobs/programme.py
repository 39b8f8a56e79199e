"""The programme import job: the confirmed upload (kept in the job row, so any worker
reads it) re-read, re-planned against the data as it is now, and written with the
programme's own ``apply_import`` in batches of activities, each committed with the job's
progress: memory stays flat, the page shows rows written, and a job resumed after a
worker died re-plans and finds the batches already written unchanged."""

from __future__ import annotations

from collections import OrderedDict

from ..models import Job
from ..programme.operations import apply_import, plan_import
from ..programme.reading import ParsedProgramme, read_programme
from .operations import progress

BATCH_ACTIVITIES = 1000


def _batches(parsed: ParsedProgramme, size: int):
    codes = list(parsed.activities)
    faculty: dict[str, list] = {}
    for person in parsed.faculty:
        faculty.setdefault(person.code, []).append(person)
    for start in range(0, len(codes), size):
        chunk = codes[start:start + size]
        part = ParsedProgramme(
            activities=OrderedDict((code, parsed.activities[code]) for code in chunk),
            faculty=[p for code in chunk for p in faculty.get(code, [])],
        )
        part.row_count = len(part.faculty) or len(chunk)
        yield part


def run_programme_import(job: Job) -> None:
    meeting, filename = job.meeting, job.input_name or "programme"
    progress(job, stage="Reading the file")
    parsed = read_programme(job.input_data or b"", filename, meeting)
    plan = plan_import(meeting, parsed)
    if not plan.ok:
        raise ValueError("The programme changed since the preview and now has errors: nothing "
                         "more was imported. Upload the file again to see them.")
    total = max(parsed.row_count, 1)
    totals: dict[str, int] = {}
    done = 0
    progress(job, done=0, total=total, stage="Writing the programme")
    for part in _batches(parsed, BATCH_ACTIVITIES):
        counts = apply_import(job.started_by, meeting, plan_import(meeting, part), filename)
        for key, value in counts.items():
            if key != "rows":
                totals[key] = totals.get(key, 0) + value
        done = min(total, done + part.row_count)
        job.report = {**totals, "rows": parsed.row_count, "file": filename}
        progress(job, done=done, stage=f"Writing the programme: {done} of {total} rows")
    job.report = {**totals, "rows": parsed.row_count, "file": filename}
    job.input_data = None  # the file is not kept once imported
    progress(job, done=total, stage="Finished")


# --- The upload between preview and confirmation -----------------------------------------


def keep_upload(actor, meeting, data: bytes, filename: str) -> str:
    """Keep a previewed upload in the database (a draft job: any app server can confirm
    it), for its uploader; returns the id the confirm form carries. Flushes; the caller
    commits. Drafts older than a day are dropped by the worker."""
    import secrets

    from ..enums import JobKind, JobStatus
    from .operations import new_job

    token = secrets.token_urlsafe(18)
    job = new_job(actor, JobKind.PROGRAMME_IMPORT, meeting, status=JobStatus.DRAFT,
                  params={"upload": token}, input_name=filename[:200], input_data=data)
    return f"{job.id}-{token}"


def draft_for(upload_id: str, meeting, user) -> Job | None:
    """The draft ``user`` previewed for ``meeting`` under this id, or None."""
    import hmac

    from ..enums import JobStatus
    from ..extensions import db

    number, _, token = (upload_id or "").partition("-")
    if not number.isdigit() or not token:
        return None
    job = db.session.get(Job, int(number))
    if (job is None or job.status is not JobStatus.DRAFT or job.meeting_id != meeting.id
            or job.started_by_id != user.id
            or not hmac.compare_digest(str(job.params.get("upload", "")), token)):
        return None
    return job
