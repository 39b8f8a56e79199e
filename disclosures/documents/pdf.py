"""Shared parts of every PDF: page sizes, styles, header and "Page n of m" footer, the
canvas every PDF is drawn on (synthetic bold for fallback fonts), running headings."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import io
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas as pdf_canvas
from reportlab.pdfgen import textobject
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate, Spacer
from reportlab.platypus import paragraph as rl_paragraph
from reportlab.platypus.doctemplate import ActionFlowable
from reportlab.platypus.paraparser import ParaParser

from . import fonts
from .text import clean, embolden, font_runs, visual

# Page streams Flate-compressed only, not also ASCII85-encoded: ReportLab's pure-Python
# base-85 encoder was 10 % of a booklet build, and the files are 15 % smaller.
rl_config.useA85 = 0

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


_STYLES: dict[str, ParagraphStyle] = {}


def styles() -> dict[str, ParagraphStyle]:
    """The paragraph styles of sheets and booklets, made once (callers only read them)."""
    if not _STYLES:
        _STYLES.update(_make_styles())
    return dict(_STYLES)


def _make_styles() -> dict[str, ParagraphStyle]:
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


# --- The paragraph shortcut, behind one switch --------------------------------------------
#
# ``FastParagraph`` (below) reaches into ReportLab's internals: the canvas's operator list
# (``canv._code``), its graphics state (``_extgstate`` and the STATE_ATTRIBUTES), and what
# ``Paragraph.wrap`` leaves on the paragraph (``blPara``, ``frags``, ``_wrapWidths`` …).
# It was written for ReportLab 4–5 and pyproject pins ``reportlab>=5.1,<6``. Before
# moving that pin, run tests/test_documents_speed_safety.py (the same documents built with
# the shortcut and without must have the same pages, text and operators). Until it passes,
# or if a PDF ever looks wrong, ``PDF_FAST_PARAGRAPHS=0`` makes every document use
# ReportLab's own Paragraph: the same PDFs, built more slowly (a booklet of 2,000 people
# took 3.6 s instead of 1.0 s).
#
# The environment variable is read once, when this module is imported.
_fast_paragraphs = os.environ.get("PDF_FAST_PARAGRAPHS", "1").strip().lower() not in {
    "0", "false", "no", "off"}


def use_fast_paragraphs(enabled: bool) -> None:
    """Turn the paragraph shortcut on or off for this process (``PDF_FAST_PARAGRAPHS``)."""
    global _fast_paragraphs
    _fast_paragraphs = bool(enabled)


def fast_paragraphs() -> bool:
    """Whether documents are built with ``FastParagraph`` (True) or ReportLab's Paragraph."""
    return _fast_paragraphs


def Paragraph(text, style=None, bulletText=None, **kwargs):  # noqa: N802, N803 (ReportLab's names)
    """The paragraph every sheet and booklet is made of: ``FastParagraph`` while the switch
    is on (the default), ReportLab's own ``Paragraph`` when ``PDF_FAST_PARAGRAPHS=0``."""
    kind = FastParagraph if _fast_paragraphs else rl_paragraph.Paragraph
    if isinstance(text, str) and style is not None:
        text = embolden(text, style.fontName == fonts.BOLD)
    return kind(text, style, bulletText, **kwargs)


# Within one document (see ``shared_layouts``): parsed markup by (text, style, case
# sensitivity), and line layouts by that plus the bullet and the width. A booklet
# repeats the same statements and company lines thousands of times. Entries are never
# changed in place (a paragraph copies a shared layout before a split could change it).
# They live as long as the document: a booklet's take ~30 MB while it is built.
_shared: contextvars.ContextVar[_Shared | None] = contextvars.ContextVar("paragraph_caches",
                                                                         default=None)
_MISSING = object()
# Canvas state a paragraph's operators may depend on: all of it, but the position.
_DRAW_STATE = tuple(name for name in pdf_canvas.Canvas.STATE_ATTRIBUTES
                    if name not in ("_x", "_y", "_currentMatrix", "_extgstate"))
