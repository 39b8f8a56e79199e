"""Log in, log out, accept an invitation, reset or change a password."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .. import mail
from ..extensions import db, limiter
from ..links import external_url
from . import operations
from .forms import ChangePasswordForm, LoginForm, NewPasswordForm, ResetRequestForm
from .redirects import safe_next_path

bp = Blueprint("auth", __name__)

LOGIN_FAILED = "That email and password do not match an active account. Check both and try again."


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
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
        operations.note_login(user)
        db.session.commit()
        login_user(user)
        return redirect(target)
    return render_template("auth/login.html", form=form), (400 if form.errors else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    # POST only, and CSRFProtect checks the token before this runs.
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def accept_invitation(token: str):
    user = operations.user_for_invitation(token)
    if user is None:
        return render_template("auth/invitation_invalid.html"), 404
    form = NewPasswordForm(email=user.email)
    if form.validate_on_submit():
        user = operations.accept_invitation(token, form.password.data)
        db.session.commit()
        login_user(user)
        flash("Welcome. Your password is set.", "success")
        return redirect(url_for("main.home"))
    return render_template("auth/accept_invitation.html", form=form, user=user), (
        400 if form.errors else 200
    )


@bp.route("/password/reset", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
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
@limiter.limit(_login_limit, methods=["POST"])
def reset_password(token: str):
    user = operations.user_for_reset_token(token)
    if user is None:
        return render_template("auth/invitation_invalid.html", reset=True), 404
    form = NewPasswordForm(email=user.email)
    if form.validate_on_submit():
        operations.reset_password(token, form.password.data)
        db.session.commit()
        logout_user()
        flash("Your password is changed. Log in with the new one.", "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form), (400 if form.errors else 200)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm(email=current_user.email)
    if form.validate_on_submit():
        try:
            operations.change_password(current_user, form.current.data, form.password.data)
        except operations.AccountError as exc:
            form.current.errors.append(str(exc))
        else:
            db.session.commit()
            # This session continues with the new nonce; every other session ends.
            login_user(current_user._get_current_object())
            flash("Your password is changed. Other sessions were logged out.", "success")
            return redirect(url_for("main.home"))
    return render_template("auth/change_password.html", form=form), (400 if form.errors else 200)
