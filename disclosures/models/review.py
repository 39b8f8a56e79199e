"""What reviewers and staff decide: relevance per relationship and role, mitigations, and
owner/employee decisions. Every row is a record: never changed, never deleted. A decision
changed later is a new row that supersedes the one before, so what was in force at any
moment (a session's start, say) can always be read back."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from ..enums import MitigationMethod, OwnerException
from ..extensions import db
from .base import AppendOnly, UTCDateTime, enum_column, make_append_only, utcnow

if TYPE_CHECKING:
    from .disclosure import Company, Relationship
    from .meeting import Assignment
    from .user import User


class Determination(AppendOnly, db.Model):
    """Is this relationship relevant to the content of this role? As decided at ``decided_at``.

    The decision in force for a (relationship, assignment) pair is the one no later row
    supersedes; at a moment T, the latest decided by T. ``supersedes_id`` is unique, so
    two reviewers changing one decision at once cannot both succeed (the second is told
    who decided first), and only one first decision exists per pair.
    """

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
    # The decision this one replaces (a changed decision), if any.
    supersedes_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("determination.id"), unique=True
    )

    relationship: Mapped[Relationship] = orm.relationship(back_populates="determinations")
    assignment: Mapped[Assignment] = orm.relationship(back_populates="determinations")
    reviewer: Mapped[User] = orm.relationship()
    mitigations: Mapped[list[Mitigation]] = orm.relationship(
        back_populates="determination", order_by="Mitigation.id"
    )

    __table_args__ = (
        sa.Index("uq_determination_first", "relationship_id", "assignment_id", unique=True,
                 sqlite_where=sa.text("supersedes_id IS NULL"),
                 postgresql_where=sa.text("supersedes_id IS NULL")),
    )

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


class Mitigation(AppendOnly, db.Model):
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
    # The day it was put in place (in the meeting's time zone), as the reviewer says; none on
    # rows recorded before the day was asked (they count from ``recorded_at``).
    in_place_on: Mapped[Optional[date]]
    notes_key: Mapped[str] = mapped_column(sa.String(64), default=_notes_key_default)

    determination: Mapped[Determination] = orm.relationship(back_populates="mitigations")
    recorded_by: Mapped[User] = orm.relationship()

    __table_args__ = (sa.UniqueConstraint("determination_id", "method", "notes_key"),)


class OwnerDecision(AppendOnly, db.Model):
    """Staff decide, per person and ineligible company they own or work for, which
    Standard 3 exception lets them control content (or that none does).

    The decision in force is the one no later row supersedes; at a moment T, the latest
    decided by T.
    """

    __tablename__ = "owner_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    exception: Mapped[OwnerException] = mapped_column(enum_column(OwnerException, "owner_exception"))
    note: Mapped[str] = mapped_column(sa.Text, info={"max_length": 4000})
    decided_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("user_account.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    supersedes_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("owner_decision.id"), unique=True
    )

    user: Mapped[User] = orm.relationship(foreign_keys=[user_id])
    company: Mapped[Company] = orm.relationship()
    decided_by: Mapped[Optional[User]] = orm.relationship(foreign_keys=[decided_by_id])

    __table_args__ = (
        sa.Index("uq_owner_decision_first", "user_id", "company_id", unique=True,
                 sqlite_where=sa.text("supersedes_id IS NULL"),
                 postgresql_where=sa.text("supersedes_id IS NULL")),
    )


for _model in (Determination, Mitigation, OwnerDecision):
    make_append_only(_model)