# What Paragraph.wrap sets (ReportLab 4–5); anything else it changes is kept too.
_LAYOUT_NAMES = frozenset({"width", "height", "blPara", "frags", "_wrapWidths", "_width_max",
                           "_splitLongWordCount", "_hyphenations"})


@dataclass
class _Shared:
    parsed: dict[tuple, tuple] = field(default_factory=dict)
    layouts: dict[tuple, dict] = field(default_factory=dict)


@contextlib.contextmanager
def shared_layouts() -> Iterator[None]:
    """Paragraphs made in this block share parsed markup and line layouts (one document)."""
    if not _fast_paragraphs:
        yield
        return
    token = _shared.set(_Shared())
    try:
        yield
    finally:
        _shared.reset(token)


class FastParagraph(rl_paragraph.Paragraph):
    """ReportLab's Paragraph, faster for documents with many repeated or re-measured lines.

    * The markup of a text already seen with the same style is not parsed again: the
      parsed fragments are reused (each paragraph gets its own copies), so the result
      is what a fresh parse gives.
    * Wrapping again at the width it was just wrapped at returns the same size without
      breaking the lines again. ReportLab wraps every paragraph of a ``KeepTogether``
      or a ``keepWithNext`` group twice (once to measure the group, once to place it).
    * A paragraph with the same text, style and bullet as one already wrapped at this
      width takes that one's line layout instead of breaking its lines again. Drawing
      only reads the layout; ``split`` may change it, so it first takes a private copy.

    Sharing happens between paragraphs made inside one ``shared_layouts()`` block;
    outside one, a paragraph only skips its own second wrap.
    """

    _source: tuple | None = None
    _shared: _Shared | None = None
    _shared_layout = False

    def _setup(self, text, style, bulletText, frags, cleaner):  # noqa: N803 (ReportLab's names)
        if frags is not None or not isinstance(text, str):
            super()._setup(text, style, bulletText, frags, cleaner)
            return
        shared = _shared.get()
        key = (text, style, self.caseSensitive)
        parsed = None if shared is None else shared.parsed.get(key)
        if parsed is None:
            parsed = _parse(text, style, self.caseSensitive, cleaner)
            if shared is not None:
                shared.parsed[key] = parsed
        cleaned, parsed_style, parsed_frags, bullet_frags = parsed
        super()._setup(cleaned, parsed_style, bullet_frags or bulletText,
                       [frag.clone() for frag in parsed_frags], cleaner)
        if shared is not None and (self.bulletText is None or isinstance(self.bulletText, str)):
            self._shared = shared
            self._source = key + (self.bulletText,)

    def wrap(self, availWidth, availHeight):  # noqa: N803
        # The size does not depend on availHeight; a split deletes blPara.
        state = self.__dict__
        if state.get("_wrapped_at") == availWidth and "blPara" in state:
            return self.width, self.height
        key = None if self._source is None else self._source + (availWidth,)
        layout = None if key is None else self._shared.layouts.get(key)
        if layout is not None:
            state.update(layout)
        else:
            before = dict(state)
            super().wrap(availWidth, availHeight)
            if key is not None:
                self._shared.layouts[key] = {name: value for name, value in state.items()
                                             if name in _LAYOUT_NAMES
                                             or before.get(name, _MISSING) is not value}
        self._shared_layout = key is not None
        self._wrapped_at = availWidth
        return self.width, self.height

    def draw(self):
        # Drawing is relative to the origin drawOn translated to, so an identical
        # paragraph (same text, style, bullet, width and canvas state) appends the same
        # operators: the first one's are kept per canvas (fonts are subset per
        # document) and repeated.
        canv = self.canv
        if not self._shared_layout or "_wrapped_at" not in self.__dict__:
            super().draw()
            return
        state = canv.__dict__
        key = (self._source, self._wrapped_at,
               tuple(state[name] for name in _DRAW_STATE),
               tuple(sorted(canv._extgstate._d.items())))
        drawn = state.setdefault("_paragraph_operators", {})
        try:
            operators = drawn.get(key)
        except TypeError:  # an unhashable state value (a dash list): just draw
            super().draw()
            return
        if operators is None:
            start = len(canv._code)
            super().draw()
            drawn[key] = tuple(canv._code[start:])
        else:
            canv._code.extend(operators)

    def split(self, availWidth, availHeight):  # noqa: N803
        if "blPara" not in self.__dict__ and self.frags and availWidth >= rl_paragraph._FUZZ:
            self.wrap(availWidth, availHeight)  # ReportLab's split would, and share a layout
        if self._shared_layout:
            for name in ("blPara", "frags", "_wrapWidths"):
                if name in self.__dict__:
                    self.__dict__[name] = copy.deepcopy(self.__dict__[name])
            self._shared_layout = False
        return super().split(availWidth, availHeight)


