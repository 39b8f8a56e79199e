"""The fonts every PDF embeds, registered once per process.

DejaVu Sans renders Latin (with accents, Vietnamese), Greek, Cyrillic, Armenian,
Georgian, Hebrew, Arabic and Lao letters. For characters it lacks, ``text.markup``
switches to a fallback font per run of characters: NanumSquare for Korean
Hangul, a Noto Sans font per script for Devanagari, Bengali, Gurmukhi, Gujarati,
Oriya, Tamil, Telugu, Kannada, Malayalam, Sinhala, Thai, Myanmar, Khmer and
Ethiopic, and Droid Sans Fallback for Chinese, Japanese and anything else it has.
All ship in ``disclosures/fonts`` with their licences (see its README).

DejaVu is parsed when this module is imported (the app imports it at start-up),
so no request pays for it. A fallback font is parsed the first time a character
in its Unicode ranges that DejaVu lacks turns up: most documents never need one,
a Korean name loads only NanumSquare, a Hindi name only Noto Sans Devanagari.
Text DejaVu covers never looks further than one set lookup.

ReportLab does no complex shaping here: Indic conjuncts and vowel-sign reordering are
drawn as the separate glyphs of the font's cmap (Arabic joining and right-to-left order
are done before, in ``text.visual``).

No fallback font has a bold face. Each is also registered as ``bold_of(name)``: the same
parsed face under another name, which the PDF canvas (``pdf.Canvas``) draws in
synthetic bold.
"""

from __future__ import annotations

import copy
import functools
import threading
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"

REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"
FALLBACK = "DroidSansFallback"  # the catch-all fallback (Chinese, Japanese, …)
SYNTHETIC_BOLD = "-SyntheticBold"  # suffix of a fallback font's name drawn in synthetic bold


@dataclass(frozen=True)
class Fallback:
    """A font for characters DejaVu lacks, tried for characters in ``ranges``."""

    name: str
    filename: str
    ranges: tuple[tuple[int, int], ...] = ()  # inclusive code point ranges; () = any character

    def may_cover(self, code: int) -> bool:
        return not self.ranges or any(low <= code <= high for low, high in self.ranges)


# Tried in this order; the first whose ranges hold the character and whose font has a
# glyph for it wins. The catch-all Droid Sans Fallback comes last, so a Korean or Hindi
# name never pays for parsing its 4 MB.
FALLBACKS: tuple[Fallback, ...] = (
    Fallback("NanumSquare", "NanumSquareR.ttf",  # Hangul syllables and jamo
             ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7FF),
              (0xFFA0, 0xFFDC))),
    Fallback("NotoSansDevanagari", "NotoSansDevanagari-Regular.ttf",
             ((0x0900, 0x097F), (0x1CD0, 0x1CFF), (0xA8E0, 0xA8FF))),
    Fallback("NotoSansBengali", "NotoSansBengali-Regular.ttf", ((0x0980, 0x09FF),)),
    Fallback("NotoSansGurmukhi", "NotoSansGurmukhi-Regular.ttf", ((0x0A00, 0x0A7F),)),
    Fallback("NotoSansGujarati", "NotoSansGujarati-Regular.ttf", ((0x0A80, 0x0AFF),)),
    Fallback("NotoSansOriya", "NotoSansOriya-Regular.ttf", ((0x0B00, 0x0B7F),)),
    Fallback("NotoSansTamil", "NotoSansTamil-Regular.ttf", ((0x0B80, 0x0BFF),)),
    Fallback("NotoSansTelugu", "NotoSansTelugu-Regular.ttf", ((0x0C00, 0x0C7F),)),
    Fallback("NotoSansKannada", "NotoSansKannada-Regular.ttf", ((0x0C80, 0x0CFF),)),
    Fallback("NotoSansMalayalam", "NotoSansMalayalam-Regular.ttf", ((0x0D00, 0x0D7F),)),
    Fallback("NotoSansSinhala", "NotoSansSinhala-Regular.ttf", ((0x0D80, 0x0DFF),)),
    Fallback("NotoSansThai", "NotoSansThai-Regular.ttf", ((0x0E00, 0x0E7F),)),
    Fallback("NotoSansMyanmar", "NotoSansMyanmar-Regular.ttf",
             ((0x1000, 0x109F), (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F))),
    Fallback("NotoSansKhmer", "NotoSansKhmer-Regular.ttf", ((0x1780, 0x17FF), (0x19E0, 0x19FF))),
    Fallback("NotoSansEthiopic", "NotoSansEthiopic-Regular.ttf",
             ((0x1200, 0x139F), (0x2D80, 0x2DDF), (0xAB00, 0xAB2F))),
    Fallback(FALLBACK, "DroidSansFallbackFull.ttf"),  # CJK ideographs, kana, …: any character
)

