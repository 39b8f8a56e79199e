"""`make bench`: is the service fast at a real meeting's scale?

One command, no arguments. It builds fresh databases (SQLite files in a temp
directory; with ``DATABASE_URL`` set to PostgreSQL, throw-away schemas in that
database), loads the demo meeting and the large one (``disclosures.largedemo``),
then measures, side by side, with the target next to each figure:

1. the public room sheet (HTML and PDF) under a burst of 64 concurrent clients
   (wrk) against gunicorn on 127.0.0.1, next to a bare constant route of the same
   size on the same server (the framework floor), for two worker classes;
2. cold builds: one room's PDF sheet, the large meeting's booklet, a first slide,
   a QR room sign;
3. the reviewer queue, the review page of the busiest person and the staff
   dashboard at demo and large size: latency, growth ratio, SQL statements;
4. the published static sheet through nginx next to a plain file of the same size;
5. the peak RSS of a gunicorn worker after the run;
6. the room sheet's p50/p99 alone and with a flood of varied all-faculty searches beside it
   (with the per-client search limit, and without it as if the flood came from many
   addresses), and the largest all-faculty page of the large meeting;
7. the Open Payments import (``bench/openpayments_bench.py``): MB/s and rows/s on a generated
   1 GB CMS-shaped file, and the peak memory of the import for 100 MB and 1 GB files.

It prints a table and writes ``bench/results.json``. All load goes to 127.0.0.1.
Tuning: ``BENCH_SECONDS`` (length of each load run, default 8),
``BENCH_PORT`` (first of the ports used, default 5201), ``BENCH_ONLY`` (comma-separated
sections to run: ``pages``, ``documents``, ``burst``, ``nginx``, ``flood``, ``jobs``,
``openpayments``, ``import``; default all of them; the demo meeting is only built for
``pages``, the large one not for ``openpayments`` alone). The generated Open Payments files
stay in /tmp between runs.

8. jobs (``bench/jobs.py``), run by a real worker process: 2,000 reminders through a local
   SMTP server (aiosmtpd) with one connection, and 2,000 more with the server gone for 3 s
   mid-run (no duplicates, nobody skipped); a 50,000-row programme applied as a job (time,
   worker memory); the large meeting's records ZIP; each with the time of the web request
   that started it. ``BENCH_REMINDERS``, ``BENCH_PROGRAMME_ROWS`` change the sizes.
9. the programme import preview of a 50,000-row scheduler export (synonym headers,
   rooms written loosely, clashes to warn about) against the large meeting: read + plan.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results.json"
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
PORT = int(os.environ.get("BENCH_PORT", "5201"))
CONNECTIONS = 64
SECTIONS = ("pages", "documents", "burst", "nginx", "flood", "jobs", "openpayments", "import")
SITE_SECTIONS = {"pages", "documents", "burst", "nginx", "flood", "jobs", "import"}
ONLY = {name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip()}
PASSWORD = "bench password 1"  # noqa: S105 (throw-away accounts in a throw-away database)


# --- Results ---------------------------------------------------------------------------------

@dataclass
class Row:
    section: str
    name: str
    value: float | None
    unit: str
    target: str = ""
    ok: bool | None = None
    note: str = ""


ROWS: list[Row] = []
EXTRA: dict = {}


def add(section: str, name: str, value: float | None, unit: str, target: str = "",
        check: Callable[[float], bool] | None = None, note: str = "") -> Row:
    ok = None if value is None or check is None else bool(check(value))
    row = Row(section, name, None if value is None else round(value, 3), unit, target, ok, note)
    ROWS.append(row)
    mark = {True: "ok", False: "MISS", None: ""}[ok]
    shown = _shown(value)
    print(f"  {name:<58} {shown:>12} {unit:<8} {target:<18} {mark} {note}", flush=True)
    return row


def _shown(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


# --- Databases -------------------------------------------------------------------------------

class Databases:
    """Fresh databases for one run: SQLite files, or PostgreSQL schemas dropped at the end."""

    def __init__(self, workdir: Path):
        from config import normalise_database_url

        self.workdir = workdir
        self.base = normalise_database_url(os.environ.get("DATABASE_URL"))
        self.kind = "postgresql" if self.base and self.base.startswith("postgresql") else "sqlite"
        self.tag = uuid.uuid4().hex[:8]
        self.schemas: list[str] = []

    def url(self, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.workdir / f'{name}.db'}"
        import sqlalchemy as sa

        schema = f"bench_{self.tag}_{name}"
        engine = sa.create_engine(self.base)
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        self.schemas.append(schema)
        joiner = "&" if "?" in self.base else "?"
        return f"{self.base}{joiner}options=-csearch_path%3D{schema}"

    def drop(self) -> None:
        if not self.schemas:
            return
        import sqlalchemy as sa

        engine = sa.create_engine(self.base)
        with engine.begin() as conn:
            for schema in self.schemas:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def make_app(url: str, workdir: Path, name: str):
    from disclosures import create_app

    return create_app(
        "development",
        SQLALCHEMY_DATABASE_URI=url,
        WTF_CSRF_ENABLED=False,  # the bench logs in through the form without a browser
        RATELIMIT_ENABLED=False,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{PORT}",
    )


@dataclass
class Site:
    name: str
    url: str
    app: object
    meeting_id: int
    meeting_slug: str
    busiest_user_id: int
    busiest_assignment_id: int
    busiest_room_id: int
    busiest_room_token: str
    room_tokens: list[str]
    room_ids: list[int]


def build_site(dbs: Databases, workdir: Path, name: str) -> Site:
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from disclosures.demo import load_demo_meeting
    from disclosures.extensions import db
    from disclosures.largedemo import load_large_meeting
    from disclosures.models import Activity, Assignment, Meeting, Room

    url = dbs.url(name)
    app = make_app(url, workdir, name)
    with app.app_context():
        started = time.perf_counter()
        upgrade()
        loader = load_large_meeting if name == "large" else load_demo_meeting
        loaded = time.perf_counter()
        loader(password=PASSWORD)
        db.session.commit()
        done = time.perf_counter()
        meeting = db.session.scalars(sa.select(Meeting)).one()
        per_person = db.session.execute(
            sa.select(Assignment.user_id, sa.func.count())
            .group_by(Assignment.user_id).order_by(sa.func.count().desc(), Assignment.user_id)
        ).first()
        busiest_assignment = db.session.scalar(
            sa.select(Assignment.id).where(Assignment.user_id == per_person[0])
            .order_by(Assignment.id).limit(1))
        room_counts = db.session.execute(
            sa.select(Room.id, Room.public_token, sa.func.count(Assignment.id))
            .join(Activity, Activity.room_id == Room.id)
            .join(Assignment, Assignment.activity_id == Activity.id)
            .group_by(Room.id, Room.public_token)
            .order_by(sa.func.count(Assignment.id).desc(), Room.id)
        ).all()
        site = Site(name, url, app, meeting.id, meeting.slug, per_person[0], busiest_assignment,
                    room_counts[0][0], room_counts[0][1], [r[1] for r in room_counts],
                    [r[0] for r in room_counts])
    add("data", f"{name}: schema + meeting load", done - started, "s", "< 60 s (large)",
        (lambda v: v < 60) if name == "large" else None,
        note=f"load alone {done - loaded:.1f} s; busiest person {per_person[1]} assignments")
    return site


# --- In-process page timings (test client, statements counted by SQLAlchemy events) ---------

class StatementCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, *args, **kwargs):
        self.count += 1


def logged_in(site: Site, email: str):
    client = site.app.test_client()
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    if response.status_code != 302:
        raise RuntimeError(f"bench login as {email} failed: {response.status_code}")
    return client


def time_get(site: Site, client, path: str, reps: int) -> tuple[float, int, int, int]:
    """(median ms, statements per request, status, bytes) of ``reps`` warm GETs."""
    import sqlalchemy as sa

    from disclosures.extensions import db

    with site.app.app_context():
        engine = db.engine
    counter = StatementCounter()
    sa.event.listen(engine, "before_cursor_execute", counter)
    try:
        response = client.get(path)  # warm-up (template compilation, first connection)
        client.get(path)
        times, statements = [], []
        for _ in range(reps):
            counter.count = 0
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            statements.append(counter.count)
    finally:
        sa.event.remove(engine, "before_cursor_execute", counter)
    return statistics.median(times), max(statements), response.status_code, len(response.data)


def page_timings(sites: dict[str, Site]) -> None:
    step("Staff and reviewer pages: demo vs large (in-process, median of warm requests)")
    pages = {
        "reviewer queue": ("reviewer@example.org", lambda s: f"/review/?meeting={s.meeting_id}"),
        "review page of the busiest person": (
            "reviewer@example.org",
            lambda s: f"/review/meetings/{s.meeting_id}/people/{s.busiest_user_id}"),
        "staff dashboard": ("staff@example.org", lambda s: f"/staff/meetings/{s.meeting_id}/dashboard"),
        "public all-faculty page": (None, lambda s: f"/m/{s.meeting_slug}/disclosures"),
        "public room sheet, busiest room (warm: page cached)": (
            None, lambda s: f"/r/{s.busiest_room_token}"),
    }
    for label, (email, path_of) in pages.items():
        found = {}
        for name in ("demo", "large"):
            site = sites[name]
            client = logged_in(site, email) if email else site.app.test_client()
            reps = 15 if name == "demo" else 9
            ms, statements, status, size = time_get(site, client, path_of(site), reps)
            if status != 200:
                add("pages", f"{label} ({name})", None, "ms", note=f"HTTP {status}")
                continue
            found[name] = (ms, statements)
            if name == "large" and ms >= 150:
                spots = hot_spots(site, client, path_of(site))
                EXTRA.setdefault("hot_spots", {})[label] = spots
                print("      hot spots (cProfile, one request):\n        " + "\n        ".join(spots))
            add("pages", f"{label} ({name})", ms, "ms",
                "< 150 ms" if name == "large" else "", (lambda v: v < 150) if name == "large" else None,
                note=f"{statements} statements, {size // 1024} KB")
        if len(found) == 2:
            add("pages", f"{label}: growth large/demo", found["large"][0] / found["demo"][0], "x",
                "< 2", lambda v: v < 2)
            add("pages", f"{label}: statements large - demo",
                found["large"][1] - found["demo"][1], "stmts", "0 (constant)", lambda v: v <= 0,
                note=f"{found['demo'][1]} vs {found['large'][1]}")


def save_timings(sites: dict[str, Site], reps: int = 9) -> None:
    """A relevance decision saved (the operation and its commit, in-process): the
    determination, its audit event, the role's stored state, its statement, the room's
    sheet version and the meeting's publication step, in one transaction."""
    step("Saving a decision: demo vs large (in-process, median)")
    import sqlalchemy as sa

    from disclosures.extensions import db
    from disclosures.models import Assignment, Company, Determination, Disclosure, Meeting, Relationship, User
    from disclosures.review import operations as review

    for name, site in sites.items():
        with site.app.app_context():
            meeting = db.session.get(Meeting, site.meeting_id)
            reviewer = db.session.scalar(sa.select(User).where(User.email == "staff@example.org"))
            decided = sa.select(Determination.id).where(
                Determination.relationship_id == Relationship.id,
                Determination.assignment_id == Assignment.id)
            latest = (sa.select(Disclosure.user_id, sa.func.max(Disclosure.version).label("v"))
                      .group_by(Disclosure.user_id).subquery())
            pairs = db.session.execute(
                sa.select(Relationship, Assignment)
                .join(Disclosure, Disclosure.id == Relationship.disclosure_id)
                .join(latest, sa.and_(latest.c.user_id == Disclosure.user_id, latest.c.v == Disclosure.version))
                .join(Assignment, Assignment.user_id == Disclosure.user_id)
                .join(Company, Company.id == Relationship.company_id)
                .where(Company.is_ineligible, Assignment.removed_at.is_(None), ~sa.exists(decided))
                .limit(reps)).all()
            times = []
            for relationship, assignment in pairs:
                subject = review.review_subject(assignment.user, meeting)
                started = time.perf_counter()
                review.record_determination(
                    reviewer, subject, relationship, assignment, is_relevant=False,
                    rationale="Bench.", seen_determination_id=0,
                    seen_disclosure_id=relationship.disclosure_id)
                db.session.commit()
                times.append((time.perf_counter() - started) * 1000)
            add("pages", f"decision saved, with state, statement and sheet version ({name})",
                statistics.median(times) if times else None, "ms", "< 50 ms", lambda v: v < 50,
                note=f"{len(times)} decisions")