def _parse(text: str, style: ParagraphStyle, case_sensitive: int, cleaner) -> tuple:
    """What ``Paragraph._setup`` computes from the text (ReportLab 4–5), error included.

    Text without markup (no ``<`` and no ``&``) reaches ReportLab's parser as one run
    of data, which becomes one fragment in the paragraph's style: that fragment is
    made here from the style's template instead of running the HTML parser again.
    """
    if cleaner is rl_paragraph.cleanBlockQuotedText and text.isprintable():
        # What that cleaner gives printable text (its only whitespace is the space).
        text = " ".join(text.split())
    else:
        text = cleaner(text)
    if text and "<" not in text and "&" not in text:
        parsed_style, template = _plain_template(style, case_sensitive, cleaner)
        frags = [template.clone(text=text)]
        rl_paragraph.textTransformFrags(frags, parsed_style)
        return text, parsed_style, tuple(frags), None
    return (text, *_run_parser(text, style, case_sensitive))


def _run_parser(text: str, style: ParagraphStyle, case_sensitive: int) -> tuple:
    parser = ParaParser()
    parser.caseSensitive = case_sensitive
    style, frags, bullet_frags = parser.parse(text, style)
    if frags is None:
        raise ValueError(f"xml parser error ({parser.errors[0]}) in paragraph beginning\n"
                         f"'{text[:30]}'")
    rl_paragraph.textTransformFrags(frags, style)
    return style, tuple(frags), bullet_frags or None


_TEMPLATES: dict[tuple, tuple] = {}


def _plain_template(style: ParagraphStyle, case_sensitive: int, cleaner) -> tuple:
    """(style, fragment) that ReportLab's parser gives a one-word plain text in ``style``."""
    key = (style, case_sensitive)
    found = _TEMPLATES.get(key)
    if found is None:
        parsed_style, frags, _bullet = _run_parser(cleaner("x"), style, case_sensitive)
        (frag,) = frags
        found = parsed_style, frag
        if len(_TEMPLATES) > 100:  # one per style in use; styles made per call would pile up
            _TEMPLATES.clear()
        _TEMPLATES[key] = found
    return found


# --- Synthetic bold ----------------------------------------------------------------------
#
# No shipped fallback font has a bold face (a TrueType CJK bold is ~10 MB; Noto CJK is CFF,
# which ReportLab cannot embed). A fallback run set in bold (``text.embolden`` gives it the
# font ``fonts.bold_of(name)``: the same glyphs under another name) is drawn filled and
# then stroked in its own colour (text render mode 2), the outline thickened by
# ``EMBOLDEN`` of the font size. A text object that used it is wrapped in q … Q, so the
# stroke colour, line width and render mode it set end with it.
EMBOLDEN = 0.035


