"""Accounts: faculty, reviewers and meeting staff."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa
from flask import current_app
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from ..enums import ReminderKind, SiteRole
from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow

if TYPE_CHECKING:
    from .disclosure import Disclosure
    from .meeting import Assignment, Membership


def normalise_email(email: str) -> str:
    return email.strip().lower()


def format_display_name(full_name: str, degrees: str | None) -> str:
    """"Name, MD PhD": how a person is named on pages, from plain column values."""
    return f"{full_name}, {degrees}" if degrees else full_name


def hash_token(token: str) -> str:
    """Tokens are stored hashed: a leaked database does not hand out logins."""
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_token(secret_key: str | bytes, user_id: int, nonce: str) -> str:
    """The link token of one invitation: HMAC-SHA256 under the app's secret key of the
    account id and the invitation's random nonce, URL-safe (43 characters).

    The same invitation always gives the same link, so staff can show it again and a
    reminder can carry the link already handed out; a new nonce (a new invitation) gives
    a new link. Only the token's hash is stored, for look-up: the database alone (without
    the secret key) cannot rebuild a link.
    """
    key = secret_key.encode() if isinstance(secret_key, str) else secret_key
    digest = hmac.new(key, f"invitation:{user_id}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class User(UserMixin, db.Model):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so the unique constraint is case-insensitive on every database.
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200))
    degrees: Mapped[Optional[str]] = mapped_column(sa.String(100))
    institution: Mapped[Optional[str]] = mapped_column(sa.String(200))
    # National Provider Identifier (US), optional: matches Open Payments records to the person.
    npi: Mapped[Optional[str]] = mapped_column(sa.String(10), unique=True, index=True)
    # Site-wide role, if any (administrator, auditor); roles in a meeting are Memberships.
    site_role: Mapped[Optional[SiteRole]] = mapped_column(enum_column(SiteRole, "site_role"))
    password_hash: Mapped[Optional[str]] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Changes whenever a password is set: a password-reset link carries it, so it works once.
    session_nonce: Mapped[str] = mapped_column(
        sa.String(32), default=lambda: secrets.token_hex(8)
    )
    invitation_token_hash: Mapped[Optional[str]] = mapped_column(sa.String(64), unique=True)
    invitation_expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # Random per invitation; with the secret key it rebuilds the link (``invitation_token``).
    invitation_nonce: Mapped[Optional[str]] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    disclosures: Mapped[list[Disclosure]] = relationship(
        back_populates="user", order_by="Disclosure.version", foreign_keys="Disclosure.user_id"
    )
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="user", foreign_keys="Assignment.user_id"
    )
    # Current roles in meetings (revoked ones stay in the table, for the record).
    memberships: Mapped[list[Membership]] = relationship(
        primaryjoin="and_(User.id == Membership.user_id, Membership.revoked_at.is_(None))",
        viewonly=True,
    )

    __table_args__ = (sa.CheckConstraint("email = lower(email)", name="email_lowercase"),)

    @validates("email")
    def _lower_email(self, key, value: str) -> str:
        return normalise_email(value)

    # Flask-Login keeps this in the session; whether that session is still live is decided
    # by its LoginSession row (logging out, or a new password, revokes it).
    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_site_admin(self) -> bool:
        return self.site_role is SiteRole.ADMIN

    @property
    def display_name(self) -> str:
        return format_display_name(self.full_name, self.degrees)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)
        self.session_nonce = secrets.token_hex(8)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def invitation_token_for(self, nonce: str) -> str:
        """The link token of this account's invitation with ``nonce`` (nothing is stored)."""
        if self.id is None:
            raise ValueError("flush the account before inviting it: the link names its id")
        return invitation_token(current_app.config["SECRET_KEY"], self.id, nonce)

    def set_invitation(self, nonce: str, expires_at: datetime) -> str:
        """Make the invitation with ``nonce`` this account's one, valid until ``expires_at``
        (single use: accepting it clears it). Returns its plain token."""
        token = self.invitation_token_for(nonce)
        self.invitation_nonce = nonce
        self.invitation_token_hash = hash_token(token)
        self.invitation_expires_at = expires_at
        return token

    def issue_invitation(self, valid_for, now: datetime | None = None) -> str:
        """A new invitation (a new link; the previous one stops working); its plain token."""
        return self.set_invitation(secrets.token_hex(16), (now or utcnow()) + valid_for)

    def current_invitation_token(self, now: datetime | None = None) -> str | None:
        """The link token of the invitation still open (no password yet, not expired,
        not accepted), rebuilt from its nonce; None when there is none to show.

        Also None for an invitation whose link cannot be rebuilt: one made before links
        were derived (no nonce), or under another secret key."""
        if (self.password_hash or not self.invitation_nonce or not self.invitation_token_hash
                or self.invitation_expires_at is None
                or self.invitation_expires_at <= (now or utcnow())):
            return None
        token = self.invitation_token_for(self.invitation_nonce)
        if not hmac.compare_digest(hash_token(token), self.invitation_token_hash):
            return None
        return token

    def clear_invitation(self) -> None:
        """The invitation is spent (accepted, or replaced by a password reset)."""
        self.invitation_nonce = None
        self.invitation_token_hash = None
        self.invitation_expires_at = None

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
