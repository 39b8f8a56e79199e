"""The reminders job: who gets one is decided by ``reminders.operations`` (its planners);
this sends them, one ``JobMessage`` row per message.

First run: the plan becomes rows (``pending``, and ``skipped`` for those reminded within
the interval). Then, for each pending row in turn: the message is built by the reminders'
own ``_prepare``; the row is marked ``sending`` with the message's Message-ID and
COMMITTED; the message goes out on the job's one SMTP connection; once the server
accepted it, the reminders' own ``_store`` records it (``Reminder`` row, ``reminder.sent``
audit) and the row becomes ``sent``, in one commit. A 5xx answer fails that row with the
server's reason. A resumed job (worker died, server away) starts again at the first row
not finished; a row left ``sending`` is sent again with the SAME Message-ID, so the
recipient's mail system sees one message even if the first attempt got through.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from ..enums import DeliveryStatus, JobKind, ReminderKind
from ..extensions import db
from ..models import Job, JobMessage, utcnow
from ..reminders import operations as reminder_operations
from ..words import plural
from .operations import TryLater, progress, still_ours
from .smtp import MailConnection, Refused, Unavailable

PLANNERS = {
    JobKind.DISCLOSURE_REMINDERS: (ReminderKind.DISCLOSURE,
                                   reminder_operations.plan_disclosure_reminders),
    JobKind.REVIEW_SUMMARIES: (ReminderKind.REVIEW_SUMMARY,
                               reminder_operations.plan_review_summaries),
}
SKIPPED_START = -1  # position of people skipped when the job was planned (not counted in total)
FINISHED = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED,
            DeliveryStatus.UNDELIVERED)


def _rows(job: Job) -> list[JobMessage]:
    return list(db.session.scalars(
        sa.select(JobMessage).where(JobMessage.job_id == job.id).order_by(JobMessage.position,
                                                                          JobMessage.id)))


def _record_plan(job: Job, kind: ReminderKind, plan) -> None:
    hours = current_app.config["REMINDER_INTERVAL_HOURS"]
    for position, entry in enumerate(plan.due):
        db.session.add(JobMessage(job_id=job.id, user_id=entry.user.id, kind=kind,
                                  position=position))
    for user in plan.recently_reminded:
        db.session.add(JobMessage(job_id=job.id, user_id=user.id, kind=kind,
                                  position=SKIPPED_START, status=DeliveryStatus.SKIPPED,
                                  reason=f"reminded within the last {hours} hours"))
    progress(job, done=0, total=len(plan.due), stage=f"Sending {plural(len(plan.due), 'message')}")


def run_reminders(job: Job, connection_factory=MailConnection) -> None:
    kind, planner = PLANNERS[job.kind]
    plan = planner(job.meeting)
    rows = _rows(job)
    if not rows:
        _record_plan(job, kind, plan)
        rows = _rows(job)
    due = {entry.user.id: entry for entry in plan.due}
    counted = [r for r in rows if r.position != SKIPPED_START]
    done = sum(1 for r in counted if r.status in FINISHED)
    actor = job.started_by
    delivering = not current_app.config.get("MAIL_SUPPRESS_SEND")
    progress(job, done=done, stage=f"Sending: {done} of {len(counted)}")
    with connection_factory() as connection:
        for row in counted:
            if row.status in FINISHED:
                continue
            still_ours(job)
            entry = due.get(row.user_id)
            if entry is None:  # disclosed, deactivated or reminded since the plan was made
                row.status = DeliveryStatus.SKIPPED
                row.reason = "no longer due a reminder"
                done += 1
                progress(job, done=done)
                continue
            outgoing = reminder_operations._prepare(plan, entry, utcnow())
            if row.message_id:  # sent before and maybe accepted: the same message again
                del outgoing.message["Message-ID"]
                outgoing.message["Message-ID"] = row.message_id
            else:
                row.message_id = outgoing.message["Message-ID"]
            row.status = DeliveryStatus.SENDING
            row.attempts += 1
            db.session.commit()
            try:
                connection.send(outgoing.message)
            except Refused as exc:
                row.status = DeliveryStatus.FAILED
                row.reason = str(exc)[:500]
                done += 1
                progress(job, done=done, error=f"{entry.user.email}: {exc}")
                continue
            except Unavailable as exc:
                raise TryLater(f"{exc} {done} of {len(counted)} done; the rest will be sent "
                               "when it answers.") from exc
            reminder_operations._store(actor, plan, outgoing, delivered=delivering)
            row.status = DeliveryStatus.SENT if delivering else DeliveryStatus.UNDELIVERED
            if not delivering:
                row.reason = "mail sending is switched off (MAIL_SUPPRESS_SEND)"
            done += 1
            progress(job, done=done, stage=f"Sending: {done} of {len(counted)}")
    job.report = report_counts(job)
    progress(job, stage="Finished")


def report_counts(job: Job) -> dict[str, int]:
    counts = dict(db.session.execute(
        sa.select(JobMessage.status, sa.func.count(JobMessage.id))
        .where(JobMessage.job_id == job.id).group_by(JobMessage.status)).all())
    return {status.value: counts.get(status, 0) for status in DeliveryStatus}


def report_rows(job: Job) -> list[JobMessage]:
    """Every message of the job, for its report: sent, failed (with reason), skipped."""
    from sqlalchemy.orm import joinedload

    return list(db.session.scalars(
        sa.select(JobMessage).where(JobMessage.job_id == job.id)
        .options(joinedload(JobMessage.user))
        .order_by(JobMessage.status, JobMessage.position, JobMessage.id)))
