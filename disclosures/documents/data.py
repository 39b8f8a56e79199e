"""What attendees read, as plain data: built by query functions, used by pages and PDFs.

The public statement for each assignment comes from ``disclosures.state`` (the
one place assignment state is computed). Only a *cleared* assignment shows
content: its relevant relationships (company name and nature) and the
mitigation statement, or the no-relationship statement. Everything else reads
"Disclosure under review". Irrelevant relationships, rationales, mitigation
notes, e-mails and internal ids never enter these objects, so no page or PDF
can show them by mistake. What the statements say, word for word, is in
``disclosures.wording``.

``change_marker`` answers "did anything a sheet shows change?" in one query of
aggregates, so pages can answer 304 and cached PDFs can be reused cheaply.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from .. import wording
from ..enums import AssignmentRole, StatementKind
from ..extensions import db
from ..models import (
    Activity,
    Assignment,
    Company,
    Determination,
    Disclosure,
    Meeting,
    Mitigation,
    Relationship,
    Room,
)
from ..state import states_for, summaries_for

# The views passed this to the templates before they read ``wording`` (kept until they stop).
INTRO = wording.INTRO

# Planners after faculty; faculty in the order a programme lists them.
_ROLE_ORDER = {role: index for index, role in enumerate([
    AssignmentRole.MODERATOR, AssignmentRole.SPEAKER, AssignmentRole.PANELIST,
    AssignmentRole.AUTHOR, AssignmentRole.OTHER, AssignmentRole.PLANNER,
])}


@dataclass(frozen=True)
class Statement:
    """The public statement for one person in one activity."""

    kind: StatementKind
    relationships: tuple[tuple[str, str], ...] = ()  # (company name, nature label)
    off_label: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", StatementKind(self.kind))  # "none" → StatementKind.NONE

    @property
    def is_cleared(self) -> bool:
        return self.kind != StatementKind.REVIEW


@dataclass(frozen=True)
class PersonLine:
    name: str
    role: str
    statement: Statement


@dataclass(frozen=True)
class ActivitySheet:
    title: str
    code: str
    starts_at: datetime  # in the meeting's time zone
    ends_at: datetime
    room: str | None
    supporters: tuple[tuple[str, str | None], ...]  # (name, in-kind nature or None)
    people: tuple[PersonLine, ...]

    @property
    def off_label(self) -> list[tuple[str, str]]:
        return [(p.name, p.statement.off_label) for p in self.people if p.statement.off_label]


@dataclass(frozen=True)
class Day:
    day: date
    is_today: bool
    activities: tuple[ActivitySheet, ...]


@dataclass(frozen=True)
class RoomSheet:
    meeting: str
    room: str
    location: str | None
    timezone: str
    as_of: datetime
    days: tuple[Day, ...]


@dataclass(frozen=True)
class BookletEntry:
    activity: str
    starts_at: datetime
    room: str | None
    role: str
    statement: Statement


# Letters of the all-faculty pages: a family name folded to a-z goes under its first letter,
# any other (Cyrillic, Chinese, a digit ...) under "other".
LETTERS = tuple("abcdefghijklmnopqrstuvwxyz") + ("other",)


@dataclass(frozen=True)
class BookletPerson:
    name: str
    sort_key: str
    search_key: str
    entries: tuple[BookletEntry, ...]

    @property
    def letter(self) -> str:
        """The letter (one of ``LETTERS``) the family name is listed under."""
        first = self.sort_key[:1]
        return first if "a" <= first <= "z" else "other"


@dataclass(frozen=True)
class PeoplePage:
    """One page of a list of people: page ``number`` of ``count`` (from 1), ``total`` people
    in the whole list, the first shown being number ``start`` (from 1)."""

    people: tuple[BookletPerson, ...]
    number: int
    count: int
    total: int
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.people) - 1


def people_page(people: tuple[BookletPerson, ...], number: int, per_page: int) -> PeoplePage | None:
    """Page ``number`` (from 1) of ``people``, ``per_page`` at a time; None past the last page.
    An empty list has one (empty) page."""
    count = max(1, -(-len(people) // per_page))
    if not 1 <= number <= count:
        return None
    first = (number - 1) * per_page
    return PeoplePage(people[first:first + per_page], number, count, len(people), first + 1)


@dataclass(frozen=True)
class Booklet:
    meeting: str
    slug: str
    location: str | None
    timezone: str
    starts_on: date
    ends_on: date
    as_of: datetime
    people: tuple[BookletPerson, ...] = field(default_factory=tuple)

    def search(self, query: str) -> tuple[BookletPerson, ...]:
        """People whose name, or a company on their statement, contains ``query``."""
        needle = fold(query)
        if not needle:
            return self.people
        return tuple(p for p in self.people if needle in p.search_key)

    @cached_property
    def by_letter(self) -> dict[str, tuple[BookletPerson, ...]]:
        """The people under each letter that has any, in ``LETTERS`` order (then by family name)."""
        groups: dict[str, list[BookletPerson]] = {letter: [] for letter in LETTERS}
        for person in self.people:
            groups[person.letter].append(person)
        return {letter: tuple(people) for letter, people in groups.items() if people}


@dataclass(frozen=True)
class Slide:
    meeting: str
    name: str
    role: str
    activity: str
    starts_at: datetime
    room: str | None
    statement: Statement


@dataclass(frozen=True)
class ChangeMarker:
    """A fingerprint of everything a sheet shows, and when it last changed."""

    etag: str
    last_modified: datetime


def fold(text: str) -> str:
    """Case- and accent-insensitive form for searching and sorting."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()


