"""The fonts every PDF embeds, registered once per process.

DejaVu Sans renders Latin (with accents), Greek, Cyrillic, Hebrew and Arabic
letters; Droid Sans Fallback renders Chinese, Japanese and Korean. Both ship in
``disclosures/fonts`` with their licences. ``text.markup`` switches to the
fallback font for runs of characters DejaVu lacks.
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
_coverage: dict[str, frozenset[int]] = {}


def register() -> None:
    """Register the fonts with ReportLab (idempotent, thread-safe)."""
    if _coverage:
        return
    with _lock:
        if _coverage:
            return
        coverage = {}
        for name, filename in _FILES.items():
            font = TTFont(name, str(FONT_DIR / filename))
            pdfmetrics.registerFont(font)
            coverage[name] = frozenset(font.face.charToGlyph)
        pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR,
                                      boldItalic=BOLD)
        addMapping(FALLBACK, 0, 0, FALLBACK)
        addMapping(FALLBACK, 1, 0, FALLBACK)
        addMapping(FALLBACK, 0, 1, FALLBACK)
        addMapping(FALLBACK, 1, 1, FALLBACK)
        _coverage.update(coverage)


def needs_fallback(char: str) -> bool:
    """True when DejaVu has no glyph for ``char`` but the fallback font does."""
    register()
    code = ord(char)
    return code not in _coverage[REGULAR] and code in _coverage[FALLBACK]
