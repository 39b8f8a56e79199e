"""Rows out of an uploaded CSV or XLSX file, within fixed bounds of memory and time.

An upload is untrusted: a 2 KB .xlsx can declare a sheet 16,384 columns wide, a 300 KB
one can hold a shared-strings table that inflates to gigabytes, and a CSV line can hold
millions of empty fields. Everything here is bounded *before* the bytes become Python
objects, so that the worst file costs about what the largest honest one does:

- XLSX: the ZIP directory is checked first (members, sizes, compression ratio), then every
  XML part is read once by expat, streaming, which refuses DTDs (no entities, no "billion
  laughs") and counts what openpyxl would keep in memory (rows, shared strings, cells per
  row, elements of the parts it loads whole). Only then does openpyxl open the file, in
  read-only mode, through defusedxml (a dependency: openpyxl uses it when installed), with
  the sheet's declared ``<dimension>`` ignored and at most ``MAX_COLUMNS + 1`` columns read.
- CSV: decoded line by line (never the whole file at once); a row longer than
  ``MAX_RECORD_CHARS`` or containing NUL is refused.
- Both: reading stops after ``MAX_EMPTY_RUN`` empty rows in a row, and a non-empty row past
  ``last_row`` is refused.

``read_rows`` yields ``(row number, values)`` for each non-empty row; every problem with the
file as a whole is a ``ProgrammeFileError`` whose text tells the user what to do.
"""

from __future__ import annotations

import csv
import io
import itertools
import posixpath
import struct
import zipfile
from collections.abc import Iterator
from xml.parsers import expat

from ..errors import Refusal

MAX_COLUMNS = 200  # the header may name this many columns (11 are used)
MAX_EMPTY_RUN = 1_000  # this many empty rows in a row end the sheet
MAX_RECORD_CHARS = 256 * 1024  # one CSV row, quoted line breaks included

# XLSX, checked on the ZIP directory before anything is decompressed.
MAX_CENTRAL_DIRECTORY_BYTES = 1024 * 1024
MAX_MEMBERS = 1_000
MAX_MEMBER_BYTES = 64 * 1024 * 1024  # a 50,000-row sheet with inline strings is ~35 MB
MAX_TOTAL_BYTES = 128 * 1024 * 1024
MAX_SHARED_STRINGS_BYTES = 16 * 1024 * 1024
MAX_RATIO = 100  # uncompressed / compressed, for members over RATIO_FROM_BYTES
RATIO_FROM_BYTES = 1024 * 1024
# XLSX, counted while expat reads each XML part.
MAX_ELEMENTS = 6_000_000  # all parts together: bounds the time spent parsing
MAX_STREAMED_ELEMENTS = 4_000_000  # one sheet or shared-strings table
MAX_RECORDS = 500_000  # rows of a sheet, strings of the shared-strings table
MAX_RECORD_ELEMENTS = 10_000  # inside one row (its cells) or one shared string
MAX_LOOSE_ELEMENTS = 100_000  # outside rows and strings, and in every part loaded whole

SAVE_AGAIN = ("Open it in Excel, copy the programme into a new workbook and save that as "
              ".xlsx, or export it as CSV UTF-8.")
STREAMED_CONTENT_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml",
}
SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
# Parts openpyxl finds by name and parses whole (besides every .rels part).
LOADED_WHOLE = {"[Content_Types].xml", "xl/styles.xml", "docProps/core.xml", "docProps/custom.xml"}


class ProgrammeFileError(Refusal):
    """The file as a whole cannot be read (wrong type, encoding, columns, size)."""


def is_xlsx(data: bytes, filename: str) -> bool:
    return filename.lower().endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04"


def read_rows(data: bytes, filename: str, *, last_row: int) -> Iterator[tuple[int, tuple]]:
    """``(row number, values)`` of each non-empty row, the header row included; at most
    ``MAX_COLUMNS + 1`` values per row. Raises ``ProgrammeFileError``."""
    if is_xlsx(data, filename):
        rows = _xlsx_rows(data)
    elif filename.lower().endswith((".xls", ".ods", ".numbers")):
        raise ProgrammeFileError("Only CSV and .xlsx files can be imported: save the file as "
                                 ".xlsx or as CSV UTF-8.")
    else:
        rows = _csv_rows(data)
    empty_run = 0
    for number, values in enumerate(rows, start=1):
        if _is_empty(values):
            empty_run += 1
            if empty_run >= MAX_EMPTY_RUN:
                return
            continue
        empty_run = 0
        if number > last_row:
            raise ProgrammeFileError(
                f"The file goes on past row {last_row:,}: split the programme into files of at "
                "most that many rows (each import updates the activities in place).")
        yield number, tuple(values[:MAX_COLUMNS + 1])


def _is_empty(values) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


# --- CSV -------------------------------------------------------------------------------


