"""On-disk cache of built PDFs, keyed by the change marker of the data they show."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def cached_pdf(cache_dir: str | Path, kind: str, key: str, etag: str, size: str,
               build: Callable[[], bytes]) -> bytes:
    """The PDF for (kind, key, size) at this etag: read from disk, or built and written
    atomically (temp file, then rename). Older versions of the same PDF are removed.
    A cache that cannot be written only costs time: the built PDF is returned."""
    folder = Path(cache_dir) / kind
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}-{size}-{etag}.pdf"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    content = build()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except OSError:
        log.warning("Could not cache %s", path, exc_info=True)
        Path(tmp).unlink(missing_ok=True)
        return content
    for old in folder.glob(f"{key}-{size}-*.pdf"):
        if old != path:
            old.unlink(missing_ok=True)
    return content
