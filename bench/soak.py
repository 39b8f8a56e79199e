"""Soak: public room sheets under a 64-client burst while reviewers save determinations.

    make soak                       # SQLite
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test make soak

Bounded and local only: a fresh database (an SQLite file, or a throw-away PostgreSQL
schema dropped at the end) with the demo meeting, gunicorn on 127.0.0.1, then for
SOAK_SECONDS (30) 64 client threads fetch room sheets (HTML and PDF, every room) while
SOAK_REVIEWERS (4) reviewers log in through the real form and post determinations
through the real review page (GET for the CSRF token and version, POST the decision),
each flipping its own share of the undecided relationship/role pairs.

Afterwards it prints the counts and checks the database: every determination a reviewer
saw saved (302) is there with the value posted last, and the audit log holds one event
per saved post. Exit status 1 if any response was a 5xx, a request failed to connect, or
a saved determination is missing.

Two servers (``SOAK_SERVERS=2``): the production layout on one machine. Two gunicorn
instances, each with its own instance folder (so its own PDF cache), share one PostgreSQL
(``DATABASE_URL``, default the local ``test`` database: a throw-away schema) and one Redis
(``SOAK_REDIS_URL``, default db 6: rate limits), behind nginx (an upstream with both,
``max_fails=0`` so one refused connect does not take a server out). Attendees read the
sheets through nginx; reviewers post on either server, at random. It also fails when:

- a change saved on one server shows on the other's room sheet (its ETag) later than
  ``PUBLIC_CACHE_SECONDS`` (plus one second for the request itself under load): a prober
  flips a determination on one server and polls the sheet on the other;
- a log-in limit counted on one server is not seen by the other: failed log-ins to one
  account, alternating between the servers, must be refused (429) on both once the
  account's budget is spent.
"""

from __future__ import annotations

import collections
import http.client
import os
import random
import re
import secrets
import shutil
import socket
import subprocess  # noqa: S404  (starts our own gunicorn and flask CLI)
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
PORT = int(os.environ.get("SOAK_PORT", "5300"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "30"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "64"))
REVIEWERS = int(os.environ.get("SOAK_REVIEWERS", "4"))
PASSWORD = "soak password " + secrets.token_hex(4)
SERVERS = int(os.environ.get("SOAK_SERVERS", "1"))
REDIS_URL = os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/6")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PUBLIC_CACHE_SECONDS = 2.0
ACCOUNT_BUDGET = 6  # failed log-ins to one account before it is refused (LOGIN_ACCOUNT_RATE_LIMIT)


def server_ports() -> list[int]:
    """The app servers' ports: PORT itself with one server; PORT+1, PORT+2 behind nginx."""
    return [PORT] if SERVERS == 1 else [PORT + 1 + i for i in range(SERVERS)]


# --------------------------------------------------------------------------- database


@dataclass
class Database:
    url: str
    schema: str | None = None
    base: str | None = None

    @classmethod
    def fresh(cls, workdir: Path) -> Database:
        sys.path.insert(0, str(ROOT))
        from config import normalise_database_url

        base = normalise_database_url(os.environ.get("DATABASE_URL"))
        if SERVERS > 1 and not (base and base.startswith("postgresql")):
            base = DEFAULT_PG  # servers share one database: PostgreSQL
        if not (base and base.startswith("postgresql")):
            return cls(url=f"sqlite:///{workdir / 'soak.db'}")
        import sqlalchemy as sa

        schema = f"soak_{uuid.uuid4().hex[:10]}"
        engine = sa.create_engine(base)
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        joiner = "&" if "?" in base else "?"
        return cls(url=f"{base}{joiner}options=-csearch_path%3D{schema}", schema=schema, base=base)

    @property
    def kind(self) -> str:
        return "postgresql" if self.schema else "sqlite"

    def drop(self) -> None:
        if not self.schema:
            return
        import sqlalchemy as sa

        engine = sa.create_engine(self.base)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        engine.dispose()


