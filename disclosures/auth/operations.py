"""Account state changes: invitations, passwords, logins. Never commit; callers do."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from ..audit import record
from ..enums import Role
from ..extensions import db
from ..models import User, hash_token, normalise_email, utcnow


@functools.cache
def _dummy_hash() -> str:
    """A real hash to check against when the email is unknown, so timing reveals nothing."""
    return generate_password_hash(secrets.token_hex(16))


class AccountError(ValueError):
    """A refusal the user should read (expired link, account exists, …)."""


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None (no hint which was wrong)."""
    user = find_user_by_email(email)
    if user is None or not user.password_hash:
        check_password_hash(_dummy_hash(), password)
        return None
    if not user.check_password(password) or not user.is_active:
        return None
    return user


def note_login(user: User) -> None:
    user.last_login_at = utcnow()


def invite_user(
    actor: User | None,
    email: str,
    full_name: str,
    *,
    degrees: str | None = None,
    institution: str | None = None,
    role: Role = Role.FACULTY,
) -> tuple[User, str]:
    """Create an account without a password and an invitation token for it.

    Side effects: adds the ``User`` (flushed: the link names its id), writes an
    ``user.invited`` audit event. Returns the user and the plain token (to put in the
    link; stored hashed, rebuilt from its nonce while it is valid).
    Raises ``AccountError`` if the email already has an account.
    """
    if find_user_by_email(email) is not None:
        raise AccountError(f"An account for {normalise_email(email)} already exists.")
    user = User(
        email=email,
        full_name=" ".join(full_name.split()),
        degrees=(degrees or "").strip() or None,
        institution=(institution or "").strip() or None,
        role=role,
    )
    db.session.add(user)
    db.session.flush()
    token = user.issue_invitation(invitation_valid_for())
    record(actor, "user.invited", user, {"email": user.email, "role": role}, subject=user)
    return user, token


def invitation_valid_for() -> timedelta:
    return timedelta(hours=current_app.config["INVITATION_VALID_HOURS"])


@dataclass(frozen=True)
class InvitationLink:
    """The invitation a message will carry, before anything is stored (``keep_invitation``)."""

    token: str
    nonce: str
    expires_at: datetime
    is_new: bool  # False: the link already handed out, valid for longer from now


def invitation_link(user: User, now: datetime | None = None) -> InvitationLink:
    """The link to give an account without a password. Reads only.

    The open invitation's own link when there is one (the link staff may already have
    handed out keeps working), else a new invitation; either valid for
    ``INVITATION_VALID_HOURS`` from ``now`` once kept."""
    now = now or utcnow()
    expires_at = now + invitation_valid_for()
    token = user.current_invitation_token(now)
    if token is not None:
        return InvitationLink(token, user.invitation_nonce, expires_at, is_new=False)
    nonce = secrets.token_hex(16)
    return InvitationLink(user.invitation_token_for(nonce), nonce, expires_at, is_new=True)


def keep_invitation(actor: User | None, user: User, link: InvitationLink) -> None:
    """Store ``link`` as the account's invitation (after its message went out).

    Side effects: a new one replaces an expired or missing invitation (audit
    ``user.invitation_reissued``); the open one is kept and its expiry moved to
    ``link.expires_at`` if later (audit ``user.invitation_extended``). Never commits.
    """
    before = user.invitation_expires_at
    if link.is_new:
        user.set_invitation(link.nonce, link.expires_at)
        record(actor, "user.invitation_reissued", user, {"expires_at": link.expires_at}, subject=user)
    elif before is None or link.expires_at > before:
        user.set_invitation(link.nonce, link.expires_at)
        record(actor, "user.invitation_extended", user,
               {"expires_at": {"before": before, "after": link.expires_at}}, subject=user)


def renew_invitation(actor: User | None, user: User) -> str:
    """The account's invitation token, valid for ``INVITATION_VALID_HOURS`` from now: the
    open invitation's (same link) if there is one, else a new one. See ``keep_invitation``."""
    link = invitation_link(user)
    keep_invitation(actor, user, link)
    return link.token


def user_for_invitation(token: str) -> User | None:
    """The user whose unexpired invitation this is, or None."""
    if not token or len(token) > 200:
        return None
    user = db.session.scalar(
        sa.select(User).where(User.invitation_token_hash == hash_token(token))
    )
    if user is None or user.invitation_expires_at is None or user.invitation_expires_at < utcnow():
        return None
    return user


def accept_invitation(token: str, password: str) -> User:
    """Set the first password and spend the token (single use).

    Side effects: sets the password, clears the token, writes ``user.invitation_accepted``.
    """
    user = user_for_invitation(token)
    if user is None:
        raise AccountError(
            "This invitation link has expired or was already used. "
            "Ask the CME office for a new one, or reset your password."
        )
    user.set_password(password)
    user.clear_invitation()
    record(user, "user.invitation_accepted", user, subject=user)
    return user


def change_password(user: User, current: str, new: str) -> None:
    """Side effects: new hash and session nonce (other sessions end), audit event."""
    if not user.check_password(current):
        raise AccountError("The current password is not correct.")
    user.set_password(new)
    record(user, "user.password_changed", user, subject=user)


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def password_reset_token(user: User) -> str:
    """Signed, expiring; bound to the session nonce, so it works once (setting a password changes it)."""
    return _reset_serializer().dumps({"id": user.id, "n": user.session_nonce})


def user_for_reset_token(token: str) -> User | None:
    max_age = current_app.config["PASSWORD_RESET_VALID_SECONDS"]
    try:
        data = _reset_serializer().loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict):
        return None
    user = db.session.get(User, data.get("id")) if isinstance(data.get("id"), int) else None
    if user is None or not user.is_active or user.session_nonce != data.get("n"):
        return None
    return user


def reset_password(token: str, password: str) -> User:
    user = user_for_reset_token(token)
    if user is None:
        raise AccountError("This reset link has expired or was already used. Ask for a new one.")
    user.set_password(password)
    user.invitation_token_hash = None
    user.invitation_expires_at = None
    record(user, "user.password_reset", user, subject=user)
    return user
