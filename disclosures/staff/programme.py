"""Programme import: a CSV or XLSX file in, a preview, then one transaction.

The file has one row per faculty member per activity, with a header row naming the
columns (any order, any case)::

    activity code, title, day, start, end, room, topics, credit hours,
    faculty name, email, role

- ``activity code`` is the stable key: importing again updates activities in place.
- ``day`` is YYYY-MM-DD; ``start``/``end`` are HH:MM (24 h) or 8:30 AM, in the meeting's
  time zone. ``topics`` are separated by ``;``. ``credit hours`` may be empty (0).
- ``faculty name``, ``email`` and ``role`` may be empty for an activity without faculty;
  ``role`` is speaker, moderator, panelist, planner, author or other (empty: speaker).
- Rooms are matched (and created) by name. New people get an account without a password;
  the next reminder carries their invitation link.
- An import never removes anyone: a person missing from the file keeps their assignment,
  and a person staff removed is not put back. Commercial supporters are kept as entered
  on the activity page.

``read_programme`` parses, ``plan_import`` compares with the database (writes nothing),
``apply_import`` writes the plan and one ``programme.imported`` audit event.
"""

from __future__ import annotations

import json
import re
import secrets
import time as time_module
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from ..audit import record
from ..auth import operations as account_operations
from ..enums import AssignmentRole, Role
from ..extensions import db
from ..models import Activity, Assignment, Meeting, Room, User, normalise_email
from ..permissions import role_required
from ..web import allows_upload
from . import forms
from . import operations as ops
from .spreadsheet import MAX_COLUMNS, ProgrammeFileError, read_rows
from .views import bp

COLUMNS = (
    "activity code", "title", "day", "start", "end", "room", "topics", "credit hours",
    "faculty name", "email", "role",
)
REQUIRED_COLUMNS = ("activity code", "title", "day", "start", "end")
MAX_ROWS = 50_000
MAX_CELL_CHARS = 1_000  # any cell of a programme column
MAX_TOPICS = 20
MAX_REPORTED_ERRORS = 1_000  # checking stops there: the preview lists these
DEFAULT_IMPORT_MAX_BYTES = 50 * 1024 * 1024
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class RowError:
    row: int  # as numbered in the spreadsheet: the header is row 1
    column: str
    reason: str


@dataclass
class ActivityRow:
    code: str
    title: str
    day: date
    start: time
    end: time
    room: str | None
    topics: list[str]
    credit_hours: Decimal
    first_row: int


@dataclass
class FacultyRow:
    row: int
    code: str
    name: str | None
    email: str
    role: AssignmentRole