def _env(db: Database, workdir: Path) -> dict:
    return {
        **os.environ,
        "DISCLOSURES_CONFIG": "development",
        "DATABASE_URL": db.url,
        "DISCLOSURES_INSTANCE": str(workdir / "instance"),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PUBLIC_BASE_URL": f"http://{HOST}:{PORT}",
        "RATELIMIT_STORAGE_URI": "memory://",
        **({} if SERVERS == 1 else {
            "REDIS_URL": REDIS_URL, "RATELIMIT_STORAGE_URI": REDIS_URL,
            "PUBLIC_CACHE_SECONDS": str(PUBLIC_CACHE_SECONDS),
            "LOGIN_RATE_LIMIT": "10000 per minute",  # every client here is 127.0.0.1
            "LOGIN_ACCOUNT_RATE_LIMIT": f"{ACCOUNT_BUDGET} per 15 minutes",
        }),
    }


def _flask(env: dict, *args: str) -> None:
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env,  # noqa: S603
                   check=True, stdout=subprocess.DEVNULL, timeout=300)


def _load_demo(env: dict) -> list[str]:
    """Schema, demo meeting, extra reviewer accounts. Returns the reviewers' emails."""
    _flask(env, "db", "upgrade")
    _flask(env, "demo-data", "--password", PASSWORD)
    emails = ["reviewer@example.org", "reviewer2@example.org"]
    for n in range(3, REVIEWERS + 1):
        email = f"soak-reviewer{n}@example.org"
        _flask(env, "create-user", email, "--name", f"Soak Reviewer {n}", "--password", PASSWORD)
        _flask(env, "grant-role", email, "reviewer")  # in the one (demo) meeting
        emails.append(email)
    return emails[:REVIEWERS]


def _app(env: dict):
    """The application on the soak database, in this process, to read what was saved."""
    for key in ("DATABASE_URL", "DISCLOSURES_INSTANCE", "SECRET_KEY",
                "DISCLOSURES_CONFIG", "PUBLIC_BASE_URL"):
        os.environ[key] = env[key]
    sys.path.insert(0, str(ROOT))
    from config import normalise_database_url
    from disclosures import create_app

    # config.py read DATABASE_URL when first imported: pass the soak database explicitly.
    return create_app(None, SQLALCHEMY_DATABASE_URI=normalise_database_url(env["DATABASE_URL"]))


@dataclass(frozen=True)
class Pair:
    meeting_id: int
    user_id: int
    relationship_id: int
    assignment_id: int
    room_token: str = ""

    @property
    def prefix(self) -> str:
        return f"d{self.relationship_id}-{self.assignment_id}"

    @property
    def page(self) -> str:
        return f"/review/meetings/{self.meeting_id}/people/{self.user_id}"

    @property
    def action(self) -> str:
        return f"{self.page}/determinations/{self.relationship_id}/{self.assignment_id}"


