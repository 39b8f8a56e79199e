"""How a spreadsheet reads a CSV file: for the tests of the CSV exports.

Excel and LibreOffice treat a double quote as switching "inside quotes" on and off, and
split cells at the list separator (``,`` or, in many locales, ``;``) only outside quotes.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@")

# A CSV file in which every cell is quoted: "…","…"<CRLF>, with "" for a quote inside.
_QUOTED_CELL = r'"(?:[^"]|"")*"'
ALL_QUOTED = re.compile(rf"(?:{_QUOTED_CELL}(?:,{_QUOTED_CELL})*\r\n)*")


def every_cell_quoted(text: str) -> bool:
    return ALL_QUOTED.fullmatch(text.lstrip("\ufeff")) is not None


def cells_read_with(text: str, separator: str) -> list[str]:
    """Every cell a spreadsheet using ``separator`` would make of ``text`` (quotes removed)."""
    cells, current, quoted = [], [], False
    for char in text.lstrip("\ufeff"):
        if char == '"':
            quoted = not quoted
        elif not quoted and char in (separator, "\n", "\r"):
            cells.append("".join(current))
            current = []
        else:
            current.append(char)
    cells.append("".join(current))
    return cells


def formulas_read_with(text: str, separator: str) -> list[str]:
    return [c for c in cells_read_with(text, separator) if c.startswith(FORMULA_STARTS)]
