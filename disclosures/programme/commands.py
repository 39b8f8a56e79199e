"""``flask --app wsgi import-programme MEETING_SLUG FILE [--dry-run]``."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import meeting_by_slug
from ..extensions import db
from ..words import plural
from .operations import apply_import, plan_import
from .reading import MissingColumns, import_max_bytes, read_programme
from .spreadsheet import ProgrammeFileError


@click.command("import-programme")
@click.argument("meeting_slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
def import_programme_command(meeting_slug: str, file: Path, dry_run: bool):
    """Import the programme of MEETING_SLUG from a CSV or XLSX FILE (see README for columns)."""
    meeting = meeting_by_slug(meeting_slug)
    if file.stat().st_size > import_max_bytes():
        raise click.ClickException(f"{file} is larger than the import limit ({import_max_bytes()} bytes).")
    try:
        # The columns staff chose for this meeting on the import page, if any.
        plan = plan_import(meeting, read_programme(file.read_bytes(), file.name, meeting,
                                                   column_map=meeting.import_column_map))
    except MissingColumns as exc:
        raise click.ClickException(
            f"{exc} Upload the file once on the meeting's import page to choose the columns; "
            "this command then reads the same columns the same way.") from exc
    except ProgrammeFileError as exc:
        raise click.ClickException(str(exc)) from exc
    if not plan.ok:
        for error in plan.errors:
            click.echo(f"row {error.row}, column {error.column}: {error.reason}", err=True)
        if plan.parsed.stopped_at_row:
            click.echo(f"Checking stopped there: rows from {plan.parsed.stopped_at_row} on were "
                       "not checked.", err=True)
        raise click.ClickException(f"{plural(len(plan.errors), 'problem')} in {file.name}: nothing imported.")
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


