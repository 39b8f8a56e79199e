"""Staff command-line tools: ``flask --app wsgi import-programme`` and ``send-reminders``.

Registered by ``disclosures.cli.register_cli``.
"""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa

from ..extensions import db
from ..models import Meeting


def _meeting_by_slug(slug: str) -> Meeting:
    meeting = db.session.scalar(sa.select(Meeting).where(Meeting.slug == slug))
    if meeting is None:
        slugs = ", ".join(db.session.scalars(sa.select(Meeting.slug).order_by(Meeting.slug))) or "none"
        raise click.ClickException(f"No meeting has the short name {slug!r}. Known: {slugs}.")
    return meeting


@click.command("import-programme")
@click.argument("meeting_slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
def import_programme_command(meeting_slug: str, file: Path, dry_run: bool):
    """Import the programme of MEETING_SLUG from a CSV or XLSX FILE (see README for columns)."""
    from .programme import (
        ProgrammeFileError,
        apply_import,
        import_max_bytes,
        plan_import,
        read_programme,
    )

    meeting = _meeting_by_slug(meeting_slug)
    if file.stat().st_size > import_max_bytes():
        raise click.ClickException(f"{file} is larger than the import limit ({import_max_bytes()} bytes).")
    try:
        plan = plan_import(meeting, read_programme(file.read_bytes(), file.name, meeting))
    except ProgrammeFileError as exc:
        raise click.ClickException(str(exc)) from exc
    if not plan.ok:
        for error in plan.errors:
            click.echo(f"row {error.row}, column {error.column}: {error.reason}", err=True)
        if plan.parsed.stopped_at_row:
            click.echo(f"Checking stopped there: rows from {plan.parsed.stopped_at_row} on were "
                       "not checked.", err=True)
        raise click.ClickException(f"{len(plan.errors)} problem(s) in {file.name}: nothing imported.")
    summary = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in plan.counts().items())
    if dry_run:
        click.echo(f"Dry run, nothing written. Would do: {summary}.")
        return
    if not plan.changes_anything:
        click.echo(f"Nothing to change: {meeting.slug} already matches {file.name}.")
        return
    apply_import(None, meeting, plan, file.name)
    db.session.commit()
    click.echo(f"Imported {file.name} into {meeting.slug}: {summary}.")


@click.command("send-reminders")
@click.option("--meeting", "meeting_slug", default=None,
              help="Only this meeting (default: every meeting not yet over).")
@click.option("--dry-run", is_flag=True, help="List who would be reminded; send and write nothing.")
def send_reminders_command(meeting_slug: str | None, dry_run: bool):
    """Remind people awaiting disclosure, and send reviewers a summary (for a scheduled job).

    Nobody is reminded twice within REMINDER_INTERVAL_HOURS, so running it hourly is safe.
    """
    from .reminders import plan_disclosure_reminders, plan_review_summaries, send_reminders

    meeting = _meeting_by_slug(meeting_slug) if meeting_slug else None
    failed = False
    for label, planner in (("disclosure reminder", plan_disclosure_reminders),
                           ("reviewer summary", plan_review_summaries)):
        plan = planner(meeting)
        if dry_run:
            click.echo(f"Would send {len(plan.due)} {label}(s); {len(plan.recently_reminded)} "
                       "skipped (reminded within the interval).")
            for entry in plan.due:
                click.echo(f"  {entry.user.email}")
            continue
        result = send_reminders(None, plan)
        click.echo(f"Sent {len(result.sent)} {label}(s); {len(result.skipped)} skipped "
                   "(reminded within the interval).")
        if result.undelivered:
            click.echo(f"Not delivered: {len(result.undelivered)} {label}(s), because mail sending "
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


@click.command("export-records")
@click.argument("meeting_slug")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def export_records_command(meeting_slug: str, path: Path):
    """Write the accreditor's ZIP of MEETING_SLUG (CSV, JSON, room sheets, booklet) to PATH.

    The same file as the Records page's download; for very large meetings, where building
    every PDF takes longer than a web request should.
    """
    from ..audit import record
    from .records import meeting_records, records_zip

    if path.exists():
        raise click.ClickException(f"{path} exists; choose a new file name.")
    meeting = _meeting_by_slug(meeting_slug)
    path.write_bytes(records_zip(meeting, meeting_records(meeting)))
    record(None, "records.exported", meeting, {"format": "zip", "via": "cli"})
    db.session.commit()
    click.echo(f"Wrote {path} ({path.stat().st_size // 1024} KiB).")


def register_staff_commands(app) -> None:
    app.cli.add_command(import_programme_command)
    app.cli.add_command(send_reminders_command)
    app.cli.add_command(export_records_command)
