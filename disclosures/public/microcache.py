"""Per-worker micro-cache of public room sheets (and the all-faculty page and booklet they
link to): a burst of scans costs a dict lookup.

When a session starts, hundreds of attendees scan the room's QR code within a few
seconds. Without this cache every one of those requests looks up the room's published
sheet version and renders it (or reads its PDF from the database). Here each worker
process keeps, for ``PUBLIC_CACHE_SECONDS`` (default 2 s), what an anonymous request for
(kind, token, page size) resolved to: its validator (ETag, Last-Modified), the bytes
sent and the response headers. A hit issues no SQL statement; conditional requests
(If-None-Match / If-Modified-Since) are answered 304 from the kept validator.

An unknown token is never kept: it always costs the query and answers 404 (so a
newly issued token works at once in every worker).

Freshness:

* the process that commits a change never serves stale data: ``watch_writes``
  flags a session that wrote anything (a flush, or a bulk INSERT/UPDATE/DELETE or
  text statement through ``Session.execute``) and empties this cache when that
  session commits;
* other worker processes (gunicorn runs several) see the change within
  ``PUBLIC_CACHE_SECONDS``, when their entry expires and is revalidated against
  the database. Set ``PUBLIC_CACHE_SECONDS=0`` to turn the cache off.

Memory is bounded per worker by ``PUBLIC_CACHE_MAX_ENTRIES`` and
``PUBLIC_CACHE_MAX_BYTES`` (least recently used entries go first), and expired entries
are swept out when a new one is stored, so a worker holds little more than the sheets
asked for in the last ``PUBLIC_CACHE_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event

# The clock of entry ages (tests replace it to age entries without sleeping).
clock = time.monotonic

_DIRTY = "public_microcache_dirty"


@dataclass(frozen=True, slots=True)
class Validator:
    """What a conditional request is answered from: the ETag and Last-Modified."""

    etag: str
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class Entry:
    """What one anonymous request for a room sheet resolved to."""

    marker: Validator
    content: bytes
    headers: tuple[tuple[str, str], ...]  # of the 200 response, Content-Length aside
    stored_at: float


class SheetCache:
    """A thread-safe LRU of ``Entry`` with an age limit, an entry limit and a byte limit.

    ``generation`` moves on at every ``clear``: a request that read the database before a
    commit in this process cleared the cache cannot store its (possibly stale) result.
    """

    def __init__(self) -> None:
        self.items: OrderedDict[tuple, Entry] = OrderedDict()
        self.bytes = 0
        self.generation = 0
        self.swept_at = float("-inf")
        self.lock = threading.Lock()

    def get(self, key: tuple, max_age: float) -> Entry | None:
        """The entry for ``key`` if it is younger than ``max_age`` seconds, else None."""
        with self.lock:
            entry = self.items.get(key)
            if entry is None:
                return None
            if clock() - entry.stored_at >= max_age:
                self._drop(key)
                return None
            self.items.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: Entry, generation: int, *, max_age: float,
            max_entries: int, max_bytes: int) -> None:
        """Keep ``entry`` unless the cache was cleared since ``generation`` was read, or the
        entry alone is larger than ``max_bytes``. Then entries older than ``max_age`` go (at
        most one sweep per ``max_age``), and the least recently used while over a limit."""
        size = len(entry.content)
        with self.lock:
            if generation != self.generation or size > max_bytes or max_entries < 1:
                return
            if key in self.items:
                self._drop(key)
            self.items[key] = entry
            self.bytes += size
            if entry.stored_at - self.swept_at >= max_age:
                self.swept_at = entry.stored_at
                for old in [k for k, e in self.items.items() if entry.stored_at - e.stored_at >= max_age]:
                    self._drop(old)
            while len(self.items) > max_entries or self.bytes > max_bytes:
                self._drop(next(iter(self.items)))

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.bytes = 0
            self.generation += 1

    def _drop(self, key: tuple) -> None:
        entry = self.items.pop(key)
        self.bytes -= len(entry.content)


sheets = SheetCache()


def clear() -> None:
    """Forget every kept response of this process: the next request of each asks the
    database again, as it would in a worker that never served it (tests use this to play
    "another worker"; a commit that wrote anything does it too)."""
    sheets.clear()


# --- Invalidation: a commit that wrote anything empties this process's cache --------------

def _flag_flush(session, flush_context) -> None:
    session.info[_DIRTY] = True


def _flag_statement(orm_execute_state) -> None:
    if not orm_execute_state.is_select:  # bulk DML, or text() such as a TRUNCATE
        orm_execute_state.session.info[_DIRTY] = True


def _clear_if_written(session) -> None:
    # A savepoint's commit fires this too: wait for the real one (a request reading in
    # between would see the old rows and could keep them under the new generation).
    if session.in_nested_transaction():
        return
    if session.info.pop(_DIRTY, False):
        clear()


def commit_derived(session) -> None:
    """Commit what only derives from the published record (a PDF built on first request
    and kept for every server): nothing public changed, so this cache stays."""
    session.info.pop(_DIRTY, None)
    session.commit()


def _forget_writes(session) -> None:
    session.info.pop(_DIRTY, None)


_LISTENERS = (
    ("after_flush", _flag_flush),
    ("do_orm_execute", _flag_statement),
    ("after_commit", _clear_if_written),
    ("after_rollback", _forget_writes),
)


def watch_writes(session_target) -> None:
    """Listen on ``session_target`` (``db.session``): once per process, however many apps."""
    for name, listener in _LISTENERS:
        if not event.contains(session_target, name, listener):
            event.listen(session_target, name, listener)