class _TextObject(textobject.PDFTextObject):
    _emboldened = False  # drawing in synthetic bold now
    _used_bold = False  # did at some point: the object is drawn inside q … Q

    def __init__(self, canvas, x=0, y=0, direction=None):
        super().__init__(canvas, x, y, direction)
        self._embolden(self._fontname, self._fontsize)  # the canvas's font (drawString)

    def setFont(self, psfontname, size, leading=None):  # noqa: N802, N803 (ReportLab's names)
        super().setFont(psfontname, size, leading)
        self._embolden(psfontname, size)

    def _setFont(self, psfontname, size):  # noqa: N802, N803
        super()._setFont(psfontname, size)
        self._embolden(psfontname, size)

    def setFillColor(self, aColor, alpha=None):  # noqa: N802, N803
        super().setFillColor(aColor, alpha)
        if self._emboldened:
            self._stroke_as_filled()

    def _embolden(self, name: str, size: float) -> None:
        if fonts.is_synthetic_bold(name):
            if not self._emboldened:
                self._stroke_as_filled()
                self._code.append("1 j 2 Tr")
            self._code.append(f"{fp_str(size * EMBOLDEN)} w")
            self._emboldened = self._used_bold = True
        elif self._emboldened:
            self._code.append("0 Tr")
            self._emboldened = False

    def _stroke_as_filled(self) -> None:
        color = getattr(self, "_fillColorObj", None) or self._canvas._fillColorObj
        if isinstance(color, colors.CMYKColor):
            d = color.density
            self._code.append(f"{fp_str(d * color.cyan, d * color.magenta, d * color.yellow, d * color.black)} K")
        elif isinstance(color, colors.Color):
            self._code.append(f"{fp_str(color.red, color.green, color.blue)} RG")
        elif isinstance(color, (tuple, list)) and len(color) in (3, 4):
            self._code.append(f"{fp_str(*color)} {'RG' if len(color) == 3 else 'K'}")

    def getCode(self):  # noqa: N802
        code = super().getCode()
        return f"q {code} Q" if self._used_bold else code


class Canvas(pdf_canvas.Canvas):
    """The canvas of every PDF: its text objects draw fallback runs set in bold in bold."""

    def beginText(self, x=0, y=0, direction=None):  # noqa: N802
        return _TextObject(self, x, y, direction=direction)


class NumberedCanvas(Canvas):
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


# --- Running headings ----------------------------------------------------------------------
#
# A section (a day of a room sheet, a person's booklet entry) whose first flowable is marked
# with ``continued(flowable, text, style)``: every later page that starts inside the section
# opens with ``text`` (paragraph markup) in ``style``, a paragraph made like any other. The
# mark is an attribute, not a flowable of its own, so the layout of everything else is the
# one ReportLab gives without it.

_CONTINUED = "continued_heading"


def continued(flowable: Flowable, text: str, style: ParagraphStyle) -> Flowable:
    """Mark ``flowable`` as the start of a section whose continuation pages open with
    ``text`` in ``style`` (until the next marked flowable)."""
    setattr(flowable, _CONTINUED, (text, style))
    return flowable


def _first_content(flowables: list[Flowable]) -> Flowable | None:
    """The first flowable a page would show: inside groups (KeepTogether), past spacers and
    actions (a KeepTogether taller than the page puts one in front of its content)."""
    for flowable in flowables:
        while getattr(flowable, "_content", None):
            flowable = flowable._content[0]
        if not isinstance(flowable, (Spacer, ActionFlowable)):
            return flowable
    return None


class _Document(BaseDocTemplate):
    """Pages that start inside a section (see ``continued``) open with its heading."""

    _fresh_page = False
    _section: tuple[str, ParagraphStyle] | None = None

    def handle_pageBegin(self):  # noqa: N802 (ReportLab's name)
        super().handle_pageBegin()
        self._fresh_page = True

    def filterFlowables(self, flowables):  # noqa: N802 (called before each flowable is placed)
        if flowables is self._hanging or not flowables:
            return
        if self._fresh_page:
            self._fresh_page = False
            first = _first_content(flowables)
            if (self._section is not None and first is not None
                    and not hasattr(first, _CONTINUED)):  # not a new section's start
                flowables.insert(0, Paragraph(*self._section))
                return
        # A section starts with its first flowable: placed here, or at the top of the next
        # page (which is then not a continuation).
        section = getattr(flowables[0], _CONTINUED, None)
        if section is not None:
            self._section = section


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
    canvas.setFillColor(color)
    for run, font, dx in _fitted_runs(text, width, size):
        canvas.setFont(font, size)
        canvas.drawString(x + dx, y, run)


