"""Jobs: long work the worker does (reminders, a programme import, the records ZIP).

One ``Job`` row per job: what, for which meeting, who started it, how far it got
(``done``/``total``, ``stage``), the errors as they happen, a report, and a result file
kept in the database until ``result_expires_at`` (so every app server can hand it out).
``running_key`` is set while the job is queued or running and cleared when it ends: being
unique, it lets only one job of a kind run for a meeting at a time.
``heartbeat_at``/``worker`` say which worker holds the job and that it is alive; a job
silent for ``JOB_STALE_SECONDS`` is taken over by another worker.

``JobMessage``: one reminder message of a job, unique per (job, person, kind). It is
``sending`` with its Message-ID before the SMTP transaction starts and ``sent`` only once
the server accepted it; a resumed job sends a ``sending`` one again with the same
Message-ID (the recipient's mail system drops the duplicate, if the first got through).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from ..enums import DeliveryStatus, JobKind, JobStatus, ReminderKind
from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow

if TYPE_CHECKING:
    from .meeting import Meeting
    from .user import User


class Job(db.Model):
    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[JobKind] = mapped_column(enum_column(JobKind, "job_kind"))
    meeting_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("meeting.id"), index=True)
    started_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("user_account.id"))
    status: Mapped[JobStatus] = mapped_column(enum_column(JobStatus, "job_status"),
                                              default=JobStatus.QUEUED)
    running_key: Mapped[Optional[str]] = mapped_column(sa.String(80), unique=True)
    stage: Mapped[str] = mapped_column(sa.String(200), default="")
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    report: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime(), index=True)
    worker: Mapped[Optional[str]] = mapped_column(sa.String(120))
    attempts: Mapped[int] = mapped_column(default=0)
    # The programme file being imported; the ZIP built. Deferred: list pages never load them.
    input_name: Mapped[Optional[str]] = mapped_column(sa.String(200))
    input_data: Mapped[Optional[bytes]] = deferred(mapped_column(sa.LargeBinary))
    result_name: Mapped[Optional[str]] = mapped_column(sa.String(200))
    result_data: Mapped[Optional[bytes]] = deferred(mapped_column(sa.LargeBinary))
    result_size: Mapped[Optional[int]] = mapped_column()
    result_expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    meeting: Mapped[Optional[Meeting]] = relationship()
    started_by: Mapped[Optional[User]] = relationship()

    @property
    def is_active(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else (100 if not self.is_active else 0)


class JobMessage(db.Model):
    __tablename__ = "job_message"
    __table_args__ = (sa.UniqueConstraint("job_id", "user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("job.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    kind: Mapped[ReminderKind] = mapped_column(enum_column(ReminderKind, "reminder_kind"))
    position: Mapped[int] = mapped_column(default=0)
    status: Mapped[DeliveryStatus] = mapped_column(enum_column(DeliveryStatus, "delivery_status"),
                                                   default=DeliveryStatus.PENDING)
    message_id: Mapped[Optional[str]] = mapped_column(sa.String(250))
    reason: Mapped[Optional[str]] = mapped_column(sa.String(500))
    attempts: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship()
