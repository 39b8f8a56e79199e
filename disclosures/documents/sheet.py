"""The room disclosure sheet as a PDF: plain data in (``data.RoomSheet``), bytes out."""

from __future__ import annotations

from reportlab.platypus import Flowable, Spacer

from .. import wording
from ..enums import StatementKind
from . import pdf
from .data import ActivitySheet, RoomSheet, Statement
from .pdf import Paragraph
from .text import markup


def version_line(document) -> str:
    """"Version 4 (fingerprint 1a2b3c4d), public since …": which published version this is."""
    return (f"Version {document.version} (fingerprint {document.fingerprint}), public since "
            f"{document.as_of:%B %-d, %Y %-I:%M %p}")


def time_range(start, end) -> str:
    return f"{start:%-I:%M %p} – {end:%-I:%M %p}"


def day_heading(day) -> str:
    return f"{day:%A, %B %-d, %Y}"


def labelled(sentence: wording.Labelled, style) -> Paragraph:
    """A ``wording`` sentence (its parts already markup) with its label in bold."""
    return Paragraph(f"<b>{sentence.label}</b> {sentence.text}", style)


def statement_flowables(name: str, statement: Statement, st: dict) -> list[Flowable]:
    """The lines under a person's name: relationships + mitigation, none, or under review."""
    closing = wording.closing(statement.kind, markup(name))
    if statement.kind in (StatementKind.REVIEW, StatementKind.AWAITING):
        return [Paragraph(closing, st["review"])]
    lines: list[Flowable] = [
        Paragraph(f"{markup(company)} — {markup(nature)}", st["line"], bulletText="•")
        for company, nature in statement.relationships
    ]
    lines.append(Paragraph(closing, st["statement"]))
    return lines


def supporters_paragraph(supporters, st: dict) -> Paragraph | None:
    if not supporters:
        return None
    return labelled(wording.commercial_support(
        (markup(name), markup(in_kind) if in_kind else None) for name, in_kind in supporters
    ), st["note"])


def activity_flowables(activity: ActivitySheet, st: dict) -> list[Flowable]:
    story: list[Flowable] = []
    heading = Paragraph(markup(activity.title, 300), st["activity"])
    heading.keepWithNext = True
    story.append(heading)
    meta = Paragraph(
        f"{time_range(activity.starts_at, activity.ends_at)} · {markup(activity.code, 40)}",
        st["meta"],
    )
    meta.keepWithNext = True
    story.append(meta)
    if activity.people:
        # The Standard 3 statement only where it is true; otherwise who is pending.
        if activity.complete:
            story.append(Paragraph(wording.INTRO, st["intro"]))
        else:
            story.append(Paragraph(wording.pending(markup(n, 300) for n in activity.pending),
                                   st["review"]))
    if not activity.people:
        story.append(Paragraph(wording.NO_FACULTY_FOR_ACTIVITY, st["line"]))
    for person in activity.people:
        label = Paragraph(f"{markup(person.name, 300)} <font color='#5f6b7a'>· "
                          f"{markup(person.role)}</font>", st["person"])
        label.keepWithNext = True
        story.append(label)
        story.extend(statement_flowables(person.name, person.statement, st))
    supporters = supporters_paragraph(activity.supporters, st)
    if supporters is not None:
        story.append(supporters)
    for name, detail in activity.off_label:
        story.append(labelled(wording.off_label(markup(detail, 2000), markup(name, 300)),
                              st["note"]))
    story.append(Spacer(1, 4))
    return story


@pdf.serialised
def room_sheet_pdf(sheet: RoomSheet, size: str = "letter") -> bytes:
    with pdf.shared_layouts():  # repeated lines are parsed and laid out once
        return _room_sheet_pdf(sheet, size)


def _room_sheet_pdf(sheet: RoomSheet, size: str) -> bytes:
    st = pdf.styles()
    story: list[Flowable] = [
        Paragraph(markup(sheet.meeting, 300), st["title"]),
        Paragraph(f"Faculty disclosures · <b>{markup(sheet.room, 200)}</b>"
                  + (f" · {markup(sheet.location, 200)}" if sheet.location else ""),
                  st["subtitle"]),
        Paragraph(f"{wording.SHEET_INTRO} {version_line(sheet)} "
                  f"({markup(sheet.timezone)} time).", st["intro"]),
    ]
    if not sheet.days:
        story.append(Paragraph(wording.NO_ACTIVITIES, st["base"]))
    for day in sheet.days:
        heading = Paragraph(day_heading(day.day) + (" (today)" if day.is_today else ""), st["day"])
        heading.keepWithNext = True
        # A page that starts within the day opens with "Thursday, October 7, 2027 (continued)".
        pdf.continued(heading, f"{day_heading(day.day)} (continued)", st["day"])
        story.append(heading)
        for activity in day.activities:
            story.extend(activity_flowables(activity, st))
    return pdf.build(
        story,
        title=f"Faculty disclosures: {sheet.room} — {sheet.meeting}",
        header=f"{sheet.meeting} · {sheet.room}",
        footer=f"Faculty disclosures (ACCME Standard 3) · version {sheet.version} · "
               f"fingerprint {sheet.fingerprint}",
        size=size,
        subject="Disclosure of relevant financial relationships to learners",
    )
