"""The text cleaner in front of every ReportLab Paragraph, and PDFs built from hostile names."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from xml.sax.saxutils import unescape

import pypdf
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from reportlab.platypus import Paragraph

from disclosures.documents import pdf, sheet, slide, text
from disclosures.documents.data import ActivitySheet, Day, PersonLine, RoomSheet, Slide, Statement
from disclosures.enums import StatementKind

from . import pdfs

HOSTILE = [
    "<para>", "</para>", "<font name='nope'>", "<b>unclosed", "a & b", "&amp;", "&#0;", "<br/>",
    "x" * 10_000, "שלום עולם", "مرحبا", "😀🧑‍⚕️", "\x00\x07\x1b[31m", "\u202eevil", "\ud800",
    "王伟 (Wang Wei)", "<img src=x onerror=alert(1)>", "]]>", "<!-- -->",
]


def _unescaped(markup: str) -> str:
    """The text of paragraph markup made by ``text.markup``: font tags out, entities back."""
    return unescape(re.sub(r'<font name="[A-Za-z]+">|</font>', "", markup))


def _assert_round_trip(value) -> None:
    markup = text.markup(value)
    # In the order it is drawn: Hebrew and Arabic reordered, Arabic joined (text.visual).
    cleaned = text.visual(text.clean(value))
    # Escaping round-trips: no markup of the user's survives, and unescaping gives the text.
    assert _unescaped(markup) == cleaned
    assert "<" not in re.sub(r'<font name="[A-Za-z]+">|</font>', "", markup)
    # ReportLab reads that same text out of it (its own public reading of a paragraph).
    # ReportLab keeps or drops a soft hyphen (U+00AD) depending on where the line breaks.
    paragraph = Paragraph(markup, pdf.styles()["base"])
    paragraph.wrap(300, 5000)
    # And a paragraph's leading or trailing blank is layout, not text (a soft hyphen then a
    # line break in front of "&" printed "&": hypothesis found '\xad\r&').
    assert paragraph.getPlainText().replace("\xad", "").strip() == cleaned.replace("\xad", "").strip()


@pytest.mark.parametrize("value", HOSTILE)
def test_markup_of_hostile_text_round_trips(value):
    _assert_round_trip(value)


@pytest.mark.slow  # property test: many generated examples
@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
@example("\xad\r&")
def test_markup_round_trips_for_any_text(value):
    _assert_round_trip(value)


def test_markup_escapes_markup_characters():
    assert text.markup("Smith & <Jones>") == "Smith &amp; &lt;Jones&gt;"


def test_clean_strips_controls_and_bidi_overrides_and_limits_length():
    assert text.clean("a\x00b\x07c\u202ed\nline") == "abcd line"
    assert len(text.clean("y" * 10_000, limit=100)) == 100
    assert text.clean(None) == ""


def test_markup_wraps_cjk_in_fallback_font():
    assert text.markup("王伟 (Wang Wei)").startswith('<font name="DroidSansFallback">王伟</font>')


def _sheet(name: str, company: str) -> RoomSheet:
    now = datetime(2030, 5, 1, 14, tzinfo=UTC)
    person = PersonLine(name, "Speaker", Statement(StatementKind.RELEVANT, ((company, "Consultant"),)))
    activity = ActivitySheet(name, "S1", now, now, "Room <1>", ((company, "in & kind"),), (person,))
    return RoomSheet("Meeting <b>&", "Room <1>", None, "UTC", now,
                     (Day(date(2030, 5, 1), False, (activity,)),))


@pytest.mark.parametrize("value", HOSTILE)
def test_room_sheet_pdf_shows_hostile_names_within_the_page(value):
    content = sheet.room_sheet_pdf(_sheet(value, value))
    # The name (shortened to 300 characters), the company (to 1,000) and the title.
    assert pdfs.shows(pdfs.text(content), text.clean(value, 300))
    assert pdfs.shows(pdfs.text(content), text.clean(value, 1000))
    assert pdfs.text_off_the_page(content) == []


def test_room_sheet_pdf_wraps_many_long_relationships_onto_more_pages():
    now = datetime(2030, 5, 1, 14, tzinfo=UTC)
    long_name = "Professor " + "Verylongfamilyname" * 8
    relationships = tuple((f"Company {i} " + "International Holdings " * 5, "Consultant") for i in range(60))
    person = PersonLine(long_name, "Speaker", Statement(StatementKind.RELEVANT, relationships))
    activity = ActivitySheet("Talk", "S1", now, now, "R", (), (person,))
    content = sheet.room_sheet_pdf(RoomSheet("M", "R", None, "UTC", now,
                                             (Day(date(2030, 5, 1), False, (activity,)),)))
    reader = pypdf.PdfReader(io.BytesIO(content))
    assert len(reader.pages) > 1
    joined = " ".join(" ".join(p.extract_text().split()) for p in reader.pages)
    assert "Company 59" in joined and f"Page 1 of {len(reader.pages)}" in joined


def test_slide_pdf_builds_with_hostile_and_very_long_text():
    now = datetime(2030, 5, 1, 14, tzinfo=UTC)
    relationships = tuple((f"<Company {i}> & Co", "Consultant") for i in range(40))
    content = slide.slide_pdf(Slide("M", "x" * 10_000, "Speaker", "<para>", now, None,
                                    Statement(StatementKind.RELEVANT, relationships, "<b>off label")))
    assert len(pypdf.PdfReader(io.BytesIO(content)).pages) == 1
