"""``flask --app wsgi worker``: the Huey consumer that runs jobs and the periodic tasks."""

from __future__ import annotations

import logging

import click
from flask import current_app

from ..words import plural


@click.command("worker")
@click.option("--workers", default=2, show_default=True, help="Jobs run at the same time.")
def worker_command(workers: int):
    """Run jobs (reminders, programme imports, records ZIPs) and the periodic tasks: taking
    over stalled jobs, publish-static, daily reminders, expiry of old files. Ctrl-C stops.

    The queue is instance/huey.db, or Redis when REDIS_URL is set (then run as many workers,
    on as many machines, as you like)."""
    from .queue import huey, resume_stalled_task

    if huey.immediate:
        raise click.ClickException("HUEY_IMMEDIATE is set: jobs run inside requests, no worker.")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Jobs a dead worker left behind are taken over once they are stale, without waiting for
    # the minute's sweep.
    stale = float(current_app.config["JOB_STALE_SECONDS"])
    resume_stalled_task.schedule(delay=0)
    resume_stalled_task.schedule(delay=stale + 1)
    click.echo(f"Worker: {plural(workers, 'thread')}, queue {type(huey.storage).__name__}")
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                    check_worker_health=True)
    consumer.run()
