"""Who may do what: small named predicates, used by views (always) and templates.

404 for what does not exist, 403 for what the user may not touch.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import sqlalchemy as sa
from flask import abort
from flask_login import current_user
from sqlalchemy.orm import aliased

from .enums import Role
from .extensions import db
from .models import Assignment, User


def is_staff(user) -> bool:
    return bool(user and user.is_authenticated and user.has_role(Role.STAFF))


def is_reviewer(user) -> bool:
    return bool(user and user.is_authenticated and user.has_role(Role.REVIEWER))


def shares_activity(a: User | int, b: User | int) -> bool:
    """True when both people hold a (current) role in the same activity."""
    a_id = a if isinstance(a, int) else a.id
    b_id = b if isinstance(b, int) else b.id
    mine = aliased(Assignment)
    theirs = aliased(Assignment)
    stmt = (
        sa.select(sa.literal(1))
        .select_from(mine)
        .join(theirs, theirs.activity_id == mine.activity_id)
        .where(
            mine.user_id == a_id,
            theirs.user_id == b_id,
            mine.removed_at.is_(None),
            theirs.removed_at.is_(None),
        )
        .limit(1)
    )
    return db.session.execute(stmt).first() is not None


def review_refusal(user, person: User) -> str | None:
    """Why ``user`` may not review ``person``'s disclosure, or None when they may."""
    if not is_reviewer(user):
        return "Only reviewers and meeting staff can review disclosures."
    if user.id == person.id:
        return "You cannot review your own disclosure. Another reviewer must do it."
    if shares_activity(user, person):
        return (
            f"You are co-faculty with {person.full_name} in at least one activity, "
            "so another reviewer must review this disclosure."
        )
    return None


def can_review(user, person: User) -> bool:
    return review_refusal(user, person) is None


def disclosure_refusal(user, person: User) -> str | None:
    """Why ``user`` may not read ``person``'s disclosure, or None when they may.

    A disclosure is personal financial data, shown only to those who need it: the
    person, meeting staff, and the reviewers who may review it. A reviewer who is the
    person's co-faculty is not one of those (another reviewer decides), so they see the
    public statement on the room sheet like everyone else, not the full record.
    """
    if not (user and user.is_authenticated):
        return "Log in to see disclosures."
    if user.id == person.id or is_staff(user):
        return None
    if not is_reviewer(user):
        return "You can see only your own disclosures. Reviewers and meeting staff see others'."
    return review_refusal(user, person)


def require(allowed: bool, message: str | None = None) -> None:
    if not allowed:
        abort(403, description=message)


def role_required(role: Role | str) -> Callable:
    """View decorator: log in first (401 → login page), then 403 without the role."""
    needed = Role(role)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                from .extensions import login_manager

                return login_manager.unauthorized()
            if not current_user.has_role(needed):
                abort(403, description=f"This page is for {needed.label.lower()} accounts.")
            return view(*args, **kwargs)

        return wrapped

    return decorator
