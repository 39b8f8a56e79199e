"""Log in, log out, accept an invitation, reset or change a password, the account page."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from .. import mail
from ..extensions import db, limiter
from ..links import external_url
from ..models import User
from . import operations, throttle
from .forms import ChangePasswordForm, LoginForm, NewPasswordForm, ResetRequestForm
from .redirects import safe_next_path

bp = Blueprint("auth", __name__)

LOGIN_FAILED = "That email and password do not match an active account. Check both and try again."

# The browser's session carries its log-in's token next to Flask-Login's user id; every
# request checks the token's LoginSession is live (web.load_user).
LOGIN_SESSION_KEY = "login_session"

def per_client(view):
    """Per client address, every POST to ``view`` (see throttle.py)."""
    return limiter.limit(
        throttle.login_limit, methods=["POST"], error_message=throttle.IP_LIMIT_MESSAGE
    )(view)


def _begin_session(user: User, token: str) -> None:
    """This browser is now logged in as ``user`` (after the commit that stored ``token``)."""
    login_user(user)
    session[LOGIN_SESSION_KEY] = token


def _end_session() -> None:
    logout_user()
    session.pop(LOGIN_SESSION_KEY, None)


def current_login_token() -> str | None:
    token = session.get(LOGIN_SESSION_KEY)
    return token if isinstance(token, str) else None


@bp.route("/login", methods=["GET", "POST"])
@per_client
@limiter.limit(
    throttle.account_limit, methods=["POST"], key_func=throttle.login_account_key,
    deduct_when=throttle.login_failed, scope="account",
    error_message=throttle.ACCOUNT_LIMIT_MESSAGE,
)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = operations.authenticate(form.email.data, form.password.data)
        if user is None:
            form.password.errors.append(LOGIN_FAILED)
            return render_template("auth/login.html", form=form), 401
        target = safe_next_path(request.args.get("next")) or url_for("main.home")
        token = operations.start_login_session(user)
        db.session.commit()
        _begin_session(user, token)
        response = redirect(target)
        throttle.remember_device(response, user.email)
        return response
    return render_template("auth/login.html", form=form), (400 if form.errors else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    # POST only, and CSRFProtect checks the token before this runs.
    if current_user.is_authenticated:
        operations.end_login_session(current_login_token())
        db.session.commit()
    _end_session()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account")
@login_required
def account():
    sessions = operations.live_login_sessions(current_user)
    return render_template("auth/account.html", sessions=sessions)


@bp.route("/account/logout-everywhere", methods=["POST"])
@login_required
def logout_everywhere():
    # A button (POST only); CSRFProtect checks its token before this runs, as for logout.
    ended = operations.log_out_everywhere(current_user)
    db.session.commit()
    _end_session()
    flash(
        f"You are logged out everywhere ({ended} session{'s' if ended != 1 else ''} ended, "
        "this one included). Log in again here to continue.",
        "info",
    )
    return redirect(url_for("auth.login"))


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@per_client
def accept_invitation(token: str):
    user = operations.user_for_invitation(token)
    if user is None:
        return render_template("auth/invitation_invalid.html"), 404
    form = NewPasswordForm(email=user.email)
    if form.validate_on_submit():
        user = operations.accept_invitation(token, form.password.data)
        login_token = operations.start_login_session(user)
        db.session.commit()
        _begin_session(user, login_token)
        flash("Welcome. Your password is set.", "success")
        response = redirect(url_for("main.home"))
        throttle.remember_device(response, user.email)
        return response
    return render_template("auth/accept_invitation.html", form=form, user=user), (
        400 if form.errors else 200
    )


@bp.route("/password/reset", methods=["GET", "POST"])
@per_client
@limiter.limit(
    throttle.reset_limit, methods=["POST"], key_func=throttle.reset_address_key,
    scope="address", error_message=throttle.RESET_LIMIT_MESSAGE,
)
def request_password_reset():
    form = ResetRequestForm()
    if form.validate_on_submit():
        user = operations.find_user_by_email(form.email.data)
        if user is not None and user.is_active:
            token = operations.password_reset_token(user)
            link = external_url("auth.reset_password", token=token)
            try:
                mail.send(
                    user.email,
                    "Reset your password for the CME disclosure system",
                    render_template("auth/email_reset.txt", user=user, link=link),
                )
            except mail.MailError as exc:
                # Logged for the operator without the link; the person sees the usual answer,
                # which must not differ from the one for an unknown address.
                current_app.logger.warning(
                    "Password reset mail for user %s could not be sent: %s", user.id, exc
                )
        # The same answer whether or not the account exists.
        flash(
            "If an account exists for that address, a reset link is on its way. "
            "It works once and expires within an hour.",
            "info",
        )
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_request.html", form=form), (400 if form.errors else 200)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@per_client
def reset_password(token: str):
    user = operations.user_for_reset_token(token)
    if user is None:
        return render_template("auth/invitation_invalid.html", reset=True), 404
    form = NewPasswordForm(email=user.email)
    if form.validate_on_submit():
        operations.reset_password(token, form.password.data)
        db.session.commit()
        _end_session()
        flash("Your password is changed. Log in with the new one.", "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form), (400 if form.errors else 200)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm(email=current_user.email)
    if form.validate_on_submit():
        try:
            # This session goes on; every other one ends.
            operations.change_password(
                current_user, form.current.data, form.password.data,
                keep_token=current_login_token(),
            )
        except operations.AccountError as exc:
            form.current.errors.append(str(exc))
        else:
            db.session.commit()
            flash("Your password is changed. Other sessions were logged out.", "success")
            return redirect(url_for("main.home"))
    return render_template("auth/change_password.html", form=form), (400 if form.errors else 200)
