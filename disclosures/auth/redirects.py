"""Where to send someone after logging in: only to a path on this site.

``next`` comes from the URL, so anyone can write it into a link. A browser does not read
a ``Location`` the way Python does: following the WHATWG URL standard it strips leading
and trailing C0 controls and spaces, removes tab, CR and LF anywhere, and reads ``\\``
as ``/``, so ``/\\t/evil.example`` or ``/\\evil.example`` become ``//evil.example``, another
site. The check below applies the same normalisation first, then asks for a plain path
(one leading ``/``, no scheme, no host), and checks the percent-decoded and
compatibility-normalised path too (``/%2F%2Fevil``, a full-width solidus, a zero-width
space), because some servers and browsers decode or drop characters before routing. Anything in doubt is refused: the caller falls
back to the home page. (Django's ``url_has_allowed_host_and_scheme`` follows the same idea.)
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote, urlsplit, urlunsplit

MAX_LENGTH = 2000
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_OR_NEWLINE = re.compile("[\t\n\r]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _whatwg_clean(value: str) -> str:
    """What a browser makes of the string before parsing it as a URL."""
    value = value.strip(_C0_AND_SPACE)
    value = _TAB_OR_NEWLINE.sub("", value)
    return value.replace("\\", "/")


def _is_local_path(path: str) -> bool:
    return path.startswith("/") and not path.startswith("//") and not _CONTROL.search(path)


def _is_plain(path: str) -> bool:
    """No empty segment (our paths never have ``//``) and no invisible or control character
    (zero-width spaces, direction overrides) that a server might drop before routing."""
    return "//" not in path and not any(unicodedata.category(c).startswith("C") for c in path)


def safe_next_path(target: str | None) -> str | None:
    """``target`` as a path (with its query) on this site, or None when it is anything else."""
    if not isinstance(target, str) or not target or len(target) > MAX_LENGTH:
        return None
    cleaned = _whatwg_clean(target)
    if not _is_local_path(cleaned):
        return None
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return None
    if parts.scheme or parts.netloc or not _is_local_path(parts.path):
        return None
    # The path as a server or browser might see it once decoded.
    decoded = parts.path
    for _ in range(3):
        decoded = unquote(decoded)
    decoded = _whatwg_clean(unicodedata.normalize("NFKC", decoded))
    if not _is_local_path(decoded) or not _is_plain(decoded):
        return None
    return urlunsplit(("", "", parts.path, parts.query, parts.fragment))
