"""Open Payments: the import of CMS's files, NPIs on profiles, manufacturers linked to the
registry, and the advisory check the review page shows.

The import streams a file with Python's ``csv`` module and keeps only the rows whose NPI
belongs to someone with a current role in a meeting (a few thousand NPIs, held in a set),
so memory does not grow with the file: rows are written in batches of ``BATCH_ROWS``.
Reader chosen by measurement (``bench/openpayments_readers.py``, a 100 MB CMS-shaped
General file, 2 CPUs shared with other work): ``csv`` 49–110 MB/s; pyarrow's streaming
reader and DuckDB 1.5–2× that, but at 160–230 MB of peak memory against ``csv``'s 11–66
MB, and each a large new dependency. ``csv`` meets the target (1 GB in under a minute:
16–25 s for the whole import in ``make bench``) with none, and the import keeps only a few
thousand rows of a file, so reading faster than that buys little.

Columns are found by their names in the header (case-insensitive), never by position:
CMS adds and moves columns between program years.

Nothing here commits: the command or the view commits once (``import_file`` flushes per
batch). The import is a plain function of a path and a progress callback, so a job
system can run it.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import sqlalchemy as sa

from ..audit import diff, record
from ..enums import OpenPaymentsAction, OpenPaymentsFile
from ..errors import Refusal
from ..extensions import db
from ..models import (
    Activity,
    Assignment,
    Company,
    Disclosure,
    Manufacturer,
    Meeting,
    OpenPayment,
    OpenPaymentsImport,
    OpenPaymentsReview,
    User,
    utcnow,
)
from ..words import plural_form
from .npi import clean_npi, npi_problem

BATCH_ROWS = 2000
PROGRESS_EVERY_BYTES = 8 * 1024 * 1024
MAX_REPORTED_PROBLEMS = 20
csv.field_size_limit(1024 * 1024)  # a free-text cell of a CMS file is never near this

MANUFACTURER_ID = "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_ID"
MANUFACTURER_NAME = "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name"
RECORD_ID = "Record_ID"
PROGRAM_YEAR = "Program_Year"
AMOUNT = "Total_Amount_of_Payment_USDollars"
PAID_ON = "Date_of_Payment"
NATURE = "Nature_of_Payment_or_Transfer_of_Value"
VALUE_OF_INTEREST = "Value_of_Interest"
AMOUNT_INVESTED = "Total_Amount_Invested_USDollars"
INVESTIGATOR_NPIS = [f"Principal_Investigator_{i}_NPI" for i in range(1, 6)]
# Older program years name the recipient "Physician_…"; newer ones "Covered_Recipient_…".
RECIPIENT_NPIS = ["Covered_Recipient_NPI", "Physician_NPI"]

RESEARCH_NATURE = "Research"
OWNERSHIP_NATURE = "Ownership or investment interest"


class OpenPaymentsError(Refusal):
    """A file that is not an Open Payments file, or a refused change."""


# --------------------------------------------------------------------------- NPIs


def set_npi(actor: User | None, person: User, typed: str | None) -> bool:
    """Put ``typed`` (or nothing, to remove it) on ``person``'s profile.

    Refuses (``OpenPaymentsError`` on field ``npi``) an NPI that is not 10 digits with a
    valid check digit, or that another account holds. Side effects: sets ``person.npi``;
    audits ``user.npi_changed`` (before/after) with the person as subject. Returns False
    when nothing changed."""
    npi = clean_npi(typed) or None
    if npi is not None:
        problem = npi_problem(npi)
        if problem:
            raise OpenPaymentsError(problem, field="npi")
        holder = db.session.scalar(sa.select(User.id).where(User.npi == npi, User.id != person.id))
        if holder is not None:
            raise OpenPaymentsError(
                f"The NPI {npi} is already on another person's profile. An NPI belongs to one "
                "person: check the number, or ask the meeting staff.", field="npi")
    if npi == person.npi:
        return False
    changes = diff({"npi": person.npi}, {"npi": npi})
    person.npi = npi
    record(actor, "user.npi_changed", person, changes, subject=person)
    return True


def holds_role_in(person: User, meeting: Meeting) -> bool:
    """True when ``person`` has a current role in ``meeting`` (in an activity or for the
    whole meeting)."""
    return db.session.scalar(
        sa.select(sa.literal(1)).select_from(Assignment)
        .where(Assignment.user_id == person.id, Assignment.removed_at.is_(None),
               Assignment.meeting_id == meeting.id).limit(1)
    ) is not None


def npis_with_a_role() -> set[str]:
    """The NPIs of everyone who holds a current role in an activity of any meeting."""
    return set(db.session.scalars(
        sa.select(User.npi).join(Assignment, Assignment.user_id == User.id)
        .where(User.npi.is_not(None), Assignment.removed_at.is_(None)).distinct()
    ))


# --------------------------------------------------------------------------- reading a file


@dataclass
class Progress:
    file: str
    bytes_read: int
    bytes_total: int
    rows_read: int
    rows_kept: int

    @property
    def fraction(self) -> float:
        return self.bytes_read / self.bytes_total if self.bytes_total else 1.0


@dataclass
class ImportReport:
    file: str
    kind: OpenPaymentsFile
    bytes_read: int = 0
    rows_read: int = 0
    rows_kept: int = 0
    rows_refused: int = 0
    manufacturers_new: int = 0
    manufacturers_matched: int = 0
    problems: list[str] = field(default_factory=list)
    import_id: int | None = None


@dataclass(frozen=True)
class _Layout:
    kind: OpenPaymentsFile
    npi: tuple[int, ...]
    manufacturer_id: int
    manufacturer_name: int
    record_id: int
    program_year: int
    amount: int
    paid_on: int | None
    nature: int | None


def _layout(header: list[str], file_name: str) -> _Layout:
    """Where each needed column is, by name; refuses a header without them."""
    position: dict[str, int] = {}
    for i, name in enumerate(header):
        position.setdefault(name.strip().lstrip("\ufeff").lower(), i)

    def find(*names: str) -> int | None:
        return next((position[n.lower()] for n in names if n.lower() in position), None)

    if find(*INVESTIGATOR_NPIS) is not None:
        kind = OpenPaymentsFile.RESEARCH
    elif find(VALUE_OF_INTEREST, AMOUNT_INVESTED) is not None:
        kind = OpenPaymentsFile.OWNERSHIP
    elif find(NATURE) is not None:
        kind = OpenPaymentsFile.GENERAL
    else:
        raise OpenPaymentsError(
            f"{file_name} is not an Open Payments General, Research or Ownership file: its "
            f"header names none of {NATURE}, {INVESTIGATOR_NPIS[0]} or {VALUE_OF_INTEREST}.")
    npi_columns = RECIPIENT_NPIS + (INVESTIGATOR_NPIS if kind is OpenPaymentsFile.RESEARCH else [])
    npis = tuple(position[n.lower()] for n in npi_columns if n.lower() in position)
    wanted = {
        "manufacturer_id": (MANUFACTURER_ID,), "manufacturer_name": (MANUFACTURER_NAME,),
        "record_id": (RECORD_ID,), "program_year": (PROGRAM_YEAR,),
        "amount": (VALUE_OF_INTEREST, AMOUNT_INVESTED) if kind is OpenPaymentsFile.OWNERSHIP
        else (AMOUNT,),
    }
    if kind is not OpenPaymentsFile.OWNERSHIP:
        wanted["paid_on"] = (PAID_ON,)
    if kind is OpenPaymentsFile.GENERAL:
        wanted["nature"] = (NATURE,)
    found = {key: find(*names) for key, names in wanted.items()}
    missing = [names[0] for key, names in wanted.items() if found[key] is None]
    if not npis:
        missing.insert(0, RECIPIENT_NPIS[0])
    if missing:
        raise OpenPaymentsError(
            f"{file_name} looks like an Open Payments {kind.label.lower()} file but its header "
            f"lacks the {plural_form(len(missing), 'column')} {', '.join(missing)}. Use the file "
            "as CMS publishes it.")
    return _Layout(kind=kind, npi=npis, paid_on=found.pop("paid_on", None),
                   nature=found.pop("nature", None), **found)


def _day(text: str) -> date:
    """MM/DD/YYYY as CMS writes it (YYYY-MM-DD accepted too)."""
    if "/" in text:
        month, day, year = text.split("/")
        return date(int(year), int(month), int(day))
    return date.fromisoformat(text)


def _amount(text: str) -> Decimal:
    value = Decimal(text.replace(",", "").replace("$", "").strip() or "0")
    if not value.is_finite() or abs(value) >= Decimal("1e12"):
        raise InvalidOperation
    return value.quantize(Decimal("0.01"))


class _Writer:
    """Kept rows, written in batches; manufacturers found (and matched) on first sight."""

    def __init__(self, kind: OpenPaymentsFile, report: ImportReport):
        self.kind = kind
        self.report = report
        self.pending: dict[tuple[str, str], dict] = {}
        self.manufacturers: dict[str, int] = {}

    def manufacturer_id(self, cms_id: str, name: str) -> int:
        known = self.manufacturers.get(cms_id)
        if known is not None:
            return known
        from ..registry.operations import find_company

        manufacturer = db.session.scalar(sa.select(Manufacturer).where(Manufacturer.cms_id == cms_id))
        if manufacturer is None:
            manufacturer = Manufacturer(cms_id=cms_id, name=name[:200] or cms_id)
            db.session.add(manufacturer)
            self.report.manufacturers_new += 1
        if manufacturer.company_id is None:
            company = find_company(manufacturer.name)
            if company is not None:
                manufacturer.company = company  # matched by the registry's name or an alias
                self.report.manufacturers_matched += 1
        db.session.flush()
        self.manufacturers[cms_id] = manufacturer.id
        return manufacturer.id

    def add(self, values: dict) -> None:
        self.pending[(values["record_id"], values["npi"])] = values
        if len(self.pending) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        record_ids = sorted({key[0] for key in self.pending})
        db.session.execute(sa.delete(OpenPayment).where(
            OpenPayment.kind == self.kind, OpenPayment.record_id.in_(record_ids)))
        now = utcnow()
        rows = [{**values, "kind": self.kind, "imported_at": now} for values in self.pending.values()]
        db.session.execute(sa.insert(OpenPayment), rows)
        self.report.rows_kept += len(rows)
        self.pending.clear()


def import_file(path: str | Path, *, actor: User | None = None,
                progress: Callable[[Progress], None] | None = None,
                file_name: str | None = None) -> ImportReport:
    """Read one Open Payments file (General, Research or Ownership, told apart by its header)
    and keep the payments to NPIs of people with a role.

    A row is kept once per matching NPI (research payments name up to five principal
    investigators besides the recipient); importing a file again replaces its rows (same
    file kind and CMS ``Record_ID``). A kept row whose amount, date or year cannot be read
    is counted as refused (the first few are listed); the rest go on.

    Side effects: adds ``OpenPayment`` rows (batches of ``BATCH_ROWS``, deleting the rows
    they replace), ``Manufacturer`` rows for CMS IDs not seen before (linked to a registry
    company when its name or an alias matches), one ``OpenPaymentsImport`` row and its
    ``openpayments.imported`` audit event. Calls ``progress`` every few megabytes and at
    the end. Flushes, never commits. Raises ``OpenPaymentsError`` for a file that is not an
    Open Payments file (nothing of it is written).
    """
    path = Path(path)
    name = (file_name or path.name)[:255]
    total = path.stat().st_size
    wanted = npis_with_a_role()
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text)
        header = next(reader, None)
        if not header:
            raise OpenPaymentsError(f"{name} is empty: it has no header row.")
        layout = _layout(header, name)
        report = ImportReport(file=name, kind=layout.kind)
        writer = _Writer(layout.kind, report)
        started = utcnow()
        npi_columns = layout.npi
        single = npi_columns[0] if len(npi_columns) == 1 else None
        rows_read = 0
        next_report = PROGRESS_EVERY_BYTES
        for row in reader:
            rows_read += 1
            if not rows_read & 4095 and progress is not None:
                position = raw.tell()
                if position >= next_report:
                    next_report = position + PROGRESS_EVERY_BYTES
                    progress(Progress(name, position, total, rows_read, report.rows_kept
                                      + len(writer.pending)))
            try:
                if single is not None:
                    if row[single] not in wanted:
                        continue
                    matched = (row[single],)
                else:
                    matched = {row[i] for i in npi_columns if i < len(row) and row[i] in wanted}
                    if not matched:
                        continue
                values = _values(row, layout)
                values["manufacturer_id"] = writer.manufacturer_id(
                    row[layout.manufacturer_id].strip(), row[layout.manufacturer_name].strip())
            except (ValueError, IndexError, InvalidOperation):
                report.rows_refused += 1
                if len(report.problems) < MAX_REPORTED_PROBLEMS:
                    report.problems.append(
                        f"Line {reader.line_num}: an amount, date, program year or record ID "
                        "could not be read; the row was left out.")
                continue
            for npi in matched:
                writer.add({**values, "npi": npi})
        writer.flush()
        report.rows_read = rows_read
        report.bytes_read = total
    done = OpenPaymentsImport(
        file_name=name, kind=layout.kind, bytes_read=total, rows_read=report.rows_read,
        rows_kept=report.rows_kept, rows_refused=report.rows_refused, started_at=started,
        finished_at=utcnow(), imported_by_id=actor.id if actor is not None else None)
    db.session.add(done)
    record(actor, "openpayments.imported", done, {
        "file": name, "kind": layout.kind, "rows_read": report.rows_read,
        "rows_kept": report.rows_kept, "rows_refused": report.rows_refused,
        "manufacturers_new": report.manufacturers_new,
        "manufacturers_matched": report.manufacturers_matched,
    })
    report.import_id = done.id
    if progress is not None:
        progress(Progress(name, total, total, report.rows_read, report.rows_kept))
    return report


def _values(row: list[str], layout: _Layout) -> dict:
    record_id = row[layout.record_id].strip()
    cms_id = row[layout.manufacturer_id].strip()
    if not record_id or not cms_id or len(record_id) > 40 or len(cms_id) > 20:
        raise ValueError("record or manufacturer ID")
    year = int(row[layout.program_year])
    if layout.kind is OpenPaymentsFile.GENERAL:
        nature = row[layout.nature].strip()[:200] or "Not stated"
    elif layout.kind is OpenPaymentsFile.RESEARCH:
        nature = RESEARCH_NATURE
    else:
        nature = OWNERSHIP_NATURE
    paid_on = _day(row[layout.paid_on].strip()) if layout.paid_on is not None else None
    return {"record_id": record_id, "program_year": year, "nature": nature,
            "amount": _amount(row[layout.amount]), "paid_on": paid_on}


def import_files(paths: Iterable[str | Path], *, actor: User | None = None,
                 progress: Callable[[Progress], None] | None = None) -> list[ImportReport]:
    """``import_file`` for each path in turn (a refused file stops the rest)."""
    return [import_file(path, actor=actor, progress=progress) for path in paths]


# --------------------------------------------------------------------------- manufacturers


def unlinked_manufacturers() -> list[tuple[Manufacturer, int]]:
    """Manufacturers not linked to a registry company, with how many kept payments each has
    (most first): staff link each once."""
    count = sa.func.count(OpenPayment.id)
    return [tuple(row) for row in db.session.execute(
        sa.select(Manufacturer, count).outerjoin(OpenPayment, OpenPayment.manufacturer_id == Manufacturer.id)
        .where(Manufacturer.company_id.is_(None))
        .group_by(Manufacturer.id).order_by(count.desc(), Manufacturer.name)
    )]


def link_manufacturer(actor: User, manufacturer: Manufacturer, company_name: str) -> Company:
    """Link ``manufacturer`` (its CMS ID) to the registry company ``company_name`` names (by
    name or alias). Refuses a name the registry does not know, or a manufacturer already
    linked. Side effects: sets ``company_id``, ``linked_by``, ``linked_at``; audits
    ``openpayments.manufacturer_linked``."""
    from ..registry.operations import find_company

    if manufacturer.company_id is not None:
        raise OpenPaymentsError(
            f"{manufacturer.name} is already linked to {manufacturer.company.name}.")
    company = find_company(company_name or "")
    if company is None:
        raise OpenPaymentsError(
            f"No company in the registry is called “{company_name}” (nor has it as an alias). "
            "Type the registry's name, or add the company to the registry first.",
            field="company")
    manufacturer.company = company
    manufacturer.linked_by = actor
    manufacturer.linked_at = utcnow()
    record(actor, "openpayments.manufacturer_linked", manufacturer, {
        "cms_id": manufacturer.cms_id, "cms_name": manufacturer.name,
        "company_id": company.id, "company": company.name})
    return company


# --------------------------------------------------------------------------- the advisory check


@dataclass
class PaymentTotal:
    nature: str
    program_year: int
    amount: Decimal
    payments: int


@dataclass
class UndisclosedCompany:
    name: str
    is_linked: bool  # False: CMS's name, not yet linked to a registry company
    total: Decimal
    payments: int
    totals: list[PaymentTotal]


@dataclass
class Advisory:
    npi: str | None
    window_start: date | None
    window_end: date | None
    companies: list[UndisclosedCompany]
    disclosed_companies_paid: int  # companies that paid and are in the disclosure
    actions: list[OpenPaymentsReview]


def session_start(person: User, meeting: Meeting) -> date | None:
    """The local day of the earliest start of ``person``'s current activities in ``meeting``."""
    first = db.session.scalar(
        sa.select(sa.func.min(Activity.starts_at)).join(Assignment, Assignment.activity_id == Activity.id)
        .where(Assignment.user_id == person.id, Assignment.removed_at.is_(None),
               Activity.meeting_id == meeting.id))
    if first is None:
        return None
    if isinstance(first, datetime) and first.tzinfo is None:  # min() bypasses the column type
        from datetime import UTC

        first = first.replace(tzinfo=UTC)
    return meeting.local(first).date()


