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
- An optional ``npi`` column gives the person's NPI (10 digits, check digit verified):
  it is put on their profile (the Open Payments cross-check matches by it).
- Rooms are matched (and created) by name. New people get an account without a password;
  the next reminder carries their invitation link.
- An import never removes anyone: a person missing from the file keeps their assignment,
  and a person staff removed is not put back. Commercial supporters are kept as entered
  on the activity page.

``read_programme`` parses (this module); ``operations.plan_import`` compares with the
database (writes nothing); ``operations.apply_import`` writes the plan.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from flask import current_app

from ..enums import AssignmentRole
from ..models import Activity, Meeting, Room, User, normalise_email
from ..openpayments.npi import clean_npi, npi_problem
from .spreadsheet import MAX_COLUMNS, ProgrammeFileError, read_rows

COLUMNS = (
    "activity code", "title", "day", "start", "end", "room", "topics", "credit hours",
    "faculty name", "email", "role",
)
REQUIRED_COLUMNS = ("activity code", "title", "day", "start", "end")
OPTIONAL_COLUMNS = ("npi",)  # read when the header has them
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
    npi: str | None = None


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
    npi = clean_npi(text.get("npi")) or None
    if npi is not None:
        problem = npi_problem(npi)
        if problem:
            errors.append(RowError(number, "npi", problem))
        elif not email:
            errors.append(RowError(number, "npi", "An NPI needs the person's email address."))
    if errors:
        return errors, None, None
    activity = ActivityRow(text["activity code"], text["title"], day, start, end,
                           text["room"] or None, topics, hours, number)
    person = (FacultyRow(number, activity.code, name, normalise_email(email), role, npi)
              if email else None)
    return errors, activity, person


def _npi_differs(person: FacultyRow, npi_of: dict, holder_of: dict) -> RowError | None:
    """One person, one NPI; one NPI, one person: a row that contradicts an earlier one.
    ``npi_of`` (email → (npi, row)) and ``holder_of`` (npi → (email, row)) remember them."""
    if person.npi is None:
        return None
    npi, row = npi_of.setdefault(person.email, (person.npi, person.row))
    if npi != person.npi:
        return RowError(person.row, "npi", f"Row {row} gives {person.email} the NPI {npi}: "
                        "a person has one NPI.")
    email, row = holder_of.setdefault(person.npi, (person.email, person.row))
    if email != person.email:
        return RowError(person.row, "npi", f"Row {row} gives the NPI {person.npi} to {email}: "
                        "an NPI belongs to one person.")
    return None


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
        if (name in COLUMNS or name in OPTIONAL_COLUMNS) and name not in positions:
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
    npi_of: dict[str, tuple[str, int]] = {}
    holder_of: dict[str, tuple[str, int]] = {}
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
            npi_error = _npi_differs(person, npi_of, holder_of)
            if npi_error is not None:
                parsed.errors.append(npi_error)
            parsed.faculty.append(person)
    if not parsed.row_count and not parsed.errors:
        raise ProgrammeFileError("The file has a header row but no programme rows.")
    return parsed


