"""The shortcuts that make PDFs fast must not change what they say or how text is set.

``text.markup`` skips the per-character font fallback when the main font covers the
whole string; ``pdf.FastParagraph`` (switch: ``PDF_FAST_PARAGRAPHS``) reuses parsed markup,
line layouts and drawing operators of repeated lines; the room change marker is correlated
with its own room. Each test here pins what a shortcut could silently break, by what a
reader gets: the same pages, the same text on each, the same drawing operators.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disclosures.documents import booklet, fonts, pdf, sheet, text
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
from .pdfs import fonts_used as _fonts_used
from .pdfs import page_operators, page_texts

NOW = datetime(2030, 5, 1, 14, tzinfo=UTC)
RELEVANT, NONE, REVIEW = StatementKind.RELEVANT, StatementKind.NONE, StatementKind.REVIEW


def _sheet(people: list[PersonLine], title: str = "Talk") -> RoomSheet:
    activity = ActivitySheet(title, "S1", NOW, NOW, "Room", (), tuple(people))
    return RoomSheet("Meeting", "Room", None, "UTC", NOW, (Day(date(2030, 5, 1), False, (activity,)),))


def _reading(content: bytes) -> tuple[int, list[str], list[bytes]]:
    """What a reader gets: the page count, each page's text, each page's drawing operators."""
    texts = page_texts(content)
    return len(texts), texts, page_operators(content)


def _both_ways(build) -> tuple[tuple, tuple, tuple]:
    """``_reading`` of the document built with the paragraph shortcut, without it (plain
    ReportLab), and with it again (its caches warm)."""
    before = pdf.fast_paragraphs()
    try:
        pdf.use_fast_paragraphs(True)
        fast = build()
        pdf.use_fast_paragraphs(False)
        plain = build()
        pdf.use_fast_paragraphs(True)
        again = build()
    finally:
        pdf.use_fast_paragraphs(before)
    return _reading(fast), _reading(plain), _reading(again)


@pytest.mark.parametrize("name", ["王伟 (Wang Wei)", "Sato 佐藤 さとう", "Yamada カナ"])
def test_name_outside_the_main_font_is_set_in_the_fallback_font(name):
    assert not fonts.main_font_covers(name)
    person = PersonLine(name, "Speaker", Statement(StatementKind.NONE))
    content = sheet.room_sheet_pdf(_sheet([person]))
    assert fonts.FALLBACK in _fonts_used(content)
    cjk = [char for char in name if fonts.fallback_for(char) == fonts.FALLBACK]
    assert cjk and all(char in " ".join(page_texts(content)) for char in cjk)


def test_latin_greek_cyrillic_names_need_no_fallback_font():
    names = ["José Müller-Łukasiewicz", "Αλέξης Παπαδόπουλος", "Иван Петров", "Smith & <Jones>"]
    assert all(fonts.main_font_covers(text.clean(name)) for name in names)
    content = sheet.room_sheet_pdf(_sheet([PersonLine(n, "Speaker", Statement(StatementKind.NONE)) for n in names]))
    assert fonts.FALLBACK not in _fonts_used(content)
    joined = " ".join(page_texts(content))
    assert all(name in joined for name in names)


def test_markup_of_mixed_text_keeps_runs_in_order():
    assert text.markup("A 王 & B") == 'A <font name="DroidSansFallback">王</font> &amp; B'


_MARKUP = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="ab &<>;#xyzé王\u00a0\t", max_size=40),
    st.text(alphabet="Wi 王김अ&<", min_size=60, max_size=250),  # long, fallback runs, splits
)


@pytest.mark.slow  # property test: many generated examples
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_MARKUP, company=_MARKUP, title=_MARKUP)
def test_any_text_is_set_as_reportlab_sets_it(name, company, title):
    """Any text as a name, title and (repeated, bulleted) company lines: the room sheet has
    the same pages, text and operators with the paragraph shortcut as without it."""
    statement = Statement(RELEVANT, ((company, "Consultant"), (company, "Advisor"), (name, "Other")))
    people = [PersonLine(name, "Speaker", statement), PersonLine(name, "Moderator", statement),
              PersonLine(company, "Panelist", Statement(NONE))]
    activity = ActivitySheet(title, "S1", NOW, NOW, "Room", (), tuple(people))
    # The title twice, in two styles: the meeting's and the activity's.
    room = RoomSheet(title, "Room", None, "UTC", NOW, (Day(date(2030, 5, 1), False, (activity,)),))
    before = pdf.fast_paragraphs()
    try:
        pdf.use_fast_paragraphs(True)
        fast = _reading(sheet.room_sheet_pdf(room))
        pdf.use_fast_paragraphs(False)
        plain = _reading(sheet.room_sheet_pdf(room))
    finally:
        pdf.use_fast_paragraphs(before)
    assert fast == plain


def _busy_room() -> RoomSheet:
    """Two days of talks: the same company lines again and again (shared layouts), long
    unbreakable names (split words), names in fallback fonts, bullets, markup characters,
    review and no-relationship statements, supporters, off-label, lines split over pages,
    the same text in two styles (the meeting's name is a talk's title)."""
    long_name = "Professor " + "Verylongfamilyname" * 8
    lines = tuple((f"Company {i % 3} & <Holdings> " + "International Holdings " * 12, "Consultant")
                  for i in range(12))
    people = [
        PersonLine(f"Person {i} 王伟 김민준 अनन्या", "Speaker", Statement(RELEVANT, lines, "Drug Z"))
        for i in range(3)
    ] + [PersonLine(long_name, "Moderator", Statement(NONE)),
         PersonLine("Paula Pending", "Panelist", Statement(REVIEW))]
    talks = tuple(
        ActivitySheet("Repeated & <again> " * (5 * (n + 1)), f"S{n}", NOW, NOW, "Room",
                      (("Sponsor & Co", None), ("Loaner", "instruments")), tuple(people[n % 2:]))
        for n in range(3)
    )
    return RoomSheet(talks[0].title, "Room 1", "Hall", "UTC", NOW,  # one text in two styles
                     (Day(date(2030, 5, 1), True, talks), Day(date(2030, 5, 2), False, talks[:1])))


@pytest.mark.parametrize("size", ["letter", "a4"])
def test_room_sheet_is_the_same_with_and_without_the_paragraph_shortcut(size):
    room = _busy_room()
    fast, plain, again = _both_ways(lambda: sheet.room_sheet_pdf(room, size))
    pages, _texts, _operators = plain
    assert pages >= 3
    assert fast == plain  # the same page count, text on each page and drawing operators
    assert again == plain


def test_booklet_is_the_same_with_and_without_the_paragraph_shortcut():
    entry = BookletEntry("Lumbar <fusion> & more", NOW, "Hall A", "Speaker",
                         Statement(RELEVANT, (("Acme & Co", "Consultant"),) * 3, "Off label"))
    quiet = BookletEntry("Cervical", NOW, None, "Moderator", Statement(NONE))
    # Up to 12 lines a person stay together on a page; longer entries split between lines.
    people = tuple(BookletPerson(f"Name {i} 王 " + "Longname" * (i % 7), f"{i:04}", "",
                                 (entry, quiet) * (i % 5 + 1))
                   for i in range(30))
    book = Booklet("Meeting", "m", "Here", "UTC", NOW.date(), NOW.date(), NOW, people)
    fast, plain, again = _both_ways(lambda: booklet.booklet_pdf(book))
    pages, _texts, _operators = plain
    assert pages >= 3
    assert fast == plain  # the same page count, text on each page and drawing operators
    assert again == plain


def test_paragraph_shortcut_is_switched_by_the_environment():
    """PDF_FAST_PARAGRAPHS, read once at start-up: on unless 0/false/no/off."""
    code = textwrap.dedent("""
        import importlib, os
        from disclosures.documents import pdf
        for value in ["", "1", "on", "0", "false", "OFF", "no"]:
            os.environ["PDF_FAST_PARAGRAPHS"] = value
            print(importlib.reload(pdf).fast_paragraphs())
        del os.environ["PDF_FAST_PARAGRAPHS"]
        print(importlib.reload(pdf).fast_paragraphs())
    """)
    env = {k: v for k, v in os.environ.items() if k != "PDF_FAST_PARAGRAPHS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60, env=env)
    assert result.stdout.split() == ["True"] * 3 + ["False"] * 4 + ["True"]


def test_a_change_in_another_room_publishes_no_new_version_of_this_rooms_sheet(app):
    from disclosures.publication.operations import latest_sheet

    meeting = factories.meeting()
    mine, other = factories.room(meeting, "Mine"), factories.room(meeting, "Other")
    factories.activity(meeting, mine, title="Here")
    factories.activity(meeting, other, title="There")
    db.session.commit()
    before, other_before = latest_sheet(mine), latest_sheet(other)
    factories.activity(meeting, other, title="Added elsewhere")
    db.session.commit()
    assert latest_sheet(mine).number == before.number
    assert latest_sheet(other).number == other_before.number + 1
    assert latest_sheet(other).fingerprint == other_before.fingerprint  # nobody new was added
