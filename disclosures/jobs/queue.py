"""The task queue: one Huey instance, configured by the app.

Without ``REDIS_URL`` the queue is SQLite in the instance folder (``instance/huey.db``,
Huey's ``SqliteHuey`` storage: no extra service for ``make run``); with it, Redis
(``RedisHuey``'s storage), which every app server and worker of a production layout share.
``HUEY_IMMEDIATE`` (the test configuration) runs each task at once inside the caller.

A task is only a job id: the job's state lives in its ``Job`` row, so a task that is lost
(a worker killed while running it) is found again by ``resume_stalled``.
"""

from __future__ import annotations

import logging
from functools import wraps
from pathlib import Path

from flask import Flask, current_app, has_app_context
from huey import Huey, crontab
from huey.storage import RedisStorage, SqliteStorage

log = logging.getLogger(__name__)

huey = Huey("disclosures", immediate=True, results=False)
_state: dict[str, Flask] = {}


def init_queue(app: Flask) -> None:
    """Point the queue at this app's storage (SQLite file or Redis) or immediate mode."""
    _state["app"] = app
    if app.config.get("HUEY_IMMEDIATE"):
        huey.immediate = True
        return
    url = app.config.get("REDIS_URL")
    if url:
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {"url": url}
    else:
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": str(Path(app.instance_path) / "huey.db")}
    if huey.immediate:
        huey.immediate = False  # builds the storage
    else:
        huey.storage = huey.create_storage()


def _app() -> Flask:
    return current_app._get_current_object() if has_app_context() else _state["app"]


def in_app_context(function):
    """Run a task in its own app context (its own database session), also when immediate
    mode runs it inside a request."""

    @wraps(function)
    def wrapped(*args, **kwargs):
        with _app().app_context():
            return function(*args, **kwargs)

    return wrapped


@huey.task()
@in_app_context
def run_job_task(job_id: int) -> None:
    from .operations import run_job

    run_job(job_id)


def enqueue(job_id: int) -> None:
    """Hand the job to a worker (immediate mode: run it now). If the queue cannot be
    reached the job stays queued, and ``resume_stalled`` sends it again."""
    try:
        run_job_task(job_id)
    except Exception:  # noqa: BLE001 -- Redis down: the periodic sweep picks the job up
        log.exception("Could not queue job %s; the worker's sweep will pick it up", job_id)


# --- Periodic work (no cron lines) ------------------------------------------------------


@huey.periodic_task(crontab(minute="*"))
@in_app_context
def resume_stalled_task() -> None:
    from .operations import resume_stalled

    resume_stalled()


@huey.periodic_task(crontab(minute="*"))
@in_app_context
def publish_static_task() -> None:
    from .periodic import publish_static_if_configured

    publish_static_if_configured()


@huey.periodic_task(crontab(minute="7"))
@in_app_context
def hourly_task() -> None:
    from .periodic import daily_reminders, expire_results, starting_soon

    expire_results()
    starting_soon()
    daily_reminders()