def family_sort_key(name: str) -> str:
    """Sort by family name (last word, ignoring a parenthesised transliteration), then name."""
    bare = name.split("(")[0].strip() or name
    words = bare.split()
    last = words[-1] if words else bare
    return f"{fold(last)}\x00{fold(name)}"


def statement_for(status) -> Statement:
    """The learner-facing statement for one assignment's status (see the module docstring)."""
    if not status.is_cleared:
        return Statement(StatementKind.REVIEW)
    disclosure = status.disclosure
    off_label = None
    if disclosure is not None and disclosure.discusses_off_label:
        off_label = (disclosure.off_label_detail or "").strip() or wording.OFF_LABEL_DEFAULT
    if status.relevant:
        seen = []
        for relationship, _determination in status.relevant:
            pair = (relationship.company.name, relationship.nature.label)
            if pair not in seen:
                seen.append(pair)
        return Statement(StatementKind.RELEVANT, tuple(seen), off_label)
    return Statement(StatementKind.NONE, (), off_label)


def _local_today(meeting: Meeting, now: datetime) -> date:
    return now.astimezone(meeting.tz).date()


def _status_day(meeting: Meeting, now: datetime) -> date:
    """The day used to judge disclosure validity: the meeting's local today."""
    return _local_today(meeting, now)


def _supporters(activity: Activity) -> tuple[tuple[str, str | None], ...]:
    result = []
    for item in activity.commercial_supporters or []:
        if isinstance(item, dict) and str(item.get("name") or "").strip():
            in_kind = item.get("in_kind")
            result.append((str(item["name"]).strip(), str(in_kind).strip() if in_kind else None))
    return tuple(result)


def _live_assignments(activity_filter) -> list[Assignment]:
    return list(db.session.scalars(
        sa.select(Assignment)
        .join(Assignment.activity)
        .where(activity_filter, Assignment.removed_at.is_(None))
        .options(joinedload(Assignment.user), joinedload(Assignment.activity).joinedload(Activity.room))
        .order_by(Activity.starts_at, Activity.id, Assignment.id)
    ).unique())


def _statements(assignments: list[Assignment], today: date) -> dict[int, Statement]:
    """Each assignment's learner-facing statement, in four queries whatever the count.

    ``summaries_for`` (the rule, two aggregate queries) says who is cleared and with which
    disclosure version; for those only, one query of plain rows gives the relevant
    relationships (company, nature) of that version and one the off-label statements.
    This is ``statement_for(states_for(...))`` without building thousands of ORM objects;
    a test checks the two agree on every assignment of a meeting in every state.
    """
    summaries = summaries_for(assignments, today)
    cleared = {a.id: summaries[a.id].disclosure_id for a in assignments
               if summaries[a.id].is_cleared and summaries[a.id].disclosure_id is not None}
    relevant: dict[int, list[tuple[str, str]]] = {}
    off_label: dict[int, str | None] = {}
    if cleared:
        rows = db.session.execute(
            sa.select(Determination.assignment_id, Relationship.disclosure_id, Company.name,
                      Relationship.nature)
            .join(Relationship, Relationship.id == Determination.relationship_id)
            .join(Company, Company.id == Relationship.company_id)
            .where(Determination.assignment_id.in_(sorted(cleared)),
                   Determination.is_relevant.is_(True), Company.is_ineligible.is_(True))
            .order_by(Determination.assignment_id, Relationship.id)
        )
        for assignment_id, disclosure_id, company, nature in rows:
            if cleared[assignment_id] != disclosure_id:
                continue  # a determination about an earlier version of the disclosure
            pair = (company, nature.label)
            pairs = relevant.setdefault(assignment_id, [])
            if pair not in pairs:
                pairs.append(pair)
        for disclosure_id, discusses, detail in db.session.execute(
            sa.select(Disclosure.id, Disclosure.discusses_off_label, Disclosure.off_label_detail)
            .where(Disclosure.id.in_(sorted(set(cleared.values()))))
        ):
            off_label[disclosure_id] = (
                ((detail or "").strip() or wording.OFF_LABEL_DEFAULT) if discusses else None
            )
    review = Statement(StatementKind.REVIEW)
    result = {}
    for assignment in assignments:
        disclosure_id = cleared.get(assignment.id)
        if disclosure_id is None:
            result[assignment.id] = review
        elif relevant.get(assignment.id):
            result[assignment.id] = Statement(StatementKind.RELEVANT, tuple(relevant[assignment.id]),
                                              off_label.get(disclosure_id))
        else:
            result[assignment.id] = Statement(StatementKind.NONE, (), off_label.get(disclosure_id))
    return result


