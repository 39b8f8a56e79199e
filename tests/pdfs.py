"""Reading PDFs back as a reader would: each page's text, its drawing operators, and where
every piece of text lands on the page (for "nothing is drawn off the page")."""

from __future__ import annotations

import functools
import io
import unicodedata
from collections import Counter
from dataclasses import dataclass

import pypdf
from pypdf.generic import ContentStream
from reportlab.pdfbase.pdfmetrics import stringWidth

from disclosures.documents import fonts


def pages(content: bytes) -> list[pypdf.PageObject]:
    return list(pypdf.PdfReader(io.BytesIO(content)).pages)


def page_texts(content: bytes) -> list[str]:
    """The text pypdf extracts from each page, runs of whitespace made one space."""
    return [" ".join((page.extract_text() or "").split()) for page in pages(content)]


def text(content: bytes) -> str:
    return " ".join(page_texts(content))


def page_operators(content: bytes) -> list[bytes]:
    """Each page's content stream, decompressed: equal when every line is drawn alike."""
    return [page.get_contents().get_data() for page in pages(content)]


def fonts_used(content: bytes) -> set[str]:
    """The BaseFont names on every page, without the subset prefix."""
    return {str(font.get_object()["/BaseFont"]).split("+")[-1]
            for page in pages(content) for font in page["/Resources"]["/Font"].values()}


@dataclass(frozen=True)
class TextBox:
    """Where one shown string lands: from its start on the baseline to its end, up by the
    font size (in the page's default coordinates, points from the lower left corner)."""

    page: int
    codes: bytes
    x0: float
    y0: float
    x1: float
    y1: float


