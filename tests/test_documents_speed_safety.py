"""The shortcuts that make PDFs fast must not change what they say or how text is set.

``text.markup`` skips the per-character font fallback when the main font covers the
whole string; ``pdf.Paragraph`` reuses parsed markup and line layouts; the room change
marker is correlated with its own room. Each test here pins what the shortcut could
silently break.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pypdf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reportlab.platypus import Paragraph as ReportLabParagraph

from disclosures.documents import booklet, data, fonts, pdf, sheet, text
from disclosures.documents.data import (
    ActivitySheet,
    Booklet,
    BookletEntry,
    BookletPerson,
    Day,
    PersonLine,
    RoomSheet,
    Statement,
)
from disclosures.enums import StatementKind
from disclosures.extensions import db

from . import factories

NOW = datetime(2030, 5, 1, 14, tzinfo=UTC)


def _sheet(people: list[PersonLine], title: str = "Talk") -> RoomSheet:
    activity = ActivitySheet(title, "S1", NOW, NOW, "Room", (), tuple(people))
    return RoomSheet("Meeting", "Room", None, "UTC", NOW, (Day(date(2030, 5, 1), False, (activity,)),))


def _fonts_used(content: bytes) -> set[str]:
    reader = pypdf.PdfReader(io.BytesIO(content))
    names = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            names.add(str(font.get_object()["/BaseFont"]).split("+")[-1])
    return names


def _page_texts(content: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return [" ".join(page.extract_text().split()) for page in reader.pages]


def _page_drawings(content: bytes) -> list[bytes]:
    """Each page's drawing operators: equal when every line is set at the same place."""
    reader = pypdf.PdfReader(io.BytesIO(content))
    return [page.get_contents().get_data() for page in reader.pages]


@pytest.mark.parametrize("name", ["王伟 (Wang Wei)", "Sato 佐藤 さとう", "Yamada カナ"])
def test_name_outside_the_main_font_is_set_in_the_fallback_font(name):
    assert not fonts.main_font_covers(name)
    person = PersonLine(name, "Speaker", Statement(StatementKind.NONE))
    content = sheet.room_sheet_pdf(_sheet([person]))
    assert fonts.FALLBACK in _fonts_used(content)
    cjk = [char for char in name if fonts.fallback_for(char) == fonts.FALLBACK]
    assert cjk and all(char in " ".join(_page_texts(content)) for char in cjk)


def test_latin_greek_cyrillic_names_need_no_fallback_font():
    names = ["José Müller-Łukasiewicz", "Αλέξης Παπαδόπουλος", "Иван Петров", "Smith & <Jones>"]
    assert all(fonts.main_font_covers(text.clean(name)) for name in names)
    content = sheet.room_sheet_pdf(_sheet([PersonLine(n, "Speaker", Statement(StatementKind.NONE)) for n in names]))
    assert fonts.FALLBACK not in _fonts_used(content)
    joined = " ".join(_page_texts(content))
    assert all(name in joined for name in names)


def test_markup_of_mixed_text_keeps_runs_in_order():
    assert text.markup("A 王 & B") == 'A <font name="DroidSansFallback">王</font> &amp; B'


_MARKUP = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="ab &<>;#xyzé王\u00a0\t", max_size=40),
).map(text.markup)


def _frag_state(paragraph) -> list[dict]:
    return [dict(vars(frag)) for frag in paragraph.frags]


@settings(max_examples=300, deadline=None)
@given(_MARKUP, st.sampled_from(["base", "person", "line", "note", "activity"]))
def test_paragraph_parses_exactly_like_reportlab(markup, style_name):
    style = pdf.styles()[style_name]
    theirs = ReportLabParagraph(markup, style)
    alone = pdf.Paragraph(markup, style)  # outside a document: nothing shared
    with pdf.shared_layouts():
        ours = pdf.Paragraph(markup, style)
        again = pdf.Paragraph(markup, style)  # from the parse cache now
    for paragraph in (alone, ours, again):
        assert _frag_state(paragraph) == _frag_state(theirs)
        assert paragraph.text == theirs.text and paragraph.style is theirs.style
    size = theirs.wrap(200, 1000)
    assert ours.wrap(200, 1000) == again.wrap(200, 1000) == alone.wrap(200, 1000) == size
    assert again.blPara is ours.blPara  # the layout was shared, not recomputed


def test_shared_layouts_last_only_as_long_as_the_document():
    content = sheet.room_sheet_pdf(_sheet([PersonLine("A", "Speaker", Statement(StatementKind.NONE))]))
    assert content.startswith(b"%PDF") and pdf._shared.get() is None


def test_reused_layouts_survive_splits_across_pages(monkeypatch):
    """The same long lines, repeated and split over many pages, read as ReportLab sets them."""
    relationships = tuple((f"Company {i % 3} & " + "International Holdings " * 12, "Consultant")
                          for i in range(30))
    people = [PersonLine(f"Person {i}", "Speaker", Statement(StatementKind.RELEVANT, relationships))
              for i in range(6)]
    room = _sheet(people, title="Repeated " * 40)
    fast = sheet.room_sheet_pdf(room)
    monkeypatch.setattr(sheet, "Paragraph", ReportLabParagraph)
    plain = sheet.room_sheet_pdf(room)
    assert len(_page_texts(fast)) > 5
    assert _page_texts(fast) == _page_texts(plain)
    assert _page_drawings(fast) == _page_drawings(plain)
    monkeypatch.undo()
    assert _page_drawings(sheet.room_sheet_pdf(room)) == _page_drawings(plain)  # caches warm


def test_booklet_reads_the_same_as_with_reportlab_paragraphs(monkeypatch):
    entry = BookletEntry("Lumbar <fusion> & more", NOW, "Hall A", "Speaker",
                         Statement(StatementKind.RELEVANT, (("Acme & Co", "Consultant"),) * 3, "Off label"))
    people = tuple(BookletPerson(f"Name {i} 王", f"{i:04}", "", (entry,) * (i % 5 + 1))
                   for i in range(60))
    book = Booklet("Meeting", "m", "Here", "UTC", NOW.date(), NOW.date(), NOW, people)
    fast = booklet.booklet_pdf(book)
    monkeypatch.setattr(booklet, "Paragraph", ReportLabParagraph)
    monkeypatch.setattr(sheet, "Paragraph", ReportLabParagraph)
    plain = booklet.booklet_pdf(book)
    assert _page_texts(fast) == _page_texts(plain)
    assert _page_drawings(fast) == _page_drawings(plain)


def test_room_change_marker_ignores_other_rooms(app):
    meeting = factories.meeting()
    mine, other = factories.room(meeting, "Mine"), factories.room(meeting, "Other")
    factories.activity(meeting, mine, title="Here")
    elsewhere = factories.activity(meeting, other, title="There")
    db.session.commit()
    now = datetime.now(UTC)
    _room, before = data.load_room(mine.public_token, now)
    _room, other_before = data.load_room(other.public_token, now)
    elsewhere.title = "Moved on"
    elsewhere.updated_at = now + timedelta(minutes=5)
    factories.activity(meeting, other, title="Added elsewhere")
    db.session.commit()
    _room, after = data.load_room(mine.public_token, now)
    _room, other_after = data.load_room(other.public_token, now)
    assert after.etag == before.etag
    assert other_after.etag != other_before.etag
