"""Staff pages: dashboard. Routes register on the staff blueprint.

What blocks the meeting: counts by state, days left, and per room and day the
activities that are not fully cleared with who is missing what. The same rows
are exported as CSV.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from flask import Response, render_template
from sqlalchemy.orm import joinedload

from ..enums import AssignmentState, Role
from ..extensions import db
from ..models import Activity, Assignment, Meeting
from ..permissions import role_required
from ..state import STATE_CSS, AssignmentSummary, summaries_for
from .views import bp


@dataclass
class Blocker:
    """One person in one activity who is not cleared."""

    assignment: Assignment
    status: AssignmentSummary


@dataclass
class BlockedActivity:
    activity: Activity
    blockers: list[Blocker]


@dataclass
class RoomDay:
    day: date
    room_name: str
    activities: list[BlockedActivity] = field(default_factory=list)


@dataclass
class Dashboard:
    meeting: Meeting
    today: date
    counts: dict[AssignmentState, int]
    total: int
    groups: list[RoomDay]
    activities_total: int
    activities_cleared: int

    @property
    def days_to_meeting(self) -> int:
        return (self.meeting.starts_on - self.today).days

    @property
    def days_to_deadline(self) -> int | None:
        if self.meeting.disclosure_deadline is None:
            return None
        return (self.meeting.disclosure_deadline - self.today).days


def build_dashboard(meeting: Meeting, today: date) -> Dashboard:
    """Counts by state and the blocked activities of ``meeting`` (a fixed number of queries)."""
    assignments = db.session.scalars(
        sa.select(Assignment)
        .join(Assignment.activity)
        .where(Activity.meeting_id == meeting.id, Assignment.removed_at.is_(None))
        .options(
            joinedload(Assignment.user),
            joinedload(Assignment.activity).joinedload(Activity.room),
        )
        .order_by(Activity.starts_at, Activity.code, Assignment.id)
    ).unique().all()
    statuses = summaries_for(assignments, today)
    counts = Counter(statuses[a.id].state for a in assignments)

    by_activity: dict[int, BlockedActivity] = {}
    all_activities: set[int] = set()
    for assignment in assignments:
        all_activities.add(assignment.activity_id)
        status = statuses[assignment.id]
        if status.is_cleared:
            continue
        entry = by_activity.setdefault(assignment.activity_id, BlockedActivity(assignment.activity, []))
        entry.blockers.append(Blocker(assignment, status))

    groups: dict[tuple[date, str], RoomDay] = {}
    for entry in by_activity.values():
        day = meeting.local(entry.activity.starts_at).date()
        room_name = entry.activity.room.name if entry.activity.room else "No room assigned"
        groups.setdefault((day, room_name), RoomDay(day, room_name)).activities.append(entry)
    return Dashboard(
        meeting=meeting,
        today=today,
        counts={state: counts.get(state, 0) for state in AssignmentState},
        total=len(assignments),
        groups=[groups[key] for key in sorted(groups)],
        activities_total=len(all_activities),
        activities_cleared=len(all_activities) - len(by_activity),
    )


CSV_HEADER = ["Day", "Room", "Start", "Activity code", "Activity", "Person", "Email", "Role", "State", "Missing"]


def dashboard_csv_rows(dashboard: Dashboard) -> list[list[str]]:
    meeting = dashboard.meeting
    rows = []
    for group in dashboard.groups:
        for entry in group.activities:
            for blocker in entry.blockers:
                a = blocker.assignment
                rows.append([
                    group.day.isoformat(),
                    group.room_name,
                    meeting.local(entry.activity.starts_at).strftime("%H:%M"),
                    entry.activity.code,
                    entry.activity.title,
                    a.user.full_name,
                    a.user.email,
                    a.role.label,
                    blocker.status.label,
                    "; ".join(blocker.status.reasons),
                ])
    return rows


def _csv_safe(value: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas: neutralise them."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


@bp.route("/meetings/<int:meeting_id>/dashboard")
@role_required(Role.STAFF)
def dashboard(meeting_id: int):
    meeting = db.get_or_404(Meeting, meeting_id)
    data = build_dashboard(meeting, date.today())
    return render_template(
        "staff/dashboard.html", meeting=meeting, data=data, states=AssignmentState, state_css=STATE_CSS
    )


@bp.route("/meetings/<int:meeting_id>/dashboard.csv")
@role_required(Role.STAFF)
def dashboard_csv(meeting_id: int):
    meeting = db.get_or_404(Meeting, meeting_id)
    data = build_dashboard(meeting, date.today())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in dashboard_csv_rows(data):
        writer.writerow([_csv_safe(cell) for cell in row])
    filename = f"{meeting.slug}-not-cleared-{data.today.isoformat()}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