def advisory_for(person: User, meeting: Meeting, disclosure: Disclosure | None,
                 months: int = 24) -> Advisory:
    """Companies that paid ``person`` (by NPI) in the ``months`` before their first session in
    ``meeting`` and are missing from ``disclosure``, with totals by nature and program
    year. Advisory only. Reads only."""
    from ..faculty.operations import months_before

    actions = list(db.session.scalars(
        sa.select(OpenPaymentsReview)
        .where(OpenPaymentsReview.meeting_id == meeting.id, OpenPaymentsReview.user_id == person.id)
        .order_by(OpenPaymentsReview.recorded_at.desc(), OpenPaymentsReview.id.desc())))
    end = session_start(person, meeting)
    if person.npi is None or end is None:
        return Advisory(person.npi, None, end, [], 0, actions)
    start = months_before(end, months)
    payments = db.session.execute(
        sa.select(OpenPayment.nature, OpenPayment.program_year, OpenPayment.amount,
                  Manufacturer.id, Manufacturer.name, Manufacturer.company_id, Company.name)
        .join(Manufacturer, OpenPayment.manufacturer_id == Manufacturer.id)
        .outerjoin(Company, Manufacturer.company_id == Company.id)
        .where(OpenPayment.npi == person.npi, sa.or_(
            OpenPayment.paid_on.between(start, end),
            sa.and_(OpenPayment.paid_on.is_(None),
                    OpenPayment.program_year.between(start.year, end.year))))
    ).all()
    disclosed = {r.company_id for r in disclosure.relationships} if disclosure is not None else set()
    groups: dict[tuple, dict] = {}
    paid_and_disclosed = set()
    for nature, year, amount, manufacturer_id, cms_name, company_id, company_name in payments:
        if company_id is not None and company_id in disclosed:
            paid_and_disclosed.add(company_id)
            continue
        key = ("company", company_id) if company_id is not None else ("cms", manufacturer_id)
        group = groups.setdefault(key, {"name": company_name or cms_name,
                                        "linked": company_id is not None,
                                        "totals": defaultdict(lambda: [Decimal("0"), 0])})
        cell = group["totals"][(nature, year)]
        cell[0] += amount
        cell[1] += 1
    companies = []
    for group in groups.values():
        totals = [PaymentTotal(nature, year, amount, n)
                  for (nature, year), (amount, n) in sorted(group["totals"].items(),
                                                            key=lambda kv: (-kv[0][1], kv[0][0]))]
        companies.append(UndisclosedCompany(
            name=group["name"], is_linked=group["linked"], totals=totals,
            total=sum((t.amount for t in totals), Decimal("0")),
            payments=sum(t.payments for t in totals)))
    companies.sort(key=lambda c: (-c.total, c.name))
    return Advisory(person.npi, start, end, companies, len(paid_and_disclosed), actions)


