"""`make bench` section ``jobs``: long work as jobs, run by a real worker process.

- 2,000 disclosure reminders through a local SMTP server (aiosmtpd): the time of the web
  request that starts the job, the job's time, SMTP connections used; then 2,000 more
  while the server goes away mid-run for 3 s (the job retries, reconnects and goes on):
  messages received, recipients reminded twice (must be 0), recipients skipped (must be 0).
- A 50,000-row programme applied as a job: the web request that confirms it, the job's
  time, the worker's memory before and at its peak.
- The records ZIP of the large meeting: the request that starts it, the job's time, size.
"""

from __future__ import annotations

import os
import re
import subprocess  # noqa: S404  (our own worker process)
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEOPLE = int(os.environ.get("BENCH_REMINDERS", "2000"))
ROWS = int(os.environ.get("BENCH_PROGRAMME_ROWS", "50000"))
ADMIN = "bench-admin@example.org"


class Inbox:
    """aiosmtpd handler: keeps (To, Message-ID) of each accepted message; counts sessions."""

    def __init__(self):
        self.received: list[tuple[str, str]] = []
        self.sessions = 0
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.received.append((message["To"], message["Message-ID"]))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _people_meeting(app, slug: str, count: int):
    """A meeting whose ``count`` faculty all await a disclosure (half without a password)."""
    from datetime import date

    from werkzeug.security import generate_password_hash

    from disclosures.enums import AssignmentRole
    from disclosures.extensions import db
    from disclosures.models import Activity, Assignment, Meeting, User, utcnow

    with app.app_context():
        start = date.today() + timedelta(days=60)
        meeting = Meeting(name=f"Bench {slug}", slug=slug, starts_on=start,
                          ends_on=start + timedelta(days=3), timezone="America/Chicago")
        db.session.add(meeting)
        hashed = generate_password_hash("unused bench password")
        activities = []
        for i in range(50):
            at = utcnow().replace(year=start.year, month=start.month, day=start.day,
                                  hour=14, minute=0, second=0, microsecond=0)
            activities.append(Activity(meeting=meeting, code=f"{slug[:8]}-{i}", title=f"Session {i}",
                                       starts_at=at, ends_at=at + timedelta(hours=1), topics=[]))
        db.session.add_all(activities)
        for n in range(count):
            person = User(email=f"{slug}-{n}@example.org", full_name=f"Bench Person {n:04d}",
                          password_hash=hashed if n % 2 else None)
            db.session.add(person)
            db.session.add(Assignment(user=person, activity=activities[n % 50],
                                      role=AssignmentRole.SPEAKER))
        db.session.commit()
        return meeting.id


def _admin(app) -> None:
    from disclosures.enums import SiteRole
    from disclosures.extensions import db
    from disclosures.models import User

    with app.app_context():
        user = User(email=ADMIN, full_name="Bench Admin", site_role=SiteRole.ADMIN)
        user.set_password("bench admin password")
        db.session.add(user)
        db.session.commit()


def _client(app):
    client = app.test_client()
    response = client.post("/login", data={"email": ADMIN, "password": "bench admin password"})
    if response.status_code != 302:
        raise RuntimeError(f"bench admin could not log in ({response.status_code})")
    return client


def _start(client, path: str, **kwargs) -> tuple[int, float]:
    """POST that starts a job: (job id, milliseconds the request took)."""
    began = time.perf_counter()
    response = client.post(path, **kwargs)
    took = (time.perf_counter() - began) * 1000
    location = response.headers.get("Location", "")
    match = re.search(r"/staff/jobs/(\d+)$", location)
    if response.status_code != 302 or match is None:
        raise RuntimeError(f"POST {path} answered {response.status_code} {location!r}")
    return int(match.group(1)), took


