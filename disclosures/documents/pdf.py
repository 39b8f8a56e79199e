"""Shared parts of every PDF: page sizes, styles, header and "Page n of m" footer."""

from __future__ import annotations

import io
from collections.abc import Iterable

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as pdf_canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate

from . import fonts
from .text import clean

PAGE_SIZES = {"letter": letter, "a4": A4}
AUTHOR = "CME Disclosures"
INK = colors.HexColor("#1c2430")
MUTED = colors.HexColor("#5f6b7a")
BRAND = colors.HexColor("#1d4e89")
LINE = colors.HexColor("#d9dee5")
OK = colors.HexColor("#1e6b3a")
WARN = colors.HexColor("#8a5300")


def page_size(name: str | None) -> tuple[float, float]:
    return PAGE_SIZES.get((name or "letter").lower(), letter)


def styles() -> dict[str, ParagraphStyle]:
    fonts.register()
    base = ParagraphStyle("base", fontName=fonts.REGULAR, fontSize=9.5, leading=12.5,
                          textColor=INK, splitLongWords=True, wordWrap=None)
    return {
        "base": base,
        "title": ParagraphStyle("title", parent=base, fontName=fonts.BOLD, fontSize=17,
                                leading=21, textColor=BRAND, spaceAfter=2),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=11, leading=14,
                                   textColor=INK, spaceAfter=6),
        "intro": ParagraphStyle("intro", parent=base, fontSize=8.5, leading=11,
                                textColor=MUTED, spaceAfter=8),
        "day": ParagraphStyle("day", parent=base, fontName=fonts.BOLD, fontSize=12.5,
                              leading=16, textColor=BRAND, spaceBefore=10, spaceAfter=4),
        "activity": ParagraphStyle("activity", parent=base, fontName=fonts.BOLD, fontSize=10.5,
                                   leading=13.5, spaceBefore=6, spaceAfter=1),
        "meta": ParagraphStyle("meta", parent=base, fontSize=8.5, leading=11, textColor=MUTED,
                               spaceAfter=3),
        "person": ParagraphStyle("person", parent=base, fontName=fonts.BOLD, leftIndent=8,
                                 spaceBefore=3),
        "line": ParagraphStyle("line", parent=base, leftIndent=18, bulletIndent=10),
        "statement": ParagraphStyle("statement", parent=base, leftIndent=18, textColor=OK),
        "review": ParagraphStyle("review", parent=base, leftIndent=18, textColor=WARN),
        "note": ParagraphStyle("note", parent=base, fontSize=8.5, leading=11, leftIndent=8,
                               spaceBefore=3),
        "center": ParagraphStyle("center", parent=base, alignment=TA_CENTER),
    }


class NumberedCanvas(pdf_canvas.Canvas):
    """Draws "Page n of m" once the page count is known."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._saved: list[dict] = []

    def showPage(self):  # noqa: N802 (ReportLab's name)
        self._saved.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        total = len(self._saved)
        for state in self._saved:
            self.__dict__.update(state)
            self._draw_page_number(total)
            super().showPage()
        super().save()

    def _draw_page_number(self, total: int) -> None:
        width, _height = self._pagesize
        self.setFont(fonts.REGULAR, 8)
        self.setFillColor(MUTED)
        self.drawRightString(width - 18 * mm, 10 * mm, f"Page {self._pageNumber} of {total}")


def _header_footer(header: str, footer: str):
    def draw(canvas, doc):
        width, height = doc.pagesize
        canvas.saveState()
        canvas.setStrokeColor(LINE)
        canvas.setLineWidth(0.6)
        canvas.line(18 * mm, height - 15 * mm, width - 18 * mm, height - 15 * mm)
        canvas.line(18 * mm, 14 * mm, width - 18 * mm, 14 * mm)
        _draw_fitting(canvas, header, 18 * mm, height - 12.5 * mm, width - 36 * mm, 8.5, MUTED)
        _draw_fitting(canvas, footer, 18 * mm, 10 * mm, width - 70 * mm, 8, MUTED)
        canvas.restoreState()

    return draw


def _draw_fitting(canvas, text: str, x: float, y: float, width: float, size: float, color) -> None:
    """One line of user text at the page edge, shortened to fit, fallback font per run."""
    text = clean(text, 300)
    runs = _runs(text)
    measure = sum(canvas.stringWidth(run, font, size) for run, font in runs)
    while text and measure > width:
        text = text[:-2] + "…"
        runs = _runs(text)
        measure = sum(canvas.stringWidth(run, font, size) for run, font in runs)
    canvas.setFillColor(color)
    for run, font in runs:
        canvas.setFont(font, size)
        canvas.drawString(x, y, run)
        x += canvas.stringWidth(run, font, size)


def _runs(text: str) -> list[tuple[str, str]]:
    runs: list[tuple[str, str]] = []
    for char in text:
        font = fonts.FALLBACK if fonts.needs_fallback(char) else fonts.REGULAR
        if runs and runs[-1][1] == font:
            runs[-1] = (runs[-1][0] + char, font)
        else:
            runs.append((char, font))
    return runs


def draw_text(canvas, text: str, x: float, y: float, size: float, *, bold: bool = False,
              center: bool = False, max_width: float | None = None) -> None:
    """A single line of user text (cleaned, fallback font per run), optionally centred/shrunk."""
    text = clean(text, 300)
    main = fonts.BOLD if bold else fonts.REGULAR
    runs = [(run, main if font == fonts.REGULAR else font) for run, font in _runs(text)]

    def width_at(s: float) -> float:
        return sum(canvas.stringWidth(run, font, s) for run, font in runs)

    while max_width and size > 8 and width_at(size) > max_width:
        size -= 1
    start = x - width_at(size) / 2 if center else x
    for run, font in runs:
        canvas.setFont(font, size)
        canvas.drawString(start, y, run)
        start += canvas.stringWidth(run, font, size)


def build(story: Iterable[Flowable], *, title: str, header: str, footer: str,
          size: str | None = None, subject: str = "") -> bytes:
    """A multi-page PDF: header with ``header`` on every page, footer, page numbers, metadata."""
    fonts.register()
    buffer = io.BytesIO()
    pagesize = page_size(size)
    doc = BaseDocTemplate(
        buffer, pagesize=pagesize, leftMargin=18 * mm, rightMargin=18 * mm,
        topMargin=20 * mm, bottomMargin=19 * mm, title=clean(title, 300), author=AUTHOR,
        subject=clean(subject, 300), creator=AUTHOR, lang="en-US",
    )
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body",
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame],
                                       onPage=_header_footer(header, footer))])
    doc.build(list(story), canvasmaker=NumberedCanvas)
    return buffer.getvalue()
