"""Open Payments import: rate and peak memory on generated CMS-shaped files.

Run by ``bench/run.py`` (section ``openpayments``; ``BENCH_ONLY=openpayments make bench``
runs it alone). Generates General files of 100 MB and 1 GB in the CMS column layout
(``disclosures.openpayments.sample``) under /tmp (kept between runs, never committed:
``BENCH_OP_DIR`` moves them), with 2,000 people with an NPI and a role in the database
and 0.2 % of the rows theirs, as a national file would be. Each import runs in a fresh
child process, so its peak RSS is its own: flat memory means the 1 GB file peaks where
the 100 MB one does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FILES_DIR = Path(os.environ.get("BENCH_OP_DIR", "/tmp/disclosures-bench-openpayments"))  # noqa: S108
PEOPLE = 2000
SIZES_MB = (100, 1024)
TARGET_1GB_SECONDS = 60


def _npis() -> list[str]:
    from disclosures.openpayments.sample import npi_with_check_digit

    return [npi_with_check_digit(f"{300000000 + i * 7919}") for i in range(PEOPLE)]


def _file(size_mb: int) -> Path:
    """The generated file of ``size_mb``, made once and kept in FILES_DIR."""
    from disclosures.openpayments.sample import write_file

    FILES_DIR.mkdir(parents=True, exist_ok=True)
    path = FILES_DIR / f"OP_DTL_GNRL_bench_{size_mb}MB.csv"
    if not path.exists() or path.stat().st_size < size_mb * 2**20:
        partial = path.with_suffix(".partial")
        write_file(partial, size_mb * 2**20, known_npis=_npis(), known_share=0.002)
        partial.rename(path)
    return path


def _app(url: str, workdir: Path):
    from disclosures import create_app

    return create_app("development", SQLALCHEMY_DATABASE_URI=url,
                      DOCUMENT_CACHE_DIR=str(workdir / "cache"))


def _people(url: str, workdir: Path) -> None:
    """A meeting, one activity, and PEOPLE speakers each with an NPI."""
    from disclosures.enums import AssignmentRole
    from disclosures.extensions import db
    from disclosures.models import Activity, Assignment, Meeting, User

    app = _app(url, workdir)
    with app.app_context():
        db.create_all()
        meeting = Meeting(name="Bench meeting", slug="bench-op", starts_on=date(2027, 10, 6),
                          ends_on=date(2027, 10, 8))
        start = datetime(2027, 10, 6, 14, tzinfo=UTC)
        activity = Activity(meeting=meeting, code="OP1", title="Plenary", starts_at=start,
                            ends_at=start + timedelta(hours=1))
        db.session.add_all([meeting, activity])
        for i, npi in enumerate(_npis()):
            person = User(email=f"op{i}@example.org", full_name=f"Person {i}", npi=npi)
            db.session.add_all([person, Assignment(user=person, activity=activity,
                                                   role=AssignmentRole.SPEAKER)])
        db.session.commit()
        db.engine.dispose()


def child(url: str, workdir: str, path: str) -> None:
    """In a fresh process: import ``path`` and print what it did (JSON)."""
    from disclosures.extensions import db
    from disclosures.openpayments.operations import import_file

    app = _app(url, Path(workdir))
    with app.app_context():
        began = time.perf_counter()
        report = import_file(path)
        db.session.commit()
        seconds = time.perf_counter() - began
        print(json.dumps({"seconds": seconds, "rows": report.rows_read, "kept": report.rows_kept}))


def _run_child(url: str, workdir: Path, path: Path) -> tuple[dict, float]:
    """(the child's report, its peak RSS in MB)."""
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and script)
        [sys.executable, __file__, "--child", url, str(workdir), str(path)],
        stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"the import of {path} failed ({process.returncode})")
    return json.loads(out.decode().strip().splitlines()[-1]), usage.ru_maxrss / 1024


def open_payments(dbs, workdir: Path, add, step) -> None:
    step("Open Payments import (generated CMS-shaped General files, fresh process each)")
    files = {}
    for size in SIZES_MB:
        began = time.perf_counter()
        files[size] = _file(size)
        made = time.perf_counter() - began
        if made > 1:
            print(f"  generated {files[size]} in {made:.0f} s", flush=True)
    url = dbs.url("openpayments")
    _people(url, workdir)
    peaks = {}
    for size, path in files.items():
        report, peak = _run_child(url, workdir, path)
        megabytes = path.stat().st_size / 2**20
        label = f"{size // 1024} GB" if size >= 1024 else f"{size} MB"
        if size >= 1024:
            add("openpayments", f"import {label}: time", report["seconds"], "s",
                f"< {TARGET_1GB_SECONDS} s", lambda v: v < TARGET_1GB_SECONDS)
        add("openpayments", f"import {label}: rate", megabytes / report["seconds"], "MB/s")
        add("openpayments", f"import {label}: rows", report["rows"] / report["seconds"], "rows/s",
            note=f"{report['rows']:,} rows, {report['kept']:,} kept")
        add("openpayments", f"import {label}: peak RSS of the process", peak, "MB")
        peaks[size] = peak
    growth = peaks[max(SIZES_MB)] - peaks[min(SIZES_MB)]
    add("openpayments", "peak RSS growth, 1 GB file vs 100 MB file", growth, "MB", "< 20 MB (flat)",
        lambda v: v < 20)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
    else:
        print("Run through bench/run.py: BENCH_ONLY=openpayments make bench", file=sys.stderr)
        sys.exit(2)