def record_action(actor: User, person: User, meeting: Meeting, action: OpenPaymentsAction,
                  note: str | None) -> OpenPaymentsReview:
    """Record what the reviewer did about the advisory check of ``person`` in ``meeting``.

    Side effects: adds an ``OpenPaymentsReview`` (never edited: the latest is shown) and
    audits ``openpayments.reviewed`` with the action and the note, the person as subject."""
    entry = OpenPaymentsReview(meeting=meeting, user=person, action=action,
                               note=(note or "").strip() or None, recorded_by=actor)
    db.session.add(entry)
    record(actor, "openpayments.reviewed", entry, {"action": action, "note": entry.note},
           subject=person)
    return entry


def apply_npis(actor: User | None, faculty: Iterable) -> int:
    """The NPIs of a programme import (rows with ``email``, ``npi`` and ``row``) put on the
    profiles of the people they name (``set_npi``: audited, one event per change).

    Refuses (``OpenPaymentsError``, naming the row) an NPI another account holds. Returns
    how many profiles changed."""
    changed = 0
    seen: set[str] = set()
    wanted = [(f.email, f.npi, f.row) for f in faculty if getattr(f, "npi", None)]
    people = {u.email: u for u in db.session.scalars(
        sa.select(User).where(User.email.in_(sorted({email for email, _n, _r in wanted}))))
    } if wanted else {}
    for email, npi, row in wanted:
        if email in seen or email not in people:
            continue
        seen.add(email)
        try:
            changed += set_npi(actor, people[email], npi)
        except OpenPaymentsError as exc:
            raise OpenPaymentsError(f"Row {row}: {exc} Nothing was imported.", field="npi") from exc
    return changed
