"""A speaker's first-slide disclosure: one 16:9 page, ``data.Slide`` in, bytes out."""

from __future__ import annotations

import io

from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.platypus import Frame, KeepInFrame

from .. import wording
from ..enums import StatementKind
from . import fonts, pdf
from .data import Slide
from .pdf import Paragraph
from .sheet import provider_flowables
from .text import clean, markup

WIDTH, HEIGHT = 13.333 * inch, 7.5 * inch  # 16:9, the size of a widescreen slide


@pdf.serialised
def slide_pdf(slide: Slide) -> bytes:
    fonts.register()
    buffer = io.BytesIO()
    c = pdf.Canvas(buffer, pagesize=(WIDTH, HEIGHT), lang="en-US")
    c.setTitle(clean(f"Disclosure: {slide.name} — {slide.activity}", 300))
    c.setAuthor(pdf.AUTHOR)
    c.setSubject("First-slide disclosure of relevant financial relationships")
    c.setCreator(pdf.AUTHOR)

    c.setFillColor(pdf.BRAND)
    c.rect(0, HEIGHT - 0.9 * inch, WIDTH, 0.9 * inch, stroke=0, fill=1)
    c.setFillColorRGB(1, 1, 1)
    pdf.draw_text(c, "Disclosure of financial relationships", 0.6 * inch, HEIGHT - 0.58 * inch,
                  26, bold=True)

    base = ParagraphStyle("s", fontName=fonts.REGULAR, fontSize=20, leading=26,
                          textColor=pdf.INK, splitLongWords=True)
    name = ParagraphStyle("n", parent=base, fontName=fonts.BOLD, fontSize=34, leading=40,
                          textColor=pdf.BRAND, spaceAfter=4)
    meta = ParagraphStyle("m", parent=base, fontSize=17, leading=22, textColor=pdf.MUTED,
                          spaceAfter=18)
    item = ParagraphStyle("i", parent=base, leftIndent=26, bulletIndent=6, spaceAfter=4)
    strong = ParagraphStyle("t", parent=base, fontName=fonts.BOLD, spaceBefore=10)
    review = ParagraphStyle("r", parent=strong, textColor=pdf.WARN)

    where = f" · {markup(slide.room, 120)}" if slide.room else ""
    story = [
        Paragraph(markup(slide.name, 300), name),
        Paragraph(f"{markup(slide.role)} · <i>{markup(slide.activity, 300)}</i><br/>"
                  f"{markup(slide.meeting, 300)} · {slide.starts_at:%A, %B %-d, %Y, %-I:%M %p}{where}",
                  meta),
    ]
    statement = slide.statement
    closing = wording.closing(statement.kind, markup(slide.name, 300))
    if not statement.accredited:  # an industry session or a meal: no Standard 3 statement
        story.append(Paragraph(wording.NOT_ACCREDITED, strong))
    elif statement.kind in (StatementKind.REVIEW, StatementKind.AWAITING):
        story.append(Paragraph(f"{closing} {wording.UNDER_REVIEW_ON_SLIDE}", review))
    elif statement.kind == StatementKind.NONE:
        story.append(Paragraph(closing, strong))
    else:
        story.append(Paragraph(wording.RELEVANT_HEADING, base))
        story.extend(
            Paragraph(f"{markup(company)} — {markup(nature)}", item, bulletText="•")
            for company, nature in statement.relationships
        )
        story.append(Paragraph(closing, strong))
    if statement.off_label:  # declared for this presentation
        story.append(Paragraph(markup(wording.off_label_sentence(statement.off_label), 1200), base))
    if slide.support and statement.accredited:  # Standard 4: names (and in-kind nature) only
        sentence = wording.commercial_support(
            (markup(name), markup(in_kind) if in_kind else None) for name, in_kind in slide.support)
        story.append(Paragraph(f"<b>{sentence.label}</b> {sentence.text}", base))
    if slide.provider:
        small = ParagraphStyle("p", parent=base, fontSize=14, leading=18, textColor=pdf.MUTED,
                               spaceBefore=14)
        story.extend(provider_flowables(slide.provider, {"intro": small}))

    frame = Frame(0.6 * inch, 0.5 * inch, WIDTH - 1.2 * inch, HEIGHT - 1.7 * inch,
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    frame.addFromList([KeepInFrame(WIDTH - 1.2 * inch, HEIGHT - 1.7 * inch, story, mode="shrink")], c)
    c.showPage()
    c.save()
    return buffer.getvalue()
