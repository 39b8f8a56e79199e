"""Cross-cutting HTTP behaviour: security headers, error pages, template helpers."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime

from flask import Flask, abort, jsonify, render_template, request, session
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, SecurityError
from werkzeug.routing import IntegerConverter

from . import permissions, vetting, wording, words
from .auth import operations as account_operations
from .auth.views import LOGIN_SESSION_KEY
from .extensions import db, limiter, login_manager
from .models import User

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

ERROR_TITLES = {
    400: "The request could not be understood",
    401: "Please log in",
    403: "You do not have access to this page",
    404: "Page not found",
    405: "That action is not allowed here",
    409: "Someone else changed this first",
    413: "The upload is too large",
    429: "Too many attempts",
    500: "Something went wrong on our side",
}

ERROR_HINTS = {
    400: "Check what you entered and try again.",
    404: "The address may be mistyped, or the page was moved. "
    "If you scanned a room code, the code may have been replaced: scan the one posted now.",
    413: "Files and forms are limited in size. Split the file or remove attachments and try again.",
    429: "For your security we limit how often this can be tried. Wait a minute, then try again.",
    500: "The error has been recorded and nothing you sent was half-saved. Please try again.",
}


DATE_TIME_FORMAT = "%b %-d, %Y %-I:%M %p"


def format_local(moment: datetime | None, meeting=None, fmt: str = DATE_TIME_FORMAT) -> str:
    """``moment`` in ``meeting``'s time zone (in UTC without one). A format that shows a
    time of day gets the zone's abbreviation ("CDT", "UTC") unless it names it already, so
    nobody reads a bare time and guesses the zone."""
    if moment is None:
        return ""
    moment = meeting.local(moment) if meeting is not None else moment.astimezone(UTC)
    if any(code in fmt for code in ("%H", "%I", "%-I", "%-H")) and "%Z" not in fmt:
        fmt += " %Z"
    return moment.strftime(fmt)


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: ids beyond a database integer are a 404, not a 500.

    (SQLite cannot bind an int over 2**63 and PostgreSQL's ``integer`` stops at 2**31 - 1.)
    """

    def __init__(self, map, fixed_digits=0, min=None, max=2**31 - 1, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


FORM_ALLOWANCE = 64 * 1024  # the rest of a multipart form around an uploaded file


def allows_upload(config_key: str, allowed: Callable[..., bool]):
    """View decorator (outermost, under ``route``): requests to this view may be as large as
    ``app.config[config_key]`` (+ the form) instead of MAX_CONTENT_LENGTH, when
    ``allowed(current_user, **view_args)`` says the user may upload there. Everyone else
    (anonymous clients included) keeps MAX_CONTENT_LENGTH. Applied before anything reads
    the body (CSRF and the NUL check do), so the limit really holds."""

    def decorator(view):
        view.upload_limit = (config_key, allowed)
        return view

    return decorator


def register_web(app: Flask) -> None:
    # Before any blueprint is registered: their rules look the converter up when added.
    app.url_map.converters["int"] = IdConverter

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        # Only while this browser's log-in is live: logging out (here or everywhere) or a
        # new password revokes it, and a copy of the old cookie is then anonymous.
        return account_operations.user_for_login_session(user_id, session.get(LOGIN_SESSION_KEY))

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.login_message_category = "info"
    # "basic", not "strong": reviewers on phones move between conference Wi-Fi and cellular.
    login_manager.session_protection = "basic"

    @app.url_value_preprocessor  # runs before every before_request hook (CSRF included)
    def refuse_untrusted_host(endpoint, values):
        """A Host not in TRUSTED_HOSTS (Flask checks it while routing): 400 before anything
        else reads the request."""
        if isinstance(request.routing_exception, SecurityError):
            raise request.routing_exception

    @app.url_value_preprocessor
    def upload_limits(endpoint, values):
        view = app.view_functions.get(endpoint) if endpoint else None
        key, allowed = getattr(view, "upload_limit", (None, None))
        if key and allowed(current_user, **(values or {})):
            request.max_content_length = int(app.config[key]) + FORM_ALLOWANCE

    @app.before_request
    def refuse_nul_characters():
        """U+0000 cannot be stored (PostgreSQL refuses it in text) and is never typed on
        purpose: a 400 that says so, before any form or query reads it."""
        fields = [*request.args.items(multi=True), *request.form.items(multi=True)]
        if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in fields):
            abort(400, description="The text you sent contains an invisible NUL character "
                  "(often from pasting out of another program). Retype the text and send it again.")

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config.get("SECURITY_HSTS"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if current_user and current_user.is_authenticated:
            # Pages behind a login carry personal financial data: never cache them.
            headers["Cache-Control"] = "no-store"
        return response

    def render_error(code: int, message: str | None = None):
        if code >= 500:
            db.session.rollback()
        hint = ERROR_HINTS.get(code)
        if code == 429:
            hint = _retry_hint() or hint
        return (
            render_template(
                "errors/error.html",
                code=code,
                title=ERROR_TITLES.get(code, "Error"),
                message=message,
                hint=hint,
            ),
            code,
        )

    def _retry_hint() -> str | None:
        """When the limit that was reached lets this client try again."""
        breached = limiter.current_limit
        if breached is None or not breached.breached:
            return None
        minutes = max(1, round((breached.reset_at - time.time()) / 60))
        return f"You can try again in about {minutes} minute{'s' if minutes != 1 else ''}."

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(
            400,
            "The form could not be accepted because its security token was missing or out of "
            "date. Go back, reload the page and send the form again.",
        )

    @app.errorhandler(StaleDataError)
    def concurrent_edit(error: StaleDataError):
        # A versioned row (activity, assignment, determination, mitigation) was saved by
        # someone else between our read and our write: nothing of this request is kept.
        db.session.rollback()
        return render_error(
            409,
            "Someone else saved a change to this at the same moment. Nothing you sent was "
            "saved: reload the page to see their change, then make yours again.",
        )

    @app.errorhandler(SecurityError)
    def untrusted_host(error: SecurityError):
        # Plain text: no URL can be built for a host the app does not serve, and the
        # request's Host is not repeated back.
        body = ("400 Bad Request: this server does not answer to that address. "
                f"The service is at {app.config['PUBLIC_BASE_URL']}\n")
        return body, 400, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        description = error.description
        default = type(error).description
        message = description if description and description != default else None
        if request.path == "/api" or request.path.startswith("/api/"):
            # The JSON API answers in JSON even when routing fails (an unknown path, a
            # method the endpoint does not take), as its own errors do.
            response = jsonify({"error": message or error.name, "status": error.code})
            response.status_code = error.code
            response.headers["Cache-Control"] = "no-store"
            if error.code == 405 and getattr(error, "valid_methods", None):
                response.headers["Allow"] = ", ".join(error.valid_methods)
            return response
        response = render_error(error.code, message)
        if error.code == 405 and getattr(error, "valid_methods", None):
            return (*response, {"Allow": ", ".join(error.valid_methods)})
        return response

    @app.errorhandler(Exception)
    def unhandled_error(error: Exception):
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return render_error(500)

    app.jinja_env.globals["wording"] = wording  # what attendees read (disclosures/wording.py)
    app.jinja_env.globals["printed_text_warning"] = vetting.warning  # ®, ™, "#1", URLs, prices
    app.jinja_env.globals["printed_text_flags"] = vetting.flags

    @app.context_processor
    def template_helpers():
        return {"permissions": permissions, "today": date.today()}

    @app.template_filter("local_dt")
    def local_dt(moment: datetime | None, meeting=None, fmt: str = DATE_TIME_FORMAT):
        """A moment in the meeting's time zone (UTC without a meeting), its zone named
        whenever a time of day is shown: "Oct 7, 2027 9:00 AM CDT"."""
        return format_local(moment, meeting, fmt)

    @app.template_filter("plural")
    def plural(count: int, singular: str, plural: str | None = None) -> str:
        """``{{ n|plural("room") }}`` → "1 room", "2 rooms"."""
        return words.plural(count or 0, singular, plural)

    @app.template_filter("day")
    def day(value: date | datetime | None, fmt: str = "%b %-d, %Y") -> str:
        return value.strftime(fmt) if value else ""
