"""The one cleaner all user text passes before it reaches a ReportLab Paragraph.

ReportLab parses a small XML markup inside paragraphs, so a name such as
``Smith & <Jones>`` would break the document or inject markup. ``markup``
strips control and bidi-override characters, shortens very long text, escapes
``&``, ``<`` and ``>``, and wraps each run of characters the main font lacks
(Korean, Indic, Thai, Chinese, Japanese …) in the first fallback font that has
them. It never raises, whatever it is given.
"""

from __future__ import annotations

import unicodedata
from xml.sax.saxutils import escape

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
    """Safe paragraph markup for user text: cleaned, escaped, a fallback font per run."""
    return "".join(_run(run, font) for run, font in font_runs(clean(value, limit)))


def _run(text: str, font: str | None) -> str:
    escaped = escape(text)
    return f'<font name="{font}">{escaped}</font>' if font else escaped


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
