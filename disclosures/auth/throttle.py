"""Slowing down password guessing without locking out the people it protects.

Three budgets, all kept in Flask-Limiter's storage (memory by default; Redis through
``RATELIMIT_STORAGE_URI`` so every app server shares the counts):

- per client address (``LOGIN_RATE_LIMIT``): every POST to log in, accept an invitation
  or reset a password. Behind a proxy the address is the client's only when
  ``TRUSTED_PROXIES`` says how many proxies to believe.
- per account (``LOGIN_ACCOUNT_RATE_LIMIT``): only FAILED log-ins count, and only those
  from browsers that have never logged in to the account. A browser that has holds a
  signed *device cookie* (OWASP, "Slow Down Online Guessing Attacks with Device
  Cookies") and is counted on its own budget of the same size, so an attacker who
  exhausts the account's budget from elsewhere does not lock its owner out.
- per e-mail address asked for (``RESET_ADDRESS_RATE_LIMIT``): password reset requests,
  so nobody can flood one person's inbox. Counted for any address, known or not, so the
  refusal says nothing about whether an account exists.

The key functions read the submitted e-mail address before the form is validated: they
only choose a bucket, and the view still validates everything.
"""

from __future__ import annotations

import secrets

from flask import Response, current_app, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..models import hash_token, normalise_email

DEVICE_COOKIE = "login_device"

IP_LIMIT_MESSAGE = (
    "There were too many attempts from your network in a short time, so it has to wait "
    "before trying again. If you have forgotten your password, ask for a reset link from "
    "the log-in page once the wait is over."
)
ACCOUNT_LIMIT_MESSAGE = (
    "There were too many failed log-ins to this account from browsers that have not logged "
    "in to it before, so those browsers have to wait. Log in from a browser you have used "
    "for this account before, wait and try again, or ask for a password reset link from "
    "the log-in page."
)
RESET_LIMIT_MESSAGE = (
    "Several reset links were asked for this address already. Look in your inbox (and its "
    "spam folder) for the most recent one, or wait and ask again."
)


def login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def account_limit() -> str:
    return current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"]


def reset_limit() -> str:
    return current_app.config["RESET_ADDRESS_RATE_LIMIT"]


def _submitted_email() -> str:
    return normalise_email(str(request.form.get("email", ""))[:254])


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="login-device")


def _device_max_age() -> int:
    return int(current_app.config["LOGIN_DEVICE_DAYS"]) * 24 * 3600


def trusted_device(email: str) -> str | None:
    """The id of this browser's device cookie when it was issued for ``email``, else None."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw or len(raw) > 500:
        return None
    try:
        data = _serializer().loads(raw, max_age=_device_max_age())
    except BadSignature:  # SignatureExpired is one too
        return None
    if not isinstance(data, dict) or data.get("a") != hash_token(email):
        return None
    device = data.get("d")
    return device if isinstance(device, str) and device else None


def remember_device(response: Response, email: str) -> None:
    """After a successful log-in: this browser may keep trying this account even while
    failures from elsewhere pause it. Signed, so it cannot be forged; the address is hashed."""
    email = normalise_email(email)
    device = trusted_device(email) or secrets.token_urlsafe(16)
    value = _serializer().dumps({"a": hash_token(email), "d": device})
    response.set_cookie(
        DEVICE_COOKIE, value, max_age=_device_max_age(), path=url_for("auth.login"),
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")), httponly=True,
        samesite="Lax",
    )


def login_account_key() -> str:
    """The per-account bucket of this log-in attempt: the browser's own when it holds the
    account's device cookie, otherwise the one all other browsers share."""
    email = _submitted_email()
    device = trusted_device(email)
    return f"device:{device}" if device else f"account:{hash_token(email)}"


def reset_address_key() -> str:
    return f"reset:{hash_token(_submitted_email())}"


def login_failed(response: Response) -> bool:
    """Only refused passwords count against the account (the view answers them with 401)."""
    return response.status_code == 401