@dataclass
class ParsedProgramme:
    activities: OrderedDict[str, ActivityRow] = field(default_factory=OrderedDict)
    faculty: list[FacultyRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    row_count: int = 0
    stopped_at_row: int | None = None  # checking stopped here after MAX_REPORTED_ERRORS


def import_max_bytes() -> int:
    return int(current_app.config.get("IMPORT_MAX_BYTES") or DEFAULT_IMPORT_MAX_BYTES)


# --- Reading the file ------------------------------------------------------------------


def _header_key(value) -> str:
    text = "" if value is None else str(value)
    return " ".join(re.sub(r"[_\-]+", " ", text).split()).lower().lstrip("\ufeff")


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def _quoted(text: str, length: int = 60) -> str:
    return f"“{text if len(text) <= length else text[:length - 1] + '…'}”"


def _parse_day(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _cell_text(value)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{_quoted(text)} is not a date: write it as YYYY-MM-DD, e.g. 2027-10-07.") from None


def _parse_time(value) -> time:
    if isinstance(value, datetime):
        return value.time().replace(second=0, microsecond=0)
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    text = _cell_text(value).upper().replace(".", "")
    for fmt in ("%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M%p", "%I %p", "%I%p"):
        try:
            return datetime.strptime(text, fmt).time()
        except ValueError:
            continue
    raise ValueError(f"{_quoted(_cell_text(value))} is not a time: write it as HH:MM, e.g. 08:30 or 14:00.")


def _parse_role(value) -> AssignmentRole:
    text = _cell_text(value).lower()
    if not text:
        return AssignmentRole.SPEAKER
    for role in AssignmentRole:
        if text in (role.value, role.label.lower()):
            return role
    allowed = ", ".join(r.value for r in AssignmentRole)
    raise ValueError(f"{_quoted(_cell_text(value))} is not a role: use one of {allowed}.")


def _parse_hours(value) -> Decimal:
    text = _cell_text(value)
    if not text:
        return Decimal("0.00")
    try:
        hours = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"{_quoted(text)} is not a number of hours, e.g. 1.5.") from None
    if not hours.is_finite() or hours < 0 or hours >= 100:
        raise ValueError("Credit hours must be between 0 and 99.")
    return hours.quantize(Decimal("0.01"))


def _limit(column: sa.Column) -> int:
    return int(column.info.get("max_length") or column.type.length)


# The longest text each column may hold: the limits of the columns it is stored in, so the
# preview refuses what the database would (PostgreSQL: an error; SQLite: the length CHECK).
TEXT_LIMITS = {
    "activity code": _limit(Activity.__table__.c.code),
    "title": _limit(Activity.__table__.c.title),
    "room": _limit(Room.__table__.c.name),
    "faculty name": _limit(User.__table__.c.full_name),
    "email": _limit(User.__table__.c.email),
}


def _row_values(number: int, values: tuple, positions: dict[str, int], first: date, last: date
                ) -> tuple[list[RowError], ActivityRow | None, FacultyRow | None]:
    """Check one row: its problems, or the activity and the person it names."""
    errors: list[RowError] = []
    raw = {name: (values[i] if i < len(values) else None) for name, i in positions.items()}
    for name, value in raw.items():
        if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
            errors.append(RowError(number, name, f"This cell has {len(value):,} characters; a "
                                   f"cell may hold at most {MAX_CELL_CHARS:,}: shorten it."))
            raw[name] = None  # reported: not checked further
    text = {name: _cell_text(value) for name, value in raw.items()}
    too_long = {e.column for e in errors}

    def check(name, parse):
        try:
            return parse(raw[name])
        except ValueError as exc:
            errors.append(RowError(number, name, str(exc)))
            return None

    for name in REQUIRED_COLUMNS:
        if not text[name] and name not in too_long:
            errors.append(RowError(number, name, "This cell is empty; it is required."))
    for name, limit in TEXT_LIMITS.items():
        if len(text[name]) > limit:
            errors.append(RowError(number, name, f"This cell has {len(text[name]):,} characters; "
                                   f"at most {limit:,} fit here: shorten it."))
            too_long.add(name)
    day = check("day", _parse_day) if text["day"] else None
    start = check("start", _parse_time) if text["start"] else None
    end = check("end", _parse_time) if text["end"] else None
    hours = check("credit hours", _parse_hours)
    role = check("role", _parse_role)
    if day and not first <= day <= last:
        errors.append(RowError(
            number, "day",
            f"{day.isoformat()} is outside the meeting ({first.isoformat()} to {last.isoformat()})."))
    if start and end and end <= start:
        errors.append(RowError(number, "end", "The end must be after the start."))
    topics = [t for t in (" ".join(p.split()) for p in text["topics"].split(";")) if t]
    if len(topics) > MAX_TOPICS:
        errors.append(RowError(number, "topics", f"{len(topics)} topics: an activity has at "
                               f"most {MAX_TOPICS}. Keep the main ones."))
    name = text["faculty name"] or None
    email = text["email"]
    if email and "email" not in too_long and not EMAIL_PATTERN.match(email):
        errors.append(RowError(number, "email", f"{_quoted(email)} is not an email address."))
    if name and not email and "email" not in too_long:
        errors.append(RowError(number, "email",
                               "A faculty name needs an email address to match the person."))
    if errors:
        return errors, None, None
    activity = ActivityRow(text["activity code"], text["title"], day, start, end,
                           text["room"] or None, topics, hours, number)
    person = FacultyRow(number, activity.code, name, normalise_email(email), role) if email else None
    return errors, activity, person


def read_programme(data: bytes, filename: str, meeting: Meeting, *,
                   max_bytes: int | None = None) -> ParsedProgramme:
    """Parse a programme file. Raises ``ProgrammeFileError`` for a file that cannot be
    read at all; row problems are collected in ``errors`` (row, column, reason).

    Reads the file as a stream of rows and keeps only what it parsed (the limits in
    ``spreadsheet`` bound what one row can cost); stops checking after
    ``MAX_REPORTED_ERRORS`` problems. Uses only ``meeting.starts_on``/``ends_on``.
    """
    max_bytes = max_bytes or import_max_bytes()
    if not data or data.isspace():
        raise ProgrammeFileError("The file is empty. Upload the programme with a header row "
                                 "and one row per faculty member per activity.")
    if len(data) > max_bytes:
        raise ProgrammeFileError(
            f"The file is larger than {max_bytes // (1024 * 1024)} MB. Split the "
            "programme into several files (each re-import updates in place)."
        )
    rows = read_rows(data, filename, last_row=MAX_ROWS + 1)
    header_number, header_values = next(rows, (None, None))
    if header_number is None:
        raise ProgrammeFileError("The file has no rows.")
    if len(header_values) > MAX_COLUMNS and _cell_text(header_values[MAX_COLUMNS]):
        raise ProgrammeFileError(
            f"The header row has more than {MAX_COLUMNS} columns. Keep the programme's columns ("
            + ", ".join(COLUMNS) + ") and delete the others.")
    header = [_header_key(v) for v in header_values]
    while header and not header[-1]:
        header.pop()
    positions: dict[str, int] = {}
    parsed = ParsedProgramme()
    for i, name in enumerate(header):
        if name in COLUMNS and name not in positions:
            positions[name] = i
        elif name:
            parsed.ignored_columns.append(name[:60])
    missing = [c for c in COLUMNS if c not in positions]
    if missing:
        found = ", ".join(h[:60] for h in header[:30] if h) or "none"
        raise ProgrammeFileError(
            "The header row is missing the column(s): " + ", ".join(missing)
            + f". Columns found: {found}. The first row must name the columns: "
            + ", ".join(COLUMNS) + "."
        )

    first, last = meeting.starts_on, meeting.ends_on
    for number, values in rows:
        if len(parsed.errors) >= MAX_REPORTED_ERRORS:
            parsed.stopped_at_row = number
            break
        parsed.row_count += 1
        row_errors, activity, person = _row_values(number, values, positions, first, last)
        if row_errors:
            parsed.errors.extend(row_errors)
            continue
        known = parsed.activities.get(activity.code)
        if known is None:
            parsed.activities[activity.code] = activity
        else:
            for attr, column in (("title", "title"), ("day", "day"), ("start", "start"),
                                 ("end", "end"), ("room", "room"), ("topics", "topics"),
                                 ("credit_hours", "credit hours")):
                if getattr(known, attr) != getattr(activity, attr):
                    parsed.errors.append(RowError(
                        number, column,
                        f"Differs from row {known.first_row} for activity {activity.code}: every "
                        "row of one activity must repeat the same activity details."))
                    break
        if person is not None:
            parsed.faculty.append(person)
    if not parsed.row_count and not parsed.errors:
        raise ProgrammeFileError("The file has a header row but no programme rows.")
    return parsed


# --- Comparing with the database -------------------------------------------------------


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
            activities[code] = ops.create_activity(actor, meeting, values, audit=False)
    db.session.flush()
    people = {}
    for name, email in plan.new_people:
        people[email], _token = account_operations.invite_user(actor, email, name)
    emails = sorted({p.email for p in plan.new_assignments})
    if emails:
        for user in db.session.scalars(sa.select(User).where(User.email.in_(emails))):
            people.setdefault(user.email, user)
    for person in plan.new_assignments:
        ops.assign_person(actor, activities[person.code], people[person.email], person.role,
                          audit=False)
    counts = plan.counts()
    record(actor, "programme.imported", meeting, {
        **counts,
        "file": filename[:200],
        "created": [c.code for c in plan.created],
        "updated": [c.code for c in plan.updated],
    })
    return counts


# --- Keeping the upload between preview and confirmation -------------------------------

_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
UPLOAD_MAX_AGE_SECONDS = 24 * 3600


def _upload_dir() -> Path:
    path = Path(current_app.instance_path) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_upload(data: bytes, filename: str, meeting: Meeting, user: User) -> str:
    """Keep the uploaded bytes under the instance folder, keyed by a random id; drop
    uploads older than a day. The confirm form carries only the id."""
    folder = _upload_dir()
    cutoff = time_module.time() - UPLOAD_MAX_AGE_SECONDS
    for old in folder.iterdir():
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass
    upload_id = secrets.token_urlsafe(24)
    (folder / f"{upload_id}.bin").write_bytes(data)
    (folder / f"{upload_id}.json").write_text(json.dumps(
        {"meeting_id": meeting.id, "user_id": user.id, "filename": filename[:200]}))
    return upload_id


def load_upload(upload_id: str, meeting: Meeting, user: User) -> tuple[bytes, str] | None:
    """The stored upload, when it exists and was made by this user for this meeting."""
    if not _UPLOAD_ID.match(upload_id or ""):
        return None
    folder = _upload_dir()
    try:
        meta = json.loads((folder / f"{upload_id}.json").read_text())
        data = (folder / f"{upload_id}.bin").read_bytes()
    except (OSError, ValueError):
        return None
    if meta.get("meeting_id") != meeting.id or meta.get("user_id") != user.id:
        return None
    return data, meta.get("filename") or "programme"


def discard_upload(upload_id: str) -> None:
    for suffix in (".bin", ".json"):
        try:
            (_upload_dir() / f"{upload_id}{suffix}").unlink()
        except OSError:
            pass


# --- Pages -----------------------------------------------------------------------------


def may_import_programme(user, meeting_id: int) -> bool:
    """Who may send a programme file to a meeting, and so gets the larger upload limit
    (checked before the body is read): staff today; a per-meeting rule can go here."""
    return user.is_authenticated and user.has_role(Role.STAFF)


@bp.route("/meetings/<int:meeting_id>/import", methods=["GET", "POST"])
@allows_upload("IMPORT_MAX_BYTES", may_import_programme)  # larger than ordinary forms
@role_required(Role.STAFF)
def programme_import(meeting_id: int):
    """Upload → preview (nothing written)."""
    meeting = db.get_or_404(Meeting, meeting_id)
    form = forms.ImportUploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        filename = upload.filename or "programme"
        data = upload.read(import_max_bytes() + 1)
        try:
            parsed = read_programme(data, filename, meeting)
        except ProgrammeFileError as exc:
            form.file.errors.append(str(exc))
        else:
            plan = plan_import(meeting, parsed)
            upload_id = store_upload(data, filename, meeting, current_user) if plan.ok else None
            confirm = forms.ImportConfirmForm(upload_id=upload_id)
            return render_template(
                "staff/import_preview.html", meeting=meeting, plan=plan, filename=filename,
                confirm_form=confirm,
            ), (200 if plan.ok else 422)
    return render_template("staff/import.html", meeting=meeting, form=form, columns=COLUMNS,
                           max_mb=import_max_bytes() // (1024 * 1024), max_rows=MAX_ROWS,
                           max_cell=MAX_CELL_CHARS, max_topics=MAX_TOPICS, limits=TEXT_LIMITS
                           ), (400 if form.errors else 200)


@bp.route("/meetings/<int:meeting_id>/import/confirm", methods=["POST"])
@role_required(Role.STAFF)
def programme_import_confirm(meeting_id: int):
    """Re-read the stored upload, re-plan against today's data and write it in one go."""
    meeting = db.get_or_404(Meeting, meeting_id)
    form = forms.ImportConfirmForm()
    if not form.validate_on_submit():
        abort(400, description="The confirmation was not accepted. Upload the file again.")
    stored = load_upload(form.upload_id.data, meeting, current_user)
    if stored is None:
        abort(400, description="This import preview has expired or belongs to someone else. "
                               "Upload the file again.")
    data, filename = stored
    try:
        plan = plan_import(meeting, read_programme(data, filename, meeting))
        if not plan.ok:
            raise ProgrammeFileError("The programme changed since the preview and now has errors.")
        counts = apply_import(current_user, meeting, plan, filename)
        db.session.commit()
    except ProgrammeFileError as exc:
        db.session.rollback()
        abort(400, description=f"{exc} Nothing was imported: upload the file again.")
    except (IntegrityError, StaleDataError):
        db.session.rollback()
        abort(409, description="Someone changed the programme at the same moment. Nothing was "
                               "imported: upload the file again to see a fresh preview.")
    discard_upload(form.upload_id.data)
    flash(
        "Programme imported. Activities: {activities_created} created, {activities_updated} "
        "updated, {activities_unchanged} unchanged. Added: {rooms_created} room(s), "
        "{people_created} new person(s), {assignments_created} assignment(s).".format(**counts),
        "success",
    )
    return redirect(url_for("staff.meeting", meeting_id=meeting.id))
