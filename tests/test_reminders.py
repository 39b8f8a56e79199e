"""Reminders go through a real SMTP server (aiosmtpd, started here) and are not repeated."""

from __future__ import annotations

import re
import socket
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from disclosures.enums import AssignmentRole, Nature, ReminderKind, Role
from disclosures.extensions import db
from disclosures.models import AuditEvent, Reminder, User, hash_token

from . import factories


class Inbox:
    """An aiosmtpd handler that keeps every delivered message."""

    def __init__(self):
        self.messages = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def smtp(app):
    """A local SMTP server; the app sends to it for real during the test."""
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    saved = {k: app.config[k] for k in ("MAIL_SUPPRESS_SEND", "MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SUPPRESS_SEND=False, MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    try:
        yield inbox
    finally:
        app.config.update(saved)
        controller.stop()


@pytest.fixture()
def scene(app):
    """A meeting with: a person without a password awaiting disclosure, one with a password
    awaiting disclosure in two activities, one who has disclosed (awaiting review), one
    removed from their activity, and a reviewer."""
    meeting = factories.meeting(name="Spine Annual", slug="spine")
    a1 = factories.activity(meeting, code="S101", title="Lumbar fusion outcomes")
    a2 = factories.activity(meeting, code="S102", title="Cervical arthroplasty")
    invited = factories.user(email="invited@example.org", full_name="Ivy Invited", password=False)
    member = factories.user(email="member@example.org", full_name="Max Member")
    disclosed = factories.user(email="done@example.org", full_name="Dora Done")
    removed = factories.user(email="gone@example.org", full_name="Gus Gone")
    reviewer = factories.user(Role.REVIEWER, email="rita@example.org", full_name="Rita Reviewer")
    factories.assignment(invited, a1)
    factories.assignment(member, a1, AssignmentRole.MODERATOR)
    factories.assignment(member, a2)
    factories.assignment(disclosed, a2)
    factories.assignment(removed, a2, removed_at=datetime.now(UTC))
    factories.disclosure(disclosed, [(factories.company("Axial Biologics"), Nature.CONSULTANT)])
    staff = factories.user(Role.STAFF)
    return {"meeting": meeting, "staff": staff, "invited": invited, "member": member,
            "reviewer": reviewer}


def _link(message) -> str:
    return re.search(r"https://\S+", message.get_content()).group(0)


def test_reminder_views_require_login(client, scene):
    m = scene["meeting"]
    db.session.commit()
    for url in (f"/staff/meetings/{m.id}/reminders/disclosure", f"/staff/meetings/{m.id}/reminders/review"):
        response = client.post(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", [Role.FACULTY, Role.REVIEWER])
def test_reminder_views_forbidden_to_non_staff(login_as, scene, smtp, role):
    client = login_as(factories.user(role))
    m = scene["meeting"]
    assert client.post(f"/staff/meetings/{m.id}/reminders/disclosure").status_code == 403
    assert client.post(f"/staff/meetings/{m.id}/reminders/review").status_code == 403
    assert smtp.messages == []
    assert db.session.scalar(sa.select(sa.func.count(Reminder.id))) == 0


def test_disclosure_reminders_arrive_with_the_right_links(login_as, scene, smtp, app):
    client = login_as(scene["staff"])
    page = client.get(f"/staff/meetings/{scene['meeting'].id}").get_data(as_text=True)
    assert "2 people are due a reminder" in page
    response = client.post(f"/staff/meetings/{scene['meeting'].id}/reminders/disclosure")
    assert response.status_code == 302
    assert sorted(m["To"] for m in smtp.messages) == ["invited@example.org", "member@example.org"]

    [invited_mail] = smtp.to("invited@example.org")
    link = _link(invited_mail)
    assert link.startswith("https://cme.example.org/invitation/")
    token = link.rsplit("/", 1)[1]
    invited = db.session.get(User, scene["invited"].id)
    assert invited.invitation_token_hash == hash_token(token)  # the link in the mail works
    assert "Lumbar fusion outcomes" in invited_mail.get_content()

    [member_mail] = smtp.to("member@example.org")
    assert _link(member_mail) == "https://cme.example.org/login"
    body = member_mail.get_content()
    assert "Lumbar fusion outcomes" in body and "Cervical arthroplasty" in body
    assert "Spine Annual" in member_mail["Subject"]

    reminders = db.session.scalars(sa.select(Reminder)).all()
    assert {(r.user_id, r.kind, r.sent_by_id, r.meeting_id) for r in reminders} == {
        (scene["invited"].id, ReminderKind.DISCLOSURE, scene["staff"].id, scene["meeting"].id),
        (scene["member"].id, ReminderKind.DISCLOSURE, scene["staff"].id, scene["meeting"].id),
    }
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "reminder.sent")).all()
    assert {e.subject_user_id for e in events} == {scene["invited"].id, scene["member"].id}
    assert all(token not in str(e.changes) for e in events)

    # Following the invitation link from the mail lets the person set a password.
    accept = app.test_client().post(f"/invitation/{token}",
                                    data={"password": "a brand new password", "confirm": "a brand new password"})
    assert accept.status_code in (302, 303)
    assert db.session.get(User, scene["invited"].id).password_hash is not None


def test_disclosure_reminders_not_repeated_within_interval(login_as, scene, smtp):
    client = login_as(scene["staff"])
    url = f"/staff/meetings/{scene['meeting'].id}/reminders/disclosure"
    client.post(url)
    assert len(smtp.messages) == 2
    response = client.post(url, follow_redirects=True)
    assert "not sent again" in response.get_data(as_text=True)
    assert len(smtp.messages) == 2
    assert db.session.scalar(sa.select(sa.func.count(Reminder.id))) == 2
    # Once the interval has passed, they are reminded again.
    for reminder in db.session.scalars(sa.select(Reminder)):
        reminder.sent_at = datetime.now(UTC) - timedelta(hours=73)
    db.session.commit()
    client.post(url)
    assert len(smtp.messages) == 4


def test_review_summary_goes_to_reviewers_only(login_as, scene, smtp):
    client = login_as(scene["staff"])
    response = client.post(f"/staff/meetings/{scene['meeting'].id}/reminders/review")
    assert response.status_code == 302
    assert [m["To"] for m in smtp.messages] == ["rita@example.org"]
    body = smtp.messages[0].get_content()
    assert "Spine Annual" in body and "1 assignment(s) awaiting a relevance decision" in body
    assert "https://cme.example.org/review/" in body
    client.post(f"/staff/meetings/{scene['meeting'].id}/reminders/review")
    assert len(smtp.messages) == 1
    [reminder] = db.session.scalars(sa.select(Reminder)).all()
    assert reminder.kind is ReminderKind.REVIEW_SUMMARY


def test_reminders_when_mail_server_is_down_record_nothing(login_as, scene, app):
    saved = {k: app.config[k] for k in ("MAIL_SUPPRESS_SEND", "MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SUPPRESS_SEND=False, MAIL_SERVER="127.0.0.1", MAIL_PORT=_free_port())
    try:
        client = login_as(scene["staff"])
        response = client.post(f"/staff/meetings/{scene['meeting'].id}/reminders/disclosure",
                               follow_redirects=True)
    finally:
        app.config.update(saved)
    assert response.status_code == 200
    assert "Sending stopped" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Reminder.id))) == 0
    assert db.session.get(User, scene["invited"].id).invitation_token_hash is None


def test_send_reminders_cli_dry_run_then_send_then_skip(app, scene, smtp):
    db.session.commit()
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["send-reminders", "--meeting", "spine", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would send 2 disclosure reminder(s)" in dry.output and "invited@example.org" in dry.output
    assert smtp.messages == []
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Reminder.id))) == 0

    sent = runner.invoke(args=["send-reminders"])
    assert sent.exit_code == 0, sent.output
    assert "Sent 2 disclosure reminder(s)" in sent.output and "Sent 1 reviewer summary(s)" in sent.output
    assert sorted(m["To"] for m in smtp.messages) == [
        "invited@example.org", "member@example.org", "rita@example.org"]
    again = runner.invoke(args=["send-reminders"])
    assert "Sent 0 disclosure reminder(s); 2 skipped" in again.output
    assert len(smtp.messages) == 3
    db.session.rollback()
    reminders = db.session.scalars(sa.select(Reminder)).all()
    assert len(reminders) == 3 and all(r.sent_by_id is None for r in reminders)
