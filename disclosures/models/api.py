"""Tokens of the read-only JSON API (``disclosures.api``): one per meeting app or programme
system, issued by a meeting's staff, shown once, stored as its SHA-256 only."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .meeting import Meeting
    from .user import User

API_TOKEN_PREFIX = "cmeapi_"  # noqa: S105  (a label, not a secret)


def new_api_token() -> str:
    """256 bits from the OS CSPRNG, with a prefix that says what it is (secret scanners
    and people both recognise it)."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


class ApiToken(db.Model):
    """A bearer token that reads one meeting's public data through ``/api/v1``.

    Only ``token_hash`` (SHA-256 of the token) is kept; ``hint`` is the token's first
    characters after the prefix, so staff can tell tokens apart. Revoking keeps the row,
    with when and by whom, for the record; issuing and revoking are audited
    (``api_token.issued`` / ``api_token.revoked``)."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meeting.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    hint: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("user_account.id"))
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("user_account.id"))

    meeting: Mapped[Meeting] = relationship()
    created_by: Mapped[Optional[User]] = relationship(foreign_keys=[created_by_id])
    revoked_by: Mapped[Optional[User]] = relationship(foreign_keys=[revoked_by_id])

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} {self.name!r} meeting={self.meeting_id}>"
