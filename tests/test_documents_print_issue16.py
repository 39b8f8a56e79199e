"""Issue 16, "What people read and sign, polished", in the PDFs: continuation pages repeat
their heading, bold CJK names print bold, Hebrew and Arabic names print right to left.

ACCME Standard 3 asks that learners be told, before the activity, each person's relevant
financial relationships: what is printed must be legible, and a name must be recognisable
as the person's name on every page where their disclosure is read.
"""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta

import pypdf
import pypdfium2 as pdfium
import pytest

from disclosures.documents import booklet, fonts, pdf, sheet, sign, slide, text
from disclosures.documents.data import (
    ActivitySheet,
    Booklet,
    BookletEntry,
    BookletPerson,
    Day,
    PersonLine,
    RoomSheet,
    Slide,
    Statement,
)
from disclosures.enums import StatementKind

from .pdfs import page_texts

NOW = datetime(2027, 10, 7, 9, tzinfo=UTC)
RELEVANT, NONE = StatementKind.RELEVANT, StatementKind.NONE
FOOTER = "fingerprint c0ffee16"
HEBREW = "דוד כהן"
ARABIC = "محمد علي"
LAM_ALEF = "خالد الأحمد"  # joined letters and a lam-alef ligature


def _body(page_text: str) -> str:
    """A page's text after the running header and footer (drawn first on every page)."""
    return page_text.split(FOOTER, 1)[1].strip()


def _statement(lines: int) -> Statement:
    return Statement(RELEVANT, tuple((f"Company {i} Holdings", "Consultant") for i in range(lines)))


def _activity(n: int, start: datetime, people: int = 4) -> ActivitySheet:
    return ActivitySheet(
        f"Session {n}: spinal surgery update", f"S{n}", start, start + timedelta(hours=1), "Hall",
        (), tuple(PersonLine(f"Speaker {n}-{p}", "Speaker", _statement(3)) for p in range(people)))


def _room(days: dict[date, int]) -> RoomSheet:
    return RoomSheet("Meeting", "Hall A", None, "UTC", NOW, tuple(
        Day(day, False, tuple(_activity(n, datetime.combine(day, NOW.timetz())) for n in range(count)))
        for day, count in days.items()), version=1, fingerprint="c0ffee16")


# --- Continuation pages ----------------------------------------------------------------------


def test_issue16_room_sheet_continuation_pages_repeat_the_day_heading():
    """A page of the room sheet that starts within a day opens with "<day> (continued)"; a
    page that starts with a new day opens with that day's own heading, never the last one's."""
    thursday, friday = date(2027, 10, 7), date(2027, 10, 8)
    content = sheet.room_sheet_pdf(_room({thursday: 14, friday: 10}))
    bodies = [_body(page) for page in page_texts(content)]
    assert len(bodies) >= 5
    headings = {day: sheet.day_heading(day) for day in (thursday, friday)}
    assert headings[thursday] == "Thursday, October 7, 2027"
    assert bodies[0].startswith("Meeting Faculty disclosures")
    assert "(continued)" not in bodies[0]
    friday_starts = re.compile(re.escape(headings[friday]) + r" (?!\(continued\))")
    current = thursday
    for number, body in enumerate(bodies[1:], start=2):
        if not body.startswith(f"{headings[current]} (continued) "):
            # Only a new day may open a page without the heading of the day in progress.
            assert current == thursday and friday_starts.match(body), f"page {number}: {body[:80]}"
        if friday_starts.search(body):
            current = friday
    assert current == friday


def test_issue16_room_sheet_of_one_page_has_no_continued_heading():
    content = sheet.room_sheet_pdf(_room({date(2027, 10, 7): 1}))
    assert "(continued)" not in " ".join(page_texts(content))


def _booklet(people: list[tuple[str, int]]) -> bytes:
    """One person per (name, number of sessions); each session has two relationships."""
    entries = [BookletEntry(f"Session {n}", NOW, "Hall A", "Speaker", _statement(2))
               for n in range(40)]
    return booklet.booklet_pdf(Booklet(
        "Meeting", "m", "Here", "UTC", NOW.date(), NOW.date(), NOW,
        tuple(BookletPerson(name, f"{i:04}", "", tuple(entries[:count]))
              for i, (name, count) in enumerate(people)), version=1, fingerprint="c0ffee16"))


