"""The audit log: append-only, written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow
from .user import User


class AuditLogIsAppendOnly(RuntimeError):
    pass


class AuditEvent(db.Model):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    object_type: Mapped[str] = mapped_column(sa.String(64))
    object_id: Mapped[Optional[int]]
    # The person the event is about (the discloser), for filtering the log by person.
    subject_user_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("user_account.id"), index=True
    )
    # The meeting the event belongs to, when it belongs to one (so a meeting's staff read
    # its events and not another meeting's); events before migration 0006 carry none.
    meeting_id: Mapped[Optional[int]] = mapped_column(index=True)
    changes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    actor: Mapped[Optional[User]] = relationship(foreign_keys=[actor_id])
    subject_user: Mapped[Optional[User]] = relationship(foreign_keys=[subject_user_id])

    __table_args__ = (sa.Index("ix_audit_event_object", "object_type", "object_id"),)


# The database refuses too, so a raw statement (a script, a console session, a future bug
# that bypasses the ORM) cannot rewrite history either. Created with the table
# (``create_all``) and by migrations 0003 (UPDATE, DELETE) and 0004e (TRUNCATE, which
# skips row triggers: PostgreSQL needs a statement-level one; SQLite has no TRUNCATE).
# On SQLite a batch migration that rebuilds audit_event drops its triggers: such a
# migration must create them again. The database role the app runs as should not hold
# UPDATE, DELETE or TRUNCATE on audit_event either (README, "PostgreSQL and production").
APPEND_ONLY_MESSAGE = "audit_event is append-only"
APPEND_ONLY_DDL = {
    "sqlite": [
        "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END",
        "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$",
        "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
        "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()",
    ],
}
APPEND_ONLY_DROP = {
    "sqlite": ["DROP TRIGGER IF EXISTS audit_event_no_update",
               "DROP TRIGGER IF EXISTS audit_event_no_delete"],
    "postgresql": ["DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
                   "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
                   "DROP FUNCTION IF EXISTS audit_event_append_only()"],
}

for _dialect, _statements in APPEND_ONLY_DDL.items():
    for _statement in _statements:
        event.listen(AuditEvent.__table__, "after_create",
                     sa.DDL(_statement.replace("%", "%%")).execute_if(dialect=_dialect))


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, flush_context, instances) -> None:
    """No code path may rewrite history: updates and deletes of AuditEvent are refused."""
    for obj in session.dirty:
        if isinstance(obj, AuditEvent) and session.is_modified(obj):
            raise AuditLogIsAppendOnly("audit events cannot be changed")
    for obj in session.deleted:
        if isinstance(obj, AuditEvent):
            raise AuditLogIsAppendOnly("audit events cannot be deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_audit_changes(state) -> None:
    """The same for bulk statements: ``update(AuditEvent)`` / ``delete(AuditEvent)`` never run."""
    if not (state.is_update or state.is_delete):
        return
    mappers = getattr(state, "all_mappers", ()) or ()
    if any(mapper.class_ is AuditEvent for mapper in mappers):
        raise AuditLogIsAppendOnly("audit events cannot be changed or deleted")
