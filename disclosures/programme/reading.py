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
- Scheduling tools name columns their own way: ``SYNONYMS`` lists the names accepted for
  each column ("Session Code", "Presenter Email", "Start Time", …), compared ignoring case,
  spaces and punctuation; "First Name" and "Last Name" together make the faculty name.
  Only the ``REQUIRED_COLUMNS`` must be there. When one is still missing, staff choose
  which of the file's columns holds it (``column_map``: column → header key, remembered
  for the meeting) instead of the file being refused (``MissingColumns``).
- Roles also have synonyms (``ROLE_SYNONYMS``: Chair → moderator, Presenter → speaker, …);
  the preview shows how each was read. Course director, planning committee, COI reviewer
  and content reviewer are roles held for the whole meeting: such a row gives the person
  that meeting-level role (not a role in the row's activity).
- An optional ``npi`` column (also "NPI Number", "National Provider Identifier") gives
  the person's NPI (10 digits, check digit verified): it is put on their profile (the
  Open Payments cross-check matches by it).
- Rooms are matched by name ignoring case, spaces and punctuation ("ballroom a" is
  Ballroom A), and created when new. New people get an account without a password;
  the next reminder carries their invitation link.
- An import never removes anyone: a person missing from the file keeps their assignment,
  and a person staff removed is not put back. Commercial support is kept as entered
  on the meeting's commercial support page.
- An optional ``accredited`` column ("Accredited", "CME"): yes or no (empty: yes). "no"
  marks an industry session or a meal; without the column, activities keep their mark.

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
from ..words import comparison_key
from .spreadsheet import MAX_COLUMNS, ProgrammeFileError, read_rows

COLUMNS = (
    "activity code", "title", "day", "start", "end", "room", "topics", "credit hours",
    "faculty name", "email", "role",
)
REQUIRED_COLUMNS = ("activity code", "title", "day", "start", "end")
OPTIONAL_COLUMNS = ("npi", "accredited")  # read when the header has them
NAME_PARTS = ("first name", "last name")  # together: the faculty name

# The names each column goes by in scheduling tools' exports, compared with
# ``comparison_key`` (so "Session_Code", "session code" and "SESSION-CODE" are one).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "activity code": ("activity code", "session code", "session id", "session number",
                      "session no", "activity id", "activity number", "code", "abstract code"),
    "title": ("title", "session title", "activity title", "session name", "activity name",
              "presentation title", "talk title"),
    "day": ("day", "date", "session date", "activity date", "start date"),
    "start": ("start", "start time", "session start", "session start time", "begins",
              "time start", "from"),
    "end": ("end", "end time", "session end", "session end time", "ends", "time end", "to"),
    "room": ("room", "room name", "session room", "location", "venue", "hall"),
    "topics": ("topics", "topic", "keywords", "session topics"),
    "credit hours": ("credit hours", "credits", "cme credits", "cme hours", "credit",
                     "ama pra category 1 credits"),
    "faculty name": ("faculty name", "presenter name", "speaker name", "faculty full name",
                     "full name", "name", "presenter", "speaker", "faculty"),
    "email": ("email", "email address", "e-mail", "presenter email", "speaker email",
              "faculty email", "presenter email address", "faculty email address"),
    "role": ("role", "faculty role", "presenter role", "speaker role", "participant role",
             "session role"),
    "first name": ("first name", "given name", "firstname", "presenter first name",
                   "faculty first name", "speaker first name"),
    "last name": ("last name", "family name", "surname", "lastname", "presenter last name",
                  "faculty last name", "speaker last name"),
    "npi": ("npi", "npi number", "national provider identifier", "presenter npi",
            "faculty npi", "speaker npi"),
    "accredited": ("accredited", "cme", "cme accredited", "accredited for cme", "is accredited"),
}
_SYNONYM_OF = {comparison_key(name): column for column, names in SYNONYMS.items()
               for name in names}

