"""``flask --app wsgi send-reminders [--meeting SLUG] [--dry-run]``."""

from __future__ import annotations

import click

from ..cli import meeting_by_slug
from ..extensions import db
from ..words import plural
from .operations import plan_disclosure_reminders, plan_review_summaries, send_reminders


@click.command("send-reminders")
@click.option("--meeting", "meeting_slug", default=None,
              help="Only this meeting (default: every meeting not yet over).")
@click.option("--dry-run", is_flag=True, help="List who would be reminded; send and write nothing.")
def send_reminders_command(meeting_slug: str | None, dry_run: bool):
    """Remind people awaiting disclosure, and send reviewers a summary (for a scheduled job).

    Nobody is reminded twice within REMINDER_INTERVAL_HOURS, so running it hourly is safe.
    """

    meeting = meeting_by_slug(meeting_slug) if meeting_slug else None
    failed = False
    for label, planner in (("disclosure reminder", plan_disclosure_reminders),
                           ("reviewer summary", plan_review_summaries)):
        plan = planner(meeting)
        if dry_run:
            click.echo(f"Would send {plural(len(plan.due), label)}; {len(plan.recently_reminded)} "
                       "skipped (reminded within the interval).")
            for entry in plan.due:
                click.echo(f"  {entry.user.email}")
            continue
        result = send_reminders(None, plan)
        click.echo(f"Sent {plural(len(result.sent), label)}; {len(result.skipped)} skipped "
                   "(reminded within the interval).")
        if result.undelivered:
            click.echo(f"Not delivered: {plural(len(result.undelivered), label)}, because mail sending "
                       "is switched off (MAIL_SUPPRESS_SEND); not counted as sent. Set "
                       "MAIL_SERVER, or hand out the invitation links from the meeting's "
                       "reminders page.", err=True)
        if result.error:
            failed = True
            click.echo(f"Stopped: {len(result.failed)} not sent: {result.error}", err=True)
    if dry_run:
        db.session.rollback()
    if failed:
        raise click.ClickException("Some reminders could not be sent; run again later.")


