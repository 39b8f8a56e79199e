"""The staff dashboard, as data: what blocks the meeting (the pages are in ``views``).

What blocks the meeting: counts by state, days left, and per room and day the
activities that are not fully cleared with who is missing what. The page shows
one day's blocked activities at a time (links to the other days); the CSV export
has every row.

Everything is read from the stored states: the counts and the days as two aggregate
queries, the blocked roles of the day shown as plain column rows (no ORM object per
assignment), so the page costs the same at 100 roles as at 3,000.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from ..enums import AssignmentRole, AssignmentState
from ..extensions import db
from ..models import Activity, Assignment, Meeting, Room, User, asks_disclosure
from ..models.user import format_display_name
from ..state import StateView, state_counts

NEEDS_REVIEWER = (AssignmentState.AWAITING_REVIEW, AssignmentState.NEEDS_MITIGATION)


@dataclass(frozen=True)
class Blocker:
    """One person in one activity who is not cleared (plain values, no ORM object)."""

    assignment_id: int
    user_id: int
    full_name: str
    display_name: str
    email: str
    role: AssignmentRole
    status: StateView

    @property
    def needs_reviewer(self) -> bool:
        return self.status.state in NEEDS_REVIEWER


@dataclass
class BlockedActivity:
    activity_id: int
    code: str
    title: str
    starts_at: datetime
    blockers: list[Blocker]


@dataclass
class RoomDay:
    day: date
    room_name: str
    activities: list[BlockedActivity] = field(default_factory=list)

    @property
    def blockers(self) -> int:
        return sum(len(entry.blockers) for entry in self.activities)


@dataclass(frozen=True)
class DayTab:
    day: date
    blockers: int  # roles not cleared that day


@dataclass
class Dashboard:
    meeting: Meeting
    today: date
    counts: dict[AssignmentState, int]
    total: int
    groups: list[RoomDay]
    activities_total: int
    activities_cleared: int
    day_blockers: dict[date, int] = field(default_factory=dict)  # roles not cleared, by day

    @property
    def days_to_meeting(self) -> int:
        return (self.meeting.starts_on - self.today).days

    @property
    def days_to_deadline(self) -> int | None:
        if self.meeting.disclosure_deadline is None:
            return None
        return (self.meeting.disclosure_deadline - self.today).days

    @property
    def days(self) -> list[DayTab]:
        """Every day of the meeting, and any other day with a blocked activity, in order."""
        blockers: dict[date, int] = {}
        span = (self.meeting.ends_on - self.meeting.starts_on).days + 1
        for n in range(max(span, 0)):
            blockers[self.meeting.starts_on + timedelta(days=n)] = 0
        for day, count in self.day_blockers.items():
            blockers[day] = blockers.get(day, 0) + count
        return [DayTab(day, count) for day, count in sorted(blockers.items())]

    @property
    def default_day(self) -> date | None:
        """Today during the meeting, else the first day with blockers, else the first day."""
        days = self.days
        if self.meeting.starts_on <= self.today <= self.meeting.ends_on:
            return self.today
        first_blocked = next((tab.day for tab in days if tab.blockers), None)
        return first_blocked or (days[0].day if days else None)

    def groups_on(self, day: date | None) -> list[RoomDay]:
        return [group for group in self.groups if group.day == day]


def build_dashboard(meeting: Meeting, today: date) -> Dashboard:
    """Counts by state, and how many roles are blocked on each day, of ``meeting`` (two
    aggregate queries on the stored states, whatever the meeting's size). The blocked
    activities themselves are loaded for one day (``load_day``) or all (``load_all``)."""
    # Every current role someone must disclose for, meeting-level ones (committee,
    # reviewers) included; roles in non-accredited sessions are never missing.
    current = sa.and_(Assignment.meeting_id == meeting.id, Assignment.removed_at.is_(None),
                      asks_disclosure())
    counts = state_counts(())
    total = 0
    for state, count in db.session.execute(
        sa.select(Assignment.state, sa.func.count())
        .outerjoin(Activity, Activity.id == Assignment.activity_id)
        .where(current).group_by(Assignment.state)
    ):
        counts[state] = count
        total += count
    blocked = sa.func.sum(sa.case((Assignment.state != AssignmentState.CLEARED, 1), else_=0))
    per_activity = db.session.execute(
        sa.select(Activity.id, Activity.starts_at, blocked.label("blocked"))
        .join(Assignment, Assignment.activity_id == Activity.id)
        .where(current).group_by(Activity.id, Activity.starts_at)
    ).all()
    day_blockers: dict[date, int] = {}
    for row in per_activity:
        if row.blocked:
            day = meeting.local(row.starts_at).date()
            day_blockers[day] = day_blockers.get(day, 0) + int(row.blocked)
    return Dashboard(
        meeting=meeting,
        today=today,
        counts=counts,
        total=total,
        groups=[],
        activities_total=len(per_activity),
        activities_cleared=sum(1 for row in per_activity if not row.blocked),
        day_blockers=day_blockers,
    )


def not_cleared(meeting: Meeting) -> sa.Select:
    """The current roles of ``meeting`` someone must disclose for that are not cleared, as
    plain columns: the person, the stored state, the activity and room (None for a role
    held for the whole meeting). Callers narrow it (a day, a window) and order it."""
    return (
        sa.select(
            Assignment.id, Assignment.user_id, Assignment.state, Assignment.state_reasons,
            Assignment.is_late, Assignment.role, Assignment.activity_id, Activity.code,
            Activity.title, Activity.starts_at, Room.name.label("room_name"), User.full_name,
            User.degrees, User.email,
        )
        .outerjoin(Activity, Activity.id == Assignment.activity_id)
        .join(User, User.id == Assignment.user_id)
        .outerjoin(Room, Room.id == Activity.room_id)
        .where(Assignment.meeting_id == meeting.id, Assignment.removed_at.is_(None),
               asks_disclosure(), Assignment.state != AssignmentState.CLEARED)
    )


def _blocked_groups(meeting: Meeting, day: date | None) -> list[RoomDay]:
    """The activities with a role not cleared, grouped by day and room, with who blocks
    them (one query; only ``day``'s activities unless ``day`` is None)."""
    stmt = (not_cleared(meeting).where(Assignment.activity_id.is_not(None))
            .order_by(Activity.starts_at, Activity.code, Assignment.id))
    if day is not None:
        first = datetime.combine(day, time.min, tzinfo=meeting.tz).astimezone(UTC)
        stmt = stmt.where(Activity.starts_at >= first, Activity.starts_at < first + timedelta(days=1))
    by_activity: dict[int, BlockedActivity] = {}
    groups: dict[tuple[date, str], RoomDay] = {}
    for row in db.session.execute(stmt):
        entry = by_activity.get(row.activity_id)
        if entry is None:
            entry = by_activity[row.activity_id] = BlockedActivity(
                row.activity_id, row.code, row.title, row.starts_at, []
            )
            local_day = meeting.local(row.starts_at).date()
            room_name = row.room_name if row.room_name is not None else "No room assigned"
            groups.setdefault((local_day, room_name), RoomDay(local_day, room_name)).activities.append(entry)
        entry.blockers.append(Blocker(
            assignment_id=row.id,
            user_id=row.user_id,
            full_name=row.full_name,
            display_name=format_display_name(row.full_name, row.degrees),
            email=row.email,
            role=row.role,
            status=StateView.of(row),
        ))
    return [groups[key] for key in sorted(groups)]


def load_day(dashboard: Dashboard, day: date | None) -> list[RoomDay]:
    """The blocked activities of ``day`` (what the page shows)."""
    if day is None:
        return []
    dashboard.groups = _blocked_groups(dashboard.meeting, day)
    return dashboard.groups_on(day)


def load_all(dashboard: Dashboard) -> Dashboard:
    """Every day's blocked activities (the CSV)."""
    dashboard.groups = _blocked_groups(dashboard.meeting, None)
    return dashboard


def chosen_day(dashboard: Dashboard, raw: str | None) -> tuple[date | None, str | None]:
    """The day the page shows, and a message when ``raw`` (the ?day= value) was unusable."""
    default = dashboard.default_day
    if raw is None or raw == "":
        return default, None
    try:
        day = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None:
        return default, "The day must be a date such as 2026-12-14: showing the default day instead."
    if day not in {tab.day for tab in dashboard.days}:
        return default, (
            f"{day.strftime('%A %b %-d, %Y')} is not a day of this meeting: "
            "showing the default day instead."
        )
    return day, None


CSV_HEADER = ["Day", "Room", "Start", "Activity code", "Activity", "Person", "Email", "Role", "State", "Missing"]


def dashboard_csv_rows(dashboard: Dashboard) -> list[list[str]]:
    """Every blocked role of the meeting, all days."""
    rows = []
    for group in dashboard.groups:
        for entry in group.activities:
            start = dashboard.meeting.local(entry.starts_at).strftime("%H:%M")
            for blocker in entry.blockers:
                rows.append([
                    group.day.isoformat(),
                    group.room_name,
                    start,
                    entry.code,
                    entry.title,
                    blocker.full_name,
                    blocker.email,
                    blocker.role.label,
                    blocker.status.label,
                    "; ".join(blocker.status.reasons),
                ])
    return rows


