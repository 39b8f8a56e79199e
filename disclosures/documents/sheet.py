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
    """The lines under a person's name: relationships + mitigation, none, or under review,
    then the off-label use declared for this presentation (this role) if any."""
    closing = wording.closing(statement.kind, markup(name))
    if statement.kind in (StatementKind.REVIEW, StatementKind.AWAITING):
        return [Paragraph(closing, st["review"])]
    lines: list[Flowable] = [
        Paragraph(f"{markup(company)} — {markup(nature)}", st["line"], bulletText="•")
        for company, nature in statement.relationships
    ]
    lines.append(Paragraph(closing, st["statement"]))
    if statement.off_label:
        lines.append(Paragraph(markup(wording.off_label_sentence(statement.off_label), 2200),
                               st["note"]))
    return lines


def supporters_paragraph(supporters, st: dict, *, meeting: bool = False) -> Paragraph | None:
    """The acknowledgement of commercial support (names and in-kind natures; no logo, no
    amount): of one activity, or of the whole meeting."""
    if not supporters:
        return None
    sentence = wording.meeting_support if meeting else wording.commercial_support
    return labelled(sentence(
        (markup(name), markup(in_kind) if in_kind else None) for name, in_kind in supporters
    ), st["note"])


def link(url: str, text: str) -> str:
    """A clickable link in a ReportLab paragraph (``text`` already markup)."""
    href = markup(url, 500).replace('"', "&quot;")
    return f'<a href="{href}" color="#1d4e89"><u>{text}</u></a>'


def provider_flowables(provider, st: dict) -> list[Flowable]:
    """"Provided by X" / "Jointly provided by X and Y", and the link to the provider's
    disclosure policy (clickable, with its address printed for paper)."""
    parts = []
    if provider.provided_by:
        parts.append(markup(provider.provided_by, 500))
    if provider.policy_url:
        parts.append(f"{wording.POLICY_LINK}: "
                     f"{link(provider.policy_url, markup(provider.policy_url, 500))}")
    return [Paragraph(" ".join(parts), st["intro"])] if parts else []


def not_accredited_flowables(activities, st: dict, *, with_day: bool = True) -> list[Flowable]:
    """Non-accredited activities, listed apart under their own heading: never under the
    Standard 3 statement, nobody's disclosure shown."""
    if not activities:
        return []
    heading = Paragraph(wording.NOT_ACCREDITED_HEADING, st["day"])
    heading.keepWithNext = True
    story: list[Flowable] = [heading]
    for activity in activities:
        title = Paragraph(markup(activity.title, 300), st["activity"])
        title.keepWithNext = True
        story.append(title)
        when = (f"{activity.starts_at:%a %b %-d, %-I:%M %p}" if with_day
                else time_range(activity.starts_at, activity.ends_at))
        room = getattr(activity, "room", None)
        story.append(Paragraph(when + (f" · {markup(room, 120)}" if room else ""), st["meta"]))
        story.append(Paragraph(wording.NOT_ACCREDITED, st["note"]))
    return story


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
        *provider_flowables(sheet.provider, st),
        Paragraph(f"{wording.SHEET_INTRO} {version_line(sheet)} "
                  f"({markup(sheet.timezone)} time).", st["intro"]),
    ]
    meeting_support = supporters_paragraph(sheet.meeting_support, st, meeting=True)
    if meeting_support is not None:
        story.append(meeting_support)
    if not sheet.days:
        story.append(Paragraph(wording.NO_ACTIVITIES, st["base"]))
    for day in sheet.days:
        accredited = [a for a in day.activities if a.accredited]
        if not accredited:
            continue
        heading = Paragraph(day_heading(day.day) + (" (today)" if day.is_today else ""), st["day"])
        heading.keepWithNext = True
        # A page that starts within the day opens with "Thursday, October 7, 2027 (continued)".
        pdf.continued(heading, f"{day_heading(day.day)} (continued)", st["day"])
        story.append(heading)
        for activity in accredited:
            story.extend(activity_flowables(activity, st))
    story.extend(not_accredited_flowables(sheet.non_accredited, st))
    return pdf.build(
        story,
        title=f"Faculty disclosures: {sheet.room} — {sheet.meeting}",
        header=f"{sheet.meeting} · {sheet.room}",
        footer=f"Faculty disclosures (ACCME Standard 3) · version {sheet.version} · "
               f"fingerprint {sheet.fingerprint}",
        size=size,
        subject="Disclosure of relevant financial relationships to learners",
    )
