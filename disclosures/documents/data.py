"""What attendees read, as plain data for pages and PDFs, read from the published record.

A room sheet is a published ``SheetVersion`` (its content as it was made public); the
booklet and the all-faculty pages are each current role's published ``Statement``; a
first slide is its role's statement. None of them judges anything: the rule is in
``disclosures.state``, the record is written by ``disclosures.publication``. Only a
cleared role's statement names companies (its relevant relationships, company and
nature); rationales, notes, e-mails and internal ids never enter these objects, so no
page or PDF can show them by mistake. The sentences are in ``disclosures.wording``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ..enums import AssignmentRole, StatementKind
from ..extensions import db
from ..models import (
    Activity,
    Assignment,
    Meeting,
    PublicationStep,
    Room,
    SheetVersion,
    User,
)
from ..models import (
    Statement as PublishedStatement,
)
from ..publication.operations import meeting_support, provider
from .text import family_sort_key, fold


@dataclass(frozen=True)
class Statement:
    """The public statement for one person in one activity."""

    kind: StatementKind
    relationships: tuple[tuple[str, str], ...] = ()  # (company name, nature label)
    off_label: str | None = None  # declared for this presentation (role) only
    accredited: bool = True  # False: a non-accredited activity (nothing disclosed for it)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", StatementKind(self.kind))  # "none" → StatementKind.NONE

    @property
    def is_cleared(self) -> bool:
        return self.kind in (StatementKind.RELEVANT, StatementKind.NONE)


@dataclass(frozen=True)
class Provider:
    """The accredited provider (and joint provider) and its disclosure policy, as printed."""

    name: str | None = None
    joint: str | None = None
    policy_url: str | None = None

    @classmethod
    def of(cls, data: dict | None) -> Provider:
        data = data or {}
        return cls(data.get("name"), data.get("joint"), data.get("policy_url"))

    @property
    def provided_by(self) -> str | None:
        """"Provided by X." or "Jointly provided by X and Y." (``wording.provided_by``)."""
        from .. import wording

        return wording.provided_by(self.name, self.joint)

    def __bool__(self) -> bool:
        return bool(self.name or self.joint or self.policy_url)


Supporters = tuple[tuple[str, str | None], ...]  # (company name, in-kind nature or None)


def _supporters(items) -> Supporters:
    return tuple((name, in_kind) for name, in_kind in items or ())


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
    complete: bool = True  # every role cleared: the Standard 3 statement may be made
    pending: tuple[str, ...] = ()  # names of those not cleared
    accredited: bool = True  # False: listed apart, never under the Standard 3 statement

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
    as_of: datetime  # public since (the version's valid_from), in the meeting's zone
    days: tuple[Day, ...]
    version: int = 0
    fingerprint: str = ""  # first 8 hex of the SHA-256 of the statements it shows
    provider: Provider = field(default_factory=Provider)
    meeting_support: Supporters = ()

    @property
    def non_accredited(self) -> tuple[ActivitySheet, ...]:
        """Activities not accredited for CME, listed apart (after the accredited ones)."""
        return tuple(a for d in self.days for a in d.activities if not a.accredited)


@dataclass(frozen=True)
class NotAccredited:
    """A non-accredited activity (industry session, meal), listed apart."""

    title: str
    starts_at: datetime
    room: str | None
    people: tuple[str, ...] = ()


@dataclass(frozen=True)
class BookletEntry:
    activity: str
    starts_at: datetime
    room: str | None
    role: str
    statement: Statement
    support: Supporters = ()  # the activity's commercial support


# Letters of the all-faculty pages: a family name folded to a-z goes under its first letter,
# any other (Cyrillic, Chinese, a digit ...) under "other".
LETTERS = tuple("abcdefghijklmnopqrstuvwxyz") + ("other",)


@dataclass(frozen=True)
class BookletPerson:
    name: str
    sort_key: str
    search_key: str
    entries: tuple[BookletEntry, ...]
    shas: tuple[str, ...] = ()  # of the statements shown, for the booklet's fingerprint

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
    version: int = 0  # the meeting's publication step
    fingerprint: str = ""
    provider: Provider = field(default_factory=Provider)
    meeting_support: Supporters = ()
    not_accredited: tuple[NotAccredited, ...] = ()

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
    provider: Provider = field(default_factory=Provider)
    support: Supporters = ()  # the activity's commercial support


def statement_of(data: dict) -> Statement:
    """The printable statement of one role, from a published statement's data."""
    return Statement(StatementKind(data["kind"]),
                     tuple((company, nature) for company, nature in data["relationships"]),
                     data.get("off_label"), data.get("accredited", True) is not False)


def _local(value: str) -> datetime:
    return datetime.fromisoformat(value)


def room_sheet(version: SheetVersion, *, today: date | None = None) -> RoomSheet:
    """A published room sheet version as printable data (no query).

    ``today``: during the meeting, put that day first (the page a phone opens); without
    it (PDFs, old versions) the days are in order, so a version always prints the same.
    """
    content = version.content
    grouped: dict[date, list[ActivitySheet]] = {}
    for item in content["activities"]:
        sheet = ActivitySheet(
            title=item["title"],
            code=item["code"],
            starts_at=_local(item["starts_at"]),
            ends_at=_local(item["ends_at"]),
            room=content["room"],
            supporters=_supporters(item["support"]),
            people=tuple(PersonLine(p["name"], p["role"], statement_of(p)) for p in item["people"]),
            complete=item["complete"] and item.get("accredited", True) is not False,
            pending=tuple(item["pending"]),
            accredited=item.get("accredited", True) is not False,
        )
        grouped.setdefault(sheet.starts_at.date(), []).append(sheet)
    ordered = sorted(grouped)
    if today is not None and today in grouped:
        ordered = [today] + [d for d in ordered if d != today]
    zone = ZoneInfo(content["timezone"])
    return RoomSheet(
        meeting=content["meeting"], room=content["room"], location=content.get("location"),
        timezone=content["timezone"], as_of=version.valid_from.astimezone(zone),
        days=tuple(Day(d, d == today, tuple(grouped[d])) for d in ordered),
        version=version.number, fingerprint=version.fingerprint[:8],
        provider=Provider.of(content.get("provider")),
        meeting_support=_supporters(content.get("meeting_support")),
    )


