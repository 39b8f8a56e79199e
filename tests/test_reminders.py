"""Reminders go through a real SMTP server (aiosmtpd, started here) and are not repeated."""

from __future__ import annotations

import contextlib
import html
import re
import socket
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from disclosures.auth import operations as auth_ops
from disclosures.enums import AssignmentRole, Nature, ReminderKind
from disclosures.extensions import db
from disclosures.models import Activity, AuditEvent, Reminder, User, hash_token

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


class RefusingInbox(Inbox):
    """Accepts the first ``accept`` messages, then refuses every other one (554), as a
    server does that fails in the middle of a batch."""

    def __init__(self, accept: int = 0):
        super().__init__()
        self.accept = accept

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            if len(self.messages) >= self.accept:
                return "554 5.3.0 Transaction failed, try again later"
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


class RecipientRefusingInbox(Inbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 Mailbox unavailable"


@contextlib.contextmanager
def mail_server(app, handler=None):
    """A local SMTP server (aiosmtpd) the app sends to for real; ``handler=None``: nothing
    listens on the configured port (the mail server is down)."""
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port) if handler else None
    if controller:
        controller.start()
    saved = {k: app.config[k] for k in ("MAIL_SUPPRESS_SEND", "MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SUPPRESS_SEND=False, MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    try:
        yield handler
    finally:
        app.config.update(saved)
        if controller:
            controller.stop()


@pytest.fixture()
def smtp(app):
    """A local SMTP server; the app sends to it for real during the test."""
    with mail_server(app, Inbox()) as inbox:
        yield inbox


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
    reviewer = factories.reviewer(meeting, email="rita@example.org", full_name="Rita Reviewer")
    factories.assignment(invited, a1)
    factories.assignment(member, a1, AssignmentRole.MODERATOR)
    factories.assignment(member, a2)
    factories.assignment(disclosed, a2)
    factories.assignment(removed, a2, removed_at=datetime.now(UTC))
    factories.disclosure(disclosed, [(factories.company("Axial Biologics"), Nature.CONSULTANT)])
    staff = factories.admin()
    return {"meeting": meeting, "staff": staff, "invited": invited, "member": member,
            "reviewer": reviewer}


def _link(message) -> str:
    return re.search(r"https://\S+", message.get_content()).group(0)


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
    text = " ".join(response.get_data(as_text=True).split())
    assert "Sent: 0 · failed: 0 · skipped: 2" in text
    assert text.count("reminded within the last 72 hours") == 2
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
    assert "Spine Annual" in body and "1 assignment awaiting a relevance decision" in body
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
    text = " ".join(response.get_data(as_text=True).split())
    assert "did not accept mail" in text and "the rest will be sent when it answers" in text
    assert "Waiting for a worker" in text  # queued again: the worker tries later
    assert db.session.scalar(sa.select(sa.func.count(Reminder.id))) == 0
    assert db.session.get(User, scene["invited"].id).invitation_token_hash is None


def test_send_reminders_cli_dry_run_then_send_then_skip(app, scene, smtp):
    db.session.commit()
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["send-reminders", "--meeting", "spine", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would send 2 disclosure reminders" in dry.output and "invited@example.org" in dry.output
    assert smtp.messages == []
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Reminder.id))) == 0

    sent = runner.invoke(args=["send-reminders"])
    assert sent.exit_code == 0, sent.output
    assert "Sent 2 disclosure reminders" in sent.output and "Sent 1 reviewer summary" in sent.output
    assert sorted(m["To"] for m in smtp.messages) == [
        "invited@example.org", "member@example.org", "rita@example.org"]
    again = runner.invoke(args=["send-reminders"])
    assert "Sent 0 disclosure reminders; 2 skipped" in again.output
    assert len(smtp.messages) == 3
    db.session.rollback()
    reminders = db.session.scalars(sa.select(Reminder)).all()
    assert len(reminders) == 3 and all(r.sent_by_id is None for r in reminders)


# ------------------------------------------------------------------ without a mail server


def _count(model) -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count(model.id)))