def hot_spots(site: Site, client, path: str, limit: int = 6) -> list[str]:
    """The project's functions taking most time in one GET (cProfile, cumulative)."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    client.get(path)
    profile.disable()
    stats = pstats.Stats(profile).stats
    package = str(ROOT / "disclosures")
    rows = sorted(
        ((cumulative, f"{Path(file).relative_to(ROOT)}:{line} {name}")
         for (file, line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.items()
         if file.startswith(package) and name not in ("wrapper", "wrapped", "decorated_view")),
        reverse=True)
    return [f"{seconds * 1000:,.0f} ms  {where}" for seconds, where in rows[:limit]]


def _clear_document_caches(site: Site, workdir: Path, label: str) -> None:
    """Nothing kept: a new publication step (so the booklet is built again; a room's PDF
    is built on the first request for its version, and each room is asked once), and
    this process's memory emptied."""
    with site.app.app_context():
        from disclosures.extensions import db
        from disclosures.publication.operations import refresh

        refresh(bump=[site.meeting_id])
        db.session.commit()
    with suppress(ImportError, AttributeError):
        from disclosures.public import views as public_views

        public_views.booklets.clear()
    with suppress(ImportError, AttributeError):
        from disclosures.public import microcache

        microcache.sheets.clear()


def cold_documents(site: Site, workdir: Path) -> None:
    from pypdf import PdfReader

    step("Cold document builds (large meeting, in-process, empty document cache)")
    anonymous = site.app.test_client()

    def cold(label: str, client, path: str) -> tuple[float | None, bytes, int]:
        _clear_document_caches(site, workdir, label)
        started = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            return None, b"", response.status_code
        return elapsed, response.data, 200

    def pages_of(content: bytes) -> int:
        import io

        return len(PdfReader(io.BytesIO(content)).pages)

    ms, content, status = cold("room-busiest", anonymous, f"/r/{site.busiest_room_token}.pdf")
    add("documents", "room sheet PDF, busiest room (cold)", ms, "ms", "< 50 ms", lambda v: v < 50,
        note=f"{pages_of(content)} pages" if ms else f"HTTP {status}")
    if ms is not None and ms >= 50:
        _clear_document_caches(site, workdir, "profile")
        spots = hot_spots(site, anonymous, f"/r/{site.busiest_room_token}.pdf")
        EXTRA.setdefault("hot_spots", {})["room sheet PDF, busiest room (cold)"] = spots
        print("      hot spots (cProfile, one request):\n        " + "\n        ".join(spots))
    typical = []
    for token in site.room_tokens[len(site.room_tokens) // 2:][:5]:
        ms, content, status = cold("room", anonymous, f"/r/{token}.pdf")
        if ms is not None:
            typical.append(ms)
    add("documents", "room sheet PDF, typical room (cold, median of 5)",
        statistics.median(typical) if typical else None, "ms", "< 50 ms", lambda v: v < 50)
    ms, content, status = cold("booklet", anonymous, f"/m/{site.meeting_slug}/disclosures.pdf")
    if ms is not None:
        count = pages_of(content)
        add("documents", "booklet PDF of the large meeting (cold)", ms, "ms", "< 3000 ms",
            lambda v: v < 3000, note=f"{count} pages, {len(content) // 1024} KB")
        add("documents", "booklet build rate", count / (ms / 1000), "pages/s", "~550 simple")
    else:
        add("documents", "booklet PDF of the large meeting (cold)", None, "ms", note=f"HTTP {status}")
    staff = logged_in(site, "staff@example.org")
    ms, content, status = cold("slide", staff, f"/assignments/{site.busiest_assignment_id}/slide.pdf")
    add("documents", "first-slide PDF (cold)", ms, "ms", "< 50 ms", lambda v: v < 50,
        note="" if ms else f"HTTP {status}")
    # A room whose QR code this process has not made yet.
    ms, content, status = cold("sign", staff, f"/staff/rooms/{site.room_ids[-1]}/sign.pdf")
    add("documents", "QR room sign PDF (cold)", ms, "ms", "< 50 ms", lambda v: v < 50,
        note="" if ms else f"HTTP {status}")


# --- Servers and load ------------------------------------------------------------------------

def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (127.0.0.1)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (127.0.0.1 only)
        return response.read()


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def gunicorn(site: Site, workdir: Path, worker_class: str, floor_sizes: dict[str, int],
             settings: dict[str, str] | None = None):
    """gunicorn -w 2 serving the site on PORT; ``settings``: more environment (configuration)."""
    port = PORT
    if not _free(port):
        raise RuntimeError(f"port {port} is busy: set BENCH_PORT to a free port")
    env = {
        **os.environ,
        "DISCLOSURES_CONFIG": "development",
        "DATABASE_URL": site.url,
        "DISCLOSURES_INSTANCE": str(workdir / "instance-gunicorn"),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "BENCH_FLOOR_HTML_BYTES": str(floor_sizes.get("html", 8192)),
        "BENCH_FLOOR_PDF_BYTES": str(floor_sizes.get("pdf", 8192)),
        "PYTHONPATH": f"{ROOT / 'bench'}:{ROOT}",
        **(settings or {}),
    }
    args = [str(BIN / "gunicorn"), "--workers", "2", "--worker-class", worker_class,
            "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
            "--error-logfile", str(workdir / f"gunicorn-{worker_class}.log"), "floor_app:app"]
    if worker_class == "gthread":
        args[5:5] = ["--threads", "4"]
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,  # noqa: S603
                               stderr=subprocess.DEVNULL)
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()
    return float(number) * _UNITS[unit]


