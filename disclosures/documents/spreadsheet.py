"""CSV files that staff open in a spreadsheet: the one writer for every CSV export.

Two defences against a cell becoming a formula (CSV injection):

- every cell is quoted (``csv.QUOTE_ALL``): a spreadsheet whose list separator is ``;``
  (most of Europe) does not split ``Acme;=1+1;x`` into cells at the semicolons, as it
  would an unquoted cell, and so never meets a cell starting with ``=1+1``;
- a cell that starts like a formula (``= + - @``, tab, carriage return) is prefixed with
  ``'``, which spreadsheets read as "this is text".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """The text of one cell: ``""`` for None, yes/no for booleans, formulas neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    return text


def csv_text(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A CSV document (CRLF line ends, every cell quoted and passed through ``cell``)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow([cell(name) for name in header])
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue()
