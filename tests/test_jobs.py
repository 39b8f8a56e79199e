"""Jobs: started from a page, refused while one runs, progress as it goes, resumed after a
worker dies without sending anybody a second message; a real worker process (SQLite and
Redis queues) killed in the middle of the reminders and started again."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from disclosures.enums import DeliveryStatus, JobKind, JobStatus
from disclosures.extensions import db
from disclosures.jobs import operations as job_ops
from disclosures.jobs import periodic
from disclosures.models import Job, JobMessage, Reminder, utcnow

from . import factories
from .test_reminders import Inbox, _free_port, mail_server

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def awaiting(app):
    """A meeting whose 6 faculty all await a disclosure, and its staff."""
    meeting = factories.meeting(slug="jobs")
    activity = factories.activity(meeting, title="Lumbar fusion")
    people = [factories.user(email=f"faculty{i:02d}@example.org", full_name=f"Faculty {i:02d}")
              for i in range(6)]
    for person in people:
        factories.assignment(person, activity)
    staff = factories.admin()
    db.session.commit()
    return {"meeting": meeting, "people": people, "staff": staff}


def _job(job_id: int) -> Job:
    db.session.rollback()
    return db.session.get(Job, job_id)


def _job_id(response) -> int:
    return int(re.search(r"/staff/jobs/(\d+)$", response.headers["Location"]).group(1))


# ------------------------------------------------------------------ starting and refusing


def test_a_second_start_while_a_job_runs_is_refused_with_a_link_to_it(login_as, awaiting):
    meeting = awaiting["meeting"]
    running = job_ops.start_job(awaiting["staff"], JobKind.DISCLOSURE_REMINDERS, meeting)
    db.session.commit()
    client = login_as(awaiting["staff"])
    response = client.post(f"/staff/meetings/{meeting.id}/reminders/disclosure")
    assert response.status_code == 409
    text = " ".join(response.get_data(as_text=True).split())
    assert "Disclosure reminders for" in text and "is already running" in text
    assert "a second one was not started" in text
    assert f'href="/staff/jobs/{running.id}"' in text
    assert db.session.scalar(sa.select(sa.func.count(Job.id))) == 1
    # Another kind, or the same kind once the first has finished, starts.
    assert client.post(f"/staff/meetings/{meeting.id}/reminders/review").status_code == 302
    job_ops.finish(_job(running.id))
    assert client.post(f"/staff/meetings/{meeting.id}/reminders/disclosure").status_code == 302


def test_only_one_worker_wins_the_claim_and_a_stale_job_is_taken_over(app, awaiting):
    job = job_ops.start_job(None, JobKind.RECORDS_ZIP, awaiting["meeting"])
    db.session.commit()
    assert job_ops.claim(job.id, "worker-a") is True
    assert job_ops.claim(job.id, "worker-b") is False  # a's heartbeat is fresh
    _job(job.id).heartbeat_at = utcnow() - timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 1)
    db.session.commit()
    assert job_ops.resume_stalled() == [job.id]  # the sweep finds it (and, immediate, runs it)
    assert _job(job.id).status is JobStatus.DONE and _job(job.id).attempts == 2


# ------------------------------------------------------------------ progress and resuming


class SlowInbox(Inbox):
    """Accepts messages, taking ``delay`` seconds for each; answers 421 (try later) to
    every message while ``down``; refuses for good (550) the addresses in ``refuse``."""

    def __init__(self, delay: float = 0.0, refuse: tuple[str, ...] = ()):
        super().__init__()
        self.delay, self.refuse, self.down = delay, refuse, False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.down:
            return "421 4.3.2 Service shutting down, try later"
        if self.delay:
            await asyncio.sleep(self.delay)
        with self._lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


def test_progress_shown_equals_work_done_and_a_resumed_job_sends_nobody_twice(
        login_as, app, awaiting):
    meeting, client = awaiting["meeting"], login_as(awaiting["staff"])
    inbox = SlowInbox()
    inbox.accept_then_down = 2
    original = inbox.handle_DATA

    async def two_then_down(server, session, envelope):
        if len(inbox.messages) >= 2:
            inbox.down = True
        return await original(server, session, envelope)

    inbox.handle_DATA = two_then_down
    app.config["JOB_SMTP_RETRIES"] = 1
    try:
        with mail_server(app, inbox):
            response = client.post(f"/staff/meetings/{meeting.id}/reminders/disclosure")
            job_id = _job_id(response)
            page = client.get(f"/staff/jobs/{job_id}").get_data(as_text=True)
    finally:
        app.config["JOB_SMTP_RETRIES"] = 6
    # The server took two messages and then said "later": the page shows 2 of 6, as many as
    # were recorded, and refreshes itself while the job waits to go on.
    job = _job(job_id)
    assert job.status is JobStatus.QUEUED and job.done == 2 and job.total == 6
    assert '<span class="job-done">2</span> of <span class="job-total">6</span>' in page
    assert '<progress class="job-progress" value="2" max="6">' in page
    assert '<meta http-equiv="refresh" content="2">' in page
    assert "421 4.3.2 Service shutting down" in page and "Will try again" in page
    assert db.session.scalar(sa.select(sa.func.count(Reminder.id))) == 2
    # The third message was handed to the server (sending, with its Message-ID) and not
    # accepted; the job, resumed, sends it with that same Message-ID, then the others.
    [interrupted] = db.session.scalars(sa.select(JobMessage).where(
        JobMessage.status == DeliveryStatus.SENDING)).all()
    kept_id = interrupted.message_id
    _job(job_id).heartbeat_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    with mail_server(app, Inbox()) as second:
        job_ops.resume_stalled()
    job = _job(job_id)
    assert job.status is JobStatus.DONE and job.done == job.total == 6
    received = [m["To"] for m in inbox.messages + second.messages]
    assert sorted(received) == sorted(p.email for p in awaiting["people"])  # each once
    resent = [m for m in second.messages if m["To"] == interrupted.user.email]
    assert [m["Message-ID"] for m in resent] == [kept_id]
    assert db.session.scalar(sa.select(sa.func.count(Reminder.id))) == 6
    page = " ".join(client.get(f"/staff/jobs/{job_id}").get_data(as_text=True).split())
    assert "Sent: 6 · failed: 0 · skipped: 0" in page and "http-equiv" not in page


def test_a_refused_address_fails_with_the_servers_reason_and_the_rest_go_out(
        login_as, app, awaiting):
    meeting, client = awaiting["meeting"], login_as(awaiting["staff"])
    refused = awaiting["people"][3].email
    with mail_server(app, SlowInbox(refuse=(refused,))) as inbox:
        response = client.post(f"/staff/meetings/{meeting.id}/reminders/disclosure",
                               follow_redirects=True)
    assert len(inbox.messages) == 5
    text = " ".join(response.get_data(as_text=True).split())
    assert "Sent: 5 · failed: 1 · skipped: 0" in text
    assert f"{refused}: 550 5.1.1 No such mailbox here" in text  # among the errors
    assert "Faculty 03" in text and "Refused by the mail server" in text
    assert "Started by" in text and awaiting["staff"].full_name in text


def test_one_smtp_connection_carries_every_message(login_as, app, awaiting):
    class Counting(SlowInbox):
        connections = 0

        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            Counting.connections += 1
            session.host_name = hostname
            return responses

    with mail_server(app, Counting()) as inbox:
        login_as(awaiting["staff"]).post(
            f"/staff/meetings/{awaiting['meeting'].id}/reminders/disclosure")
    assert len(inbox.messages) == 6 and Counting.connections == 1


def test_jobs_page_lists_the_meetings_jobs(login_as, awaiting):
    client = login_as(awaiting["staff"])
    client.post(f"/staff/meetings/{awaiting['meeting'].id}/records.zip")
    page = client.get(f"/staff/meetings/{awaiting['meeting'].id}/jobs").get_data(as_text=True)
    assert "Records ZIP #" in page and "Finished" in page


# ------------------------------------------------------------------ periodic work


def test_expired_results_and_old_uploads_are_dropped(login_as, app, awaiting):
    client = login_as(awaiting["staff"])
    job_id = _job_id(client.post(f"/staff/meetings/{awaiting['meeting'].id}/records.zip"))
    assert client.get(f"/staff/jobs/{job_id}/download").status_code == 200
    _job(job_id).result_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert client.get(f"/staff/jobs/{job_id}/download").status_code == 410
    periodic.expire_results()
    assert _job(job_id).result_data is None
    assert "The file has expired" in client.get(f"/staff/jobs/{job_id}").get_data(as_text=True)


def test_daily_reminders_and_starting_soon_start_jobs_at_their_time(app, awaiting):
    hour = app.config["DAILY_REMINDERS_HOUR"]
    today = datetime.now(UTC).replace(hour=hour, minute=7)
    assert periodic.daily_reminders(today.replace(hour=(hour + 1) % 24)) == []
    with mail_server(app, Inbox()) as inbox:
        jobs = periodic.daily_reminders(today)
    assert sorted(j.kind.value for j in jobs) == ["disclosure_reminders", "review_summaries"]
    assert len(inbox.messages) == 6
    meeting = awaiting["meeting"]
    meeting.starts_on = datetime.now(UTC).date() + timedelta(days=2)
    db.session.commit()
    [soon] = periodic.starting_soon()
    assert soon.meeting_id == meeting.id and _job(soon.id).status is JobStatus.DONE
    assert len(inbox.messages) == 6  # reminded already within the interval: skipped


def test_the_zip_download_is_audited_as_an_export(login_as, awaiting):
    from disclosures.models import AuditEvent

    client = login_as(awaiting["staff"])
    job_id = _job_id(client.post(f"/staff/meetings/{awaiting['meeting'].id}/records.zip"))
    assert client.get(f"/staff/jobs/{job_id}/download").status_code == 200
    [event] = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "records.exported")).all()
    assert event.changes == {"format": "zip", "job": job_id}
    assert event.actor_id == awaiting["staff"].id and event.meeting_id == awaiting["meeting"].id


def test_the_worker_publishes_the_static_pages_when_a_directory_is_set(app, awaiting, tmp_path):
    app.config["PUBLISH_STATIC_DIR"] = str(tmp_path / "site")
    try:
        periodic.publish_static_if_configured()
    finally:
        app.config["PUBLISH_STATIC_DIR"] = None
    assert (tmp_path / "site" / "m" / "jobs" / "disclosures.html").exists()
    periodic.publish_static_if_configured()  # not set: nothing happens


# ------------------------------------------------------------------ a real worker process


def _worker_env(database, instance: Path, smtp_port: int, redis_url: str | None) -> dict:
    url = database["url"]
    if database["schema"]:
        url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{database['schema']}"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DISCLOSURES_CONFIG="development", DISCLOSURES_INSTANCE=str(instance), DATABASE_URL=url,
        MAIL_SERVER="127.0.0.1", MAIL_PORT=str(smtp_port), MAIL_SUPPRESS_SEND="0",
        PUBLIC_BASE_URL="https://cme.example.org", JOB_STALE_SECONDS="2",
        JOB_HEARTBEAT_SECONDS="0.3", JOB_SMTP_BACKOFF_SECONDS="0.2", HUEY_IMMEDIATE="0",
        RATELIMIT_STORAGE_URI="memory://",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def _start_worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--workers", "1"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True)


def _wait(predicate, seconds: float, what: str, log: Path):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{log.read_text()[-3000:]}")


def _redis_url() -> str | None:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001
        return None
    return url


@pytest.fixture(params=["sqlite-queue", "redis-queue"])
def queue_url(request):
    if request.param == "sqlite-queue":
        return None
    url = _redis_url()
    if url is None:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    from huey.storage import RedisStorage

    RedisStorage("disclosures", url=url).flush_all()
    return url


@pytest.mark.slow
def test_a_worker_killed_mid_reminders_and_restarted_sends_nobody_twice_and_skips_nobody(
        app, database, tmp_path, queue_url):
    meeting = factories.meeting(slug="killed")
    activity = factories.activity(meeting, title="Cervical arthroplasty")
    people = [factories.user(email=f"speaker{i:02d}@example.org") for i in range(40)]
    for person in people:
        factories.assignment(person, activity)
    job = job_ops.start_job(factories.admin(), JobKind.DISCLOSURE_REMINDERS, meeting)
    db.session.commit()
    job_id = job.id

    inbox = SlowInbox(delay=0.05)
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    env = _worker_env(database, tmp_path / "instance", port, queue_url)
    log = tmp_path / "worker.log"
    worker = _start_worker(env, log)
    try:
        _wait(lambda: len(inbox.messages) >= 12, 60, "the first messages", log)
        os.killpg(worker.pid, signal.SIGKILL)  # no clean-up of any kind
        worker.wait()
        sent_before = len(inbox.messages)
        assert _job(job_id).status is JobStatus.RUNNING and sent_before < len(people)
        worker = _start_worker(env, log)
        _wait(lambda: _job(job_id).status is JobStatus.DONE, 90, "the resumed job", log)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
        controller.stop()
    job = _job(job_id)
    assert job.done == job.total == len(people) and job.attempts == 2
    ids = {}
    for message in inbox.messages:
        ids.setdefault(message["To"], set()).add(message["Message-ID"])
    assert sorted(ids) == sorted(p.email for p in people)  # nobody skipped
    assert all(len(found) == 1 for found in ids.values())  # nobody sent two messages
    # A message accepted just before the kill may arrive twice with the one Message-ID
    # (mail systems drop the copy); no other copy.
    copies = Counter(m["To"] for m in inbox.messages)
    assert sum(n - 1 for n in copies.values()) <= 1
    reminded = Counter(db.session.scalars(sa.select(Reminder.user_id)))
    assert sorted(reminded) == sorted(p.id for p in people) and set(reminded.values()) == {1}


@pytest.mark.slow
def test_a_real_worker_builds_the_records_zip(app, login_as, database, tmp_path):
    meeting = factories.meeting(slug="zip-by-worker")
    hall = factories.room(meeting, "Hall B")
    factories.assignment(factories.user(full_name="Dana Okafor"), factories.activity(meeting, hall))
    staff = factories.admin()
    job = job_ops.start_job(staff, JobKind.RECORDS_ZIP, meeting)
    db.session.commit()
    job_id = job.id
    log = tmp_path / "worker.log"
    worker = _start_worker(_worker_env(database, tmp_path / "instance", _free_port(), None), log)
    try:
        _wait(lambda: _job(job_id).status is JobStatus.DONE, 60, "the ZIP", log)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
    response = login_as(staff).get(f"/staff/jobs/{job_id}/download")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert any(name.startswith("zip-by-worker-records/booklet-v") for name in archive.namelist())
    assert "zip-by-worker-records/manifest.csv" in archive.namelist()
    assert "Dana Okafor" in archive.read("zip-by-worker-records/assignments.csv").decode()


# ------------------------------------------------------------------ the programme import


def test_programme_import_in_batches_writes_what_the_preview_promised(login_as, app, monkeypatch):
    """Batches of one activity: rooms, people and assignments each written once, and the
    page counts rows as they are written."""
    from datetime import date

    from disclosures.jobs import programme
    from disclosures.models import Activity, Assignment, AuditEvent, Room, User

    monkeypatch.setattr(programme, "BATCH_ACTIVITIES", 1)
    meeting = factories.meeting(slug="spine-2027", starts_on=date(2027, 10, 6), days=3)
    client = login_as(factories.admin())
    data = (ROOT / "tests" / "data" / "programme.csv").read_bytes()
    preview = client.post(f"/staff/meetings/{meeting.id}/import",
                          data={"file": (io.BytesIO(data), "programme.csv")},
                          content_type="multipart/form-data")
    upload_id = re.search(r'name="upload_id" type="hidden" value="([^"]+)"',
                          preview.get_data(as_text=True)).group(1)
    response = client.post(f"/staff/meetings/{meeting.id}/import/confirm",
                           data={"upload_id": upload_id})
    job = _job(_job_id(response))
    assert job.status is JobStatus.DONE and job.done == job.total == data.count(b"\n") - 1
    people = {p.email for p in db.session.scalars(sa.select(User))}
    assert {"dana.okafor@example.org", "lee.park@example.org", "noor.haddad@example.org"} <= people
    assert job.report["people_created"] == len(people) - 1  # all but the admin
    assert job.report["assignments_created"] == db.session.scalar(
        sa.select(sa.func.count(Assignment.id)))
    assert job.report["activities_created"] == db.session.scalar(
        sa.select(sa.func.count(Activity.id)))
    assert job.report["rooms_created"] == db.session.scalar(sa.select(sa.func.count(Room.id)))
    invited = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "user.invited"))
    assert sorted(e.changes["email"] for e in invited) == sorted(people - {job.started_by.email})
    page = client.get(f"/staff/jobs/{job.id}").get_data(as_text=True)
    assert f'<span class="job-done">{job.total}</span> of <span class="job-total">{job.total}' in page