def _wrk_args(url: str, seconds: int, connections: int, script: Path | None = None) -> list[str]:
    args = [shutil.which("wrk") or "wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
            "--timeout", "5s"]
    return [*args, "-s", str(script), url] if script else [*args, url]


def wrk(url: str, seconds: int = SECONDS, connections: int = CONNECTIONS) -> dict:
    """Requests/s, p50/p99 latency (ms) and errors of a wrk run."""
    out = subprocess.run(  # noqa: S603
        _wrk_args(url, seconds, connections),
        capture_output=True, text=True, timeout=seconds + 60, check=False,
    ).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> dict:
    result = {"rps": 0.0, "p50": None, "p99": None, "errors": 0, "requests": 0, "raw": out}
    if match := re.search(r"Requests/sec:\s+([\d.]+)", out):
        result["rps"] = float(match.group(1))
    if match := re.search(r"(\d+) requests in", out):
        result["requests"] = int(match.group(1))
    for pct in ("50", "99"):
        if match := re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M):
            result[f"p{pct}"] = _ms(match.group(1))
    if match := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        result["errors"] += int(match.group(1))
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        result["errors"] += sum(int(g) for g in match.groups())
    return result


def burst(label: str, url: str) -> dict:
    wrk(url, seconds=2)  # warm every worker's caches and connections
    result = wrk(url)
    EXTRA.setdefault("wrk", {})[label] = {k: v for k, v in result.items() if k != "raw"}
    return result


