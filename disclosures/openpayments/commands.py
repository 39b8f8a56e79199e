"""``flask --app wsgi import-open-payments FILE...``: CMS Open Payments files, streamed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ..extensions import db
from ..words import plural
from .operations import OpenPaymentsError, Progress, import_file


def _printer(every: float = 0.05):
    """A progress callback printing a line at every ``every`` of the file (to stderr)."""
    state = {"next": every, "file": None, "started": time.monotonic()}

    def show(progress: Progress) -> None:
        if progress.file != state["file"]:
            state.update(file=progress.file, next=every, started=time.monotonic())
        if progress.fraction + 1e-9 < state["next"] and progress.fraction < 1:
            return
        state["next"] = progress.fraction + every
        seconds = max(time.monotonic() - state["started"], 1e-6)
        click.echo(f"  {progress.file}: {progress.fraction:4.0%}  "
                   f"{progress.bytes_read / 2**20:,.0f} of {progress.bytes_total / 2**20:,.0f} MB, "
                   f"{progress.rows_read:,} rows read, {progress.rows_kept:,} kept  "
                   f"({progress.bytes_read / 2**20 / seconds:,.0f} MB/s)", err=True)

    return show


@click.command("import-open-payments")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--quiet", is_flag=True, help="No progress lines.")
def import_open_payments_command(files: tuple[Path, ...], quiet: bool):
    """Import CMS Open Payments FILES (General, Research, Ownership CSVs as published).

    Keeps only payments to NPIs of people with a role in a meeting; each file is
    committed when it has been read whole (a refused file leaves nothing of itself)."""
    progress = None if quiet or not sys.stderr else _printer()
    for file in files:
        try:
            report = import_file(file, progress=progress)
        except OpenPaymentsError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
        db.session.commit()
        click.echo(f"{report.file} ({report.kind.label.lower()}): {report.rows_read:,} rows read, "
                   f"{report.rows_kept:,} kept, {report.rows_refused:,} left out; "
                   f"{plural(report.manufacturers_new, 'new manufacturer')}, "
                   f"{report.manufacturers_matched} matched to the registry.")
        for problem in report.problems:
            click.echo(f"  {problem}", err=True)