def test_issue16_booklet_entry_running_onto_the_next_page_repeats_the_name_continued():
    """A person whose entries run over a page break: the next page opens with "<name>
    (continued)". Short entries are kept on one page, so they never need it."""
    people = [("Ada Short", 2), ("Bruno Long", 40), ("Chen Short", 2)]
    bodies = [_body(page) for page in page_texts(_booklet(people))]
    starts = [next(i for i, body in enumerate(bodies) if re.search(rf"\b{name} Speaker", body))
              for name, _count in people]
    assert starts[2] - starts[1] >= 2  # Bruno's entries fill more than a page
    for number in range(starts[1] + 1, starts[2] + 1):
        if number == starts[2] and bodies[number].startswith("Chen Short Speaker"):
            continue  # Bruno ended on the page before: Chen opens this one
        assert bodies[number].startswith("Bruno Long (continued) "), bodies[number][:80]
    everything = " ".join(bodies)
    assert "Ada Short (continued)" not in everything
    assert "Chen Short (continued)" not in everything


def test_issue16_continued_headings_are_set_as_reportlab_sets_them():
    """The heading inserted on a continuation page goes through the same paragraph path:
    with and without the paragraph shortcut, the same pages, text and operators."""
    from .test_documents_speed_safety import _both_ways

    room = _room({date(2027, 10, 7): 8, date(2027, 10, 8): 6})
    fast, plain, again = _both_ways(lambda: sheet.room_sheet_pdf(room))
    assert "(continued)" in " ".join(plain[1])
    assert fast == plain == again
    fast, plain, again = _both_ways(lambda: _booklet([("Ada", 2), ("Bruno 王伟", 40)]))
    assert "Bruno 王伟 (continued)" in " ".join(plain[1])
    assert fast == plain == again


# --- Bold CJK names ---------------------------------------------------------------------------

SCALE = 8  # rendering pixels per point


def _glyphs(content: bytes, page: int = 0, loose: bool = False):
    """(character, its box in points (left, bottom, right, top), the page rendered). A loose
    box spans the font's ascent to descent: the same for every glyph of a line."""
    document = pdfium.PdfDocument(content)
    try:
        rendered = document[page].render(scale=SCALE).to_pil().convert("RGB")
        height = document[page].get_height()
        textpage = document[page].get_textpage()
        glyphs = [(textpage.get_text_range(i, 1), textpage.get_charbox(i, loose=loose))
                  for i in range(textpage.count_chars())]
    finally:
        document.close()
    return glyphs, rendered, height


def _pixels(image) -> list[tuple[int, int, int]]:
    data = image.tobytes()  # RGB
    return [tuple(data[i:i + 3]) for i in range(0, len(data), 3)]


def _ink(rendered, height: float, box) -> int:
    """The ink inside a glyph's box (a point of margin for the outline): the sum over its
    pixels of how dark each is (255 minus its darkest channel, so dark colours compare)."""
    left, bottom, right, top = box
    crop = rendered.crop((int((left - 1) * SCALE), int((height - top - 1) * SCALE),
                          int((right + 1) * SCALE), int((height - bottom + 1) * SCALE)))
    return sum(255 - min(pixel) for pixel in _pixels(crop))


def test_issue16_bold_cjk_name_prints_in_a_bold_face_not_regular():
    """On the room sheet a person's name is set in bold above their statement, and the same
    name is set regular in the statement ("王伟明 has no relevant …"), at the same size. No
    shipped CJK font has a bold face: the bold run is drawn filled and stroked (synthetic
    bold). Measured on the rendered page: each bold glyph carries at least a quarter more
    ink than the same glyph set regular (about half more; before, the two were equal)."""
    name = "王伟明"
    activity = ActivitySheet("Talk", "S1", NOW, NOW, "Room", (),
                             (PersonLine(name, "Speaker", Statement(NONE)),))
    content = sheet.room_sheet_pdf(RoomSheet("Meeting", "Room", None, "UTC", NOW,
                                             (Day(NOW.date(), False, (activity,)),)))
    glyphs, rendered, height = _glyphs(content)
    for char in name:
        bold, regular = [box for got, box in glyphs if got == char]  # name line, then statement
        assert bold[1] > regular[1]  # the name line is above the statement
        assert _ink(rendered, height, bold) > 1.25 * _ink(rendered, height, regular), char


