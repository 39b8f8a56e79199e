"""The all-faculty disclosure booklet as a PDF: ``data.Booklet`` in, bytes out."""

from __future__ import annotations

from reportlab.platypus import Flowable, KeepTogether, Spacer

from .. import wording
from . import pdf
from .data import Booklet
from .pdf import Paragraph
from .sheet import (
    not_accredited_flowables,
    provider_flowables,
    statement_flowables,
    supporters_paragraph,
    version_line,
)
from .text import markup


@pdf.serialised
def booklet_pdf(booklet: Booklet, size: str = "letter") -> bytes:
    with pdf.shared_layouts():  # repeated lines are parsed and laid out once
        return _booklet_pdf(booklet, size)


def _booklet_pdf(booklet: Booklet, size: str) -> bytes:
    st = pdf.styles()
    story: list[Flowable] = [
        Paragraph(markup(booklet.meeting, 300), st["title"]),
        Paragraph(f"Faculty disclosures · {booklet.starts_on:%B %-d} – {booklet.ends_on:%B %-d, %Y}"
                  + (f" · {markup(booklet.location, 200)}" if booklet.location else ""),
                  st["subtitle"]),
        *provider_flowables(booklet.provider, st),
        Paragraph(f"{wording.SHEET_INTRO} {wording.LISTED_BY_FAMILY_NAME} "
                  f"{version_line(booklet)} ({markup(booklet.timezone)} time).", st["intro"]),
    ]
    meeting_support = supporters_paragraph(booklet.meeting_support, st, meeting=True)
    if meeting_support is not None:
        story.append(meeting_support)
    if not booklet.people:
        story.append(Paragraph(wording.NO_FACULTY_FOR_MEETING, st["base"]))
    for person in booklet.people:
        name = markup(person.name, 300)
        # An entry running onto the next page opens it with "<name> (continued)".
        block: list[Flowable] = [pdf.continued(Paragraph(name, st["activity"]),
                                               f"{name} (continued)", st["activity"])]
        for entry in person.entries:
            where = f" · {markup(entry.room, 120)}" if entry.room else ""
            block.append(Paragraph(
                f"{markup(entry.role)}: <i>{markup(entry.activity, 300)}</i> · "
                f"{entry.starts_at:%a %b %-d, %-I:%M %p}{where}", st["meta"]))
            block.extend(statement_flowables(person.name, entry.statement, st))
            support = supporters_paragraph(entry.support, st)
            if support is not None:
                block.append(support)
        block.append(Spacer(1, 4))
        # Keep a short entry on one page; long ones may split between their lines.
        story.append(KeepTogether(block) if len(block) <= 12 else block[0])
        if len(block) > 12:
            story.extend(block[1:])
    story.extend(not_accredited_flowables(booklet.not_accredited, st))
    return pdf.build(
        story,
        title=f"Faculty disclosures — {booklet.meeting}",
        header=f"{booklet.meeting} · Faculty disclosures",
        footer=f"Faculty disclosures (ACCME Standard 3) · version {booklet.version} · "
               f"fingerprint {booklet.fingerprint}",
        size=size,
        subject="Disclosure of relevant financial relationships to learners",
    )