# How scheduling tools name the roles (compared with ``comparison_key``).
ROLE_SYNONYMS: dict[AssignmentRole, tuple[str, ...]] = {
    AssignmentRole.SPEAKER: ("speaker", "faculty", "presenter", "lecturer", "invited speaker"),
    AssignmentRole.MODERATOR: ("moderator", "chair", "co-chair", "cochair", "session chair",
                               "chairperson", "co-moderator"),
    AssignmentRole.PANELIST: ("panelist", "panellist", "panel member", "panel"),
    AssignmentRole.PLANNER: ("planner", "session planner", "activity planner"),
    AssignmentRole.AUTHOR: ("author", "co-author", "coauthor"),
    AssignmentRole.OTHER: ("other",),
    # Held for the whole meeting (they control all its content, not one activity's): a row
    # naming one gives the person that meeting-level role, whatever activity it is on.
    AssignmentRole.PLANNING_COMMITTEE: ("planning committee", "planning committee member",
                                        "program committee", "programme committee",
                                        "scientific committee"),
    AssignmentRole.COURSE_DIRECTOR: ("course director", "course co-director", "program director",
                                     "programme director", "meeting director"),
    AssignmentRole.COI_REVIEWER: ("coi reviewer", "conflict of interest reviewer",
                                  "disclosure reviewer"),
    AssignmentRole.CONTENT_REVIEWER: ("content reviewer", "content peer reviewer",
                                      "peer reviewer"),
    AssignmentRole.CONTENT_STAFF: ("content staff", "staff who control content"),
}
_ROLE_OF = {comparison_key(name): role for role, names in ROLE_SYNONYMS.items() for name in names}
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
    accredited: bool | None = None  # None: no "Accredited"/"CME" column (left as it is)


@dataclass
class FacultyRow:
    row: int
    code: str
    name: str | None
    email: str
    role: AssignmentRole
    npi: str | None = None
    role_text: str = ""  # as written in the file


@dataclass
class HeaderColumn:
    """One column of the file's header row, for choosing what it holds."""

    index: int
    text: str  # as written (shortened)
    key: str  # ``comparison_key``: what a column map remembers
    sample: str  # the first programme row's value, shortened


class MissingColumns(ProgrammeFileError):
    """The header row lacks a required column even after synonyms and the meeting's map:
    staff choose which of the file's ``columns`` holds each of ``missing``."""

    def __init__(self, missing: list[str], columns: list[HeaderColumn], found: dict[str, str]):
        self.missing = missing
        self.columns = columns
        self.found = found  # required column -> header key already recognised
        names = ", ".join(h.text for h in columns[:30]) or "none"
        super().__init__(
            f"The header row has no column for {', '.join(missing)} (columns found: {names}). "
            "Choose which of the file's columns holds each one, or name the columns in the "
            "first row: " + ", ".join(COLUMNS) + ".")


@dataclass
class ParsedProgramme:
    activities: OrderedDict[str, ActivityRow] = field(default_factory=OrderedDict)
    faculty: list[FacultyRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    columns_read: list[tuple[str, str]] = field(default_factory=list)  # (header, column)
    role_synonyms: dict[str, AssignmentRole] = field(default_factory=dict)  # as written → role
    column_map: dict[str, str] = field(default_factory=dict)  # the map that was applied
    row_count: int = 0
    stopped_at_row: int | None = None  # checking stopped here after MAX_REPORTED_ERRORS


def import_max_bytes() -> int:
    return int(current_app.config.get("IMPORT_MAX_BYTES") or DEFAULT_IMPORT_MAX_BYTES)


# --- Reading the file ------------------------------------------------------------------


def _header_text(value) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.lstrip("\ufeff").split())[:60]


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
    key = comparison_key(_cell_text(value))
    if not key:
        return AssignmentRole.SPEAKER
    if key in _ROLE_OF:
        return _ROLE_OF[key]
    allowed = ", ".join(r.value for r in AssignmentRole)
    raise ValueError(f"{_quoted(_cell_text(value))} is not a role: use one of {allowed} "
                     "(or chair, presenter, panel member, planning committee, course director).")


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


_YES = {"yes", "y", "true", "1", "accredited", "cme"}
_NO = {"no", "n", "false", "0", "not accredited", "non accredited", "nonaccredited", "none"}