def burst_pair(label: str, floor_url: str, sheet_url: str, runs: int = 2) -> tuple[dict, dict]:
    """(best sheet run, best floor run) of ``runs`` alternating runs each.

    On 2 cores shared with wrk, one run now and then lands all keep-alive connections on
    one worker (seen with gthread: the floor or the sheet alone at a third of its rate);
    alternating and keeping each side's best run compares like with like. Every run is
    kept in results.json. Errors of any run count."""
    floors, sheets = [], []
    for index in range(runs):
        floors.append(burst(f"{label} floor run {index + 1}", floor_url))
        sheets.append(burst(f"{label} sheet run {index + 1}", sheet_url))

    def best(results: list[dict]) -> dict:
        top = dict(max(results, key=lambda r: r["rps"]))
        top["errors"] = sum(r["errors"] for r in results)
        return top

    return best(sheets), best(floors)


def report_pair(section: str, what: str, sheet: dict, floor: dict, target: float = 0.8) -> None:
    ratio = sheet["rps"] / floor["rps"] if floor["rps"] else None
    add(section, f"{what}: floor (constant body, same size)", floor["rps"], "req/s",
        note=f"p50 {floor['p50']:.1f} ms, p99 {floor['p99']:.1f} ms, {floor['errors']} errors"
        if floor["p99"] is not None else "no answer")
    add(section, f"{what}: sheet", sheet["rps"], "req/s", "0 errors",
        lambda v: sheet["errors"] == 0 and sheet["requests"] > 0,
        note=f"p50 {sheet['p50']:.1f} ms, p99 {sheet['p99']:.1f} ms, {sheet['errors']} errors"
        if sheet["p99"] is not None else "no answer")
    add(section, f"{what}: ratio sheet/floor", ratio, "x", f">= {target}",
        lambda v: v >= target)


