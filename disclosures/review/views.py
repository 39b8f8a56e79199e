"""Reviewers: queue, per-person review, determinations and mitigations."""

from __future__ import annotations

from flask import Blueprint, render_template

from ..enums import Role
from ..permissions import role_required

bp = Blueprint("review", __name__, url_prefix="/review")


@bp.route("/")
@role_required(Role.REVIEWER)
def queue():
    return render_template("review/queue.html")