def _parse_accredited(value) -> bool | None:
    """"Accredited"/"CME": yes or no (empty: accredited, the default)."""
    text = " ".join(_cell_text(value).lower().replace("-", " ").split())
    if not text or text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError(f"{_quoted(text)}: write yes (accredited for CME) or no (an industry "
                     "session, a meal).")


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
    raw = {name: (values[positions[name]] if positions.get(name, len(values)) < len(values)
                  else None) for name in (*COLUMNS, *OPTIONAL_COLUMNS, *NAME_PARTS)}
    for name, value in raw.items():
        if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
            errors.append(RowError(number, name, f"This cell has {len(value):,} characters; a "
                                   f"cell may hold at most {MAX_CELL_CHARS:,}: shorten it."))
            raw[name] = None  # reported: not checked further
    text = {name: _cell_text(value) for name, value in raw.items()}
    if not text["faculty name"]:  # "First Name" + "Last Name"
        text["faculty name"] = " ".join(t for t in (text["first name"], text["last name"]) if t)
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
    accredited = check("accredited", _parse_accredited) if "accredited" in positions else None
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
                           text["room"] or None, topics, hours, number, accredited)
    person = (FacultyRow(number, activity.code, name, normalise_email(email), role, npi,
                          text["role"])
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


def header_columns(header: list[str], sample_values) -> list[HeaderColumn]:
    """The file's named columns with the first programme row's value of each."""
    sample_values = tuple(sample_values or ())
    found, seen = [], set()
    for i, text in enumerate(header):
        key = comparison_key(text)
        if not key or key in seen:
            continue
        seen.add(key)
        sample = _cell_text(sample_values[i]) if i < len(sample_values) else ""
        found.append(HeaderColumn(i, text, key, sample if len(sample) <= 40 else sample[:39] + "…"))
    return found


def read_header(data: bytes, filename: str) -> list[HeaderColumn]:
    """The named columns of a file's header row, each with its first programme row's value
    (for staff to choose from). Raises ``ProgrammeFileError`` for an unreadable file."""
    rows = read_rows(data, filename, last_row=3)
    _number, values = next(rows, (None, ()))
    _number, sample = next(rows, (None, ()))
    header = [_header_text(v) for v in values[:MAX_COLUMNS]]
    return header_columns(header, sample)


def resolve_columns(header: list[str], column_map: dict | None = None
                    ) -> tuple[dict[str, int], list[tuple[str, str]], list[str]]:
    """Which column of the file holds each programme column: the ``column_map`` staff
    chose first (column → header key), then ``SYNONYMS``. Returns (positions, the headers
    read under another name as (header, column), the headers ignored)."""
    keys = [comparison_key(text) for text in header]
    positions: dict[str, int] = {}
    for column, key in (column_map or {}).items():
        if column in COLUMNS and isinstance(key, str) and key in keys:
            index = keys.index(key)
            if index not in positions.values():
                positions[column] = index
    for index, key in enumerate(keys):
        column = _SYNONYM_OF.get(key)
        if column and column not in positions and index not in positions.values():
            positions[column] = index
    if "faculty name" in positions:  # a full name wins over its parts
        for part in NAME_PARTS:
            positions.pop(part, None)
    used = set(positions.values())
    read_as = [(header[i], column) for column, i in positions.items()
               if keys[i] != comparison_key(column)]
    ignored = [header[i] for i in range(len(header)) if keys[i] and i not in used]
    return positions, read_as, ignored


def read_programme(data: bytes, filename: str, meeting: Meeting, *,
                   max_bytes: int | None = None, column_map: dict | None = None
                   ) -> ParsedProgramme:
    """Parse a programme file. Raises ``ProgrammeFileError`` for a file that cannot be
    read at all, ``MissingColumns`` when a required column is not found even with
    ``column_map`` (column → header key, as staff chose); row problems are collected in
    ``errors`` (row, column, reason).

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
    header = [_header_text(v) for v in header_values]
    while header and not header[-1]:
        header.pop()
    parsed = ParsedProgramme()
    positions, parsed.columns_read, parsed.ignored_columns = resolve_columns(header, column_map)
    parsed.column_map = {c: comparison_key(header[i]) for c, i in positions.items()
                         if c in REQUIRED_COLUMNS}
    missing = [c for c in REQUIRED_COLUMNS if c not in positions]
    if missing:
        _number, sample_values = next(rows, (None, ()))
        raise MissingColumns(missing, header_columns(header, sample_values), {
            c: comparison_key(header[i]) for c, i in positions.items() if c in REQUIRED_COLUMNS})

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
                                 ("credit_hours", "credit hours"),
                                 ("accredited", "accredited")):
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
            if person.role_text and comparison_key(person.role_text) != person.role.value:
                parsed.role_synonyms.setdefault(person.role_text, person.role)
    if not parsed.row_count and not parsed.errors:
        raise ProgrammeFileError("The file has a header row but no programme rows.")
    return parsed