def room_sheet(room: Room, now: datetime, as_of: datetime | None = None) -> RoomSheet:
    """The sheet for one room (a fixed number of queries, whatever its size)."""
    meeting = room.meeting
    activities = list(db.session.scalars(
        sa.select(Activity).where(Activity.room_id == room.id).order_by(Activity.starts_at, Activity.id)
    ))
    assignments = _live_assignments(Activity.room_id == room.id)
    statements = _statements(assignments, _status_day(meeting, now))
    by_activity: dict[int, list[Assignment]] = {}
    for assignment in assignments:
        by_activity.setdefault(assignment.activity_id, []).append(assignment)

    today = _local_today(meeting, now)
    grouped: dict[date, list[ActivitySheet]] = {}
    for activity in activities:
        people = sorted(
            by_activity.get(activity.id, []),
            key=lambda a: (_ROLE_ORDER.get(a.role, 9), family_sort_key(a.user.full_name)),
        )
        sheet = ActivitySheet(
            title=activity.title,
            code=activity.code,
            starts_at=meeting.local(activity.starts_at),
            ends_at=meeting.local(activity.ends_at),
            room=room.name,
            supporters=_supporters(activity),
            people=tuple(
                PersonLine(a.user.display_name, a.role.label, statements[a.id])
                for a in people
            ),
        )
        grouped.setdefault(sheet.starts_at.date(), []).append(sheet)
    ordered = sorted(grouped)
    running = meeting.starts_on <= today <= meeting.ends_on
    if running and today in grouped:
        ordered = [today] + [d for d in ordered if d != today]
    days = tuple(Day(d, d == today, tuple(grouped[d])) for d in ordered)
    return RoomSheet(meeting.name, room.name, meeting.location, meeting.timezone,
                     meeting.local(as_of or now), days)


def booklet(meeting: Meeting, now: datetime, as_of: datetime | None = None) -> Booklet:
    """Every person with a role in the meeting, by family name, with each role's statement."""
    assignments = _live_assignments(Activity.meeting_id == meeting.id)
    statements = _statements(assignments, _status_day(meeting, now))
    per_person: dict[int, list[Assignment]] = {}
    for assignment in assignments:
        per_person.setdefault(assignment.user_id, []).append(assignment)
    people = []
    for items in per_person.values():
        user = items[0].user
        entries = tuple(
            BookletEntry(
                activity=a.activity.title,
                starts_at=meeting.local(a.activity.starts_at),
                room=a.activity.room.name if a.activity.room else None,
                role=a.role.label,
                statement=statements[a.id],
            )
            for a in items
        )
        companies = " ".join(c for e in entries for c, _ in e.statement.relationships)
        people.append(BookletPerson(
            name=user.display_name,
            sort_key=family_sort_key(user.full_name),
            search_key=fold(f"{user.full_name} {companies}"),
            entries=entries,
        ))
    people.sort(key=lambda p: p.sort_key)
    return Booklet(meeting.name, meeting.slug, meeting.location, meeting.timezone,
                   meeting.starts_on, meeting.ends_on, meeting.local(as_of or now), tuple(people))


def slide(assignment: Assignment, now: datetime) -> Slide:
    meeting = assignment.activity.meeting
    status = states_for([assignment], _status_day(meeting, now))[assignment.id]
    activity = assignment.activity
    return Slide(
        meeting=meeting.name,
        name=assignment.user.display_name,
        role=assignment.role.label,
        activity=activity.title,
        starts_at=meeting.local(activity.starts_at),
        room=activity.room.name if activity.room else None,
        statement=statement_for(status),
    )


# --- Change markers -----------------------------------------------------------------------

