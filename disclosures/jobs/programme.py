"""The programme import job: the confirmed upload (kept in the job row, so any worker
reads it) re-read, re-planned against the data as it is now, and written with the
programme's own ``apply_import`` in batches of activities, each committed with the job's
progress: memory stays flat, the page shows rows written, and a job resumed after a
worker died re-plans and finds the batches already written unchanged."""

from __future__ import annotations

from collections import OrderedDict

from ..models import Job
from ..programme.operations import ImportPlan, apply_import, plan_import
from ..programme.reading import ParsedProgramme, read_programme
from .operations import progress

BATCH_ACTIVITIES = 2500  # about 10,000 rows at four faculty an activity


def _batches(plan: ImportPlan, size: int):
    """The plan cut into plans of ``size`` activities each, in file order: each new room in
    the first, each new person with their first assignment. Planned once for the whole
    file (re-planning each batch would read every earlier batch's rows again)."""
    parsed = plan.parsed
    codes = list(parsed.activities)
    created = {c.code: c for c in plan.created}
    updated = {c.code: c for c in plan.updated}
    unchanged = set(plan.unchanged)
    faculty: dict[str, list] = {}
    for person in parsed.faculty:
        faculty.setdefault(person.code, []).append(person)
    assignments: dict[str, list] = {}
    for person in plan.new_assignments:
        assignments.setdefault(person.code, []).append(person)
    removed: dict[str, list] = {}
    for person in plan.kept_removed:
        removed.setdefault(person.code, []).append(person)
    new_people = {email: (name, email) for name, email in plan.new_people}
    introduced: set[str] = set()
    for start in range(0, len(codes), size):
        chunk = codes[start:start + size]
        part = ParsedProgramme(
            activities=OrderedDict((code, parsed.activities[code]) for code in chunk),
            faculty=[p for code in chunk for p in faculty.get(code, [])],
        )
        part.row_count = len(part.faculty) or len(chunk)
        sub = ImportPlan(parsed=part)
        sub.created = [created[c] for c in chunk if c in created]
        sub.updated = [updated[c] for c in chunk if c in updated]
        sub.unchanged = [c for c in chunk if c in unchanged]
        sub.new_rooms = list(plan.new_rooms) if start == 0 else []
        sub.room_names = plan.room_names
        sub.new_assignments = [p for c in chunk for p in assignments.get(c, [])]
        sub.kept_removed = [p for c in chunk for p in removed.get(c, [])]
        for person in sub.new_assignments:
            if person.email in new_people and person.email not in introduced:
                introduced.add(person.email)
                sub.new_people.append(new_people[person.email])
        yield sub


def run_programme_import(job: Job) -> None:
    meeting, filename = job.meeting, job.input_name or "programme"
    progress(job, stage="Reading the file")
    # The columns as the preview read them (the map kept with the draft).
    parsed = read_programme(job.input_data or b"", filename, meeting,
                            column_map=column_map_of(job))
    progress(job, stage="Checking it against the programme as it is now")
    plan = plan_import(meeting, parsed, warn=False)  # staff saw the warnings on the preview
    if not plan.ok:
        raise ValueError("The programme changed since the preview and now has errors: nothing "
                         "more was imported. Upload the file again to see them.")
    total = max(parsed.row_count, 1)
    totals: dict[str, int] = {}
    done = 0
    progress(job, done=0, total=total, stage="Writing the programme")
    for sub in _batches(plan, BATCH_ACTIVITIES):
        counts = apply_import(job.started_by, meeting, sub, filename)
        for key, value in counts.items():
            if key != "rows":
                totals[key] = totals.get(key, 0) + value
        done = min(total, done + sub.parsed.row_count)
        job.report = {**totals, "rows": parsed.row_count, "file": filename}
        progress(job, done=done, stage=f"Writing the programme: {done} of {total} rows")
    job.report = {**totals, "rows": parsed.row_count, "file": filename}
    job.input_data = None  # the file is not kept once imported
    progress(job, done=total, stage="Finished")


# --- The upload between preview and confirmation -----------------------------------------


def keep_upload(actor, meeting, data: bytes, filename: str,
                column_map: dict | None = None) -> str:
    """Keep a previewed upload in the database (a draft job: any app server can confirm
    it), for its uploader, with the column map it was read with (column → header key, in
    the job's params); returns the id the confirm form carries. Flushes; the caller
    commits. Drafts older than a day are dropped by the worker."""
    import secrets

    from ..enums import JobKind, JobStatus
    from .operations import new_job

    token = secrets.token_urlsafe(18)
    job = new_job(actor, JobKind.PROGRAMME_IMPORT, meeting, status=JobStatus.DRAFT,
                  params={"upload": token, "column_map": dict(column_map or {})},
                  input_name=filename[:200], input_data=data)
    return f"{job.id}-{token}"


def set_draft_column_map(job: Job, column_map: dict) -> None:
    """Read this draft's file with ``column_map`` from now on (its preview and its import).
    The caller commits."""
    job.params = {**(job.params or {}), "column_map": dict(column_map)}  # a new dict: saved


def column_map_of(job: Job) -> dict:
    column_map = (job.params or {}).get("column_map")
    return column_map if isinstance(column_map, dict) else {}


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
