"""Programme import, compared and written: ``plan_import`` compares a parsed file with the
database (writes nothing), ``apply_import`` writes the plan and one
``programme.imported`` audit event. The uploaded bytes are kept with the import job between
the preview and the confirmation (``disclosures.jobs``), so staff confirm exactly what
they previewed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

import sqlalchemy as sa

from ..audit import record
from ..auth import operations as account_operations
from ..enums import AssignmentRole
from ..extensions import db
from ..models import Activity, Assignment, Meeting, Room, User
from ..openpayments.operations import apply_npis
from ..publication.operations import refresh
from ..staff import operations as ops
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


def _wanted_values(meeting: Meeting, row: ActivityRow) -> dict:
    return {
        "title": row.title,
        "room": row.room,
        "starts_at": _local_instant(meeting, row.day, row.start),
        "ends_at": _local_instant(meeting, row.day, row.end),
        "topics": row.topics,
        "credit_hours": row.credit_hours,
    }


def plan_import(meeting: Meeting, parsed: ParsedProgramme) -> ImportPlan:
    """What importing ``parsed`` would do to ``meeting``. Reads only."""
    plan = ImportPlan(parsed=parsed, errors=list(parsed.errors))
    activities = {
        a.code: a for a in db.session.scalars(
            sa.select(Activity).where(Activity.meeting_id == meeting.id))
    }
    room_names = set(db.session.scalars(sa.select(Room.name).where(Room.meeting_id == meeting.id)))
    for code, row in parsed.activities.items():
        wanted = _wanted_values(meeting, row)
        if row.room and row.room not in room_names and row.room not in plan.new_rooms:
            plan.new_rooms.append(row.room)
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
    if activities and users:
        for a in db.session.scalars(
            sa.select(Assignment).join(Activity).where(
                Activity.meeting_id == meeting.id,
                Assignment.user_id.in_([u.id for u in users.values()]),
            )
        ):
            existing_assignments[(a.activity.code, a.user.email, a.role)] = a
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
        key = (person.code, person.email, person.role)
        if key in seen:
            continue
        seen.add(key)
        found = existing_assignments.get(key)
        if found is None:
            plan.new_assignments.append(person)
        elif found.removed_at is not None:
            plan.kept_removed.append(person)
    plan.errors.sort(key=lambda e: (e.row, COLUMNS.index(e.column) if e.column in COLUMNS else 99))
    return plan


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
    rooms = {r.name: r for r in db.session.scalars(sa.select(Room).where(Room.meeting_id == meeting.id))}
    for name in plan.new_rooms:
        if name not in rooms:
            rooms[name] = Room(meeting=meeting, name=name)
            db.session.add(rooms[name])
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
            wanted = _wanted_values(meeting, row)
            values = ops.ActivityValues(
                code=code, title=row.title, room=rooms.get(row.room) if row.room else None,
                starts_at=wanted["starts_at"], ends_at=wanted["ends_at"], topics=row.topics,
                credit_hours=row.credit_hours, commercial_supporters=None,
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
        if person.code in new_codes:  # a new activity holds no assignment yet: nothing to find
            fresh.append({"user_id": people[person.email].id,
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
