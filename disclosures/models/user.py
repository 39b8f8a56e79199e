"""Accounts: faculty, reviewers and meeting staff."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from ..enums import ReminderKind, Role
from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow

if TYPE_CHECKING:
    from .disclosure import Disclosure
    from .meeting import Assignment


def normalise_email(email: str) -> str:
    return email.strip().lower()


def format_display_name(full_name: str, degrees: str | None) -> str:
    """"Name, MD PhD": how a person is named on pages, from plain column values."""
    return f"{full_name}, {degrees}" if degrees else full_name


def hash_token(token: str) -> str:
    """Tokens are stored hashed: a leaked database does not hand out logins."""
    return hashlib.sha256(token.encode()).hexdigest()


class User(UserMixin, db.Model):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so the unique constraint is case-insensitive on every database.
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200))
    degrees: Mapped[Optional[str]] = mapped_column(sa.String(100))
    institution: Mapped[Optional[str]] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"), default=Role.FACULTY)
    password_hash: Mapped[Optional[str]] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Changes whenever a password is set: a password-reset link carries it, so it works once.
    session_nonce: Mapped[str] = mapped_column(
        sa.String(32), default=lambda: secrets.token_hex(8)
    )
    invitation_token_hash: Mapped[Optional[str]] = mapped_column(sa.String(64), unique=True)
    invitation_expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    disclosures: Mapped[list[Disclosure]] = relationship(
        back_populates="user", order_by="Disclosure.version", foreign_keys="Disclosure.user_id"
    )
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="user", foreign_keys="Assignment.user_id"
    )

    __table_args__ = (sa.CheckConstraint("email = lower(email)", name="email_lowercase"),)

    @validates("email")
    def _lower_email(self, key, value: str) -> str:
        return normalise_email(value)

    # Flask-Login keeps this in the session; whether that session is still live is decided
    # by its LoginSession row (logging out, or a new password, revokes it).
    def get_id(self) -> str:
        return str(self.id)

    def has_role(self, role: Role) -> bool:
        return self.role.rank >= role.rank

    @property
    def display_name(self) -> str:
        return format_display_name(self.full_name, self.degrees)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)
        self.session_nonce = secrets.token_hex(8)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def issue_invitation(self, valid_for, now: datetime | None = None) -> str:
        """Create a single-use invitation token; returns the plain token (only place it exists)."""
        token = secrets.token_urlsafe(32)
        self.invitation_token_hash = hash_token(token)
        self.invitation_expires_at = (now or utcnow()) + valid_for
        return token

    def __repr__(self) -> str:
        return f"<User {self.id}>"


class Reminder(db.Model):
    """A reminder e-mail that was sent: who, what kind, when, by whom."""

    __tablename__ = "reminder"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    meeting_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("meeting.id"), index=True)
    kind: Mapped[ReminderKind] = mapped_column(enum_column(ReminderKind, "reminder_kind"))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("user_account.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    sent_by: Mapped[Optional[User]] = relationship(foreign_keys=[sent_by_id])


class LoginSession(db.Model):
    """One log-in of one person in one browser, until it expires or is revoked.

    The browser's (signed) session carries a random token; only its hash is stored, so a
    leaked database hands out no sessions. Every authenticated request checks that its row
    is live: logging out revokes it, so a copied cookie stops working at once.
    """

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<LoginSession {self.id} of user {self.user_id}>"
