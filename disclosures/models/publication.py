"""What learners were shown: the published record. Appended, never changed or deleted.

- ``Statement``: what the public reads about one role, as a version: the exact words as
  printed, the structured data, their SHA-256, from when it was in force, and the
  version it supersedes. A new version is appended only when the words change.
- ``SheetVersion``: a room's disclosure sheet as it was published: its content (every
  activity, person and statement shown), a fingerprint of the statements it shows, from
  when it was public. ``/r/<token>?version=N`` serves it again.
- ``SheetPdf``: a PDF of a sheet version (or of the meeting's booklet at a publication
  step), byte for byte as served, with its SHA-256 (``flask verify-sheet``). Kept in
  the database so every app server serves the same bytes.
- ``PublicationStep``: each meeting's publication sequence, one row per step: when
  anything public about the meeting changed. ETags and cache keys come from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..enums import StatementKind
from ..extensions import db
from .base import AppendOnly, UTCDateTime, enum_column, make_append_only, utcnow


class Statement(AppendOnly, db.Model):
    __tablename__ = "statement"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(sa.ForeignKey("assignment.id"), index=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meeting.id"), index=True)
    version: Mapped[int]
    kind: Mapped[StatementKind] = mapped_column(enum_column(StatementKind, "statement_kind"))
    words: Mapped[str] = mapped_column(sa.Text, info={"max_length": 20000})
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    supersedes_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("statement.id"), unique=True)

    __table_args__ = (sa.UniqueConstraint("assignment_id", "version"),)


class SheetVersion(AppendOnly, db.Model):
    __tablename__ = "sheet_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meeting.id"), index=True)
    room_id: Mapped[int] = mapped_column(sa.ForeignKey("room.id"))
    number: Mapped[int]
    seq: Mapped[int]  # the meeting's publication step that made it
    content: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))  # SHA-256 of the statements shown
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("room_id", "number"),
        sa.Index("ix_sheet_version_room_valid_from", "room_id", "valid_from"),
    )


class SheetPdf(AppendOnly, db.Model):
    __tablename__ = "sheet_pdf"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meeting.id"), index=True)
    # A room sheet version's PDF, or (without one) the booklet at publication step ``seq``.
    sheet_version_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("sheet_version.id"))
    seq: Mapped[int]
    size: Mapped[str] = mapped_column(sa.String(8))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        sa.Index("uq_sheet_pdf_room", "sheet_version_id", "size", unique=True,
                 sqlite_where=sa.text("sheet_version_id IS NOT NULL"),
                 postgresql_where=sa.text("sheet_version_id IS NOT NULL")),
        sa.Index("uq_sheet_pdf_booklet", "meeting_id", "seq", "size", unique=True,
                 sqlite_where=sa.text("sheet_version_id IS NULL"),
                 postgresql_where=sa.text("sheet_version_id IS NULL")),
    )


class PublicationStep(AppendOnly, db.Model):
    __tablename__ = "publication_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meeting.id"))
    seq: Mapped[int]
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (sa.UniqueConstraint("meeting_id", "seq"),)


for _model in (Statement, SheetVersion, SheetPdf, PublicationStep):
    make_append_only(_model)