def _aggregates(activity_ids: sa.Select) -> list[sa.ScalarSelect]:
    """Scalar subqueries whose values change whenever what a sheet shows changes."""
    assignment_ids = sa.select(Assignment.id).where(Assignment.activity_id.in_(activity_ids))
    user_ids = sa.select(Assignment.user_id).where(Assignment.activity_id.in_(activity_ids))
    determination_ids = sa.select(Determination.id).where(
        Determination.assignment_id.in_(assignment_ids)
    )

    def agg(*columns, where):
        return [sa.select(c).where(where).scalar_subquery() for c in columns]

    return [
        *agg(sa.func.count(Activity.id), sa.func.max(Activity.updated_at),
             sa.func.sum(Activity.version_id), where=Activity.id.in_(activity_ids)),
        *agg(sa.func.count(Assignment.id), sa.func.max(Assignment.created_at),
             sa.func.max(Assignment.removed_at), sa.func.max(Assignment.owner_decided_at),
             sa.func.sum(Assignment.version_id), where=Assignment.activity_id.in_(activity_ids)),
        *agg(sa.func.count(Disclosure.id), sa.func.max(Disclosure.submitted_at),
             where=Disclosure.user_id.in_(user_ids)),
        *agg(sa.func.count(Determination.id), sa.func.max(Determination.decided_at),
             sa.func.sum(Determination.version_id),
             where=Determination.assignment_id.in_(assignment_ids)),
        *agg(sa.func.count(Mitigation.id), sa.func.max(Mitigation.recorded_at),
             sa.func.sum(Mitigation.version_id),
             where=Mitigation.determination_id.in_(determination_ids)),
    ]


def _as_utc(value) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):  # SQLite returns aggregates of datetimes as text
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _marker(parts: list, moments: list, meeting: Meeting, now: datetime, period: int) -> ChangeMarker:
    # The local day matters (expiry of disclosures, "today first"); the period bounds how
    # long a change that leaves no timestamp (a renamed person or company) can stay unseen.
    bucket = int(now.timestamp()) // max(period, 1)
    raw = "|".join(str(p) for p in [*parts, _local_today(meeting, now), bucket])
    digest = hashlib.sha256(raw.encode()).hexdigest()[:32]
    times = [t for t in (_as_utc(m) for m in moments) if t is not None]
    last = max(times).replace(microsecond=0)
    return ChangeMarker(etag=digest, last_modified=last)


def load_room(token: str, now: datetime, period: int = 600) -> tuple[Room, ChangeMarker] | None:
    """The room with this public token and its change marker, in one query; None if unknown."""
    # Correlated explicitly: nested two levels down, auto-correlation would not reach the
    # outer Room and every subquery would add its own "FROM room" (all rooms, slowly).
    activity_ids = sa.select(Activity.id).where(Activity.room_id == Room.id).correlate(Room)
    row = db.session.execute(
        sa.select(Room, *_aggregates(activity_ids))
        .where(Room.public_token == token)
        .options(joinedload(Room.meeting))
    ).first()
    if row is None:
        return None
    room, *values = row
    meeting = room.meeting
    parts = ["room", room.id, room.name, room.public_token, meeting.name, meeting.timezone,
             meeting.location, meeting.starts_on, meeting.ends_on, *values]
    moments = [room.token_issued_at, meeting.created_at, *values]
    return room, _marker(parts, moments, meeting, now, period)


def meeting_marker(meeting: Meeting, now: datetime, period: int = 600) -> ChangeMarker:
    """The change marker of a whole meeting's booklet (one query)."""
    activity_ids = sa.select(Activity.id).where(Activity.meeting_id == meeting.id)
    values = list(db.session.execute(sa.select(*_aggregates(activity_ids))).one())
    room_names = db.session.execute(
        sa.select(sa.func.count(Room.id), sa.func.max(Room.token_issued_at))
        .where(Room.meeting_id == meeting.id)
    ).one()
    parts = ["meeting", meeting.id, meeting.name, meeting.slug, meeting.timezone,
             meeting.location, meeting.starts_on, meeting.ends_on, *values, *room_names]
    return _marker(parts, [meeting.created_at, *values], meeting, now, period)


def current_meeting(today: date) -> Meeting | None:
    """The meeting attendees mean: the one running or next upcoming, else the latest."""
    upcoming = db.session.scalars(
        sa.select(Meeting).where(Meeting.ends_on >= today)
        .order_by(Meeting.starts_on, Meeting.id).limit(1)
    ).first()
    if upcoming is not None:
        return upcoming
    return db.session.scalars(
        sa.select(Meeting).order_by(Meeting.ends_on.desc(), Meeting.id.desc()).limit(1)
    ).first()
