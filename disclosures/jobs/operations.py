"""Starting, claiming, running and finishing jobs.

A job is one ``Job`` row. ``start_job`` adds it (queued) with a ``running_key`` unique per
kind and meeting, so a second start while one runs is refused (``JobRunning``, naming the
running job). A worker ``claim``s it with one conditional UPDATE (queued, or running but
silent for ``JOB_STALE_SECONDS``): only one worker can win. While it runs, a ``Heartbeat``
thread stamps ``heartbeat_at``; the work checks ``still_ours`` between steps and stops if
another worker took over. ``finish``/``fail`` clear the running key.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from ..enums import JobKind, JobStatus
from ..extensions import db
from ..models import Job, Meeting, User, utcnow

log = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
MAX_ERRORS_KEPT = 200
MAX_ATTEMPTS = 20  # times a job may be taken up again (worker deaths, mail server outages)


class JobRunning(Exception):  # noqa: N818 -- a refusal, answered 409 by the views
    """A job of this kind is already queued or running for this meeting."""

    def __init__(self, job: Job):
        super().__init__(f"{job.kind.label} is already running for this meeting.")
        self.job = job


class LostClaim(Exception):  # noqa: N818
    """Another worker took this job over (ours was thought dead): stop without writing."""


class TryLater(Exception):  # noqa: N818
    """A service the job needs is down (the mail server): queue the job again later."""


def running_key(kind: JobKind, meeting: Meeting | None) -> str:
    return f"{kind.value}:{meeting.id if meeting is not None else 'all'}"


def running_job(kind: JobKind, meeting: Meeting | None) -> Job | None:
    return db.session.scalar(sa.select(Job).where(Job.running_key == running_key(kind, meeting)))


def new_job(actor: User | None, kind: JobKind, meeting: Meeting | None, *,
            status: JobStatus = JobStatus.QUEUED, params: dict | None = None,
            input_name: str | None = None, input_data: bytes | None = None) -> Job:
    """Add a job row (flushed). Queued: the running key is taken, or ``JobRunning``."""
    job = Job(kind=kind, meeting=meeting, started_by=actor, status=status, params=params or {},
              input_name=input_name, input_data=input_data, errors=[], report={},
              created_at=utcnow())
    db.session.add(job)
    if status is JobStatus.QUEUED:
        take_running_key(job)
    else:
        db.session.flush()
    return job


def take_running_key(job: Job) -> None:
    """Mark ``job`` queued with its kind's running key; ``JobRunning`` if another holds it.
    (Not audited itself: the work it does is, message by message, import and export.)"""
    existing = running_job(job.kind, job.meeting)
    if existing is not None and existing.id != job.id:
        raise JobRunning(existing)
    job.status = JobStatus.QUEUED
    job.running_key = running_key(job.kind, job.meeting)
    job.heartbeat_at = utcnow()
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:  # started at the same moment elsewhere
        existing = running_job(job.kind, job.meeting)
        if existing is None:
            raise
        raise JobRunning(existing) from None


def start_job(actor: User | None, kind: JobKind, meeting: Meeting | None, **kwargs) -> Job:
    """Add a queued job; the caller commits, then ``queue.enqueue(job.id)``."""
    return new_job(actor, kind, meeting, **kwargs)


# --- Running --------------------------------------------------------------------------


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=float(current_app.config["JOB_STALE_SECONDS"]))


def claim(job_id: int, worker: str = WORKER_ID) -> bool:
    """Take the job if it is queued, or running but silent for JOB_STALE_SECONDS. One
    conditional UPDATE: of two workers trying at once, one wins. Commits."""
    now = utcnow()
    result = db.session.execute(
        sa.update(Job)
        .where(Job.id == job_id, sa.or_(
            Job.status == JobStatus.QUEUED,
            sa.and_(Job.status == JobStatus.RUNNING,
                    sa.or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < _stale_before(now))),
        ))
        .values(status=JobStatus.RUNNING, worker=worker, heartbeat_at=now,
                started_at=sa.func.coalesce(Job.started_at, now), attempts=Job.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


class Heartbeat(threading.Thread):
    """Stamps the job every JOB_HEARTBEAT_SECONDS on its own connection while it runs;
    notices when another worker has taken the job (``lost``)."""

    def __init__(self, app, job_id: int, worker: str):
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.app, self.job_id, self.worker = app, job_id, worker
        self.interval = float(app.config["JOB_HEARTBEAT_SECONDS"])
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                with self.app.app_context(), db.engine.begin() as connection:
                    rows = connection.execute(
                        sa.update(Job)
                        .where(Job.id == self.job_id, Job.worker == self.worker,
                               Job.status == JobStatus.RUNNING)
                        .values(heartbeat_at=utcnow())
                    ).rowcount
            except Exception:  # noqa: BLE001 -- the database is busy or away: try next beat
                log.warning("Heartbeat of job %s failed", self.job_id, exc_info=True)
                continue
            if rows == 0:
                self.lost = True
                return

    def stop(self) -> None:
        self.stopped.set()


_current: threading.local = threading.local()


def still_ours(job: Job) -> None:
    """Between steps: stop (``LostClaim``) if another worker took the job over."""
    beat = getattr(_current, "heartbeat", None)
    if beat is not None and beat.lost:
        raise LostClaim()


def progress(job: Job, *, done: int | None = None, total: int | None = None,
             stage: str | None = None, error: str | None = None) -> None:
    """Record how far the job got (and an error as it happens); commits with whatever
    the step wrote, so what the page shows is what was done."""
    still_ours(job)
    if done is not None:
        job.done = done
    if total is not None:
        job.total = total
    if stage is not None:
        job.stage = stage[:200]
    if error is not None:
        add_error(job, error)
    job.heartbeat_at = utcnow()
    db.session.commit()


def add_error(job: Job, error: str) -> None:
    errors = list(job.errors or [])
    if len(errors) < MAX_ERRORS_KEPT:
        errors.append(error[:500])
    job.errors = errors


def _bodies() -> dict[JobKind, Callable[[Job], None]]:
    from .programme import run_programme_import
    from .records import run_records_zip
    from .reminders import run_reminders

    return {
        JobKind.DISCLOSURE_REMINDERS: run_reminders,
        JobKind.REVIEW_SUMMARIES: run_reminders,
        JobKind.PROGRAMME_IMPORT: run_programme_import,
        JobKind.RECORDS_ZIP: run_records_zip,
    }


def run_job(job_id: int, worker: str = WORKER_ID) -> bool:
    """Claim the job and do its work; False when it was not ours to run (done, or held
    by a live worker). Never raises for the work's own failures: they end the job
    ``failed`` with the reason on its page."""
    if not claim(job_id, worker):
        return False
    app = current_app._get_current_object()
    beat = Heartbeat(app, job_id, worker)
    beat.start()
    _current.heartbeat = beat
    # The job commits step by step (each message, each batch): expiring every loaded object
    # at each commit would reload the whole plan again and again. What it reads is a
    # snapshot taken when the step began anyway.
    session = db.session()
    expiring, session.expire_on_commit = session.expire_on_commit, False
    try:
        job = db.session.get(Job, job_id)
        _bodies()[job.kind](job)
        still_ours(job)
        finish(job)
    except LostClaim:
        db.session.rollback()
        log.warning("Job %s was taken over by another worker; stopped here", job_id)
    except TryLater as exc:
        db.session.rollback()
        _retry_later(job_id, str(exc))
    except Exception as exc:  # noqa: BLE001 -- any failure ends the job with its reason
        db.session.rollback()
        log.exception("Job %s failed", job_id)
        job = db.session.get(Job, job_id)
        fail(job, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    finally:
        session.expire_on_commit = expiring
        beat.stop()
        _current.heartbeat = None
    return True


def finish(job: Job) -> None:
    job.status = JobStatus.DONE
    job.running_key = None
    job.finished_at = utcnow()
    job.stage = "Finished"
    db.session.commit()


def fail(job: Job, reason: str) -> None:
    add_error(job, reason)
    job.status = JobStatus.FAILED
    job.running_key = None
    job.finished_at = utcnow()
    job.stage = "Stopped"
    db.session.commit()


def _retry_later(job_id: int, reason: str) -> None:
    """Queue the job again (kept running-keyed: nobody starts a second one meanwhile);
    the sweep takes it up after JOB_STALE_SECONDS. After MAX_ATTEMPTS it fails."""
    job = db.session.get(Job, job_id)
    if job.attempts >= MAX_ATTEMPTS:
        fail(job, f"Gave up after {job.attempts} attempts: {reason}")
        return
    add_error(job, f"{reason} Will try again in {int(current_app.config['JOB_STALE_SECONDS'])} s.")
    job.status = JobStatus.QUEUED
    job.stage = "Waiting to try again"
    job.worker = None
    job.heartbeat_at = utcnow()
    db.session.commit()


def resume_stalled(now: datetime | None = None) -> list[int]:
    """Queue again each job silent for JOB_STALE_SECONDS: running ones whose worker died,
    queued ones whose task was lost or that wait to try again. Returns their ids."""
    from .queue import enqueue

    now = now or utcnow()
    ids = list(db.session.scalars(
        sa.select(Job.id).where(
            Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
            sa.or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < _stale_before(now)),
        ).order_by(Job.id)
    ))
    db.session.rollback()
    for job_id in ids:
        log.info("Resuming job %s (no heartbeat for %s s)", job_id,
                 current_app.config["JOB_STALE_SECONDS"])
        enqueue(job_id)
    return ids
