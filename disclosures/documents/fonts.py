"""The fonts every PDF embeds, registered once per process.

DejaVu Sans renders Latin (with accents), Greek, Cyrillic, Hebrew and Arabic
letters; Droid Sans Fallback renders Chinese, Japanese and Korean. Both ship in
``disclosures/fonts`` with their licences. ``text.markup`` switches to the
fallback font for runs of characters DejaVu lacks.

DejaVu is parsed when this module is imported (the app imports it at start-up),
so no request pays for it. Droid Sans Fallback (4 MB, the slowest to parse) is
registered the first time a character DejaVu lacks turns up: most documents
never need it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"

REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"
FALLBACK = "DroidSansFallback"

_FILES = {
    REGULAR: "DejaVuSans.ttf",
    BOLD: "DejaVuSans-Bold.ttf",
    FALLBACK: "DroidSansFallbackFull.ttf",
}

_lock = threading.Lock()
# Characters each registered font has a glyph for (as one-character strings, so a
# whole string can be checked with one ``issuperset``).
_coverage: dict[str, frozenset[str]] = {}


def _load(name: str) -> frozenset[str]:
    font = TTFont(name, str(FONT_DIR / _FILES[name]))
    pdfmetrics.registerFont(font)
    return frozenset(map(chr, font.face.charToGlyph))


def register() -> None:
    """Register the main fonts with ReportLab (idempotent, thread-safe)."""
    if REGULAR in _coverage:
        return
    with _lock:
        if REGULAR in _coverage:
            return
        regular, _bold = _load(REGULAR), _load(BOLD)
        pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR,
                                      boldItalic=BOLD)
        _coverage[REGULAR] = regular


def _fallback_coverage() -> frozenset[str]:
    """The fallback font's characters, registering it on first use."""
    coverage = _coverage.get(FALLBACK)
    if coverage is not None:
        return coverage
    with _lock:
        if FALLBACK not in _coverage:
            coverage = _load(FALLBACK)
            addMapping(FALLBACK, 0, 0, FALLBACK)
            addMapping(FALLBACK, 1, 0, FALLBACK)
            addMapping(FALLBACK, 0, 1, FALLBACK)
            addMapping(FALLBACK, 1, 1, FALLBACK)
            _coverage[FALLBACK] = coverage
        return _coverage[FALLBACK]


def main_font_covers(text: str) -> bool:
    """True when DejaVu has a glyph for every character of ``text`` (no fallback run needed)."""
    register()
    return _coverage[REGULAR].issuperset(text)


def needs_fallback(char: str) -> bool:
    """True when DejaVu has no glyph for ``char`` but the fallback font does."""
    register()
    return char not in _coverage[REGULAR] and char in _fallback_coverage()


register()