def _links_on(page: str) -> dict[str, str]:
    """input id → value of each invitation link (readonly input) on a staff page."""
    found = {}
    for tag in re.findall(r"<input [^>]*data-copy-link[^>]*>", page):
        assert " readonly" in tag  # selectable text, works without JavaScript
        found[re.search(r'id="([^"]+)"', tag).group(1)] = html.unescape(
            re.search(r'value="([^"]+)"', tag).group(1))
    return found


def test_reminders_without_a_mail_server_are_not_counted_and_staff_get_the_links(login_as, scene):
    # MAIL_SUPPRESS_SEND (the development default): nothing leaves the app.
    client = login_as(scene["staff"])
    meeting, invited = scene["meeting"], scene["invited"]
    response = client.post(f"/staff/meetings/{meeting.id}/reminders/disclosure")
    assert "/staff/jobs/" in response.headers["Location"]
    text = " ".join(client.get(response.headers["Location"]).get_data(as_text=True).split())
    assert "Sent: 0" in text and "not delivered: 2" in text
    assert text.count("Not delivered (mail sending is switched off)") == 2
    page = client.get(f"/staff/meetings/{meeting.id}/reminders").get_data(as_text=True)
    # Not counted: no Reminder, so nobody is locked out of the next reminder ...
    assert _count(Reminder) == 0
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "reminder.not_delivered")).all()
    assert {e.subject_user_id for e in events} == {invited.id, scene["member"].id}
    assert not db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "reminder.sent")).all()
    # ... and the person without a password has a link staff can copy, that works.
    [link] = _links_on(page).values()
    token = link.rsplit("/", 1)[1]
    assert link == f"https://cme.example.org/invitation/{token}"
    assert db.session.get(User, invited.id).invitation_token_hash == hash_token(token)
    assert 'src="/static/js/copy-link.js"' in page
    # The meeting page shows the same link on the person's row, and the button is not locked.
    meeting_page = client.get(f"/staff/meetings/{meeting.id}").get_data(as_text=True)
    assert list(_links_on(meeting_page).values()) == [link]
    assert "2 people are due a reminder" in meeting_page
    # Pressing again keeps the same link (the one staff may already have handed out).
    client.post(f"/staff/meetings/{meeting.id}/reminders/disclosure")
    assert list(_links_on(client.get(f"/staff/meetings/{meeting.id}/reminders")
                          .get_data(as_text=True)).values()) == [link]
    assert _count(Reminder) == 0
    accept = client.application.test_client().post(
        f"/invitation/{token}", data={"password": "a brand new password", "confirm": "a brand new password"})
    assert accept.status_code == 302


def test_review_summaries_without_a_mail_server_are_not_counted(login_as, scene):
    client = login_as(scene["staff"])
    response = client.post(f"/staff/meetings/{scene['meeting'].id}/reminders/review", follow_redirects=True)
    assert response.status_code == 200
    assert "not delivered: 1" in " ".join(response.get_data(as_text=True).split())
    assert _count(Reminder) == 0


def test_cli_without_a_mail_server_says_nothing_was_delivered(app, scene):
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["send-reminders", "--meeting", "spine"])
    assert result.exit_code == 0, result.output
    assert "Sent 0 disclosure reminders" in result.output
    assert "Not delivered: 2 disclosure reminders" in result.output
    assert _count(Reminder) == 0


def test_reminders_page_lists_who_awaits_and_how_they_get_in(login_as, scene, smtp):
    client = login_as(scene["staff"])
    m = scene["meeting"]
    client.post(f"/staff/meetings/{m.id}/reminders/disclosure")
    page = " ".join(client.get(f"/staff/meetings/{m.id}/reminders").get_data(as_text=True).split())
    assert "Ivy Invited" in page and "Max Member" in page and "Dora Done" not in page
    assert "Not reminded again within 72 hours" in page
    assert "Has a password" in page
    [link] = _links_on(page).values()
    assert link == _link(smtp.to("invited@example.org")[0])


# ------------------------------------------------------------------ the same invitation link


