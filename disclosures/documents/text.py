"""The one cleaner all user text passes before it reaches a ReportLab Paragraph.

ReportLab parses a small XML markup inside paragraphs, so a name such as
``Smith & <Jones>`` would break the document or inject markup. ``markup``
strips control and bidi-override characters, shortens very long text, escapes
``&``, ``<`` and ``>``, and wraps each run of characters the main font lacks
(Korean, Indic, Thai, Chinese, Japanese …) in the first fallback font that has
them. It never raises, whatever it is given.

ReportLab draws characters left to right in the order it is given them, so ``visual``
puts Hebrew and Arabic into the order they are seen (the Unicode bidi algorithm, with
mirrored brackets) and Arabic letters into their joined forms first. ``markup`` and the
single-line drawing in ``pdf`` both pass text through it: one path for every PDF. Each
piece of user text (a name, a title, a company) is ordered on its own, in a left-to-right
sentence. The limit: the order is that of one line, so a right-to-left run long enough
to wrap onto a second line prints its first words on the second line (names and company
names are short; a long Hebrew or Arabic title or off-label note can show it).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from xml.sax.saxutils import escape

from arabic_reshaper import ArabicReshaper
from bidi.algorithm import get_display

from . import fonts

# Explicit bidi embeddings/overrides/isolates: they can reorder what a reader sees.
_BIDI_CONTROLS = {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069}
DEFAULT_LIMIT = 1000


def clean(value: object, limit: int = DEFAULT_LIMIT) -> str:
    """Plain text: no control characters, whitespace collapsed, at most ``limit`` characters."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if not text.isprintable():
        # Only now look at each character: printable text has no control, format (so no
        # bidi control), surrogate, private-use, unassigned or separator character other
        # than the ASCII space, so it would come out of this loop unchanged.
        kept = []
        for char in text:
            category = unicodedata.category(char)
            if category in ("Zl", "Zp") or char in "\t\r\n\f\v":
                kept.append(" ")
            elif category in ("Cc", "Cs", "Co", "Cn") or ord(char) in _BIDI_CONTROLS:
                continue
            else:
                kept.append(char)
        text = "".join(kept)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: max(limit - 1, 0)].rstrip() + "…"
    return text


# Right-to-left letters (Hebrew, Arabic, Syriac, Thaana, N'Ko, …, their presentation
# forms, and the right-to-left blocks beyond the BMP): only text with one is reordered.
_RTL = re.compile("[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF\U00010800-\U00010FFF"
                  "\U0001E800-\U0001EFFF]")
_ARABIC = re.compile("[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF]")
# Joined forms and the obligatory lam-alef ligatures; vowel marks kept (a name written
# with them keeps them); no word ligatures (a name prints letter by letter).
_RESHAPER = ArabicReshaper(configuration={"delete_harakat": False,
                                          "ARABIC LIGATURE ALLAH": False})


def visual(text: str) -> str:
    """``text`` (one line, logical order) in the order ReportLab must draw it, left to right.

    Text without a right-to-left letter is returned as it is, after one regular
    expression search. Otherwise Arabic letters take their joined (presentation) forms,
    the bidi algorithm orders the line in a left-to-right paragraph, and each combining
    mark is moved after the letter it sits on (the reversal put it before; ReportLab
    draws a mark over the glyph drawn just before it).
    """
    if text.isascii() or not _RTL.search(text):
        return text
    return _visual(text)


@functools.lru_cache(maxsize=2048)
def _visual(text: str) -> str:
    if _ARABIC.search(text):
        text = _RESHAPER.reshape(text)
    ordered = get_display(text, base_dir="L")
    if not any(unicodedata.combining(char) for char in ordered):
        return ordered
    out: list[str] = []
    marks: list[str] = []
    for char in ordered:
        if unicodedata.combining(char) and _RTL.match(char):
            marks.append(char)  # reversed with its right-to-left run: its base follows
            continue
        out.append(char)
        out.extend(reversed(marks))
        marks.clear()
    out.extend(reversed(marks))
    return "".join(out)


def font_runs(text: str) -> list[tuple[str, str | None]]:
    """``text`` cut into runs of characters set in one font: (run, fallback font name, or
    None for the main font). Text the main font covers is one run, found with one lookup."""
    if fonts.main_font_covers(text):  # the usual case
        return [(text, None)] if text else []
    runs: list[tuple[str, str | None]] = []
    for char in text:
        font = fonts.fallback_for(char)
        if runs and runs[-1][1] == font:
            runs[-1] = (runs[-1][0] + char, font)
        else:
            runs.append((char, font))
    return runs


def markup(value: object, limit: int = DEFAULT_LIMIT) -> str:
    """Safe paragraph markup for user text: cleaned, in visual order, escaped, a fallback
    font per run."""
    return "".join(_run(run, font) for run, font in font_runs(visual(clean(value, limit))))


def _run(text: str, font: str | None) -> str:
    escaped = escape(text)
    return f'<font name="{font}">{escaped}</font>' if font else escaped


# The tags that make a run bold, and the font tag ``_run`` wraps a fallback run in.
_BOLD_OR_FONT = re.compile(r'<(/?)(?:b|strong)>|<font name="([^"]+)">')


def embolden(text: str, bold: bool = False) -> str:
    """Paragraph markup whose fallback runs set in bold (in a bold style, or inside <b> or
    <strong>) name the fallback font's synthetic bold variant (``fonts.bold_of``).

    ReportLab's ``<font name=…>`` resets bold, and no fallback font has a bold face: without
    this a bold Chinese name printed in the regular weight. Text with no fallback run is
    returned as it is.
    """
    if '<font name="' not in text:
        return text
    depth = 0
    out: list[str] = []
    position = 0
    for match in _BOLD_OR_FONT.finditer(text):
        closing, font = match.group(1), match.group(2)
        if font is None:
            depth = max(depth - 1, 0) if closing else depth + 1
        elif (bold or depth) and fonts.is_fallback(font):
            out.append(text[position:match.start()])
            out.append(f'<font name="{fonts.bold_of(font)}">')
            position = match.end()
    if not out:
        return text
    out.append(text[position:])
    return "".join(out)


def fold(text: str) -> str:
    """Case- and accent-insensitive form for searching and sorting."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()


def family_sort_key(name: str) -> str:
    """Sort by family name (last word, ignoring a parenthesised transliteration), then name."""
    bare = name.split("(")[0].strip() or name
    words = bare.split()
    last = words[-1] if words else bare
    return f"{fold(last)}\x00{fold(name)}"
