"""The one source of "now" and "today".

Every rule that depends on time asks here, never ``date.today()`` or ``datetime.now()``:
the server's date is not the meeting's (a meeting in Honolulu is still on yesterday when
the server in UTC is not), and tests move this clock (13 months past a meeting, say) to
show that no day passing changes the record.

A role's state is judged as of its activity's start: ``start_day`` is that day in the
meeting's time zone. ``meeting_today`` is today where the meeting is (for pages that
show "today first").
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

_offset = timedelta(0)  # moved by tests only (travel); zero in production


def now() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC) + _offset


def travel(to: datetime) -> None:
    """Tests: make ``now()`` read ``to`` (aware) from here on, and keep running."""
    global _offset
    _offset = to - datetime.now(UTC)


def reset() -> None:
    global _offset
    _offset = timedelta(0)


def meeting_now(meeting) -> datetime:
    """Now in the meeting's time zone."""
    return now().astimezone(meeting.tz)


def meeting_today(meeting) -> date:
    return meeting_now(meeting).date()


def start_day(activity) -> date:
    """The day the activity starts, where the meeting is: the day its roles are judged on."""
    return activity.starts_at.astimezone(activity.meeting.tz).date()