@functools.lru_cache(maxsize=256)
def _fitted_runs(text: str, width: float, size: float) -> tuple[tuple[str, str, float], ...]:
    """(run, font, x offset) of ``text`` shortened to ``width``: the same on every page."""
    text = clean(text, 300)
    runs = _runs(text)
    measure = sum(pdfmetrics.stringWidth(run, font, size) for run, font in runs)
    while text and measure > width:
        text = text[:-2] + "…"
        runs = _runs(text)
        measure = sum(pdfmetrics.stringWidth(run, font, size) for run, font in runs)
    placed, dx = [], 0.0
    for run, font in runs:
        placed.append((run, font, dx))
        dx += pdfmetrics.stringWidth(run, font, size)
    return tuple(placed)


def _runs(text: str) -> list[tuple[str, str]]:
    """(run, font) of one line of cleaned text, in the order it is drawn (``text.visual``)."""
    return [(run, font or fonts.REGULAR) for run, font in font_runs(visual(text))]


MIN_TEXT_SIZE = 8  # draw_text shrinks a line to this size, then shortens it


def draw_text(canvas, text: str, x: float, y: float, size: float, *, bold: bool = False,
              center: bool = False, max_width: float | None = None) -> None:
    """A single line of user text (cleaned, in visual order, fallback font per run, those
    in bold in synthetic bold), optionally centred.

    With ``max_width``, a line too wide is set smaller, down to ``MIN_TEXT_SIZE`` points;
    one still too wide then is shortened to fit, ending in "…".
    """
    text = clean(text, 300)
    main = fonts.BOLD if bold else fonts.REGULAR

    def runs_of(value: str) -> list[tuple[str, str]]:
        return [(run, main if font == fonts.REGULAR else fonts.bold_of(font) if bold else font)
                for run, font in _runs(value)]

    def width_at(s: float) -> float:
        return sum(canvas.stringWidth(run, font, s) for run, font in runs)

    runs = runs_of(text)
    while max_width and size > MIN_TEXT_SIZE and width_at(size) > max_width:
        size -= 1
    while max_width and len(text) > 1 and width_at(size) > max_width:
        text = text[:-2] + "…"
        runs = runs_of(text)
    start = x - width_at(size) / 2 if center else x
    for run, font in runs:
        canvas.setFont(font, size)
        canvas.drawString(start, y, run)
        start += canvas.stringWidth(run, font, size)


# ReportLab is not thread-safe: a registered font's face is read through one shared file
# position while a document's subset is written, and fonts are process-wide. Under
# threaded workers (gunicorn gthread) two PDFs built at once raised KeyError/IndexError in
# TTFontFace.makeSubset. One build at a time per process: builds are CPU-bound under the
# GIL anyway, and pages (HTML) never wait for it.
_BUILD_LOCK = threading.RLock()


def serialised(builder):
    """Decorator for every function that turns data into PDF bytes with ReportLab."""

    @functools.wraps(builder)
    def locked(*args, **kwargs):
        with _BUILD_LOCK:
            return builder(*args, **kwargs)

    return locked


@serialised
def build(story: Iterable[Flowable], *, title: str, header: str, footer: str,
          size: str | None = None, subject: str = "") -> bytes:
    """A multi-page PDF: header with ``header`` on every page, footer, page numbers, metadata."""
    fonts.register()
    buffer = io.BytesIO()
    pagesize = page_size(size)
    doc = _Document(
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
