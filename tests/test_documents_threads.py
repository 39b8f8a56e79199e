"""PDFs built at the same time in one process (gunicorn's threaded workers) come out whole.

ReportLab is not thread-safe: a registered font's face is read through one shared file
position while a document's font subset is written. The soak found it: two room sheets
built at once under gthread raised ``KeyError`` in ``TTFontFace.makeSubset`` (a 500).
"""

from __future__ import annotations

import io
import sys
import threading
from datetime import UTC, date, datetime

import pypdf
import pytest

from disclosures.documents import booklet, sheet, sign, slide
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

NOW = datetime(2030, 5, 1, 14, tzinfo=UTC)
# Many different letters in several fonts, so each subset is large and slow to write.
NAMES = [f"Zoë Brontë-{i} 김민준 王小明 अनन्या Ωμέγα {chr(0x100 + i * 7)}{chr(0x400 + i)}" for i in range(60)]
RELEVANT = Statement(StatementKind.RELEVANT, (("Meridian Spine Technologies", "Consultant"),))


def _room_sheet() -> bytes:
    people = tuple(PersonLine(name, "Speaker", RELEVANT) for name in NAMES)
    activity = ActivitySheet("Talk", "S1", NOW, NOW, "Room", (), people)
    return sheet.room_sheet_pdf(
        RoomSheet("Meeting", "Room", None, "UTC", NOW, (Day(date(2030, 5, 1), False, (activity,)),)))


def _booklet() -> bytes:
    entry = BookletEntry("Lumbar fusion", NOW, "Hall A", "Speaker", RELEVANT)
    people = tuple(BookletPerson(name, f"{i:04}", "", (entry,)) for i, name in enumerate(NAMES))
    return booklet.booklet_pdf(Booklet("Meeting", "m", "Here", "UTC", NOW.date(), NOW.date(), NOW, people))


def _slide() -> bytes:
    return slide.slide_pdf(Slide("Meeting", NAMES[3], "Speaker", "Talk", NOW, "Hall A", RELEVANT))


def _sign() -> bytes:
    return sign.sign_pdf("Meeting 김민준", "Hall 王", "https://example.org/r/abc")


@pytest.mark.slow
def test_pdfs_built_in_many_threads_at_once_are_all_whole():
    # Switch threads every 10 µs instead of 5 ms, so a race shows up within a few builds
    # (without the lock one round failed in about every second run: KeyError, IndexError).
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    builders = [_room_sheet, _slide, _sign, _room_sheet, _booklet, _slide, _sign, _room_sheet] * 3
    results: list[bytes | None] = [None] * len(builders)
    errors: list[BaseException] = []
    start = threading.Barrier(len(builders))

    def run(index: int) -> None:
        for _round in range(3):  # three rounds: without the lock, a failure in ~95% of runs
            start.wait()
            try:
                results[index] = builders[index]()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(builders))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        sys.setswitchinterval(previous)
    assert errors == []
    for content in results:
        reader = pypdf.PdfReader(io.BytesIO(content))
        text = " ".join(page.extract_text() for page in reader.pages)
        assert "Meeting" in text
