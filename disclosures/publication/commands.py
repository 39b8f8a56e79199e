"""``flask --app wsgi refresh-record`` and ``flask --app wsgi verify-sheet FILE.pdf``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click
import sqlalchemy as sa

from ..cli import meeting_by_slug
from ..extensions import db
from ..models import Meeting, PublicationStep, Room, SheetPdf, SheetVersion
from ..words import plural
from .operations import refresh


@click.command("refresh-record")
@click.option("--meeting", "meeting_slug", default=None, help="Only this meeting (default: all).")
def refresh_record_command(meeting_slug: str | None):
    """Judge every role again and publish what changed (after an upgrade; idempotent)."""
    if meeting_slug:
        ids = [meeting_by_slug(meeting_slug).id]
    else:
        ids = list(db.session.scalars(sa.select(Meeting.id).order_by(Meeting.id)))
    for meeting_id in ids:
        done = refresh(meetings=[meeting_id])
        db.session.commit()
        click.echo(f"meeting {meeting_id}: {plural(len(done.states_changed), 'state')} changed, "
                   f"{plural(done.statements, 'statement')} and "
                   f"{plural(done.sheet_versions, 'sheet version')} "
                   "published")


def _moment(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "now (still public)"


@click.command("verify-sheet")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def verify_sheet_command(file: Path):
    """Say which published sheet FILE is (room, version, when it was public), byte for
    byte; exit 1 when it matches none (a changed or forged copy)."""
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    stored = db.session.scalar(sa.select(SheetPdf).where(SheetPdf.sha256 == digest).limit(1))
    if stored is None:
        click.echo(f"{file.name} matches no published version (SHA-256 {digest}).", err=True)
        raise SystemExit(1)
    meeting = db.session.get(Meeting, stored.meeting_id)
    if stored.sheet_version_id is not None:
        version = db.session.get(SheetVersion, stored.sheet_version_id)
        room = db.session.get(Room, version.room_id)
        following = db.session.scalar(
            sa.select(SheetVersion.valid_from).where(SheetVersion.room_id == room.id,
                                                     SheetVersion.number == version.number + 1))
        click.echo(f"{file.name}: room sheet of {room.name}, {meeting.name}, version "
                   f"{version.number} (fingerprint {version.fingerprint[:8]}), {stored.size}; "
                   f"public from {_moment(version.valid_from)} until {_moment(following)}. "
                   f"SHA-256 {digest}.")
        return
    at = db.session.scalar(sa.select(PublicationStep.at).where(
        PublicationStep.meeting_id == meeting.id, PublicationStep.seq == stored.seq))
    following = db.session.scalar(sa.select(PublicationStep.at).where(
        PublicationStep.meeting_id == meeting.id, PublicationStep.seq == stored.seq + 1))
    click.echo(f"{file.name}: faculty booklet of {meeting.name}, version {stored.seq}, "
               f"{stored.size}; public from {_moment(at)} until {_moment(following)}. "
               f"SHA-256 {digest}.")