def _plan(app, reviewer_emails: list[str], probe: bool = False
          ) -> tuple[list[str], dict[str, list[Pair]], list[list[Pair]]]:
    """Room tokens; for each reviewer a share of the undecided pairs they may review; and,
    when ``probe``, whole roles for the staleness prober (the last reviewer's), taken out of
    the shares: roles awaiting review, whose session is still ahead (a decision recorded
    after the start changes nothing public), in a room, and naming confirmed companies only,
    so that once the prober has decided all but one of a role's relationships, each flip
    of the last one changes what the sheet says (cleared / under review)."""
    import sqlalchemy as sa

    from disclosures import clock
    from disclosures.enums import AssignmentState
    from disclosures.extensions import db
    from disclosures.faculty.operations import DisclosureEntry, submit_disclosure
    from disclosures.models import Activity, Assignment, Determination, Disclosure, Room, User
    from disclosures.permissions import can_review, conflict_refusal, decision_refusal

    with app.app_context():
        soon = clock.now() + timedelta(minutes=30)
        tokens = list(db.session.scalars(sa.select(Room.public_token)))
        reviewers = [db.session.scalar(sa.select(User).where(User.email == e)) for e in reviewer_emails]
        # Reviewers are in control of content too: the soak's extra reviewers disclose (none)
        # through the real operation, which clears their COI reviewer role, before deciding.
        for reviewer in reviewers:
            if not reviewer.disclosures:
                submit_disclosure(reviewer, DisclosureEntry(False, [], reviewer.full_name, True))
        db.session.commit()

        def may_decide(reviewer, assignment, relationship) -> bool:
            meeting = assignment.activity.meeting
            return (can_review(reviewer, assignment.user, meeting)
                    and decision_refusal(reviewer, meeting) is None
                    and conflict_refusal(reviewer, relationship.company_id, meeting) is None)

        decided = set(db.session.execute(
            sa.select(Determination.relationship_id, Determination.assignment_id)).all())
        latest = (sa.select(Disclosure.user_id, sa.func.max(Disclosure.version).label("v"))
                  .group_by(Disclosure.user_id).subquery())
        disclosures = {d.user_id: d for d in db.session.scalars(
            sa.select(Disclosure).join(latest, sa.and_(Disclosure.user_id == latest.c.user_id,
                                                       Disclosure.version == latest.c.v)))}
        shares: dict[str, list[Pair]] = {r.email: [] for r in reviewers}
        probe_roles: list[list[Pair]] = []
        turn = 0
        assignments = db.session.scalars(
            sa.select(Assignment).join(Activity).where(Assignment.removed_at.is_(None))
            .order_by(Assignment.id)).all()
        roles = []  # (assignment, token, its undecided relationships)
        for assignment in assignments:
            disclosure = disclosures.get(assignment.user_id)
            if disclosure is None:
                continue
            room = assignment.activity.room
            undecided = [r for r in disclosure.relationships
                         if r.company.is_ineligible and (r.id, assignment.id) not in decided]
            if undecided:
                roles.append((assignment, room.public_token if room else "", undecided))
        if probe:  # the fewest relationships to set up first: the prober measures sooner
            candidates = sorted(
                (role for role in roles
                 if role[1] and role[0].state is AssignmentState.AWAITING_REVIEW
                 and role[0].activity.starts_at > soon
                 and not any(r.company.needs_review
                             for r in disclosures[role[0].user_id].relationships)
                 and all(may_decide(reviewers[-1], role[0], r) for r in role[2])),
                key=lambda role: (len(role[2]), role[0].id))[:2]
            for assignment, token, undecided in candidates:
                probe_roles.append([Pair(assignment.activity.meeting_id, assignment.user_id,
                                         r.id, assignment.id, token) for r in undecided])
            roles = [role for role in roles if role not in candidates]
        for assignment, token, undecided in roles:
            for relationship in undecided:
                for _ in range(len(reviewers)):
                    reviewer = reviewers[turn % len(reviewers)]
                    turn += 1
                    if may_decide(reviewer, assignment, relationship):
                        shares[reviewer.email].append(Pair(
                            assignment.activity.meeting_id, assignment.user_id,
                            relationship.id, assignment.id, token))
                        break
        db.session.remove()
    return tokens, shares, probe_roles


# --------------------------------------------------------------------------- HTTP


