"""The one way a view loads, checks and answers.

A view reads as load → check → form → operation → commit → flash → redirect::

    @bp.route("/rooms/<int:room_id>/edit", methods=["GET", "POST"])
    @guarded(MANAGE_MEETING, Room)
    def room_edit(room: Room):
        form = RoomForm(obj=room)
        if form.validate_on_submit():
            changed = save(lambda: ops.rename_room(current_user, room, form.name.data),
                           refused=lambda error: render(form, error))
            ...

``guarded`` logs the person in (anonymous → the login page), loads the object the URL
names (404), and checks the permission on its meeting (403 with the reason).
``save`` runs an operation and commits once; an ``errors.Refusal`` it raises, or a
concurrent write that the database refuses, rolls everything back and becomes the
answer the view chose. Nothing of a refused request is kept. (Indico's RH classes
and pretalx's permission mixins play this part there.)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import abort
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from .errors import CONCURRENT_SAVE, Conflict, Refusal
from .extensions import db, login_manager
from .models import (
    Activity,
    ApiToken,
    Assignment,
    CommercialSupport,
    Company,
    Job,
    Meeting,
    Membership,
    Room,
)
from .permissions import Permission

T = TypeVar("T")

# How to reach the meeting from each object a URL can name.
_MEETING_OF: dict[type, Callable] = {
    Meeting: lambda obj: obj,
    Room: lambda obj: obj.meeting,
    Activity: lambda obj: obj.meeting,
    Assignment: lambda obj: obj.meeting,
    Membership: lambda obj: obj.meeting,
    CommercialSupport: lambda obj: obj.meeting,
    ApiToken: lambda obj: obj.meeting,
    Company: lambda obj: None,  # the registry is site-wide
    Job: lambda obj: obj.meeting,  # None: a site-wide job (daily reminders), admins only
}


def meeting_of(obj) -> Meeting | None:
    return _MEETING_OF[type(obj)](obj)


def guarded(permission: Permission, model: type | None = None):
    """View decorator: log in, load ``model`` by the ``<table>_id`` URL value (404) and
    pass it as ``<table>`` instead, and require ``permission`` on its meeting (403).

    Without ``model`` the permission is asked about the site (no meeting)."""
    if model is not None:
        key = model.__tablename__
        argument = f"{key}_id"

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if model is None:
                permission.require(current_user)
                return view(*args, **kwargs)
            obj = db.get_or_404(model, kwargs.pop(argument),
                                description=f"There is no such {key.replace('_', ' ')}.")
            permission.require(current_user, meeting_of(obj))
            kwargs[key] = obj
            return view(*args, **kwargs)

        return wrapped

    return decorator


def signed_in(view):
    """View decorator: log in first (anonymous → the login page); no other check."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    return wrapped


def save(operation: Callable[[], T], *, refused: Callable[[Refusal], object],
         retry_on_duplicate: bool = False) -> T:
    """Run ``operation`` and commit once; return its result.

    A ``Refusal`` it raises is rolled back and answered with ``refused(error)`` (a
    response, or the (body, status) a view returns). A concurrent write the database
    stopped (``StaleDataError``: a versioned row saved by someone else in between;
    ``IntegrityError``: the same unique row inserted at the same moment) is rolled back
    too; with ``retry_on_duplicate`` the operation runs once more, when its own check
    sees the committed row and refuses as for any duplicate, else the answer is
    ``refused(Conflict(CONCURRENT_SAVE))``.
    """
    attempts = 2 if retry_on_duplicate else 1
    for attempt in range(1, attempts + 1):
        try:
            result = operation()
            db.session.commit()
            return result
        except Refusal as error:
            db.session.rollback()
            abort(_response(refused(error), error.status))
        except (StaleDataError, IntegrityError):
            db.session.rollback()
            if attempt == attempts:
                error = Conflict(CONCURRENT_SAVE)
                abort(_response(refused(error), error.status))
    raise AssertionError("unreachable")  # pragma: no cover


def _response(answer, status: int):
    """A view's answer (a response, a body, or (body, status)) as a response object."""
    from flask import make_response

    if isinstance(answer, tuple):
        return make_response(*answer)
    response = make_response(answer)
    if response.status_code == 200:
        response.status_code = status
    return response
