"""Starting soon: every role whose session starts within the next hours and is not
cleared, and who must act on it before then (the pages are in ``views``).

Read from the stored states (one query): nothing is judged here. Who must act follows
from the state:

- awaiting disclosure: the person discloses (or renews a disclosure that expires before
  the session);
- awaiting review or needs mitigation: a reviewer of the meeting (staff, when what holds
  the role back is a typed-in company not yet confirmed in the registry);
- awaiting an owner/employee decision: staff decide which exception applies;
- excluded: staff replace the person (an owner or employee no exception lets take part).

Roles held for the whole meeting (planning committee, reviewers …) are assumed when the
meeting starts: they are listed when the meeting's start is within the window. Roles in
non-accredited sessions are nobody's to-do and are never listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ..enums import AssignmentRole, AssignmentState
from ..extensions import db
from ..models import Activity, Assignment, Meeting
from ..models.user import format_display_name
from ..state import AWAITING_COMPANY_CONFIRMATION, DISCLOSURE_EXPIRES, StateView
from .dashboard import not_cleared


class Actor:
    """Who must act (the values are what the page groups and filters by)."""

    PERSON = "person"
    REVIEWER = "reviewer"
    STAFF = "staff"


@dataclass(frozen=True)
class Action:
    actor: str  # an ``Actor`` value
    who: str  # in words: "Dr Ana Ruiz", "A reviewer", "Staff"
    what: str  # what they must do, in words


@dataclass(frozen=True)
class SoonRole:
    assignment_id: int
    user_id: int
    display_name: str
    email: str
    role: AssignmentRole
    status: StateView
    activity_id: int | None  # None: a role held for the whole meeting
    code: str
    title: str
    starts_at: datetime
    room_name: str

    @property
    def action(self) -> Action:
        return who_must_act(self.status, self.display_name)


def who_must_act(status: StateView, name: str) -> Action:
    """Who must act on a role in ``status`` before its session, and what they must do."""
    state = status.state
    if state is AssignmentState.AWAITING_DISCLOSURE:
        expiring = next((r for r in status.reasons if r.startswith(DISCLOSURE_EXPIRES)), None)
        return Action(Actor.PERSON, name,
                      "Renew the disclosure: " + expiring[0].lower() + expiring[1:] if expiring
                      else "Submit a disclosure")
    if state is AssignmentState.AWAITING_OWNER_DECISION:
        return Action(Actor.STAFF, "Staff",
                      "Decide which Standard 3 exception, if any, lets this owner or employee take part")
    if state is AssignmentState.EXCLUDED:
        return Action(Actor.STAFF, "Staff",
                      "Replace this person: an owner or employee no exception lets take part")
    # Awaiting review with nothing left to decide or mitigate: only staff's confirmation of a
    # typed-in company holds the role back.
    if state is AssignmentState.AWAITING_REVIEW and any(
            AWAITING_COMPANY_CONFIRMATION in r for r in status.reasons):
        return Action(Actor.STAFF, "Staff", "Confirm the company and its public name in the registry")
    if state is AssignmentState.NEEDS_MITIGATION:
        return Action(Actor.REVIEWER, "A reviewer", "Record how each relevant relationship was mitigated")
    return Action(Actor.REVIEWER, "A reviewer", "Decide whether each relationship is relevant")


def window_hours() -> int:
    return int(current_app.config["STARTING_SOON_HOURS"])


def starting_soon(meeting: Meeting, now: datetime, hours: int) -> list[SoonRole]:
    """The roles of ``meeting`` starting between ``now`` and ``hours`` later that are not
    cleared, by start (one query)."""
    until = now + timedelta(hours=hours)
    meeting_starts = meeting.starts_at
    whole_meeting = now <= meeting_starts < until  # meeting-level roles are assumed then
    in_window = sa.and_(Activity.starts_at >= now, Activity.starts_at < until)
    rows = db.session.execute(
        not_cleared(meeting)
        .where(sa.or_(Assignment.activity_id.is_(None), in_window) if whole_meeting else in_window)
        .order_by(Activity.starts_at.is_not(None), Activity.starts_at, Activity.code, Assignment.id)
    )
    return [
        SoonRole(
            assignment_id=row.id, user_id=row.user_id,
            display_name=format_display_name(row.full_name, row.degrees), email=row.email,
            role=row.role, status=StateView.of(row), activity_id=row.activity_id,
            code=row.code or "", title=row.title or "Whole meeting",
            starts_at=row.starts_at or meeting_starts,
            room_name=(row.room_name if row.room_name is not None
                       else "No room assigned" if row.activity_id else "Whole meeting"),
        )
        for row in rows
    ]
