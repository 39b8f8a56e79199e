"""Account state changes: invitations, passwords, logins. Never commit; callers do."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, render_template
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from .. import mail
from ..audit import record
from ..enums import SiteRole
from ..errors import Refusal
from ..extensions import db
from ..links import external_url
from ..models import LoginSession, User, hash_token, normalise_email, utcnow


@functools.cache
def _dummy_hash() -> str:
    """A real hash to check against when the email is unknown, so timing reveals nothing."""
    return generate_password_hash(secrets.token_hex(16))


class AccountError(Refusal):
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


def start_login_session(user: User) -> str:
    """Record a log-in. Returns the plain token the browser's session carries (stored hashed).

    Side effects: adds a ``LoginSession`` that expires after PERMANENT_SESSION_LIFETIME,
    sets ``last_login_at``, and deletes this person's sessions that have expired.
    """
    now = utcnow()
    db.session.execute(
        sa.delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.expires_at <= now)
    )
    token = secrets.token_urlsafe(32)
    db.session.add(LoginSession(
        user=user, token_hash=hash_token(token), created_at=now,
        expires_at=now + current_app.permanent_session_lifetime,
    ))
    user.last_login_at = now
    db.session.flush()
    return token


def _live(now):
    return sa.and_(LoginSession.revoked_at.is_(None), LoginSession.expires_at > now)


def user_for_login_session(user_id: str, token: str | None) -> User | None:
    """The active user whose live log-in this is, or None (one query, on every request)."""
    if not isinstance(token, str) or not token or len(token) > 100:
        return None
    try:
        user_key = int(user_id)
    except (TypeError, ValueError):
        return None
    return db.session.scalar(
        sa.select(User)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(User.id == user_key, User.is_active.is_(True),
               LoginSession.token_hash == hash_token(token), _live(utcnow()))
    )


def live_login_sessions(user: User) -> list[LoginSession]:
    return list(db.session.scalars(
        sa.select(LoginSession)
        .where(LoginSession.user_id == user.id, _live(utcnow()))
        .order_by(LoginSession.created_at)
    ))


def end_login_session(token: str | None) -> None:
    """Log-out: the session with this token stops working (no-op for an unknown token)."""
    if isinstance(token, str) and token:
        db.session.execute(
            sa.update(LoginSession)
            .where(LoginSession.token_hash == hash_token(token), LoginSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


def end_login_sessions(user: User, *, keep_token: str | None = None) -> int:
    """Revoke every live session of ``user`` (but the one with ``keep_token``); the count."""
    now = utcnow()
    statement = sa.update(LoginSession).where(LoginSession.user_id == user.id, _live(now))
    if keep_token:
        statement = statement.where(LoginSession.token_hash != hash_token(keep_token))
    return db.session.execute(statement.values(revoked_at=now)).rowcount


def log_out_everywhere(user: User) -> int:
    """Side effects: revokes every live session of ``user`` (this browser's too), writes
    ``user.logged_out_everywhere`` with the number ended. Returns that number."""
    ended = end_login_sessions(user)
    record(user, "user.logged_out_everywhere", user, {"sessions": ended}, subject=user)
    return ended


def invite_user(
    actor: User | None,
    email: str,
    full_name: str,
    *,
    degrees: str | None = None,
    institution: str | None = None,
    site_role: SiteRole | None = None,
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
        site_role=site_role,
    )
    db.session.add(user)
    db.session.flush()
    token = user.issue_invitation(invitation_valid_for())
    record(actor, "user.invited", user, {"email": user.email, "site_role": site_role}, subject=user)
    return user, token


def invite_users(actor: User | None, people: list[tuple[str, str]]) -> dict[str, User]:
    """``invite_user`` for many people at once (the programme import): the same accounts,
    invitations and ``user.invited`` events, written with one query and two flushes
    instead of four statements each. ``people``: (full name, email). Returns email (as
    given) → user. Raises ``AccountError`` if any email already has an account."""
    if not people:
        return {}
    wanted = [normalise_email(email) for _, email in people]
    taken = db.session.scalars(sa.select(User.email).where(User.email.in_(wanted))).first()
    if taken is not None:
        raise AccountError(f"An account for {taken} already exists.")
    users: dict[str, User] = {}
    for full_name, email in people:
        users[email] = User(email=email, full_name=" ".join(full_name.split()))
    db.session.add_all(users.values())
    db.session.flush()
    valid_for = invitation_valid_for()
    for user in users.values():
        user.issue_invitation(valid_for)
        record(actor, "user.invited", user, {"email": user.email, "site_role": None},
               subject=user, flush=False)
    db.session.flush()
    return users


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


def change_password(user: User, current: str, new: str, *, keep_token: str | None = None) -> None:
    """Side effects: new hash and nonce (open reset links stop working), every other session
    of the user ends (the one with ``keep_token`` goes on), audit event."""
    if not user.check_password(current):
        raise AccountError("The current password is not correct.")
    user.set_password(new)
    end_login_sessions(user, keep_token=keep_token)
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
    """Side effects: new hash and nonce (this link stops working), the invitation is spent,
    every session of the user ends, ``user.password_reset`` is written."""
    user = user_for_reset_token(token)
    if user is None:
        raise AccountError("This reset link has expired or was already used. Ask for a new one.")
    user.set_password(password)
    user.invitation_token_hash = None
    user.invitation_expires_at = None
    end_login_sessions(user)
    record(user, "user.password_reset", user, subject=user)
    return user


# --------------------------------------------------------------------------- invitation mail

INVITATION_DELIVERY = {
    "sent": "The invitation email was sent.",
    "switched_off": "No email was sent: mail sending is switched off here (MAIL_SUPPRESS_SEND). "
                    "Give them the invitation link yourself.",
    "failed": "The invitation email could not be sent: the mail server refused or could not "
              "be reached. Give them the invitation link yourself, or send a reminder later.",
}


def send_invitation(user: User, token: str, meeting=None) -> str:
    """Mail the invitation link (after the commit: the account exists whatever the mail
    server does). Returns "sent", "switched_off" (MAIL_SUPPRESS_SEND) or "failed" (the
    server refused or was down: logged, never raised). The link itself stays valid, and
    staff see it on the meeting page and the reminders page."""
    link = external_url("auth.accept_invitation", token=token)
    message = mail.build_message(
        user.email,
        "Your CME disclosure: please set your password",
        render_template(
            "auth/email_invitation.txt",
            user=user,
            link=link,
            meeting_name=meeting.name if meeting else None,
            expires=user.invitation_expires_at.strftime("%B %-d, %Y"),
        ),
    )
    try:
        mail.send_messages([message])
    except mail.MailError as exc:
        current_app.logger.warning("Invitation to user %s could not be sent: %s", user.id, exc)
        return "failed"
    return "switched_off" if current_app.config.get("MAIL_SUPPRESS_SEND") else "sent"