def test_a_reminder_carries_the_link_staff_already_handed_out(login_as, app, scene, smtp):
    """Staff copies link A; a reminder is sent; link A still works and the mail carries it."""
    client = login_as(scene["staff"])
    meeting, invited = scene["meeting"], scene["invited"]
    auth_ops.renew_invitation(scene["staff"], db.session.get(User, invited.id))
    db.session.commit()
    [link_a] = _links_on(client.get(f"/staff/meetings/{meeting.id}").get_data(as_text=True)).values()

    client.post(f"/staff/meetings/{meeting.id}/reminders/disclosure")
    [mail] = smtp.to("invited@example.org")
    assert _link(mail) == link_a
    token = link_a.rsplit("/", 1)[1]
    assert app.test_client().get(f"/invitation/{token}").status_code == 200
    accept = app.test_client().post(
        f"/invitation/{token}", data={"password": "a brand new password", "confirm": "a brand new password"})
    assert accept.status_code == 302
    assert db.session.get(User, invited.id).password_hash is not None
    # Still single use.
    again = app.test_client().post(
        f"/invitation/{token}", data={"password": "another new password", "confirm": "another new password"})
    assert again.status_code == 404


def test_a_reminder_keeps_the_invitation_from_the_invite_page_and_extends_it(login_as, app, scene, smtp):
    client = login_as(scene["staff"])
    response = client.post("/staff/people/invite", data={
        "email": "newcomer@example.org", "full_name": "Nina Newcomer"})
    [invitation_mail] = smtp.to("newcomer@example.org")
    link_a = _link(invitation_mail)
    assert list(_links_on(response.get_data(as_text=True)).values()) == [link_a]
    newcomer = db.session.scalar(sa.select(User).where(User.email == "newcomer@example.org"))
    # Two days later she has not used it; she is put on an activity and reminded.
    newcomer.invitation_expires_at = newcomer.invitation_expires_at - timedelta(days=2)
    before = newcomer.invitation_expires_at
    factories.assignment(newcomer, factories.activity(scene["meeting"], code="S103"))
    db.session.commit()
    client.post(f"/staff/meetings/{scene['meeting'].id}/reminders/disclosure")
    [reminder_mail] = smtp.to("newcomer@example.org")[1:]
    assert _link(reminder_mail) == link_a
    newcomer = db.session.get(User, newcomer.id)
    assert newcomer.invitation_expires_at > before + timedelta(days=1)  # valid for longer
    assert newcomer.invitation_expires_at.strftime("%B %-d, %Y") in reminder_mail.get_content()
    actions = [e.action for e in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.subject_user_id == newcomer.id).order_by(AuditEvent.id))]
    assert actions == ["user.invited", "user.invitation_extended", "reminder.sent"]


def test_an_expired_invitation_gets_a_new_link_in_the_reminder(login_as, app, scene, smtp):
    invited = db.session.get(User, scene["invited"].id)
    old_token = invited.issue_invitation(timedelta(hours=1), now=datetime.now(UTC) - timedelta(hours=2))
    client = login_as(scene["staff"])
    client.post(f"/staff/meetings/{scene['meeting'].id}/reminders/disclosure")
    new_token = _link(smtp.to("invited@example.org")[0]).rsplit("/", 1)[1]
    assert new_token != old_token
    assert app.test_client().get(f"/invitation/{new_token}").status_code == 200
    assert app.test_client().get(f"/invitation/{old_token}").status_code == 404
    assert [e.action for e in db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.subject_user_id == invited.id).order_by(AuditEvent.id))] == [
        "user.invitation_reissued", "reminder.sent"]


def test_invitation_link_is_rebuilt_only_while_it_is_open(app, scene):
    person = db.session.get(User, scene["invited"].id)
    assert person.current_invitation_token() is None  # never invited
    token = person.issue_invitation(timedelta(days=1))
    assert person.current_invitation_token() == token
    assert person.current_invitation_token(datetime.now(UTC) + timedelta(days=2)) is None
    # Another secret key cannot rebuild it (nor make a working link).
    saved = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "another-secret-key-of-enough-length-0123456789"
    try:
        assert person.current_invitation_token() is None
    finally:
        app.config["SECRET_KEY"] = saved
    auth_ops.accept_invitation(token, "a brand new password")
    assert person.current_invitation_token() is None
    assert auth_ops.user_for_invitation(token) is None


