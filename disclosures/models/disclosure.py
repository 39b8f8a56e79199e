"""What faculty disclose: companies, disclosure versions and their relationships."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..enums import Nature
from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow

if TYPE_CHECKING:
    from .review import Determination
    from .user import User

_CORPORATE_SUFFIXES = {
    "inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co", "company",
    "plc", "gmbh", "ag", "sa", "nv", "bv", "lp", "llp", "holdings",
}


def normalise_company_name(name: str) -> str:
    """The key two spellings of one company share.

    Case, accents, punctuation, ``&``/``and`` and corporate suffixes do not matter:
    "Johnson & Johnson", "johnson and johnson, Inc." give the same key. Abbreviations
    such as "J&J" are matched through aliases.
    """
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = text.lower().replace("&", " and ").replace("+", " and ")
    words = re.findall(r"[a-z0-9]+", text)
    while len(words) > 1 and words[-1] in _CORPORATE_SUFFIXES:
        words.pop()
    key = "".join(words)
    if not key:  # a name in a script with no ASCII letters: keep it, case-folded
        key = re.sub(r"\W+", "", name.casefold())
    return key[:200]


class Company(db.Model):
    """An organisation faculty have relationships with. ``is_ineligible`` per ACCME."""

    __tablename__ = "company"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    normalized_name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    is_ineligible: Mapped[bool] = mapped_column(default=True)
    # Typed in by faculty and not yet confirmed (or merged) by staff.
    needs_review: Mapped[bool] = mapped_column(default=False, index=True)
    note: Mapped[Optional[str]] = mapped_column(sa.Text, info={"max_length": 2000})
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    aliases: Mapped[list[CompanyAlias]] = relationship(
        back_populates="company", cascade="all, delete-orphan", order_by="CompanyAlias.name"
    )
    relationships: Mapped[list[Relationship]] = relationship(back_populates="company")

    @validates("name")
    def _set_normalized(self, key, value: str) -> str:
        value = " ".join(value.split())
        self.normalized_name = normalise_company_name(value)
        return value

    def __repr__(self) -> str:
        return f"<Company {self.id} {self.name!r}>"


class CompanyAlias(db.Model):
    __tablename__ = "company_alias"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    normalized_name: Mapped[str] = mapped_column(sa.String(200), unique=True)

    company: Mapped[Company] = relationship(back_populates="aliases")

    @validates("name")
    def _set_normalized(self, key, value: str) -> str:
        value = " ".join(value.split())
        self.normalized_name = normalise_company_name(value)
        return value


class Disclosure(db.Model):
    """One submitted version of a person's disclosure. Never edited after submission."""

    __tablename__ = "disclosure"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    version: Mapped[int]
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    valid_until: Mapped[date]
    has_relationships: Mapped[bool]
    # Attestation: the typed full name is the signature.
    attestation_name: Mapped[str] = mapped_column(sa.String(200))
    attested_complete: Mapped[bool] = mapped_column(default=False)
    attested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(back_populates="disclosures", foreign_keys=[user_id])
    relationships: Mapped[list[Relationship]] = relationship(
        back_populates="disclosure", order_by="Relationship.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.UniqueConstraint("user_id", "version"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
    )

    def is_valid_on(self, day: date) -> bool:
        """Valid through ``valid_until``. No lower bound: ``day`` is often a local date that is
        still "yesterday" for a disclosure submitted minutes ago in UTC."""
        return day <= self.valid_until

    def __repr__(self) -> str:
        return f"<Disclosure {self.id} user={self.user_id} v{self.version}>"


class Relationship(db.Model):
    """A financial relationship with a company, as disclosed in one version."""

    __tablename__ = "relationship"

    id: Mapped[int] = mapped_column(primary_key=True)
    disclosure_id: Mapped[int] = mapped_column(sa.ForeignKey("disclosure.id"), index=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    nature: Mapped[Nature] = mapped_column(enum_column(Nature, "nature"))
    started_on: Mapped[Optional[date]]
    ended_on: Mapped[Optional[date]]  # None: ongoing
    detail: Mapped[Optional[str]] = mapped_column(sa.Text, info={"max_length": 500})
    # The same relationship in the previous version, when it is unchanged.
    carried_from_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("relationship.id"))

    disclosure: Mapped[Disclosure] = relationship(back_populates="relationships")
    company: Mapped[Company] = relationship(back_populates="relationships")
    determinations: Mapped[list[Determination]] = relationship(back_populates="relationship")

    __table_args__ = (
        sa.CheckConstraint(
            "ended_on IS NULL OR started_on IS NULL OR ended_on >= started_on",
            name="ends_after_start",
        ),
    )

    @property
    def identity(self) -> tuple:
        """What must match for a later version to keep this relationship's review."""
        return (self.company_id, self.nature, self.started_on, self.ended_on)

    def __repr__(self) -> str:
        return f"<Relationship {self.id} {self.nature}>"