def test_issue16_bold_cjk_outline_is_drawn_in_the_text_colour():
    """The synthetic bold outline is stroked in the text's own colour (the first slide's
    name is brand blue): no dark rim around a coloured name."""
    content = slide.slide_pdf(Slide("Meeting", "王伟明", "Speaker", "Talk", NOW, "Hall",
                                    Statement(NONE)))
    glyphs, rendered, height = _glyphs(content)
    left, bottom, right, top = next(box for got, box in glyphs if got == "伟")
    crop = rendered.crop((int(left * SCALE), int((height - top) * SCALE),
                          int(right * SCALE), int((height - bottom) * SCALE)))
    darkest = min(_pixels(crop), key=sum)
    brand = tuple(round(channel * 255) for channel in pdf.BRAND.rgb())
    assert all(abs(a - b) <= 12 for a, b in zip(darkest, brand, strict=True)), (darkest, brand)


def test_issue16_bold_single_lines_draw_cjk_in_synthetic_bold():
    """Lines drawn one by one (room sign, slide banner) take the same path: bold=True sets a
    CJK run heavier than bold=False, and the canvas state after it is as before (q … Q)."""
    buffer = io.BytesIO()
    canvas = pdf.Canvas(buffer, pagesize=(400, 200))
    canvas.setFillColor(pdf.INK)
    pdf.draw_text(canvas, "王伟明", 20, 120, 30, bold=True)
    pdf.draw_text(canvas, "王伟明", 20, 40, 30)
    canvas.showPage()
    canvas.save()
    content = buffer.getvalue()
    operators = pypdf.PdfReader(io.BytesIO(content)).pages[0].get_contents().get_data()
    assert b" 2 Tr" in operators and operators.count(b"q BT") == 1  # the bold line only
    glyphs, rendered, height = _glyphs(content)
    for char in "王伟明":
        bold, regular = [box for got, box in glyphs if got == char]
        assert _ink(rendered, height, bold) > 1.25 * _ink(rendered, height, regular), char


def test_issue16_embolden_names_the_bold_variant_only_in_bold_context():
    cjk = text.markup("王")
    assert text.embolden(cjk) == cjk
    assert text.embolden(cjk, bold=True) == cjk.replace(fonts.FALLBACK, fonts.bold_of(fonts.FALLBACK))
    mixed = f"<b>{cjk}</b> {cjk} <strong>x {cjk}</strong>"
    assert text.embolden(mixed).count(fonts.bold_of(fonts.FALLBACK)) == 2
    assert text.embolden("Smith &amp; Jones", bold=True) == "Smith &amp; Jones"


# --- Hebrew and Arabic: right to left -----------------------------------------------------------


def _slide(name: str) -> bytes:
    return slide.slide_pdf(Slide("Meeting", name, "Speaker", "Talk", NOW, "Hall", Statement(NONE)))


def _sheet_pdf(name: str) -> bytes:
    activity = ActivitySheet("Talk", "S1", NOW, NOW, "Room", (),
                             (PersonLine(name, "Speaker", _statement(1)),))
    return sheet.room_sheet_pdf(RoomSheet("Meeting", "Room", None, "UTC", NOW,
                                          (Day(NOW.date(), False, (activity,)),)))


def _booklet_pdf(name: str) -> bytes:
    entry = BookletEntry("Talk", NOW, "Hall A", "Speaker", Statement(NONE))
    return booklet.booklet_pdf(Booklet("Meeting", "m", "Here", "UTC", NOW.date(), NOW.date(),
                                       NOW, (BookletPerson(name, "0", "", (entry,)),)))


def _sign(name: str) -> bytes:
    return sign.sign_pdf("Meeting", name, "https://example.org/r/abc")


def _header(name: str) -> bytes:
    """The running page header of a sheet (drawn line by line, not as a paragraph)."""
    return sheet.room_sheet_pdf(RoomSheet(name, "Room", None, "UTC", NOW, ()))


BUILDERS = {"room_sheet": _sheet_pdf, "booklet": _booklet_pdf, "first_slide": _slide,
            "room_sign": _sign, "page_header": _header}
RTL_NAMES = {"hebrew": HEBREW, "arabic": ARABIC, "lam_alef": LAM_ALEF}


