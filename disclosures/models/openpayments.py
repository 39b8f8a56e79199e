"""Open Payments (CMS): manufacturers, the payments kept for people with a role, and what
reviewers did about payments missing from a disclosure. Advisory data, never a verdict."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..enums import OpenPaymentsAction, OpenPaymentsFile
from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow

if TYPE_CHECKING:
    from .disclosure import Company
    from .meeting import Meeting
    from .user import User


class Manufacturer(db.Model):
    """An applicable manufacturer or GPO as CMS names it, by its CMS ID.

    ``company_id`` links it to the company registry: found through the company's name or
    aliases at import, or linked once by staff. A company can hold several CMS IDs."""

    __tablename__ = "open_payments_manufacturer"

    id: Mapped[int] = mapped_column(primary_key=True)
    cms_id: Mapped[str] = mapped_column(sa.String(20), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    company_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("company.id"), index=True)
    linked_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("user_account.id"))
    linked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    company: Mapped[Optional[Company]] = relationship()
    linked_by: Mapped[Optional[User]] = relationship()

    def __repr__(self) -> str:
        return f"<Manufacturer {self.cms_id}>"


class OpenPayment(db.Model):
    """One published payment (or ownership interest) to an NPI held by someone with a role.

    One row per (file, CMS record, NPI): a research payment naming the person as recipient
    and as a principal investigator is kept once. Importing the file again replaces it."""

    __tablename__ = "open_payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OpenPaymentsFile] = mapped_column(enum_column(OpenPaymentsFile, "open_payments_file"))
    record_id: Mapped[str] = mapped_column(sa.String(40))
    npi: Mapped[str] = mapped_column(sa.String(10), index=True)
    manufacturer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("open_payments_manufacturer.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(sa.Numeric(14, 2))
    paid_on: Mapped[Optional[date]]  # ownership interests have no date: the program year says when
    program_year: Mapped[int]
    nature: Mapped[str] = mapped_column(sa.String(200))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    manufacturer: Mapped[Manufacturer] = relationship()

    __table_args__ = (sa.UniqueConstraint("kind", "record_id", "npi"),)


class OpenPaymentsReview(db.Model):
    """What a reviewer did about the advisory check of one person in one meeting. Appended,
    never edited: the latest is shown, every one is audited."""

    __tablename__ = "open_payments_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meeting.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    action: Mapped[OpenPaymentsAction] = mapped_column(
        enum_column(OpenPaymentsAction, "open_payments_action"))
    note: Mapped[Optional[str]] = mapped_column(sa.Text, info={"max_length": 2000})
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    meeting: Mapped[Meeting] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])


class OpenPaymentsImport(db.Model):
    """One Open Payments file read: what it was, how much was read and kept, by whom."""

    __tablename__ = "open_payments_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(sa.String(255))
    kind: Mapped[OpenPaymentsFile] = mapped_column(enum_column(OpenPaymentsFile, "open_payments_file"))
    bytes_read: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    rows_read: Mapped[int] = mapped_column(default=0)
    rows_kept: Mapped[int] = mapped_column(default=0)
    rows_refused: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    imported_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("user_account.id"))

    imported_by: Mapped[Optional[User]] = relationship()