def _multiply(m, n):
    """The product of two PDF matrices [a b c d e f] (m applied first)."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (a * a2 + b * c2, a * b2 + b * d2, c * a2 + d * c2, c * b2 + d * d2,
            e * a2 + f * c2 + e2, e * b2 + f * d2 + f2)


def _apply(m, x, y):
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def text_boxes(content: bytes) -> list[TextBox]:
    """Every string a page shows (Tj, TJ, ', "), placed by following the content stream's
    text and graphics state: q/Q, cm, BT, Tf, Tm, Td, TD, T*, TL, Tc, Tw, Tz, Ts. Widths come
    from each font's /Widths (the fonts here are simple fonts: one byte per glyph)."""
    boxes: list[TextBox] = []
    for number, page in enumerate(pages(content)):
        fonts = page["/Resources"].get("/Font", {})
        widths: dict[str, tuple[int, list, float]] = {}
        for name, ref in fonts.items():
            font = ref.get_object()
            if "/Widths" in font:
                widths[name] = (int(font["/FirstChar"]), [float(w) for w in font["/Widths"]],
                                float(font.get("/FontDescriptor", {}).get("/MissingWidth", 0)))
            else:  # one of the 14 standard fonts (ReportLab's default bullet font, Helvetica)
                base = str(font["/BaseFont"])[1:]
                widths[name] = (0, [stringWidth(bytes([code]).decode("cp1252", "replace"), base, 1000)
                                    for code in range(256)], 0.0)
        state = {"ctm": IDENTITY, "Tc": 0.0, "Tw": 0.0, "Tz": 1.0, "TL": 0.0, "Ts": 0.0,
                 "font": None, "size": 0.0}
        stack = []
        tm = tlm = IDENTITY
        for operands, operator in ContentStream(page.get_contents(), page.pdf).operations:
            op = operator.decode("latin-1")
            if op == "q":
                stack.append(dict(state))
            elif op == "Q":
                state = stack.pop()
            elif op == "cm":
                state["ctm"] = _multiply(tuple(map(float, operands)), state["ctm"])
            elif op == "BT":
                tm = tlm = IDENTITY
            elif op == "Tf":
                state["font"], state["size"] = str(operands[0]), float(operands[1])
            elif op == "Tc":
                state["Tc"] = float(operands[0])
            elif op == "Tw":
                state["Tw"] = float(operands[0])
            elif op == "Tz":
                state["Tz"] = float(operands[0]) / 100
            elif op == "TL":
                state["TL"] = float(operands[0])
            elif op == "Ts":
                state["Ts"] = float(operands[0])
            elif op == "Tm":
                tm = tlm = tuple(map(float, operands))
            elif op in ("Td", "TD"):
                tx, ty = map(float, operands)
                if op == "TD":
                    state["TL"] = -ty
                tm = tlm = _multiply((1, 0, 0, 1, tx, ty), tlm)
            elif op in ("T*", "'", '"'):
                tm = tlm = _multiply((1, 0, 0, 1, 0, -state["TL"]), tlm)
            if op in ("Tj", "'", '"', "TJ"):
                if op == '"':
                    state["Tw"], state["Tc"] = float(operands[0]), float(operands[1])
                parts = operands[0] if op == "TJ" else [operands[-1]]
                start = tm
                shown = b""
                for part in parts:
                    if isinstance(part, (int, float)) or hasattr(part, "as_numeric"):
                        adjust = -float(part) / 1000 * state["size"] * state["Tz"]
                        tm = _multiply((1, 0, 0, 1, adjust, 0), tm)
                        continue
                    codes = bytes(part.original_bytes if hasattr(part, "original_bytes") else part)
                    first, table, missing = widths[state["font"]]
                    for code in codes:
                        index = code - first
                        w0 = table[index] if 0 <= index < len(table) else missing
                        advance = (w0 / 1000 * state["size"] + state["Tc"]
                                   + (state["Tw"] if code == 32 else 0)) * state["Tz"]
                        tm = _multiply((1, 0, 0, 1, advance, 0), tm)
                    shown += codes
                corners = [
                    _apply(_multiply(matrix, state["ctm"]), 0, rise)
                    for matrix in (start, tm)
                    for rise in (state["Ts"], state["Ts"] + state["size"])
                ]
                xs = [x for x, _y in corners]
                ys = [y for _x, y in corners]
                boxes.append(TextBox(number, shown, min(xs), min(ys), max(xs), max(ys)))
    return boxes


def text_off_the_page(content: bytes, tolerance: float = 0.01) -> list[TextBox]:
    """The shown strings that reach outside their page's media box (none, on a good page)."""
    boxes = {number: page.mediabox for number, page in enumerate(pages(content))}
    outside = []
    for box in text_boxes(content):
        media = boxes[box.page]
        if (box.x0 < float(media.left) - tolerance or box.x1 > float(media.right) + tolerance
                or box.y0 < float(media.bottom) - tolerance or box.y1 > float(media.top) + tolerance):
            outside.append(box)
    return outside


# --- Does the text a document was given come back out of it? ------------------------------
#
# pypdf returns what ReportLab draws, except (ReportLab 5.1, pypdf 7):
# * characters outside the Basic Multilingual Plane (above U+FFFF: emoji, mathematical
#   letters): ReportLab writes their ToUnicode entry as an odd-length hex string (<1F600>),
#   which no reader decodes, so they come back as nothing or U+0000;
# * characters no shipped font has a glyph for: drawn as the font's missing-glyph box,
#   they come back as U+0000;
# * format characters (Unicode Cf: the soft hyphen, zero-width joiner …): not printable;
#   ReportLab keeps or drops a soft hyphen depending on where the line breaks;
# * whitespace: line breaks and pypdf's spacing between runs differ from the input's;
# * right-to-left letters (pypdf's ranges U+0590–U+08FF, U+FB1D–U+FDFF, U+FE70–U+FEFF):
#   pypdf takes the drawing order for visual order and reverses each right-to-left run,
#   with the digits, punctuation and spaces inside it. ReportLab draws them in logical
#   order (it does no bidi). On a page with any of them only the characters are compared,
#   not their order. (tests/test_documents_rtl_issue16.py checks their order.)
# * Arabic letters: drawn in their joined forms (presentation forms, text.visual), which
#   is what comes back; both sides are compared in compatibility form (NFKC) for these.
RTL_RANGES = ((0x0590, 0x08FF), (0xFB1D, 0xFDFF), (0xFE70, 0xFEFF))
PRESENTATION_FORMS = ((0xFB50, 0xFDFF), (0xFE70, 0xFEFF))


def base_letters(value: str) -> str:
    """``value`` with Arabic presentation forms (joined letters, lam-alef) as base letters."""
    if not any(low <= ord(char) <= high for char in value for low, high in PRESENTATION_FORMS):
        return value
    return "".join(unicodedata.normalize("NFKC", char)
                   if any(low <= ord(char) <= high for low, high in PRESENTATION_FORMS) else char
                   for char in value)


def is_rtl(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in RTL_RANGES)


def returned_by_text_layer(char: str) -> bool:
    """Whether pypdf can give ``char`` back from our PDFs (see above)."""
    return (char.isprintable() and not char.isspace() and ord(char) <= 0xFFFF
            and (fonts.main_font_covers(char) or fonts.fallback_for(char) is not None))


@functools.lru_cache(maxsize=64)
def comparable(value: str) -> str:
    """``value`` without what the text layer cannot return (see above)."""
    return base_letters("".join(char for char in value if returned_by_text_layer(char)))


def shows(extracted: str, value: str) -> bool:
    """Whether text extracted from a document shows ``value`` (already cleaned as the
    document cleans it), as far as the text layer can tell (see above)."""
    expected, got = comparable(value), comparable(extracted)
    if any(is_rtl(char) for char in got):
        return not Counter(expected) - Counter(got)
    return expected in got