class _BoundedLines:
    """Lines of a CSV file for ``csv.reader``, refusing a row that grows past
    ``MAX_RECORD_CHARS`` (before the reader builds its list of fields) and NUL characters."""

    def __init__(self, stream: io.TextIOBase):
        self.stream = stream
        self.line = 0
        self.record_chars = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        try:
            text = self.stream.readline(MAX_RECORD_CHARS + 1)
        except UnicodeDecodeError:
            raise ProgrammeFileError(
                f"The file is not UTF-8 text (an unreadable byte near line {self.line + 1}). In "
                "Excel, use “Save As” → “CSV UTF-8 (Comma delimited)”, or upload the .xlsx file "
                "itself.") from None
        if not text:
            raise StopIteration
        self.line += 1
        self.record_chars += len(text)
        if self.record_chars > MAX_RECORD_CHARS:
            raise ProgrammeFileError(
                f"Line {self.line} makes a row longer than {MAX_RECORD_CHARS:,} characters (an "
                "unclosed quote “\"” joins lines into one row): check the quotes on that line.")
        if "\x00" in text:
            raise ProgrammeFileError("The file contains binary data: upload a CSV or XLSX file.")
        return text


def _csv_rows(data: bytes) -> Iterator[list]:
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    lines = _BoundedLines(stream)
    first = next(lines, "")
    try:
        delimiter = csv.Sniffer().sniff(first[:4096], delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter)
    while True:
        lines.record_chars = 0
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ProgrammeFileError(f"The CSV file is malformed near line {lines.line}: {exc}.") from None
        yield row


# --- XLSX ------------------------------------------------------------------------------


def _xlsx_rows(data: bytes) -> Iterator[tuple]:
    check_xlsx_package(data)
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True,
                                          keep_links=False)
    except MemoryError:
        raise
    except Exception:  # openpyxl raises many types for broken files: all mean "unreadable"
        raise _unreadable() from None
    try:
        if not workbook.worksheets:
            raise ProgrammeFileError("The workbook has no worksheet: put the programme on the first sheet.")
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # the file's declared size is not trusted: read what is there
        yield from sheet.iter_rows(max_col=MAX_COLUMNS + 1, values_only=True)
    except (ProgrammeFileError, MemoryError):
        raise
    except Exception:
        raise _unreadable() from None
    finally:
        workbook.close()


def _unreadable(reason: str = "") -> ProgrammeFileError:
    detail = f" ({reason})" if reason else ""
    return ProgrammeFileError(f"The file is not a readable Excel spreadsheet (.xlsx){detail}. {SAVE_AGAIN}")


def _too_large(what: str) -> ProgrammeFileError:
    return ProgrammeFileError(f"The spreadsheet is too large or unusual to read safely: {what}. {SAVE_AGAIN}")


def _central_directory_bytes(data: bytes) -> int | None:
    """The ZIP central directory's size as its end records state it (zipfile reads that much
    and builds an object per entry), or None when there is no end record."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 65_535))
    if end < 0 or len(data) < end + 22:
        return None
    size = struct.unpack_from("<I", data, end + 12)[0]
    locator = end - 20  # a ZIP64 end record, when present, is what zipfile uses
    if locator >= 56 and data[locator:locator + 4] == b"PK\x06\x07":
        record = locator - 56
        if data[record:record + 4] == b"PK\x06\x06":
            size = max(size, struct.unpack_from("<Q", data, record + 40)[0])
    return size


class _Part:
    """What expat saw in one XML part: the counts that bound openpyxl's memory."""

    def __init__(self, name: str):
        self.name = name
        self.size = 0  # bytes, uncompressed
        self.elements = 0
        self.records = 0  # <row> (sheet) or <si> (shared strings): kept while streaming
        self.loose = 0  # elements outside a record
        self.depth = 0
        self.record_depth: int | None = None
        self.record_elements = 0
        self.record_label = ""  # "row 7" or "a shared string", for messages
        self.overrides: dict[str, str] = {}  # [Content_Types].xml: part name -> content type
        self.chartsheets: list[str] = []  # .rels: chartsheet targets (loaded whole)


