"""Every faculty name prints in a font that has its glyphs, and fonts load only when needed.

DejaVu Sans has no Hangul and no Indic script, and Droid Sans Fallback adds only
Chinese and Japanese: without the per-script fallback fonts, Korean and Indian names
printed as missing-glyph boxes on the attendee sheet.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import pypdf
import pytest
from reportlab.pdfbase import pdfmetrics

from disclosures.documents import booklet, fonts, sheet, text
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

NOW = datetime(2030, 5, 1, 14, tzinfo=UTC)
KOREAN = "김민준"
HINDI = "अनन्या शर्मा"

# One name per script, and the font its letters must come from.
NAMES = [
    ("José Müller-Łukasiewicz", fonts.REGULAR),
    ("Nguyễn Thị Hương", fonts.REGULAR),
    ("Αλέξης Παπαδόπουλος", fonts.REGULAR),
    ("Иван Петров", fonts.REGULAR),
    ("محمد عبد الله", fonts.REGULAR),
    ("דוד כהן", fonts.REGULAR),
    ("გიორგი ბერიძე", fonts.REGULAR),
    ("Արամ Պետրոսյան", fonts.REGULAR),
    ("王伟", fonts.FALLBACK),
    ("さとう カタカナ", fonts.FALLBACK),
    (KOREAN, "NanumSquare"),
    ("이서연", "NanumSquare"),
    (HINDI, "NotoSansDevanagari"),
    ("অমিত চট্টোপাধ্যায়", "NotoSansBengali"),
    ("ਹਰਪ੍ਰੀਤ ਸਿੰਘ", "NotoSansGurmukhi"),
    ("હર્ષ પટેલ", "NotoSansGujarati"),
    ("ସୁରେଶ", "NotoSansOriya"),
    ("கார்த்திக் சுப்பிரமணியன்", "NotoSansTamil"),
    ("వెంకట రెడ్డి", "NotoSansTelugu"),
    ("ಕೃಷ್ಣ ರಾವ್", "NotoSansKannada"),
    ("അനിൽ കുമാർ", "NotoSansMalayalam"),
    ("කුමාර පෙරේරා", "NotoSansSinhala"),
    ("สมชาย ใจดี", "NotoSansThai"),
    ("ສົມພອນ", fonts.REGULAR),  # DejaVu has Lao
    ("အောင်ဆန်း", "NotoSansMyanmar"),
    ("សុខ ចាន់", "NotoSansKhmer"),
    ("አበበ ቢቂላ", "NotoSansEthiopic"),
]
# Embedded under their PostScript names, which are their file names' stems.
NEW_FACES = {Path(fallback.filename).stem for fallback in fonts.FALLBACKS
             if fallback.name != fonts.FALLBACK}


def _sheet(names: list[str]) -> bytes:
    people = tuple(PersonLine(name, "Speaker", Statement(StatementKind.NONE)) for name in names)
    activity = ActivitySheet("Talk", "S1", NOW, NOW, "Room", (), people)
    return sheet.room_sheet_pdf(
        RoomSheet("Meeting", "Room", None, "UTC", NOW, (Day(date(2030, 5, 1), False, (activity,)),)))


def _booklet(names: list[str]) -> bytes:
    entry = BookletEntry("Lumbar fusion", NOW, "Hall A", "Speaker", Statement(StatementKind.NONE))
    people = tuple(BookletPerson(name, f"{i:04}", "", (entry,)) for i, name in enumerate(names))
    return booklet.booklet_pdf(Booklet("Meeting", "m", "Here", "UTC", NOW.date(), NOW.date(), NOW,
                                       people))


def _embedded_fonts(content: bytes) -> set[str]:
    """The BaseFont names on every page, without the subset prefix."""
    reader = pypdf.PdfReader(io.BytesIO(content))
    return {str(font.get_object()["/BaseFont"]).split("+")[-1]
            for page in reader.pages for font in page["/Resources"]["/Font"].values()}


def _face_name(font: str) -> str:
    """The name a registered font is embedded under (its file's PostScript name)."""
    return pdfmetrics.getFont(font).face.name.decode()


def _text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def _font_of(char: str) -> str:
    return fonts.fallback_for(char) or fonts.REGULAR


@pytest.mark.parametrize("name, font", NAMES)
def test_each_letter_of_a_name_has_a_glyph_in_the_font_chosen_for_it(name, font):
    letters = [char for char in name if not char.isspace() and char != "-"]
    assert {_font_of(char) for char in letters} == {font}
    glyphs = pdfmetrics.getFont(font).face.charToGlyph
    assert all(ord(char) in glyphs for char in letters)


@pytest.mark.parametrize("build", [_sheet, _booklet], ids=["room_sheet", "booklet"])
@pytest.mark.parametrize("name, font", [(KOREAN, "NanumSquare"), (HINDI, "NotoSansDevanagari")])
def test_korean_and_hindi_names_embed_a_font_with_their_glyphs(build, name, font):
    content = build([name, "Amelia Cleared"])
    embedded = _embedded_fonts(content)
    assert _face_name(font) in embedded
    # Every character is drawn in an embedded font that has a glyph for it.
    for char in name.replace(" ", ""):
        chosen = _font_of(char)
        assert _face_name(chosen) in embedded
        assert ord(char) in pdfmetrics.getFont(chosen).face.charToGlyph
    assert name in _text(content)  # embedded as text: searchable, copyable


def test_names_in_many_scripts_share_one_sheet():
    names = [name for name, _font in NAMES]
    content = _sheet(names)
    embedded = _embedded_fonts(content)
    assert {_face_name(font) for _name, font in NAMES} <= embedded
    extracted = _text(content)
    # Hebrew and Arabic are left out: ReportLab draws them in logical order (no bidi
    # here), so an extractor reading them right to left reverses them.
    assert all(name in extracted for name in names if name not in ("محمد عبد الله", "דוד כהן"))


def test_room_sign_and_page_header_set_korean_and_hindi_in_their_fonts():
    # Signs and running headers are drawn line by line (pdf.draw_text), not as paragraphs:
    # they must pick the same per-script fonts.
    from disclosures.documents import sign

    content = sign.sign_pdf(f"{HINDI} Symposium", f"{KOREAN} Hall", "https://example.org/r/abc")
    # The sign sets the names in bold: their fonts' synthetic bold variants (issue 16).
    embedded = {name.removesuffix(fonts.SYNTHETIC_BOLD) for name in _embedded_fonts(content)}
    assert {_face_name("NanumSquare"), _face_name("NotoSansDevanagari")} <= embedded
    assert KOREAN in _text(content)


@pytest.mark.parametrize("build", [_sheet, _booklet], ids=["room_sheet", "booklet"])
def test_latin_only_documents_embed_no_fallback_font(build):
    content = build(["José Müller-Łukasiewicz", "Αλέξης Παπαδόπουλος", "Иван Петров",
                     "Nguyễn Thị Hương", "Smith & <Jones>"])
    embedded = _embedded_fonts(content)
    assert "DejaVuSans" in embedded
    assert not embedded & NEW_FACES


def test_markup_wraps_each_run_in_the_font_that_has_it():
    assert text.markup(f"{KOREAN} (Kim) & अनन्या 王") == (
        '<font name="NanumSquare">김민준</font> (Kim) &amp; '
        '<font name="NotoSansDevanagari">अनन्या</font> <font name="DroidSansFallback">王</font>')


def test_letters_no_shipped_font_has_stay_in_the_main_font():
    tibetan = "བཀྲ་ཤིས"
    assert all(fonts.fallback_for(char) is None for char in tibetan)
    assert text.markup(f"Tashi {tibetan}") == f"Tashi {tibetan}"
    assert "Tashi" in _text(_sheet([f"Tashi {tibetan}"]))


def test_fallback_fonts_load_only_for_the_script_that_needs_them():
    # A fresh interpreter: other tests in this process have loaded fallback fonts already.
    code = textwrap.dedent("""
        from datetime import UTC, date, datetime
        from reportlab.pdfbase.pdfmetrics import getRegisteredFontNames
        from disclosures.documents import fonts, sheet
        from disclosures.documents.data import ActivitySheet, Day, PersonLine, RoomSheet, Statement
        from disclosures.enums import StatementKind

        now = datetime(2030, 5, 1, 14, tzinfo=UTC)
        def build(name):
            person = PersonLine(name, "Speaker", Statement(StatementKind.NONE))
            activity = ActivitySheet("Talk", "S1", now, now, "Room", (), (person,))
            day = Day(date(2030, 5, 1), False, (activity,))
            sheet.room_sheet_pdf(RoomSheet("Meeting", "Room", None, "UTC", now, (day,)))
            ours = {fonts.REGULAR} | {fallback.name for fallback in fonts.FALLBACKS}
            return sorted(ours & set(getRegisteredFontNames()))  # ReportLab's public registry

        print(build("José Müller"))
        print(build("김민준"))
        print(build("अनन्या शर्मा"))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.splitlines() == [
        "['DejaVuSans']",
        "['DejaVuSans', 'NanumSquare']",
        "['DejaVuSans', 'NanumSquare', 'NotoSansDevanagari']",
    ]


def test_every_fallback_font_ships_and_is_chosen_for_its_ranges():
    for fallback in fonts.FALLBACKS:
        assert (fonts.FONT_DIR / fallback.filename).is_file()
        ranges = fallback.ranges or ((ord("王"), ord("王")),)
        assert any(fonts.fallback_for(chr(code)) == fallback.name
                   for low, high in ranges for code in range(low, high + 1))
