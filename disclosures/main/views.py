"""The front door: send each person to the page for their roles; a health check."""

import sqlalchemy as sa
from flask import Blueprint, redirect, url_for
from flask_login import current_user, login_required

from ..extensions import db
from ..permissions import LIST_MEETINGS, REVIEW_ANYWHERE

bp = Blueprint("main", __name__)


@bp.route("/")
@login_required
def home():
    if LIST_MEETINGS(current_user):
        return redirect(url_for("staff.meetings"))
    if REVIEW_ANYWHERE(current_user):
        return redirect(url_for("review.queue"))
    return redirect(url_for("faculty.home"))


@bp.route("/healthz")
def health():
    """For load balancers: the app answers and the database is reachable. Shows no data."""
    db.session.execute(sa.text("SELECT 1"))
    return {"status": "ok"}