def _scan_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int]) -> _Part | None:
    """Read one member with expat, streaming: refuse a DTD, count elements. None when the
    member is not XML (an image): openpyxl does not parse it."""
    part = _Part(info.filename)
    part.size = info.file_size
    with archive.open(info) as stream:
        head = stream.read(64 * 1024)
        if not head.lstrip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe").startswith(b"<"):
            return None
        parser = expat.ParserCreate(namespace_separator=" ")

        def refuse_dtd(*_args):
            raise _unreadable("it declares a DTD or XML entities, which Excel never writes")

        def start(name, attrs):
            part.elements += 1
            budget[0] -= 1
            if part.elements > MAX_STREAMED_ELEMENTS:
                raise _too_large(f"{part.name} has more than {MAX_STREAMED_ELEMENTS:,} XML elements")
            if budget[0] < 0:
                raise _too_large(f"its parts have more than {MAX_ELEMENTS:,} XML elements together")
            local = name.rpartition(" ")[2]
            if part.record_depth is not None:
                part.record_elements += 1
                if part.record_elements > MAX_RECORD_ELEMENTS:
                    raise _too_large(f"{part.record_label} of {part.name} has more than "
                                     f"{MAX_RECORD_ELEMENTS:,} XML elements (thousands of cells)")
            elif local in ("row", "si"):
                part.record_depth = part.depth
                part.record_elements = 1
                part.records += 1
                part.record_label = f"row {attrs.get('r', part.records)}" if local == "row" else "a shared string"
            else:
                part.loose += 1
            if local == "Override":
                part.overrides[attrs.get("PartName", "").lstrip("/")] = attrs.get("ContentType", "")
            elif local == "Relationship" and attrs.get("Type", "").endswith("/chartsheet"):
                part.chartsheets.append(attrs.get("Target", ""))
            part.depth += 1

        def end(_name):
            part.depth -= 1
            if part.record_depth == part.depth:
                part.record_depth = None

        parser.StartDoctypeDeclHandler = refuse_dtd
        parser.EntityDeclHandler = refuse_dtd
        parser.StartElementHandler = start
        parser.EndElementHandler = end
        try:
            chunk = head
            while chunk:
                parser.Parse(chunk, False)
                chunk = stream.read(1024 * 1024)
            parser.Parse(b"", True)
        except expat.ExpatError as exc:
            raise _unreadable(f"{info.filename} is not well-formed XML: {expat.errors.messages[exc.code]}") from None
    return part


def _resolve(rels_name: str, target: str) -> str:
    """A relationship target as a member name: relative to the part the .rels describes."""
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    folder = posixpath.dirname(posixpath.dirname(rels_name))  # "xl/_rels/x.rels" -> "xl"
    return posixpath.normpath(posixpath.join(folder, target))


def check_xlsx_package(data: bytes) -> None:
    """Refuse (``ProgrammeFileError``) an XLSX file whose reading by openpyxl could take
    much more memory or time than an honest programme of ``MAX_ROWS`` rows. Reads the ZIP
    directory, then each XML part once with expat; keeps nothing but counts.

    openpyxl streams worksheets and the shared-strings table (keeping one element per row
    or string, and whatever lies outside them) and parses every other part whole. So a
    part may be large only when [Content_Types].xml declares it a worksheet or a shared-
    strings table and openpyxl does not also load it whole (styles, document properties,
    relationships, chartsheets); every other XML part has at most ``MAX_LOOSE_ELEMENTS``.
    """
    directory = _central_directory_bytes(data)
    if directory is None:
        raise _unreadable()
    if directory > MAX_CENTRAL_DIRECTORY_BYTES:
        raise _too_large(f"its ZIP directory lists more than {MAX_MEMBERS:,} files")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError):
        raise _unreadable() from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise _too_large(f"it holds {len(members):,} files (at most {MAX_MEMBERS:,})")
        total = 0
        for info in members:
            total += info.file_size
            if info.file_size > MAX_MEMBER_BYTES:
                raise _too_large(f"{info.filename} unpacks to {info.file_size // 2**20:,} MB "
                                 f"(at most {MAX_MEMBER_BYTES // 2**20} MB)")
            if info.file_size > RATIO_FROM_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise _too_large(f"{info.filename} unpacks to more than {MAX_RATIO} times its size")
        if total > MAX_TOTAL_BYTES:
            raise _too_large(f"it unpacks to {total // 2**20:,} MB (at most {MAX_TOTAL_BYTES // 2**20} MB)")
        budget = [MAX_ELEMENTS]
        parts: dict[str, _Part] = {}
        try:
            for info in members:
                if not info.is_dir():
                    scanned = _scan_part(archive, info, budget)
                    if scanned is not None:
                        parts[info.filename] = scanned
        except ProgrammeFileError:
            raise
        except (zipfile.BadZipFile, RuntimeError, ValueError, OSError, EOFError, NotImplementedError):
            raise _unreadable() from None  # bad CRC, encrypted member, unknown compression
    content_types = parts.get("[Content_Types].xml")
    declared = content_types.overrides if content_types else {}
    loaded_whole = set(LOADED_WHOLE)
    for part in parts.values():
        if part.name.endswith(".rels"):
            loaded_whole.update(_resolve(part.name, t) for t in part.chartsheets)
    for part in parts.values():
        streamed = (declared.get(part.name) in STREAMED_CONTENT_TYPES
                    and part.name not in loaded_whole and not part.name.endswith(".rels"))
        if not streamed:
            if part.elements > MAX_LOOSE_ELEMENTS:
                raise _too_large(f"{part.name} has more than {MAX_LOOSE_ELEMENTS:,} XML elements")
            continue
        if part.records > MAX_RECORDS:
            raise _too_large(f"{part.name} has more than {MAX_RECORDS:,} rows or strings")
        if part.loose > MAX_LOOSE_ELEMENTS:
            raise _too_large(f"{part.name} has more than {MAX_LOOSE_ELEMENTS:,} XML elements "
                             "outside its rows")
        if declared.get(part.name) == SHARED_STRINGS_TYPE and part.size > MAX_SHARED_STRINGS_BYTES:
            raise _too_large(f"its shared-strings table {part.name} is over "
                             f"{MAX_SHARED_STRINGS_BYTES // 2**20} MB")

