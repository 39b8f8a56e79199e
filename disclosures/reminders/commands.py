"""``flask --app wsgi send-reminders [--meeting SLUG] [--dry-run]``."""

from __future__ import annotations

import click

from ..cli import meeting_by_slug
from ..enums import JobKind, JobStatus
from ..extensions import db
from ..words import plural, plural_form
from .operations import plan_disclosure_reminders, plan_review_summaries

KINDS = (("disclosure reminder", JobKind.DISCLOSURE_REMINDERS, plan_disclosure_reminders),
         ("reviewer summary", JobKind.REVIEW_SUMMARIES, plan_review_summaries))


@click.command("send-reminders")
@click.option("--meeting", "meeting_slug", default=None,
              help="Only this meeting (default: every meeting not yet over).")
@click.option("--dry-run", is_flag=True, help="List who would be reminded; send and write nothing.")
def send_reminders_command(meeting_slug: str | None, dry_run: bool):
    """Remind people awaiting disclosure, and send reviewers a summary.

    Runs the same job as the staff pages' buttons, here in this process (no worker
    needed); a job of the same kind left unfinished (by a worker that died, or a mail
    server that was away) is resumed instead. Nobody is reminded twice within
    REMINDER_INTERVAL_HOURS, so running it again is safe. The worker also sends them
    every day by itself (DAILY_REMINDERS_HOUR).
    """
    from ..jobs.operations import JobRunning, run_job, start_job
    from ..jobs.reminders import report_counts
    from ..models import Job

    meeting = meeting_by_slug(meeting_slug) if meeting_slug else None
    failed = False
    for label, kind, planner in KINDS:
        if dry_run:
            plan = planner(meeting)
            click.echo(f"Would send {plural(len(plan.due), label)}; {len(plan.recently_reminded)} "
                       "skipped (reminded within the interval).")
            for entry in plan.due:
                click.echo(f"  {entry.user.email}")
            db.session.rollback()
            continue
        try:
            job = start_job(None, kind, meeting)
            db.session.commit()
        except JobRunning as running:
            db.session.rollback()
            job = running.job
            click.echo(f"Resuming job {job.id} ({plural_form(2, label)} left unfinished).")
        job_id = job.id
        if not run_job(job_id):
            failed = True
            click.echo(f"A worker is sending the {plural_form(2, label)} right now (job {job_id}).",
                       err=True)
            continue
        db.session.expire_all()
        job = db.session.get(Job, job_id)
        counts = report_counts(job)
        click.echo(f"Sent {plural(counts['sent'], label)}; {counts['skipped']} skipped "
                   "(reminded within the interval).")
        if counts["undelivered"]:
            click.echo(f"Not delivered: {plural(counts['undelivered'], label)}, because mail sending "
                       "is switched off (MAIL_SUPPRESS_SEND); not counted as sent. Set "
                       "MAIL_SERVER, or hand out the invitation links from the meeting's "
                       "reminders page.", err=True)
        if counts["failed"]:
            failed = True
            click.echo(f"Refused by the mail server: {plural(counts['failed'], label)}.", err=True)
        if job.status is not JobStatus.DONE:
            failed = True
            waiting = counts["pending"] + counts["sending"]
            click.echo(f"Stopped: {waiting} not sent yet: {(job.errors or ['?'])[-1]}", err=True)
        for error in job.errors or []:
            click.echo(f"  {error}", err=True)
    if failed:
        raise click.ClickException("Some reminders could not be sent; run again later "
                                   "(those already reminded are not sent a second one).")
