"""The product app plus one bench-only route: the framework floor.

``/_floor.html`` and ``/_floor.pdf`` return a constant body of the size given in
``BENCH_FLOOR_HTML_BYTES`` / ``BENCH_FLOOR_PDF_BYTES``, through the same app
(same middleware, security headers, session handling), so "sheet / floor" says
how much of a request the sheet's own work costs. Only ``bench/run.py`` serves
this module; the product never registers the route.
"""

from __future__ import annotations

import os

from flask import Response

from disclosures import create_app

app = create_app()

_HTML = b"<!doctype html><title>floor</title>" + b"x" * max(
    0, int(os.environ.get("BENCH_FLOOR_HTML_BYTES", "8192")) - 34
)
_PDF = b"%PDF-1.4\n" + b"x" * max(0, int(os.environ.get("BENCH_FLOOR_PDF_BYTES", "8192")) - 9)


@app.route("/_floor.html")
def floor_html():
    return Response(_HTML, mimetype="text/html")


@app.route("/_floor.pdf")
def floor_pdf():
    return Response(_PDF, mimetype="application/pdf")
