"""Backups of the record: the SQLite online backup API, or the pg_dump command to use."""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(RuntimeError):
    pass


def sqlite_backup(database_path: str, target: Path) -> int:
    """Copy a live SQLite database consistently (readers and writers may continue).

    Returns the size of the backup in bytes. Refuses to overwrite an existing file.
    """
    if target.exists():
        raise BackupError(f"{target} exists already; choose a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{database_path}?mode=ro", uri=True)
    destination = sqlite3.connect(str(target))
    try:
        with destination:
            source.backup(destination)
        check = destination.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the backup failed its integrity check: {check}")
    finally:
        destination.close()
        source.close()
    target.chmod(0o600)
    return target.stat().st_size


def pg_dump_command(url: str, target: Path) -> str:
    """The pg_dump command for a PostgreSQL URL, without the password (use PGPASSWORD or .pgpass)."""
    parsed = make_url(url)
    parts = ["pg_dump", "--format=custom", "--no-owner", f"--file={target}"]
    if parsed.host:
        parts.append(f"--host={parsed.host}")
    if parsed.port:
        parts.append(f"--port={parsed.port}")
    if parsed.username:
        parts.append(f"--username={parsed.username}")
    parts.append(parsed.database or "")
    return shlex.join(parts)


def backup(url: str, target: Path) -> str:
    """Back up the database at ``url`` to ``target``; returns a sentence saying what happened."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise BackupError("an in-memory SQLite database cannot be backed up")
        size = sqlite_backup(parsed.database, target)
        return f"Backed up {parsed.database} to {target} ({size:,} bytes)."
    if parsed.get_backend_name() == "postgresql":
        return (
            "PostgreSQL is backed up with its own tool. Run:\n  "
            + pg_dump_command(url, target)
            + "\nand restore with: pg_restore --no-owner --dbname=NEWDB "
            + shlex.quote(str(target))
        )
    raise BackupError(f"no backup method for {parsed.get_backend_name()}")