def _wait(app, job_id: int, seconds: float, worker: subprocess.Popen, on_progress=None):
    from disclosures.enums import JobStatus
    from disclosures.extensions import db
    from disclosures.models import Job

    deadline = time.monotonic() + seconds
    peak = 0.0
    while time.monotonic() < deadline:
        peak = max(peak, _rss_mb(worker.pid, "VmRSS"))
        with app.app_context():
            job = db.session.get(Job, job_id)
            status, done, total = job.status, job.done, job.total
            began, ended, errors = job.started_at, job.finished_at, list(job.errors or [])
            db.session.remove()
        if on_progress:
            on_progress(done, total)
        if status in (JobStatus.DONE, JobStatus.FAILED):
            seconds_taken = (ended - began).total_seconds() if began and ended else None
            return status, seconds_taken, errors, peak
        if worker.poll() is not None:
            raise RuntimeError("the worker exited")
        time.sleep(0.2)
    raise RuntimeError(f"job {job_id} did not finish within {seconds:.0f} s")


def _worker(site, workdir: Path, smtp_port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DISCLOSURES_CONFIG": "development",
        "DATABASE_URL": site.url,
        "DISCLOSURES_INSTANCE": str(workdir / "instance"),
        "DOCUMENT_CACHE_DIR": str(workdir / f"cache-{site.name}"),
        "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port), "MAIL_SUPPRESS_SEND": "0",
        "JOB_SMTP_BACKOFF_SECONDS": "0.5",
        "PUBLIC_BASE_URL": site.app.config["PUBLIC_BASE_URL"],
        "HUEY_IMMEDIATE": "0",
    }
    env.pop("REDIS_URL", None)
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker",  # noqa: S603
                             "--workers", "1"], cwd=ROOT, env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _programme_csv(rows: int, start) -> bytes:
    out = ["activity code,title,day,start,end,room,topics,credit hours,faculty name,email,role"]
    per = 4
    for i in range(rows // per):
        day = (start + timedelta(days=i % 3)).isoformat()
        hour = 7 + (i // 120) % 10
        for j in range(per):
            p = (i * per + j) % 3000
            out.append(f"P{i:05d},Session {i} on spinal care,{day},{hour:02d}:00,{hour:02d}:45,"
                       f"Room {i % 120},spine;fusion,1,Person {p} Bench,programme{p}@example.org,"
                       f"{'speaker' if j else 'moderator'}")
    return ("\n".join(out) + "\n").encode()


def jobs_bench(site, workdir: Path, add, step) -> None:
    from aiosmtpd.controller import Controller

    app = site.app
    _admin(app)
    first = _people_meeting(app, "remind-a", PEOPLE)
    second = _people_meeting(app, "remind-b", PEOPLE)
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    log = workdir / "worker.log"
    worker = _worker(site, workdir, port, log)
    client = _client(app)
    try:
        time.sleep(2)
        step(f"Jobs: {PEOPLE:,} reminders through aiosmtpd, one worker process")
        job_id, took = _start(client, f"/staff/meetings/{first}/reminders/disclosure")
        add("jobs", "reminders: the web request that starts the job", took, "ms", "< 200 ms",
            lambda v: v < 200)
        status, seconds, errors, _ = _wait(app, job_id, 600, worker)
        sent = len(inbox.received)
        add("jobs", f"reminders: {PEOPLE:,} messages sent by the job", seconds, "s", "< 60 s",
            lambda v: v < 60 and status.value == "done" and sent == PEOPLE,
            note=f"{sent} received, {inbox.sessions} SMTP connection(s), {status.value}")
        add("jobs", "reminders: SMTP connections for the whole job", inbox.sessions, "", "1",
            lambda v: v == 1)

        step(f"Jobs: {PEOPLE:,} more reminders; the mail server goes away for 3 s mid-run")
        inbox_b = Inbox()
        controller.stop()
        controller = Controller(inbox_b, hostname="127.0.0.1", port=port)
        controller.start()
        job_id, took = _start(client, f"/staff/meetings/{second}/reminders/disclosure")
        dropped = threading.Event()

        def drop_mid_run(done, total):
            nonlocal controller
            if not dropped.is_set() and total and done >= total // 2:
                dropped.set()
                controller.stop()  # connections cut, nothing listens
                time.sleep(3)
                controller = Controller(inbox_b, hostname="127.0.0.1", port=port)
                controller.start()

        status, seconds, errors, _ = _wait(app, job_id, 600, worker, drop_mid_run)
        per_person = Counter(to for to, _ in inbox_b.received)
        ids_per_person = {to: {mid for t, mid in inbox_b.received if t == to} for to in per_person}
        twice = sum(1 for ids in ids_per_person.values() if len(ids) > 1)
        copies = sum(n - 1 for n in per_person.values())
        skipped = PEOPLE - len(per_person)
        add("jobs", "reminders after a drop: job time (3 s outage inside)", seconds, "s", "< 60 s",
            lambda v: v < 60 and status.value == "done",
            note=f"{len(inbox_b.received)} received, {inbox_b.sessions} connections, "
                 f"errors on the job page: {len(errors)}")
        add("jobs", "reminders after a drop: people sent two different messages", twice, "", "0",
            lambda v: v == 0, note=f"{copies} resent with the same Message-ID")
        add("jobs", "reminders after a drop: people skipped", skipped, "", "0", lambda v: v == 0)

        step(f"Jobs: a {ROWS:,}-row programme applied by the worker")
        from datetime import date

        from disclosures.extensions import db
        from disclosures.models import Meeting

        with app.app_context():
            start_day = date.today() + timedelta(days=90)
            meeting = Meeting(name="Bench programme", slug="bench-programme", starts_on=start_day,
                              ends_on=start_day + timedelta(days=3), timezone="America/Chicago")
            db.session.add(meeting)
            db.session.commit()
            programme_id = meeting.id
        data = _programme_csv(ROWS, start_day)
        import io

        began = time.perf_counter()
        preview = client.post(f"/staff/meetings/{programme_id}/import",
                              data={"file": (io.BytesIO(data), "programme.csv")},
                              content_type="multipart/form-data")
        preview_ms = (time.perf_counter() - began) * 1000
        upload_id = re.search(r'name="upload_id" type="hidden" value="([^"]+)"',
                              preview.get_data(as_text=True))
        if preview.status_code != 200 or upload_id is None:
            raise RuntimeError(f"the preview answered {preview.status_code}")
        add("jobs", f"programme: preview of {ROWS:,} rows (reads, writes nothing)", preview_ms, "ms")
        rss_before = _rss_mb(worker.pid)
        job_id, took = _start(client, f"/staff/meetings/{programme_id}/import/confirm",
                              data={"upload_id": upload_id.group(1)})
        add("jobs", "programme: the web request that confirms (starts the job)", took, "ms",
            "< 200 ms", lambda v: v < 200)
        status, seconds, errors, peak = _wait(app, job_id, 1200, worker)
        add("jobs", f"programme: {ROWS:,} rows written by the job", seconds, "s", "< 30 s",
            lambda v: v < 30 and status.value == "done", note=f"{status.value} {errors[:1]}")
        add("jobs", "programme: worker memory before the job / at its peak", peak, "MB",
            "< before + 150", lambda v: v < rss_before + 150,
            note=f"before {rss_before:.0f} MB")

        step("Jobs: the records ZIP of the large meeting")
        job_id, took = _start(client, f"/staff/meetings/{site.meeting_id}/records.zip")
        add("jobs", "records ZIP: the web request that starts the job", took, "ms", "< 200 ms",
            lambda v: v < 200)
        status, seconds, errors, peak = _wait(app, job_id, 900, worker)
        from disclosures.models import Job

        with app.app_context():
            size = db.session.get(Job, job_id).result_size or 0
            db.session.remove()
        add("jobs", "records ZIP: built by the job", seconds, "s", "",
            note=f"{size / 1048576:.1f} MB, {status.value}, worker peak {peak:.0f} MB")
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        controller.stop()
