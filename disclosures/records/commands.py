"""``flask --app wsgi export-records MEETING_SLUG PATH``."""

from __future__ import annotations

from pathlib import Path

import click

from ..audit import record
from ..cli import meeting_by_slug
from ..extensions import db
from .operations import meeting_records, records_zip


@click.command("export-records")
@click.argument("meeting_slug")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def export_records_command(meeting_slug: str, path: Path):
    """Write the accreditor's ZIP of MEETING_SLUG (CSV, JSON, room sheets, booklet) to PATH.

    The same file as the Records page's download; for very large meetings, where building
    every PDF takes longer than a web request should.
    """

    if path.exists():
        raise click.ClickException(f"{path} exists; choose a new file name.")
    meeting = meeting_by_slug(meeting_slug)
    path.write_bytes(records_zip(meeting, meeting_records(meeting)))
    record(None, "records.exported", meeting, {"format": "zip", "via": "cli"})
    db.session.commit()
    click.echo(f"Wrote {path} ({path.stat().st_size // 1024} KiB).")