_lock = threading.Lock()
# Characters each registered font has a glyph for (as one-character strings, so a
# whole string can be checked with one ``issuperset``).
_coverage: dict[str, frozenset[str]] = {}


def _load(name: str, filename: str) -> frozenset[str]:
    font = TTFont(name, str(FONT_DIR / filename))
    pdfmetrics.registerFont(font)
    return frozenset(map(chr, font.face.charToGlyph))


def register() -> None:
    """Register the main fonts with ReportLab (idempotent, thread-safe)."""
    if REGULAR in _coverage:
        return
    with _lock:
        if REGULAR in _coverage:
            return
        regular = _load(REGULAR, "DejaVuSans.ttf")
        _load(BOLD, "DejaVuSans-Bold.ttf")
        pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR,
                                      boldItalic=BOLD)
        _coverage[REGULAR] = regular


def _fallback_coverage(fallback: Fallback) -> frozenset[str]:
    """The fallback font's characters, registering it on first use."""
    coverage = _coverage.get(fallback.name)
    if coverage is not None:
        return coverage
    with _lock:
        if fallback.name not in _coverage:
            coverage = _load(fallback.name, fallback.filename)
            # One face: <b> and <i> inside a fallback run use it too. (A bold style does
            # not reach the run anyway: ReportLab's <font name=…> resets bold; text.embolden
            # names the bold variant instead.)
            for bold in (0, 1):
                for italic in (0, 1):
                    addMapping(fallback.name, bold, italic, fallback.name)
            _register_synthetic_bold(fallback.name)
            _coverage[fallback.name] = coverage
        return _coverage[fallback.name]


def _register_synthetic_bold(name: str) -> None:
    """``bold_of(name)``: the font ``name`` (its face parsed once, shared) under a name of
    its own, so a bold run is its own PDF font, drawn in synthetic bold by ``pdf.Canvas``."""
    regular = pdfmetrics.getFont(name)
    bold = copy.copy(regular)
    bold.fontName = bold_of(name)
    bold.state = type(regular.state)()  # its own subsets per document
    bold.face = copy.copy(regular.face)  # shares the parsed tables; its own name (ReportLab
    bold.face.name = regular.face.name + SYNTHETIC_BOLD.encode()  # keys faces on it)
    pdfmetrics.registerFont(bold)
    for is_bold in (0, 1):
        for italic in (0, 1):
            addMapping(bold.fontName, is_bold, italic, bold.fontName)


def bold_of(name: str) -> str:
    """The font to set a fallback font's run in bold (synthetic bold)."""
    return name + SYNTHETIC_BOLD


def is_synthetic_bold(name: str) -> bool:
    return name.endswith(SYNTHETIC_BOLD)


_FALLBACK_NAMES = frozenset(fallback.name for fallback in FALLBACKS)


def is_fallback(name: str) -> bool:
    return name in _FALLBACK_NAMES


def main_font_covers(text: str) -> bool:
    """True when DejaVu has a glyph for every character of ``text`` (no fallback run needed)."""
    register()
    return _coverage[REGULAR].issuperset(text)


@functools.lru_cache(maxsize=4096)
def fallback_for(char: str) -> str | None:
    """The font to set ``char`` in when DejaVu lacks it: the first fallback with a glyph.

    None when DejaVu has the glyph, or when no shipped font has one (the character is
    then left in the main font, which draws its missing-glyph box).
    """
    register()
    if char in _coverage[REGULAR]:
        return None
    code = ord(char)
    for fallback in FALLBACKS:
        if fallback.may_cover(code) and char in _fallback_coverage(fallback):
            return fallback.name
    return None


register()