def _letters(value: str) -> str:
    """Letters only, Arabic joined forms and ligatures as their base letters."""
    return "".join(char for char in unicodedata.normalize("NFKC", value)
                   if unicodedata.category(char).startswith("L"))


def _read_right_to_left(content: bytes) -> list[str]:
    """Per line of the first page, its right-to-left letters in the order a reader reads
    them: by position on the page, right to left (whatever order they were drawn in)."""
    glyphs, _rendered, _height = _glyphs(content, loose=True)
    rtl = sorted((bottom, left, char) for char, (left, bottom, _right, _top) in glyphs
                 if _letters(char) and unicodedata.bidirectional(_letters(char)[0]) in ("R", "AL"))
    lines: list[list[tuple[float, str]]] = []
    last = None
    for bottom, left, char in rtl:  # a line: glyphs whose loose boxes start within 1 pt
        if last is None or bottom - last > 1:
            lines.append([])
        lines[-1].append((left, char))
        last = bottom
    return ["".join(_letters(char) for _x, char in sorted(line, reverse=True)) for line in lines]


@pytest.mark.parametrize("name", RTL_NAMES.values(), ids=RTL_NAMES.keys())
@pytest.mark.parametrize("build", BUILDERS.values(), ids=BUILDERS.keys())
def test_issue16_hebrew_and_arabic_names_print_right_to_left_in_every_pdf(build, name):
    """Read as a reader reads them, by where each letter lands on the page from right to
    left, the letters of every line that holds the name spell the name. (ReportLab draws
    left to right in the order it is given: before, "דוד כהן" printed as "ןהכ דוד".)"""
    lines = _read_right_to_left(build(name))
    assert lines
    assert all(line == _letters(name) for line in lines), lines


@pytest.mark.parametrize("name", RTL_NAMES.values(), ids=RTL_NAMES.keys())
@pytest.mark.parametrize("build", BUILDERS.values(), ids=BUILDERS.keys())
def test_issue16_extracted_text_of_hebrew_and_arabic_names_is_in_reading_order(build, name):
    """What pypdf extracts. pypdf takes the order glyphs are drawn in for their visual order
    and reverses each right-to-left run, to give text in reading (logical) order. So the
    name comes back as typed exactly when it was drawn in visual order (right-to-left runs
    reversed, as on paper); drawn in typed order, as before, it came back reversed. The
    comparison is on the extracted text in compatibility form (NFKC): Arabic is drawn in
    its joined forms (U+FExx presentation forms, lam-alef as one ligature glyph), which
    NFKC maps back to the letters typed."""
    extracted = unicodedata.normalize("NFKC", " ".join(page_texts(build(name))))
    assert name in extracted
    assert name[::-1] not in extracted


def test_issue16_visual_order_of_mixed_text():
    """Latin stays left to right; a right-to-left run is reversed with its brackets mirrored;
    digits keep their order; a Hebrew vowel point follows the letter it sits on (the glyph
    drawn just before a mark is the one it lands on)."""
    assert text.visual("José Müller 王伟") == "José Müller 王伟"
    assert text.visual(HEBREW) == "ןהכ דוד"
    assert text.visual("Dr. דוד (כהן) 12") == "Dr. 12 (ןהכ) דוד"
    assert text.visual("Teva (טבע) Ltd") == "Teva (עבט) Ltd"
    assert text.visual("שָׁלוֹם") == "םוֹלשָׁ"  # shin + qamats + shin dot, as typed
    assert _letters(text.visual(ARABIC)[::-1]) == _letters(ARABIC)
    assert text.markup("<כהן>") == "&lt;ןהכ&gt;"  # reordered, then escaped


def test_issue16_first_slide_is_the_same_with_and_without_the_paragraph_shortcut():
    """The first slide now takes its paragraphs from the one paragraph path (``pdf.Paragraph``,
    for synthetic bold): with the shortcut and without, the same page, text and operators."""
    from .test_documents_speed_safety import _both_ways

    statement = Statement(RELEVANT, (("Acme 王 & Co", "Consultant"), ("טבע", "Advisor")), "Drug Z")
    fast, plain, again = _both_ways(lambda: slide.slide_pdf(
        Slide("Meeting", "王伟明 " + HEBREW, "Speaker", "Talk " * 40, NOW, "Hall", statement)))
    assert fast == plain == again