class Browser:
    """One keep-alive connection with a cookie jar: enough of a browser for forms."""

    def __init__(self, ports: list[int] | None = None, seed: int = 0):
        # With several ports (the app servers), each request goes to one of them at random.
        self.ports = ports or [PORT]
        self.rng = random.Random(seed)  # noqa: S311  (which server, not a secret)
        self.conns = {port: http.client.HTTPConnection(HOST, port, timeout=30) for port in self.ports}
        self.cookies: dict[str, str] = {}
        self.last_headers = None

    def request(self, method: str, path: str, form: dict | None = None,
                port: int | None = None) -> tuple[int, str]:
        port = port or self.rng.choice(self.ports)
        headers = {"Host": f"{HOST}:{PORT}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            try:
                self.conns[port].request(method, path, body=body, headers=headers)
                response = self.conns[port].getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.conns[port].close()
                self.conns[port] = http.client.HTTPConnection(HOST, port, timeout=30)
                if attempt:
                    raise
        self.last_headers = response.headers
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data.decode("utf-8", "replace")


CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    failures: int = 0
    posted: dict = field(default_factory=dict)  # Pair -> (is_relevant, rationale) last saved
    saved_posts: int = 0
    refused_posts: collections.Counter = field(default_factory=collections.Counter)
    latency: dict = field(default_factory=lambda: {"html": [], "pdf": []})
    stale: list = field(default_factory=list)  # seconds until the other server showed a change
    limit_problems: list = field(default_factory=list)
    probes: collections.Counter = field(default_factory=collections.Counter)  # prober outcomes

    def count(self, status: int) -> None:
        with self.lock:
            self.statuses[status] += 1


def sheet_client(tokens: list[str], stop: float, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311  (which sheet to load next, not a secret)
    browser = Browser()
    while time.monotonic() < stop:
        token = rng.choice(tokens)
        kind = "pdf" if rng.random() < 0.3 else "html"
        path = f"/r/{token}.pdf" if kind == "pdf" else f"/r/{token}"
        began = time.monotonic()
        try:
            status, _ = browser.request("GET", path)
        except (http.client.HTTPException, OSError):
            with tally.lock:
                tally.failures += 1
            continue
        tally.count(status)
        with tally.lock:
            tally.latency[kind].append(time.monotonic() - began)


def reviewer_client(email: str, pairs: list[Pair], stop: float, tally: Tally, seed: int) -> None:
    try:
        _review(email, pairs, stop, tally, seed)
    except Exception as exc:  # a reviewer that stops is a failed soak, not a silent one
        print(f"reviewer {email} stopped: {exc!r}", file=sys.stderr)
        with tally.lock:
            tally.failures += 1


def _review(email: str, pairs: list[Pair], stop: float, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311  (which sheet to load next, not a secret)
    browser = Browser(server_ports(), seed)  # two servers: each request to either
    status, page = browser.request("GET", "/login")
    tally.count(status)
    token = CSRF.search(page).group(1)
    status, _ = browser.request("POST", "/login", {"csrf_token": token, "email": email,
                                                  "password": PASSWORD})
    tally.count(status)
    if status != 302:
        raise RuntimeError(f"{email} could not log in ({status})")
    if not pairs:
        return
    n = 0
    while time.monotonic() < stop:
        pair = rng.choice(pairs)
        try:
            status, page = browser.request("GET", pair.page)
            tally.count(status)
            if status != 200:
                continue
            # The page holds one form per pair, each with its prefixed token, version and the
            # disclosure version it shows.
            prefix = re.escape(pair.prefix)
            csrf = re.search(rf'name="{prefix}-csrf_token" type="hidden" value="([^"]+)"', page)
            version = re.search(rf'name="{prefix}-version" type="hidden" value="(\d+)"', page)
            disclosure = re.search(rf'name="{prefix}-disclosure" type="hidden" value="(\d+)"', page)
            if csrf is None or disclosure is None:
                raise RuntimeError(f"no form for {pair} on {pair.page}")
            current = tally.posted.get(pair, (True, ""))[0]
            n += 1
            decision = (not current, f"Soak decision {n} by {email}")
            status, _ = browser.request("POST", pair.action, {
                f"{pair.prefix}-csrf_token": csrf.group(1),
                f"{pair.prefix}-relevance": "relevant" if decision[0] else "not_relevant",
                f"{pair.prefix}-rationale": decision[1],
                f"{pair.prefix}-version": version.group(1) if version else "0",
                f"{pair.prefix}-disclosure": disclosure.group(1),
            })
        except (http.client.HTTPException, OSError):
            with tally.lock:
                tally.failures += 1
            continue
        tally.count(status)
        with tally.lock:
            if status == 302:
                tally.posted[pair] = decision
                tally.saved_posts += 1
            else:
                tally.refused_posts[status] += 1


# --------------------------------------------------------------------------- run


def _post_decision(browser: Browser, pair: Pair, tally: Tally, n: int, port: int) -> int:
    status, page = browser.request("GET", pair.page, port=port)
    tally.count(status)
    prefix = re.escape(pair.prefix)
    csrf = re.search(rf'name="{prefix}-csrf_token" type="hidden" value="([^"]+)"', page)
    version = re.search(rf'name="{prefix}-version" type="hidden" value="(\d+)"', page)
    disclosure = re.search(rf'name="{prefix}-disclosure" type="hidden" value="(\d+)"', page)
    if status != 200 or csrf is None or disclosure is None:
        return status
    current = tally.posted.get(pair, (True, ""))[0]
    decision = (not current, f"Soak probe decision {n}")
    status, _ = browser.request("POST", pair.action, {
        f"{pair.prefix}-csrf_token": csrf.group(1),
        f"{pair.prefix}-relevance": "relevant" if decision[0] else "not_relevant",
        f"{pair.prefix}-rationale": decision[1],
        f"{pair.prefix}-version": version.group(1) if version else "0",
        f"{pair.prefix}-disclosure": disclosure.group(1),
    }, port=port)
    tally.count(status)
    with tally.lock:
        if status == 302:
            tally.posted[pair] = decision
            tally.saved_posts += 1
        else:
            tally.refused_posts[status] += 1
    return status


def staleness_prober(email: str, roles: list[list[Pair]], stop: float, tally: Tally) -> None:
    """Flip a decision on one server, then poll the room sheet on the other until it shows
    the version the first one published: how long the other server shows the old state.

    Each role's relationships but the last are first decided not relevant (not measured);
    each flip of the last one then moves the role between cleared and under review, so
    every flip publishes a new version of the sheet."""
    try:
        a, b = server_ports()[:2]
        browser = Browser([a])
        status, page = browser.request("GET", "/login", port=a)
        token = CSRF.search(page).group(1)
        status, _ = browser.request("POST", "/login", {"csrf_token": token, "email": email,
                                                      "password": PASSWORD}, port=a)
        if status != 302:
            raise RuntimeError(f"{email} could not log in ({status})")
        if not roles:
            raise RuntimeError("no role awaiting review in a room, ahead of its session, to probe with")
        n = 0
        for role in roles:
            for pair in role[:-1]:
                n += 1
                if _post_decision(browser, pair, tally, n, a) != 302:
                    raise RuntimeError(f"setting up the probe role {pair.prefix} failed")
        flips = [role[-1] for role in roles]
        # Until shortly before the end, and at least once (a loaded machine can spend the
        # whole soak setting up): a soak that measured nothing has not shown freshness.
        while time.monotonic() < stop - 8 or (not tally.stale and time.monotonic() < stop + 60):
            pair = flips[n % len(flips)]
            n += 1
            a, b = b, a  # alternate which server saves and which is read
            reader = Browser([b])
            reader.request("GET", f"/r/{pair.room_token}", port=b)
            before = reader.last_headers.get("ETag")
            posted = _post_decision(browser_for(browser, a), pair, tally, n, a)
            if posted != 302:
                print(f"staleness prober: saving {pair.prefix} on {a} answered {posted}",
                      file=sys.stderr)
                tally.probes[f"refused {posted}"] += 1
                continue
            saved = time.monotonic()
            # The sheet as published now: a logged-in request is never micro-cached, so the
            # saving server answers from the database.
            writer = browser_for(browser, a)
            writer.request("GET", f"/r/{pair.room_token}", port=a)
            target = writer.last_headers.get("ETag")
            if target == before:
                tally.probes["published nothing new"] += 1
                continue
            tally.probes["measured"] += 1
            while True:
                status, _ = reader.request("GET", f"/r/{pair.room_token}", port=b)
                tally.count(status)
                if reader.last_headers.get("ETag") == target:
                    break
                if time.monotonic() - saved > PUBLIC_CACHE_SECONDS + 10:
                    break
                time.sleep(0.05)
            with tally.lock:
                tally.stale.append(time.monotonic() - saved)
            time.sleep(0.5)
    except Exception as exc:  # a prober that stops is a failed soak, not a silent one
        print(f"staleness prober stopped: {exc!r}", file=sys.stderr)
        with tally.lock:
            tally.failures += 1


def browser_for(browser: Browser, port: int) -> Browser:
    """The same logged-in browser (cookies), able to reach ``port`` too."""
    if port not in browser.conns:
        browser.conns[port] = http.client.HTTPConnection(HOST, port, timeout=30)
        browser.ports.append(port)
    return browser


def login_limit_probe(email: str, tally: Tally) -> None:
    """Failed log-ins to one account, alternating servers: after ACCOUNT_BUDGET of them
    (half on each server) both servers must refuse the next (429)."""
    ports = server_ports()
    answers = []
    for attempt in range(ACCOUNT_BUDGET + 2):
        port = ports[attempt % len(ports)]
        browser = Browser([port])  # a new browser each time: no device cookie
        status, page = browser.request("GET", "/login", port=port)
        token = CSRF.search(page).group(1)
        status, _ = browser.request("POST", "/login", {
            "csrf_token": token, "email": email, "password": "wrong password " + str(attempt)},
            port=port)
        answers.append((port, status))
    allowed = [s for _, s in answers[:ACCOUNT_BUDGET]]
    refused = answers[ACCOUNT_BUDGET:]
    if any(s == 429 for s in allowed):
        tally.limit_problems.append(f"refused too early: {answers}")
    if any(s != 429 for _, s in refused) or len({p for p, _ in refused}) < min(2, len(ports)):
        tally.limit_problems.append(f"a server did not see the other's failed log-ins: {answers}")
    print(f"log-in limit across servers: {answers}")


def _nginx(workdir: Path, ports: list[int]) -> subprocess.Popen:
    state = workdir / "nginx"
    state.mkdir()
    servers = "\n".join(f"        server {HOST}:{p} max_fails=0;" for p in ports)
    conf = state / "nginx.conf"
    conf.write_text(f"""\
worker_processes 2;
pid {state}/nginx.pid;
error_log {state}/error.log warn;
daemon off;
events {{ worker_connections 2048; }}
http {{
    access_log off;
    client_body_temp_path {state}/body;
    proxy_temp_path {state}/proxy;
    fastcgi_temp_path {state}/fastcgi;
    uwsgi_temp_path {state}/uwsgi;
    scgi_temp_path {state}/scgi;
    upstream soak_app {{
{servers}
        keepalive 32;
    }}
    server {{
        listen {HOST}:{PORT};
        location / {{
            proxy_pass http://soak_app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout;
        }}
    }}
}}
""")
    return subprocess.Popen(["nginx", "-c", str(conf), "-p", str(state)],  # noqa: S603,S607
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_ready(process, seconds: float = 60, port: int = PORT) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                status, _ = Browser([port]).request("GET", "/healthz")
                if status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz in time")


def _verify(app, tally: Tally) -> tuple[int, int, int]:
    """(determinations posted, found with the posted value, audit events for them)."""
    import sqlalchemy as sa

    from disclosures.extensions import db
    from disclosures.models import AuditEvent, Determination
    from disclosures.models.base import in_force

    with app.app_context():
        found = 0
        for pair, (is_relevant, rationale) in tally.posted.items():
            # Decisions are appended: the one in force is the one nothing supersedes.
            row = db.session.scalar(sa.select(Determination).where(
                Determination.relationship_id == pair.relationship_id,
                Determination.assignment_id == pair.assignment_id,
                in_force(Determination)))
            if row is not None and row.is_relevant == is_relevant and row.rationale == rationale:
                found += 1
        events = db.session.scalar(
            sa.select(sa.func.count(AuditEvent.id)).where(
                AuditEvent.action.in_(["determination.recorded", "determination.changed"]),
                AuditEvent.actor_id.isnot(None),
                AuditEvent.at >= _STARTED_AT,
            ))
        db.session.remove()
    return len(tally.posted), found, events


_STARTED_AT = None


def main() -> int:
    global _STARTED_AT
    if shutil.which(str(BIN / "gunicorn")) is None:
        print("gunicorn is not installed in .venv", file=sys.stderr)
        return 2
    for port in {PORT, *server_ports()}:
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) == 0:
                print(f"port {port} is busy: set SOAK_PORT", file=sys.stderr)
                return 2
    if SERVERS > 1 and shutil.which("nginx") is None:
        print("nginx is needed for SOAK_SERVERS=2 (apt-get install nginx)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    db = Database.fresh(workdir)
    processes: list[subprocess.Popen] = []
    try:
        env = _env(db, workdir)
        where = (f"gunicorn on {HOST}:{PORT}" if SERVERS == 1 else
                 f"{SERVERS} gunicorn servers ({', '.join(map(str, server_ports()))}) behind nginx "
                 f"on {HOST}:{PORT}, Redis {REDIS_URL}")
        print(f"soak: {db.kind}, demo meeting, {CLIENTS} sheet clients + {REVIEWERS} reviewers "
              f"for {SECONDS:.0f} s against {where}", flush=True)
        emails = _load_demo(env)
        probe_email = f"soak-limit-{secrets.token_hex(4)}@example.org"
        if SERVERS > 1:
            _flask(env, "create-user", probe_email, "--name", "Soak Limit", "--password", PASSWORD)
        app = _app(env)
        tokens, shares, probe_roles = _plan(app, emails, probe=SERVERS > 1)
        for i, port in enumerate(server_ports()):
            server_env = dict(env)
            if SERVERS > 1:  # each server its own instance folder and PDF cache
                server_env["DISCLOSURES_INSTANCE"] = str(workdir / f"instance-{i + 1}")
                server_env["DOCUMENT_CACHE_DIR"] = str(workdir / f"cache-{i + 1}")
                server_env["TRUSTED_PROXIES"] = "1"
            processes.append(subprocess.Popen(  # noqa: S603
                [str(BIN / "gunicorn"), "--workers", "4", "--worker-class", "gthread",
                 "--threads", "8", "--bind", f"{HOST}:{port}", "--log-level", "warning",
                 "--error-logfile", str(workdir / f"gunicorn-{port}.log"), "wsgi:app"],
                cwd=ROOT, env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for process, port in zip(processes, server_ports(), strict=True):
            _wait_ready(process, port=port)  # every server answers before nginx sends it work
        if SERVERS > 1:
            nginx = _nginx(workdir, server_ports())
            processes.append(nginx)
            _wait_ready(nginx, port=PORT)

        from datetime import UTC, datetime

        _STARTED_AT = datetime.now(UTC)
        tally = Tally()
        if SERVERS > 1:
            login_limit_probe(probe_email, tally)
        stop = time.monotonic() + SECONDS
        threads = [threading.Thread(target=sheet_client, args=(tokens, stop, tally, i))
                   for i in range(CLIENTS)]
        threads += [threading.Thread(target=reviewer_client, args=(e, shares[e], stop, tally, 1000 + i))
                    for i, e in enumerate(emails)]
        if SERVERS > 1:  # the prober decides whole roles of its own (no other reviewer's)
            print(f"staleness prober: {len(probe_roles)} roles")
            threads.append(threading.Thread(target=staleness_prober,
                                            args=(emails[-1], probe_roles, stop, tally)))
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=SECONDS + 120)
        elapsed = time.monotonic() - started
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    try:
        posted, found, events = _verify(app, tally)
    finally:
        db.drop()
    requests = sum(tally.statuses.values())
    errors_5xx = sum(n for status, n in tally.statuses.items() if status >= 500)
    print(f"requests: {requests} in {elapsed:.1f} s ({requests / elapsed:.0f}/s)")
    print("statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(tally.statuses.items())))
    for kind, times in tally.latency.items():
        if times:
            times.sort()
            print(f"room sheet {kind}: {len(times)} requests, p50 {times[len(times) // 2] * 1000:.0f} ms, "
                  f"p99 {times[int(len(times) * 0.99)] * 1000:.0f} ms")
    print(f"5xx = {errors_5xx}")
    print(f"connection failures = {tally.failures}")
    print(f"determination posts saved (302) = {tally.saved_posts}; refused = "
          f"{dict(tally.refused_posts) or 0}")
    print(f"determinations posted = {posted}, found in the database with the value posted last = {found}")
    print(f"audit events for determinations during the soak = {events} (one per saved post: "
          f"{tally.saved_posts})")
    for log in workdir.glob("gunicorn*.log"):
        if "Traceback" in log.read_text():
            print(f"gunicorn logged tracebacks: see {log}")
    stale_ok = True
    if SERVERS > 1:
        worst = max(tally.stale, default=None)
        # Every flip publishes a new version (see staleness_prober): at least one must
        # have been measured, and none may take longer than the micro-cache allows.
        stale_ok = bool(tally.stale) and worst <= PUBLIC_CACHE_SECONDS + 1.0
        print(f"changes saved on one server, seen on the other's sheet: {len(tally.stale)}, "
              + (f"longest {worst:.2f} s" if worst is not None else "none measured")
              + f" (PUBLIC_CACHE_SECONDS = {PUBLIC_CACHE_SECONDS:g}, + 1 s allowed); probes: "
              + (", ".join(f"{k}: {n}" for k, n in sorted(tally.probes.items())) or "none"))
        for problem in tally.limit_problems:
            print(f"log-in limit: {problem}")
    ok = (errors_5xx == 0 and tally.failures == 0 and posted == found and posted > 0
          and events == tally.saved_posts and stale_ok and not tally.limit_problems)
    print("soak: OK" if ok else "soak: FAILED")
    if ok:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