def load_tests(site: Site, workdir: Path) -> dict:
    step(f"Burst on the public room sheet: {CONNECTIONS} clients, {SECONDS} s per run, best of 2 "
         "alternating runs, gunicorn -w 2 on 127.0.0.1 (busiest room of the large meeting)")
    client = site.app.test_client()
    html = client.get(f"/r/{site.busiest_room_token}")
    pdf = client.get(f"/r/{site.busiest_room_token}.pdf")
    if html.status_code != 200 or pdf.status_code != 200:
        add("burst", "room sheet", None, "req/s", note=f"HTTP {html.status_code}/{pdf.status_code}")
        return {}
    sizes = {"html": len(html.data), "pdf": len(pdf.data)}
    EXTRA["sheet_bytes"] = sizes
    chosen = {}
    for worker_class in ("sync", "gthread"):
        with gunicorn(site, workdir, worker_class, sizes) as (base, _process):
            sheet, floor = burst_pair(f"{worker_class} html", f"{base}/_floor.html",
                                      f"{base}/r/{site.busiest_room_token}")
            report_pair("burst", f"HTML {sizes['html'] // 1024} KB, {worker_class}", sheet, floor)
            chosen[worker_class] = (sheet["rps"], sheet["errors"])
    best = max(chosen, key=lambda k: (chosen[k][1] == 0, chosen[k][0]))
    EXTRA["worker_class"] = {"chosen": best, "sheet_html_rps": {k: v[0] for k, v in chosen.items()}}
    print(f"  worker class for the rest of the run: {best} (more sheet requests/s without errors)")
    with gunicorn(site, workdir, best, sizes) as (base, process):
        sheet, floor = burst_pair(f"{best} pdf", f"{base}/_floor.pdf",
                                  f"{base}/r/{site.busiest_room_token}.pdf")
        report_pair("burst", f"PDF {sizes['pdf'] // 1024} KB, {best}", sheet, floor)
        # A worker's day: every room sheet and PDF, the booklet, the all-faculty page.
        for token in site.room_tokens:
            fetch(f"{base}/r/{token}")
            fetch(f"{base}/r/{token}.pdf")
        for _ in range(2):
            fetch(f"{base}/m/{site.meeting_slug}/disclosures.pdf")
            fetch(f"{base}/m/{site.meeting_slug}/disclosures")
        workers = children(process.pid)
        peak = max((peak_rss_mb(pid) for pid in workers), default=None)
        add("memory", f"peak RSS of one worker ({best}, after the burst, every sheet and booklet)",
            peak, "MB", "< 250 MB", lambda v: v < 250, note=f"{len(workers)} workers")
    return {"sizes": sizes, "worker_class": best}


# --- Static publishing and nginx -------------------------------------------------------------