# ------------------------------------------------------------------ mail server failures


def test_mail_server_failing_mid_batch_records_what_was_sent_and_nothing_else(login_as, app, scene):
    client = login_as(scene["staff"])
    url = f"/staff/meetings/{scene['meeting'].id}/reminders/disclosure"
    with mail_server(app, RefusingInbox(accept=1)) as server:
        response = client.post(url, follow_redirects=True)
    assert response.status_code == 200
    text = " ".join(response.get_data(as_text=True).split())
    # The server refused Max's message for good (5xx): that one fails, with its reason.
    assert "Sent: 1 · failed: 1 · skipped: 0" in text
    assert "554 5.3.0 Transaction failed, try again later" in text
    # The server accepted Ivy's message (first by name): it is recorded, with its link.
    [delivered] = server.messages
    assert delivered["To"] == "invited@example.org"
    [reminder] = db.session.scalars(sa.select(Reminder)).all()
    assert reminder.user_id == scene["invited"].id
    token = _link(delivered).rsplit("/", 1)[1]
    assert db.session.get(User, scene["invited"].id).invitation_token_hash == hash_token(token)
    assert {e.subject_user_id for e in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "reminder.sent"))} == {scene["invited"].id}
    # Max's was refused: not recorded, so the next send reminds him, and only him.
    with mail_server(app, Inbox()) as inbox:
        client.post(url)
    assert [m["To"] for m in inbox.messages] == ["member@example.org"]


@pytest.mark.parametrize("handler", [None, RecipientRefusingInbox()], ids=["no server", "refuses"])
def test_reminders_when_the_mail_server_is_down_or_refuses_never_500(login_as, app, scene, handler):
    client = login_as(scene["staff"])
    with mail_server(app, handler):
        response = client.post(f"/staff/meetings/{scene['meeting'].id}/reminders/disclosure",
                               follow_redirects=True)
    assert response.status_code == 200
    text = " ".join(response.get_data(as_text=True).split())
    if handler is None:
        assert "did not accept mail" in text
    else:
        assert "Sent: 0 · failed: 2" in text and text.count("550 5.1.1 Mailbox unavailable") >= 2
    assert _count(Reminder) == 0


@pytest.mark.parametrize("handler", [None, RecipientRefusingInbox()], ids=["no server", "refuses"])
def test_invite_when_the_mail_server_is_down_or_refuses_shows_the_link(login_as, app, scene, handler):
    client = login_as(scene["staff"])
    with mail_server(app, handler):
        response = client.post("/staff/people/invite", data={
            "email": "newcomer@example.org", "full_name": "Nina Newcomer"})
    assert response.status_code == 200
    text = " ".join(response.get_data(as_text=True).split())
    assert "could not be sent" in text
    [link] = _links_on(response.get_data(as_text=True)).values()
    person = db.session.scalar(sa.select(User).where(User.email == "newcomer@example.org"))
    assert person.invitation_token_hash == hash_token(link.rsplit("/", 1)[1])
    # Inviting the same address again says it exists, whatever the mail server does.
    with mail_server(app, handler):
        again = client.post("/staff/people/invite", data={
            "email": "newcomer@example.org", "full_name": "Nina Newcomer"})
    assert again.status_code == 400 and "already exists" in again.get_data(as_text=True)


@pytest.mark.parametrize("handler", [None, RecipientRefusingInbox()], ids=["no server", "refuses"])
def test_assigning_a_new_person_when_the_mail_server_fails_shows_the_link_on_their_row(
        login_as, app, scene, handler):
    client = login_as(scene["staff"])
    activity_id = db.session.scalar(sa.select(Activity.id).where(Activity.code == "S101"))
    with mail_server(app, handler):
        response = client.post(f"/staff/activities/{activity_id}/assign", data={
            "email": "newcomer@example.org", "full_name": "Nina Newcomer", "role": "speaker"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "could not be sent" in " ".join(page.split())
    person = db.session.scalar(sa.select(User).where(User.email == "newcomer@example.org"))
    links = _links_on(page)
    assert hash_token(links[f"invitation-{person.assignments[0].id}"].rsplit("/", 1)[1]) == \
        person.invitation_token_hash
