"""The printable room sign: meeting, its dates and accredited provider, room, a QR code
that scans from 2 m, the URL under it, and where to get a printed copy without a phone."""

from __future__ import annotations

import io
from datetime import date

from reportlab.lib.units import cm, mm

from . import fonts, pdf, qr
from .text import clean

INSTRUCTION = "Scan with your phone camera to read the faculty disclosures for this room."
SUB_INSTRUCTION = (
    "Financial relationships of everyone presenting here, as required by the ACCME Standards."
)
DESK = "Or ask at the registration desk for a printed copy."


def meeting_dates(starts_on: date | None, ends_on: date | None) -> str:
    """"October 6–8, 2027", "September 30 – October 2, 2027", "October 7, 2027"."""
    if starts_on is None:
        return ""
    ends_on = ends_on or starts_on
    if starts_on == ends_on:
        return f"{starts_on:%B} {starts_on.day}, {starts_on.year}"
    if (starts_on.year, starts_on.month) == (ends_on.year, ends_on.month):
        return f"{starts_on:%B} {starts_on.day}–{ends_on.day}, {ends_on.year}"
    if starts_on.year == ends_on.year:
        return f"{starts_on:%B} {starts_on.day} – {ends_on:%B} {ends_on.day}, {ends_on.year}"
    return (f"{starts_on:%B} {starts_on.day}, {starts_on.year} – "
            f"{ends_on:%B} {ends_on.day}, {ends_on.year}")


def provided_by(provider: str | None, joint_provider: str | None) -> str:
    """"Provided by X", "Jointly provided by X and Y", or "" when no provider is set."""
    if provider and joint_provider:
        return f"Jointly provided by {provider} and {joint_provider}"
    return f"Provided by {provider}" if provider else ""


def draw_qr(canvas, url: str, x: float, y: float, size: float) -> float:
    """Draw the code as vector squares (crisp at any print size); returns the module size."""
    matrix = qr.matrix(url)
    count = len(matrix)
    quiet = 4
    module = size / (count + 2 * quiet)
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(matrix):
        top = y + size - (quiet + r + 1) * module
        c = 0
        while c < count:
            if row[c]:
                start = c
                while c < count and row[c]:
                    c += 1
                canvas.rect(x + (quiet + start) * module, top, (c - start) * module, module,
                            stroke=0, fill=1)
            else:
                c += 1
    return module


MARGIN = 15 * mm
QR_TOP = 5.9 * cm  # from the top edge of the page to the top of the code


def qr_side(size: str = "letter") -> float:
    """Side of the printed code, quiet zone included: 17 cm on Letter and A4.

    The usual rule of thumb (scanning distance ≈ 10 × code size) gives about 2 m.
    """
    width, height = pdf.page_size(size)
    return min(width - 2 * MARGIN, 17 * cm, height - QR_TOP - 4.4 * cm)


@pdf.serialised
def sign_pdf(meeting: str, room: str, url: str, size: str = "letter", *,
             starts_on: date | None = None, ends_on: date | None = None,
             provider: str | None = None, joint_provider: str | None = None) -> bytes:
    fonts.register()
    width, height = pdf.page_size(size)
    buffer = io.BytesIO()
    c = pdf.Canvas(buffer, pagesize=(width, height), lang="en-US")
    c.setTitle(clean(f"Room sign: {room} — {meeting}", 300))
    c.setAuthor(pdf.AUTHOR)
    c.setSubject("Room sign with the QR code of the faculty disclosure sheet")
    c.setCreator(pdf.AUTHOR)
    usable = width - 2 * MARGIN

    c.setFillColor(pdf.BRAND)
    c.rect(0, height - 2.6 * cm, width, 2.6 * cm, stroke=0, fill=1)
    c.setFillColorRGB(1, 1, 1)
    details = " · ".join(part for part in (meeting_dates(starts_on, ends_on),
                                           provided_by(provider, joint_provider)) if part)
    pdf.draw_text(c, meeting, width / 2, height - (1.25 if details else 1.55) * cm, 18,
                  bold=True, center=True, max_width=usable)
    if details:
        pdf.draw_text(c, details, width / 2, height - 2.05 * cm, 11, center=True,
                      max_width=usable)
    c.setFillColor(pdf.INK)
    pdf.draw_text(c, room, width / 2, height - 4.3 * cm, 40, bold=True, center=True,
                  max_width=usable)
    c.setFillColor(pdf.MUTED)
    pdf.draw_text(c, "Faculty disclosures", width / 2, height - 5.3 * cm, 17, center=True)

    side = qr_side(size)
    qr_y = height - QR_TOP - side
    draw_qr(c, url, (width - side) / 2, qr_y, side)

    c.setFillColor(pdf.INK)
    pdf.draw_text(c, url, width / 2, qr_y - 0.7 * cm, 12, center=True, max_width=usable)
    pdf.draw_text(c, INSTRUCTION, width / 2, qr_y - 1.7 * cm, 14, bold=True, center=True,
                  max_width=usable)
    c.setFillColor(pdf.MUTED)
    pdf.draw_text(c, SUB_INSTRUCTION, width / 2, qr_y - 2.4 * cm, 10.5, center=True,
                  max_width=usable)
    c.setFillColor(pdf.INK)
    pdf.draw_text(c, DESK, width / 2, qr_y - 3.1 * cm, 12, center=True, max_width=usable)
    c.showPage()
    c.save()
    return buffer.getvalue()
