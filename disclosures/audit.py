"""The one way to write the audit log.

``record`` adds an ``AuditEvent`` to the current session, so it is committed (or
rolled back) together with the change it describes. It never commits.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .extensions import db
from .models import (
    Activity,
    ApiToken,
    Assignment,
    AuditEvent,
    CommercialSupport,
    Determination,
    Meeting,
    Membership,
    Mitigation,
    OpenPaymentsReview,
    Reminder,
    Room,
    User,
)


def _plain(value: Any) -> Any:
    """JSON-safe form of a value for the ``changes`` column."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return value


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``{"field": {"before": x, "after": y}}`` for the fields that changed."""
    keys = list(dict.fromkeys([*before, *after]))
    return {
        key: {"before": _plain(before.get(key)), "after": _plain(after.get(key))}
        for key in keys
        if before.get(key) != after.get(key)
    }


def meeting_id_of(obj: Any) -> int | None:
    """The meeting ``obj`` belongs to, if any: a meeting, or anything held in one (room,
    activity, role, decision, reminder, membership, API token). People, disclosures and companies
    belong to no one meeting."""
    if isinstance(obj, Meeting):
        return obj.id
    if isinstance(obj, Mitigation):
        obj = obj.determination
    if isinstance(obj, Determination):
        obj = obj.assignment
    if isinstance(obj, Assignment):  # its own meeting, with or without an activity
        return obj.meeting_id if obj.meeting_id is not None else (
            obj.meeting.id if obj.meeting is not None else None)
    return getattr(obj, "meeting_id", None) if isinstance(
        obj, Activity | Room | Membership | Reminder | OpenPaymentsReview | ApiToken
        | CommercialSupport) else None


def record(
    actor: User | None,
    action: str,
    obj: Any,
    changes: dict[str, Any] | None = None,
    *,
    subject: User | None = None,
    flush: bool = True,
) -> AuditEvent:
    """Write one audit event about ``obj`` in the current transaction.

    Side effects: adds an ``AuditEvent`` to ``db.session`` and flushes so the
    object's id is known. ``subject`` is the person the event concerns (the
    discloser), so staff can filter the log by person; the meeting ``obj`` belongs to
    is kept too (``meeting_id_of``), so each meeting's staff read its events.
    """
    if getattr(obj, "id", None) is None:
        db.session.flush()
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        action=action,
        object_type=type(obj).__name__,
        object_id=getattr(obj, "id", None),
        subject_user_id=subject.id if subject is not None else None,
        meeting_id=meeting_id_of(obj),
        changes=_plain(changes or {}),
    )
    db.session.add(event)
    if flush:  # False: many events written at once (an import) go in with the next flush
        db.session.flush()
    return event
