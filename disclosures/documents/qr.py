"""QR codes for room sheets: made once per URL and kept, never per scan.

Always a full QR code (never Micro QR) with high error correction, so a printed
sign still scans when scuffed or partly covered.
"""

from __future__ import annotations

import io
from functools import lru_cache

import segno


@lru_cache(maxsize=2048)
def qr_code(url: str) -> segno.QRCode:
    return segno.make_qr(url, error="h")


@lru_cache(maxsize=2048)
def svg(url: str, scale: int = 4) -> str:
    """Standalone SVG document (for download)."""
    buffer = io.BytesIO()
    qr_code(url).save(buffer, kind="svg", scale=scale, border=4, xmldecl=True,
                      svgns=True, title="QR code: " + url)
    return buffer.getvalue().decode("utf-8")


@lru_cache(maxsize=2048)
def svg_inline(url: str, scale: int = 4) -> str:
    """An <svg> element for embedding in a page (no XML declaration)."""
    return qr_code(url).svg_inline(scale=scale, border=4, svgclass="qr-code")


@lru_cache(maxsize=512)
def png(url: str, scale: int = 10) -> bytes:
    buffer = io.BytesIO()
    qr_code(url).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def matrix(url: str) -> list[list[bool]]:
    """Dark (True) and light modules, without the quiet zone."""
    return [[bool(cell) for cell in row] for row in qr_code(url).matrix]
