"""Counting the SQL statements a block of test code sends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from disclosures.extensions import db


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements sent while the block runs: ``with statements() as sent``."""
    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
