"""Absolute links that leave the app (emails, QR codes, invitation and reset links).

Every such link is built from ``PUBLIC_BASE_URL``, never from the request: the Host
header is whatever the client sent, so a link built from it could point a victim's
password-reset mail at another site. These work without a request too (commands, jobs).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def external_url(endpoint: str, **values) -> str:
    """``PUBLIC_BASE_URL`` + the path of ``endpoint`` with ``values``."""
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "https"
    )
    return adapter.build(endpoint, values, force_external=True)
