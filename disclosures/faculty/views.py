"""Faculty: home page and the disclosure form."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, render_template
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Activity, Assignment
from ..state import states_for

bp = Blueprint("faculty", __name__, url_prefix="/faculty")


@bp.route("/")
@login_required
def home():
    assignments = db.session.scalars(
        sa.select(Assignment)
        .join(Assignment.activity)
        .where(Assignment.user_id == current_user.id, Assignment.removed_at.is_(None))
        .options(joinedload(Assignment.activity).joinedload(Activity.room))
        .options(joinedload(Assignment.activity).joinedload(Activity.meeting))
        .order_by(Activity.starts_at)
    ).all()
    statuses = states_for(assignments, date.today())
    return render_template("faculty/home.html", assignments=assignments, statuses=statuses)
