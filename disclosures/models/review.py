"""What reviewers decide: relevance per relationship and assignment, and mitigations."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from ..enums import MitigationMethod
from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow

if TYPE_CHECKING:
    from .disclosure import Relationship
    from .meeting import Assignment
    from .user import User


class Determination(db.Model):
    """Is this relationship relevant to the content of this assignment?"""

    __tablename__ = "determination"

    id: Mapped[int] = mapped_column(primary_key=True)
    relationship_id: Mapped[int] = mapped_column(sa.ForeignKey("relationship.id"), index=True)
    assignment_id: Mapped[int] = mapped_column(sa.ForeignKey("assignment.id"), index=True)
    is_relevant: Mapped[bool]
    rationale: Mapped[Optional[str]] = mapped_column(sa.Text, info={"max_length": 2000})
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Copied from the previous disclosure version's unchanged relationship.
    carried_from_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("determination.id"))
    version_id: Mapped[int] = mapped_column(default=1)

    relationship: Mapped[Relationship] = orm.relationship(back_populates="determinations")
    assignment: Mapped[Assignment] = orm.relationship(back_populates="determinations")
    reviewer: Mapped[User] = orm.relationship()
    mitigations: Mapped[list[Mitigation]] = orm.relationship(
        back_populates="determination", order_by="Mitigation.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (sa.UniqueConstraint("relationship_id", "assignment_id"),)

    def __repr__(self) -> str:
        return f"<Determination {self.id} relevant={self.is_relevant}>"


def mitigation_notes_key(notes: str | None) -> str:
    """What two mitigations' notes share when they say the same thing: the SHA-256 (hex)
    of the notes with spacing and case ignored ("" when there are none)."""
    text = " ".join((notes or "").split()).casefold()
    return hashlib.sha256(text.encode()).hexdigest()


def _notes_key_default(context) -> str:
    # A column default, not an ORM hook, so Core bulk inserts (largedemo) get it too.
    return mitigation_notes_key(context.get_current_parameters().get("notes"))


class Mitigation(db.Model):
    """How a relevant relationship was mitigated, by whom and when.

    One determination holds each (method, notes) once: the unique constraint on
    ``notes_key`` makes a form sent twice, or two reviewers sending the same mitigation
    at the same moment, store one row. Mitigations are never edited, so the key set at
    insert stays true.
    """

    __tablename__ = "mitigation"

    id: Mapped[int] = mapped_column(primary_key=True)
    determination_id: Mapped[int] = mapped_column(sa.ForeignKey("determination.id"), index=True)
    method: Mapped[MitigationMethod] = mapped_column(
        enum_column(MitigationMethod, "mitigation_method")
    )
    notes: Mapped[Optional[str]] = mapped_column(sa.Text, info={"max_length": 2000})
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version_id: Mapped[int] = mapped_column(default=1)
    notes_key: Mapped[str] = mapped_column(sa.String(64), default=_notes_key_default)

    determination: Mapped[Determination] = orm.relationship(back_populates="mitigations")
    recorded_by: Mapped[User] = orm.relationship()

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (sa.UniqueConstraint("determination_id", "method", "notes_key"),)