def nginx_bench(site: Site, workdir: Path) -> None:
    step("Published sheets through nginx (publish-static) vs a plain file of the same size")
    if shutil.which("nginx") is None:
        add("nginx", "nginx", None, "req/s", note="nginx not installed (apt-get install -y nginx)")
        return
    try:
        from disclosures.public import publish
    except ImportError:
        add("nginx", "published room sheet", None, "req/s", note="publish-static not available")
        return
    root = workdir / "published"
    started = time.perf_counter()
    with site.app.app_context():
        first = publish.publish_static(root)
    add("nginx", "publish-static, first run (large meeting)", time.perf_counter() - started, "s",
        note=f"{first.written} files written")
    started = time.perf_counter()
    with site.app.app_context():
        again = publish.publish_static(root)
    add("nginx", "publish-static, nothing changed", time.perf_counter() - started, "s",
        "0 files rewritten", lambda v: again.written == 0,
        note=f"{again.written} written, {again.unchanged} unchanged")
    sheet_path = root / "r" / f"{site.busiest_room_token}.html"
    plain_dir = workdir / "plain"
    plain_dir.mkdir(exist_ok=True)
    (plain_dir / "plain.html").write_bytes(b"x" * sheet_path.stat().st_size)
    port = PORT + 1
    conf_dir = workdir / "nginx"
    conf_dir.mkdir(exist_ok=True)
    conf = conf_dir / "nginx.conf"
    conf.write_text(publish.nginx_bench_config(
        root=root, plain_root=plain_dir, port=port, upstream=f"127.0.0.1:{PORT}",
        state_dir=conf_dir))
    process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(conf_dir),  # noqa: S603,S607
                                "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        _wait_http(f"http://127.0.0.1:{port}/plain.html", 10)
        # Letter pages of the all-faculty list come from the files (no app runs behind nginx here).
        letters = sorted((root / "m" / site.meeting_slug / "disclosures").rglob("*.html"))
        served = [path for path in letters if fetch(
            f"http://127.0.0.1:{port}/{path.relative_to(root).with_suffix('').as_posix()}")
            == path.read_bytes()]
        add("nginx", "all-faculty letter pages served from the published files", len(served),
            "pages", f"all {len(letters)}", lambda v: v == len(letters) > 0)
        sheet, plain = burst_pair("nginx", f"http://127.0.0.1:{port}/plain.html",
                                  f"http://127.0.0.1:{port}/r/{site.busiest_room_token}")
        report_pair("nginx", f"published sheet {sheet_path.stat().st_size // 1024} KB via nginx",
                    sheet, plain)
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- A flood of searches beside the room sheets ------------------------------------------------

FLOOD_CONNECTIONS = 8  # search clients (the finding: 8 took the room sheet from 6 ms to 900 ms)
SHEET_CONNECTIONS = 8  # attendees reading the room sheet meanwhile


def largest_faculty_page(site: Site) -> tuple[str, int, int]:
    """(address, bytes, pages seen) of the largest all-faculty page of the meeting: the page
    itself, every letter page it links to (and their next pages), and a search matching most."""
    from html.parser import HTMLParser

    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.hrefs = []

        def handle_starttag(self, tag, attrs):
            if tag == "a":
                self.hrefs += [v for k, v in attrs if k == "href" and v]

    client = site.app.test_client()
    index = f"/m/{site.meeting_slug}/disclosures"
    todo, seen, sizes = [index, f"{index}?q=an", f"{index}?q=an&page=2"], set(), {}
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        sizes[url] = len(response.data)
        links = Links()
        links.feed(response.get_data(as_text=True))
        todo += [h for h in links.hrefs if h.startswith(f"{index}/") and h not in seen]
    biggest = max(sizes, key=sizes.get)
    return biggest, sizes[biggest], len(sizes)


def _flood_script(workdir: Path, site: Site) -> Path:
    """A wrk script: GET searches of the all-faculty page, a different query each time (two to
    four letters of family names, companies and nonsense; pages 1 and 2)."""
    from disclosures.demo import INELIGIBLE_COMPANIES, LAST_NAMES
    from disclosures.documents.data import fold

    words = [fold(w) for w in [*LAST_NAMES, *(c[0] if isinstance(c, tuple) else c
                                             for c in INELIGIBLE_COMPANIES)]]
    queries = sorted({w[i:i + n] for w in words for n in (2, 3, 4) for i in (0, 1)
                      if len(w[i:i + n]) == n and w[i:i + n].isalpha()} | {"zq", "xv", "qqj"})
    paths = [f"/m/{site.meeting_slug}/disclosures?q={urllib.parse.quote(q)}&page={page}"
             for q in queries for page in (1, 2)]
    script = workdir / "search-flood.lua"
    script.write_text(
        "local paths = {" + ",".join(json.dumps(p) for p in paths) + "}\n"
        "local threads = {}\n"
        "local n = 0\n"
        "statuses = {}\n"
        "function setup(thread)\n"
        "  thread:set('offset', math.random(#paths))\n"
        "  table.insert(threads, thread)\n"
        "end\n"
        "request = function()\n"
        "  n = n + 1\n"
        "  return wrk.format('GET', paths[(n + (offset or 0)) % #paths + 1])\n"
        "end\n"
        "function response(status, headers, body)\n"
        "  statuses[status] = (statuses[status] or 0) + 1\n"
        "end\n"
        "function done(summary, latency, requests)\n"
        "  for _, thread in ipairs(threads) do\n"
        "    for status, count in pairs(thread:get('statuses')) do\n"
        "      io.write(string.format('status %d %d\\n', status, count))\n"
        "    end\n"
        "  end\n"
        "end\n")
    EXTRA["flood_queries"] = len(paths)
    return script


