"""What the worker does on its own schedule (``queue``'s periodic tasks), so no cron lines
are needed: publish the static pages, send the daily reminders, remind the faculty of
meetings starting soon, and drop expired result files and unconfirmed uploads."""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..enums import JobKind, JobStatus
from ..extensions import db
from ..models import Job, Meeting, utcnow
from .operations import JobRunning, start_job

log = logging.getLogger(__name__)
DRAFT_MAX_AGE = timedelta(hours=24)


def publish_static_if_configured() -> None:
    directory = current_app.config.get("PUBLISH_STATIC_DIR")
    if not directory:
        return
    from ..public.publish import publish_static

    result = publish_static(directory)
    if result.changed:
        log.info("Published static pages to %s", directory)


def _start(kind: JobKind, meeting: Meeting | None) -> Job | None:
    from .queue import enqueue

    try:
        job = start_job(None, kind, meeting)
    except JobRunning:
        db.session.rollback()
        return None
    db.session.commit()
    enqueue(job.id)
    return job


def daily_reminders(now=None) -> list[Job]:
    """Once a day (at DAILY_REMINDERS_HOUR UTC): disclosure reminders and reviewer
    summaries for every meeting not yet over. Nobody hears twice within the interval."""
    now = now or utcnow()
    if now.hour != int(current_app.config["DAILY_REMINDERS_HOUR"]):
        return []
    jobs = [_start(JobKind.DISCLOSURE_REMINDERS, None), _start(JobKind.REVIEW_SUMMARIES, None)]
    return [j for j in jobs if j is not None]


def starting_soon(now=None) -> list[Job]:
    """Each hour: disclosure reminders for each meeting starting within STARTING_SOON_DAYS
    (the reminder interval still applies: this only makes sure they go out on time)."""
    now = now or utcnow()
    today = now.date()
    soon = today + timedelta(days=int(current_app.config["STARTING_SOON_DAYS"]))
    meetings = db.session.scalars(sa.select(Meeting).where(
        Meeting.starts_on >= today, Meeting.starts_on <= soon)).all()
    jobs = [_start(JobKind.DISCLOSURE_REMINDERS, m) for m in meetings]
    return [j for j in jobs if j is not None]


def expire_results(now=None) -> int:
    """Drop result files past their expiry and programme uploads never confirmed."""
    now = now or utcnow()
    expired = db.session.execute(
        sa.update(Job).where(Job.result_expires_at < now, Job.result_data.is_not(None))
        .values(result_data=None).execution_options(synchronize_session=False)).rowcount
    drafts = db.session.execute(
        sa.delete(Job).where(Job.status == JobStatus.DRAFT, Job.created_at < now - DRAFT_MAX_AGE)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return expired + drafts