def booklet(meeting: Meeting) -> Booklet:
    """Every person with a current role in the meeting, by family name, with each role's
    published statement (two queries). Its version is the meeting's publication step."""
    rows = db.session.execute(
        sa.select(Assignment.user_id, User.full_name, Activity.id.label("activity_id"),
                  Activity.title, Activity.starts_at, Activity.is_accredited,
                  Room.name.label("room"), PublishedStatement.data, PublishedStatement.sha256)
        .join(Activity, Activity.id == Assignment.activity_id)
        .join(User, User.id == Assignment.user_id)
        .join(PublishedStatement, PublishedStatement.id == Assignment.statement_id)
        .outerjoin(Room, Room.id == Activity.room_id)
        .where(Activity.meeting_id == meeting.id, Assignment.removed_at.is_(None),
               PublishedStatement.kind != StatementKind.EXCLUDED)  # excluded: never printed
        .order_by(Activity.starts_at, Activity.id, Assignment.id)
    ).all()
    step_at = db.session.scalar(
        sa.select(PublicationStep.at).where(PublicationStep.meeting_id == meeting.id,
                                            PublicationStep.seq == meeting.publication_seq))
    per_person: dict[int, list] = {}
    apart: dict[int, list] = {}  # non-accredited activities: listed apart, nobody disclosed
    for row in rows:
        if row.is_accredited:
            per_person.setdefault(row.user_id, []).append(row)
        else:
            apart.setdefault(row.activity_id, []).append(row)
    people = []
    for items in per_person.values():
        entries = tuple(
            BookletEntry(
                activity=r.title,
                starts_at=meeting.local(r.starts_at),
                room=r.room,
                role=r.data["role"],
                statement=statement_of(r.data),
                support=_supporters(r.data.get("support")),
            )
            for r in items
        )
        companies = " ".join(c for e in entries for c, _ in e.statement.relationships)
        name = items[0].data["name"]
        people.append(BookletPerson(
            name=name,
            sort_key=family_sort_key(items[0].full_name),
            search_key=fold(f"{items[0].full_name} {companies}"),
            entries=entries,
            shas=tuple(r.sha256 for r in items),
        ))
    people.sort(key=lambda p: p.sort_key)
    digest = hashlib.sha256("\n".join(s for p in people for s in p.shas).encode()).hexdigest()
    not_accredited = tuple(
        NotAccredited(items[0].title, meeting.local(items[0].starts_at), items[0].room,
                      tuple(r.data["name"] for r in items))
        for items in apart.values())
    return Booklet(meeting.name, meeting.slug, meeting.location, meeting.timezone,
                   meeting.starts_on, meeting.ends_on,
                   meeting.local(step_at) if step_at else meeting.local(meeting.created_at),
                   tuple(people), version=meeting.publication_seq, fingerprint=digest[:8],
                   provider=Provider.of(provider(meeting)),
                   meeting_support=_supporters(meeting_support(meeting.id)),
                   not_accredited=not_accredited)


@dataclass(frozen=True)
class PlanningEntry:
    """A role held for the whole meeting (planning committee, course director, reviewers),
    with its published statement: they control content too (ACCME Standard 3)."""

    name: str
    role: str
    statement: Statement


def planning_roles(meeting: Meeting) -> tuple[PlanningEntry, ...]:
    """The meeting-level roles of ``meeting`` with their statements, course directors and
    committee first, then by family name (one query). They are in no room: never on a sheet."""
    order = {role.label: index for index, role in enumerate((
        AssignmentRole.COURSE_DIRECTOR, AssignmentRole.PLANNING_COMMITTEE,
        AssignmentRole.COI_REVIEWER, AssignmentRole.CONTENT_REVIEWER,
        AssignmentRole.CONTENT_STAFF))}
    rows = db.session.execute(
        sa.select(User.full_name, PublishedStatement.data)
        .select_from(Assignment)
        .join(User, User.id == Assignment.user_id)
        .join(PublishedStatement, PublishedStatement.id == Assignment.statement_id)
        .where(Assignment.meeting_id == meeting.id, Assignment.activity_id.is_(None),
               Assignment.removed_at.is_(None))
    ).all()
    rows = sorted(rows, key=lambda r: (order.get(r.data["role"], 9), family_sort_key(r.full_name)))
    return tuple(PlanningEntry(r.data["name"], r.data["role"], statement_of(r.data)) for r in rows)


def slide(assignment: Assignment) -> Slide:
    """The first slide of one role: its published statement."""
    meeting = assignment.activity.meeting
    activity = assignment.activity
    data = assignment.statement.data if assignment.statement is not None else None
    return Slide(
        meeting=meeting.name,
        name=assignment.user.display_name,
        role=assignment.role.label,
        activity=activity.title,
        starts_at=meeting.local(activity.starts_at),
        room=activity.room.name if activity.room else None,
        statement=statement_of(data) if data else Statement(StatementKind.AWAITING),
        provider=Provider.of(provider(meeting)),
        support=_supporters(data.get("support")) if data else (),
    )


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
