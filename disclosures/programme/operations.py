"""Programme import, compared and written: ``plan_import`` compares a parsed file with the
database (writes nothing), ``apply_import`` writes the plan and one
``programme.imported`` audit event. The uploaded bytes are kept with the import job between
the preview and the confirmation (``disclosures.jobs``), with the column map they were read
with, so staff confirm exactly what they previewed. ``remember_column_map`` keeps the
columns staff chose for a meeting (audited ``programme.columns_mapped``).

The plan matches rooms ignoring case, spaces and punctuation, and warns (never refuses)
when two activities overlap in one room or one person is in two rooms at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from .. import vetting
from ..audit import record
from ..auth import operations as account_operations
from ..enums import AssignmentRole
from ..extensions import db
from ..models import Activity, Assignment, Meeting, Room, User
from ..openpayments.operations import apply_npis
from ..publication.operations import refresh
from ..staff import operations as ops
from ..words import comparison_key
from .reading import (
    COLUMNS,
    MAX_REPORTED_ERRORS,
    ActivityRow,
    FacultyRow,
    ParsedProgramme,
    RowError,
)
from .spreadsheet import ProgrammeFileError


@dataclass
class ActivityChange:
    code: str
    title: str
    changes: dict  # field -> (before, after), empty for a new activity


@dataclass
class ImportPlan:
    parsed: ParsedProgramme
    created: list[ActivityChange] = field(default_factory=list)
    updated: list[ActivityChange] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    new_rooms: list[str] = field(default_factory=list)
    new_people: list[tuple[str, str]] = field(default_factory=list)  # (name, email)
    new_assignments: list[FacultyRow] = field(default_factory=list)
    kept_removed: list[FacultyRow] = field(default_factory=list)  # removed by staff, left so
    errors: list[RowError] = field(default_factory=list)
    # Each room of the file (as written) → the room it lands in; matched ones whose name
    # is written differently are listed in ``room_matches`` (as written, room).
    room_names: dict[str, str] = field(default_factory=dict)
    room_matches: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # shown, never refused
    warnings_total: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changes_anything(self) -> bool:
        return bool(self.created or self.updated or self.new_rooms or self.new_people
                    or self.new_assignments)

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.parsed.row_count,
            "activities_created": len(self.created),
            "activities_updated": len(self.updated),
            "activities_unchanged": len(self.unchanged),
            "rooms_created": len(self.new_rooms),
            "people_created": len(self.new_people),
            "assignments_created": len(self.new_assignments),
        }


def _local_instant(meeting: Meeting, day: date, moment: time) -> datetime:
    return datetime.combine(day, moment).replace(tzinfo=meeting.tz)


def _wanted_values(meeting: Meeting, row: ActivityRow, room: str | None) -> dict:
    wanted = {
        "title": row.title,
        "room": room,
        "starts_at": _local_instant(meeting, row.day, row.start),
        "ends_at": _local_instant(meeting, row.day, row.end),
        "topics": row.topics,
        "credit_hours": row.credit_hours,
    }
    if row.accredited is not None:  # an "Accredited"/"CME" column: yes or no
        wanted["is_accredited"] = row.accredited
    return wanted


def plan_import(meeting: Meeting, parsed: ParsedProgramme, *, warn: bool = True) -> ImportPlan:
    """What importing ``parsed`` would do to ``meeting``. Reads only."""
    plan = ImportPlan(parsed=parsed, errors=list(parsed.errors))
    activities = {
        a.code: a for a in db.session.scalars(
            sa.select(Activity).where(Activity.meeting_id == meeting.id)
            .options(selectinload(Activity.room)))
    }
    rooms_by_key = {comparison_key(name): name for name in db.session.scalars(
        sa.select(Room.name).where(Room.meeting_id == meeting.id).order_by(Room.id))}
    for code, row in parsed.activities.items():
        room = _room_for(plan, rooms_by_key, row.room)
        wanted = _wanted_values(meeting, row, room)
        existing = activities.get(code)
        if existing is None:
            plan.created.append(ActivityChange(code, row.title, {}))
            continue
        before = ops.activity_values(existing)
        changes = {
            key: (before[key], value) for key, value in wanted.items() if before[key] != value
        }
        if changes:
            plan.updated.append(ActivityChange(code, row.title, changes))
        else:
            plan.unchanged.append(code)

    emails = sorted({f.email for f in parsed.faculty})
    users = {
        u.email: u for u in db.session.scalars(sa.select(User).where(User.email.in_(emails)))
    } if emails else {}
    existing_assignments: dict[tuple[str, str, AssignmentRole], Assignment] = {}
    if users:
        for a in db.session.scalars(
            sa.select(Assignment).where(
                Assignment.meeting_id == meeting.id,
                Assignment.user_id.in_([u.id for u in users.values()]),
            ).options(joinedload(Assignment.activity), joinedload(Assignment.user))
        ):
            # A role held for the whole meeting has no activity code ("").
            existing_assignments[(a.activity.code if a.activity else "", a.user.email, a.role)] = a
    names: dict[str, tuple[str, int]] = {}
    seen: set[tuple[str, str, AssignmentRole]] = set()
    for person in parsed.faculty:
        if person.email not in users:
            if not person.name:
                if person.email not in names and len(plan.errors) < MAX_REPORTED_ERRORS:
                    plan.errors.append(RowError(
                        person.row, "faculty name",
                        f"No account uses {person.email} yet: give the person's name so one "
                        "can be created."))
                continue
            if person.email not in names:
                names[person.email] = (person.name, person.row)
                plan.new_people.append((person.name, person.email))
        key = ("" if person.role.is_meeting_level else person.code, person.email, person.role)
        if key in seen:
            continue
        seen.add(key)
        found = existing_assignments.get(key)
        if found is None:
            plan.new_assignments.append(person)
        elif found.removed_at is not None:
            plan.kept_removed.append(person)
    plan.errors.sort(key=lambda e: (e.row, COLUMNS.index(e.column) if e.column in COLUMNS else 99))
    if plan.ok and warn:  # the import job re-plans only to write: staff saw the warnings
        _printed_text_warnings(plan)
        _schedule_warnings(meeting, plan, activities)
    return plan


def _room_for(plan: ImportPlan, rooms_by_key: dict[str, str], written: str | None) -> str | None:
    """The room a file's room name lands in: an existing (or already planned) room with the
    same name ignoring case, spaces and punctuation, else a new room as written."""
    if not written:
        return None
    if written in plan.room_names:
        return plan.room_names[written]
    key = comparison_key(written)
    name = rooms_by_key.get(key)
    if name is None:
        name = rooms_by_key[key] = written
        plan.new_rooms.append(written)
    elif name != written:
        plan.room_matches.append((written, name))
    plan.room_names[written] = name
    return name


MAX_WARNINGS = 200


@dataclass
class _Slot:
    code: str
    starts_at: datetime
    ends_at: datetime
    room: str | None
    row: int | None  # row of the file, None for an activity already in the programme


def _overlaps(slots: list[_Slot]):
    """Pairs of slots whose times overlap (touching ends do not), in order of start."""
    active: list[_Slot] = []
    for slot in sorted(slots, key=lambda s: (s.starts_at, s.code)):
        active = [a for a in active if a.ends_at > slot.starts_at]
        for earlier in active:
            yield earlier, slot
        active.append(slot)


def _printed_text_warnings(plan: ImportPlan) -> None:
    """Warn about what learners would read as printed: an activity's title or a room's
    name with a trade mark sign, a ranking claim, a web address or a price (``vetting``)."""
    for code, row in plan.parsed.activities.items():
        found = vetting.warning(row.title, f"The title of {code} (row {row.first_row})")
        if found:
            plan.warnings.append(found)
    for name in plan.new_rooms:
        found = vetting.warning(name, f"The new room “{name}”")
        if found:
            plan.warnings.append(found)


def _schedule_warnings(meeting: Meeting, plan: ImportPlan, activities: dict[str, Activity]) -> None:
    """Warn when two activities overlap in one room, and when one person would be in two
    rooms at once, as the programme will be after the import (activities already in it
    count too). Reads only."""
    slots: dict[str, _Slot] = {}
    for code, activity in activities.items():
        slots[code] = _Slot(code, activity.starts_at, activity.ends_at,
                            activity.room.name if activity.room else None, None)
    for code, row in plan.parsed.activities.items():
        slots[code] = _Slot(code, _local_instant(meeting, row.day, row.start),
                            _local_instant(meeting, row.day, row.end),
                            plan.room_names.get(row.room) if row.room else None, row.first_row)

    def when(slot: _Slot) -> str:
        start, end = meeting.local(slot.starts_at), meeting.local(slot.ends_at)
        where = f"row {slot.row}" if slot.row else "already in the programme"
        return f"{slot.code} ({where}, {start:%a %b %-d %-I:%M %p}–{end:%-I:%M %p %Z})"

    found: list[str] = []
    by_room: dict[str, list[_Slot]] = {}
    for slot in slots.values():
        if slot.room:
            by_room.setdefault(comparison_key(slot.room), []).append(slot)
    for room_slots in by_room.values():
        for first, second in _overlaps(room_slots):
            found.append(f"{first.room}: {when(first)} and {when(second)} overlap in this room.")

    codes_of: dict[str, set[str]] = {}
    for email, code in db.session.execute(
        sa.select(User.email, Activity.code).join(Assignment, Assignment.user_id == User.id)
        .join(Activity, Assignment.activity_id == Activity.id)
        .where(Activity.meeting_id == meeting.id, Assignment.removed_at.is_(None))
    ):
        codes_of.setdefault(email, set()).add(code)
    for person in plan.parsed.faculty:
        if not person.role.is_meeting_level:  # in no room: never in two at once
            codes_of.setdefault(person.email, set()).add(person.code)
    for email in sorted(codes_of):
        placed = [slots[c] for c in codes_of[email] if c in slots and slots[c].room]
        for first, second in _overlaps(placed):
            if comparison_key(first.room) != comparison_key(second.room):
                found.append(f"{email} is in two rooms at once: {when(first)} in {first.room}, "
                             f"and {when(second)} in {second.room}.")
    found = plan.warnings + found
    plan.warnings_total = len(found)
    plan.warnings = found[:MAX_WARNINGS]


def apply_import(actor: User | None, meeting: Meeting, plan: ImportPlan,
                 filename: str) -> dict[str, int]:
    """Write the plan: rooms, activities (created or updated in place), people, assignments.

    Side effects: adds ``Room``, ``Activity``, ``User`` (via ``invite_user``: each new
    account gets its ``user.invited`` event) and ``Assignment`` rows, updates activities;
    audit one ``programme.imported`` event on the meeting with the counts and the file
    name. Never removes anything. Refuses a plan with errors (``ProgrammeFileError``).
    Returns the counts.
    """
    if not plan.ok:
        raise ProgrammeFileError("The file has errors: nothing was imported.")
    rooms = {comparison_key(r.name): r
             for r in db.session.scalars(sa.select(Room).where(Room.meeting_id == meeting.id))}
    for name in plan.new_rooms:
        if comparison_key(name) not in rooms:
            rooms[comparison_key(name)] = Room(meeting=meeting, name=name)
            db.session.add(rooms[comparison_key(name)])
    activities = {
        a.code: a for a in db.session.scalars(sa.select(Activity).where(Activity.meeting_id == meeting.id))
    }
    changed_codes = {c.code for c in plan.created} | {c.code for c in plan.updated}
    new_codes = set()
    # New activities are flushed together (a 50,000-row programme must not pay a statement
    # round trip per row); their codes were checked unique by the plan and the database.
    with db.session.no_autoflush:
        for code, row in plan.parsed.activities.items():
            if code not in changed_codes:
                continue
            # Rooms are keyed ignoring case, spaces and punctuation (as the plan matched them).
            room = (rooms.get(comparison_key(plan.room_names.get(row.room) or row.room))
                    if row.room else None)
            wanted = _wanted_values(meeting, row, room.name if room else None)
            values = ops.ActivityValues(
                code=code, title=row.title, room=room,
                starts_at=wanted["starts_at"], ends_at=wanted["ends_at"], topics=row.topics,
                credit_hours=row.credit_hours, is_accredited=row.accredited,
            )
            if code in activities:
                ops.update_activity(actor, activities[code], values, audit=False)
            else:
                activities[code] = ops.create_activity(actor, meeting, values, audit=False,
                                                       flush=False, code_checked=True)
                new_codes.add(code)
    db.session.flush()
    people = account_operations.invite_users(actor, [(name, email)
                                                      for name, email in plan.new_people])
    emails = sorted({p.email for p in plan.new_assignments})
    if emails:
        for user in db.session.scalars(sa.select(User).where(User.email.in_(emails))):
            people.setdefault(user.email, user)
    fresh = []
    for person in plan.new_assignments:
        if person.role.is_meeting_level:  # the whole meeting's, whatever row named it
            ops.assign_meeting_role(actor, meeting, people[person.email], person.role, audit=False)
        elif person.code in new_codes:  # a new activity holds no assignment yet: nothing to find
            fresh.append({"user_id": people[person.email].id, "meeting_id": meeting.id,
                          "activity_id": activities[person.code].id, "role": person.role})
        else:
            ops.assign_person(actor, activities[person.code], people[person.email], person.role,
                              audit=False)
    if fresh:  # one multi-row INSERT (the ORM's bulk insert: defaults applied, no per-row flush)
        db.session.execute(sa.insert(Assignment), fresh)
    db.session.flush()
    counts = plan.counts()
    counts["npis_set"] = apply_npis(actor, plan.parsed.faculty)
    record(actor, "programme.imported", meeting, {
        **counts,
        "file": filename[:200],
        "created": [c.code for c in plan.created],
        "updated": [c.code for c in plan.updated],
    })
    if plan.changes_anything:
        refresh(meetings=[meeting.id])
    return counts


def remember_column_map(actor: User | None, meeting: Meeting, column_map: dict[str, str],
                        headers: dict[str, str], filename: str) -> bool:
    """Staff chose which column of a file holds each required programme column: keep the
    choice for the meeting's next files (and the command line).

    ``column_map`` is column → header key; ``headers`` column → header as written (for
    the record). Side effects: sets ``Meeting.import_column_map``; audit
    ``programme.columns_mapped`` with the before/after map and the file name (nothing
    written when the map is unchanged). Returns whether it changed.
    """
    before = dict(meeting.import_column_map or {})
    after = {**before, **column_map}
    if after == before:
        return False
    meeting.import_column_map = after
    record(actor, "programme.columns_mapped", meeting, {
        "columns": {"before": before, "after": after},
        "headers": {column: headers.get(column, "")[:60] for column in column_map},
        "file": filename[:200],
    })
    db.session.flush()
    return True