def _sheet_beside(sheet_url: str, flood_url: str | None, script: Path | None) -> tuple[dict, dict | None]:
    """(room sheet wrk result, flood wrk result or None): both run for SECONDS at once."""
    flood = None
    if flood_url:
        flood = subprocess.Popen(_wrk_args(flood_url, SECONDS + 2, FLOOD_CONNECTIONS, script),  # noqa: S603
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(1)  # the flood is running before the sheet is measured
    try:
        sheet = wrk(sheet_url, connections=SHEET_CONNECTIONS)
    finally:
        flood_out = flood.communicate(timeout=SECONDS + 60)[0] if flood else None
    return sheet, parse_wrk(flood_out) if flood_out is not None else None


def search_flood(site: Site, workdir: Path) -> None:
    step(f"Room sheet with a search flood beside it: {SHEET_CONNECTIONS} sheet clients, "
         f"{FLOOD_CONNECTIONS} search clients (wrk, varied queries), {SECONDS} s, gunicorn -w 2 sync")
    biggest, size, count = largest_faculty_page(site)
    add("flood", "largest all-faculty page, large meeting", size / 1024, "KB", "< 256 KB",
        lambda v: v < 256, note=f"{biggest} (of {count} pages: index, letters, searches)")
    EXTRA["largest_faculty_page"] = {"url": biggest, "bytes": size, "pages": count}
    sheet_url = f"/r/{site.busiest_room_token}"
    script = _flood_script(workdir, site)
    runs = [("with the search limit", {}),
            ("without the limit (a flood from many addresses)", {"RATELIMIT_ENABLED": "0"})]
    alone_p99 = None
    for index, (label, settings) in enumerate(runs):
        with gunicorn(site, workdir, "sync", {}, settings) as (base, _process):
            # Warm up: the sheet, and each worker's booklet of the meeting (built once per change,
            # as after any letter page view; a cold build is in the documents section).
            wrk(f"{base}{sheet_url}", seconds=2, connections=SHEET_CONNECTIONS)
            wrk(f"{base}/m/{site.meeting_slug}/disclosures/a", seconds=2, connections=4)
            if index == 0:
                alone, _ = _sheet_beside(f"{base}{sheet_url}", None, None)
                EXTRA.setdefault("flood", {})["sheet alone"] = {k: v for k, v in alone.items() if k != "raw"}
                alone_p99 = alone["p99"]
                add("flood", "room sheet alone: p99", alone["p99"], "ms",
                    note=f"p50 {alone['p50']:.1f} ms, {alone['rps']:.0f} req/s, {alone['errors']} errors"
                    if alone["p99"] is not None else "no answer")
            sheet, flood = _sheet_beside(f"{base}{sheet_url}", f"{base}/", script)
            EXTRA.setdefault("flood", {})[label] = {
                "sheet": {k: v for k, v in sheet.items() if k != "raw"},
                "searches": {k: v for k, v in flood.items() if k != "raw"}}
            add("flood", f"room sheet beside searches {label}: p99", sheet["p99"], "ms",
                "< 100 ms, 0 errors",
                lambda v, sheet=sheet: v < 100 and sheet["errors"] == 0,
                note=f"p50 {sheet['p50']:.1f} ms, {sheet['rps']:.0f} req/s, {sheet['errors']} errors"
                f" (alone: p99 {alone_p99:.1f} ms)" if sheet["p99"] is not None and alone_p99 else "")
            statuses: dict[int, int] = {}
            for status, count in re.findall(r"^status (\d+) (\d+)$", flood["raw"], re.M):
                statuses[int(status)] = statuses.get(int(status), 0) + int(count)
            EXTRA["flood"][label]["searches"]["statuses"] = statuses
            shown = ", ".join(f"{count} × {status}" for status, count in sorted(statuses.items()))
            add("flood", f"  searches answered {label}", flood["rps"], "req/s",
                note=f"p50 {flood['p50']:.1f} ms, p99 {flood['p99']:.1f} ms; {shown} "
                "(429: limited, 404: no page 2)" if flood["p99"] is not None else "no answer")


# --- Main ------------------------------------------------------------------------------------

def print_table() -> None:
    print("\n" + "=" * 112)
    print(f"{'measurement':<66} {'value':>12} {'unit':<8} {'target':<18} ok")
    print("-" * 112)
    section = None
    for row in ROWS:
        if row.section != section:
            section = row.section
            print(f"[{section}]")
        shown = _shown(row.value)
        mark = {True: "ok", False: "MISS", None: ""}[row.ok]
        print(f"  {row.name:<64} {shown:>12} {row.unit:<8} {row.target:<18} {mark}")
    print("=" * 112)


def scheduler_export(meeting, rows: int = 50_000, rooms: int = 40, people: int = 3_000) -> bytes:
    """A scheduler-style CSV: its own column names, room names in varying case, 10 faculty
    per 45-minute session, sessions packed so some overlap and people clash."""
    from datetime import timedelta

    lines = ["Session Code,Session Title,Date,Start Time,End Time,Room Name,First Name,"
             "Last Name,Presenter Email,Faculty Role"]
    days = (meeting.ends_on - meeting.starts_on).days + 1
    for n in range(rows // 10):
        day = meeting.starts_on + timedelta(days=n % days)
        minute = 7 * 60 + (n // days // rooms) * 40 % (11 * 60)  # 40-minute steps, 45-minute sessions
        start, end = divmod(minute, 60), divmod(minute + 45, 60)
        room = f"Ballroom {n % rooms}" if (n // rooms) % 2 else f"ballroom-{n % rooms}"
        for k in range(10):
            person = (n * 7 + k * 131) % people
            lines.append(f"B{n:05d},Session {n},{day.isoformat()},{start[0]:02d}:{start[1]:02d},"
                         f"{end[0]:02d}:{end[1]:02d},{room},Given{person},Family{person},"
                         f"bench{person}@example.org,{('Chair', 'Presenter', 'Panel member')[k % 3]}")
    return ("\n".join(lines) + "\n").encode()


def import_preview(site: Site) -> None:
    """Read + plan (with its clash warnings) of a 50,000-row export; writes nothing."""
    from disclosures.extensions import db
    from disclosures.models import Meeting
    from disclosures.programme.operations import plan_import
    from disclosures.programme.reading import read_programme

    step("Programme import preview, 50,000 rows")
    with site.app.test_request_context():
        meeting = db.session.get(Meeting, site.meeting_id)
        data = scheduler_export(meeting)
        started = time.perf_counter()
        parsed = read_programme(data, "export.csv", meeting, max_bytes=len(data) + 1)
        read = time.perf_counter()
        plan = plan_import(meeting, parsed)
        done = time.perf_counter()
        db.session.rollback()
    add("import", "50,000-row export: read", read - started, "s", "< 15 s", lambda v: v < 15,
        note=f"{len(parsed.errors)} problems")
    add("import", "50,000-row export: plan with clash warnings", done - read, "s", "< 15 s",
        lambda v: v < 15, note=f"{plan.warnings_total:,} warnings, "
        f"{len(plan.room_matches)} room spellings matched")


def main() -> int:
    if shutil.which("wrk") is None and (ONLY or set(SECTIONS)) - {"openpayments", "import"}:
        print("wrk is needed: apt-get install -y wrk (make bench installs it)", file=sys.stderr)
        return 2
    unknown = ONLY - set(SECTIONS)
    if unknown:
        print(f"BENCH_ONLY: unknown section(s) {sorted(unknown)}; choose from {', '.join(SECTIONS)}",
              file=sys.stderr)
        return 2
    wanted = ONLY or set(SECTIONS)
    began = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="disclosures-bench-"))
    workdir.chmod(0o755)  # nginx workers (user nobody) read the published files in it
    os.environ["DISCLOSURES_INSTANCE"] = str(workdir / "instance")
    dbs = Databases(workdir)
    print(f"disclosures bench: {dbs.kind}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}, work dir {workdir}")
    try:
        step("Fresh databases")
        names = ("demo", "large") if "pages" in wanted else ("large",)
        if not wanted & SITE_SECTIONS:
            names = ()
        sites = {name: build_site(dbs, workdir, name) for name in names}
        if "pages" in wanted:
            page_timings(sites)
            save_timings(sites)
        if "documents" in wanted:
            cold_documents(sites["large"], workdir)
        if "burst" in wanted:
            load_tests(sites["large"], workdir)
        if "nginx" in wanted:
            nginx_bench(sites["large"], workdir)
        if "flood" in wanted:
            search_flood(sites["large"], workdir)
        if "jobs" in wanted:
            sys.path.insert(0, str(ROOT / "bench"))
            from jobs import jobs_bench

            jobs_bench(sites["large"], workdir, add, step)
        if "openpayments" in wanted:
            from openpayments_bench import open_payments

            open_payments(dbs, workdir, add, step)
        if "import" in wanted:
            import_preview(sites["large"])
    finally:
        for site in locals().get("sites", {}).values():
            with site.app.app_context():
                from disclosures.extensions import db

                db.engine.dispose()
        dbs.drop()
        shutil.rmtree(workdir, ignore_errors=True)
    print_table()
    total = time.perf_counter() - began
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": dbs.kind,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg()},
        "seconds": round(total, 1),
        "sections": sorted(wanted),
        "rows": [asdict(row) for row in ROWS],
        **EXTRA,
    }
    RESULTS.write_text(json.dumps(result, indent=2, default=str))
    missed = [row.name for row in ROWS if row.ok is False]
    print(f"{len(ROWS)} figures in {total:.0f} s, {len(missed)} targets missed; "
          f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
