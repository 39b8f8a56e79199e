"""Staff's "starting soon" list, and reminders ahead of a disclosure expiring before its
session (issue 16, "Dates that match the rule").

ACCME Standard 3: the provider must identify, mitigate and disclose relevant financial
relationships *before* the individual assumes their role in the accredited education. A
role not cleared on the eve of its session needs someone to act, and staff must see who.
"""

from __future__ import annotations

import html as htmllib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from disclosures import clock
from disclosures.enums import AssignmentRole, Nature, OwnerException
from disclosures.extensions import db
from disclosures.models import AuditEvent

from . import factories
from .test_reminders import smtp  # noqa: F401  (the local SMTP server fixture)


def _rows(page: str) -> list[str]:
    """Each row of the starting-soon table as its visible text, in order."""
    table = re.search(r'<table class="stack-table" id="soon">(.*?)</table>', page, re.S)
    if table is None:
        return []
    rows = re.findall(r"<tr data-actor=\"(\w+)\">(.*?)</tr>", table.group(1), re.S)
    return [actor + ": " + " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", body)).split())
            for actor, body in rows]


@pytest.fixture()
def soon(app):
    """A meeting whose first day is tomorrow, with a role in each state that needs someone,
    a planning committee member (the whole meeting), one cleared role, an industry session
    (not accredited) and one session beyond 48 hours."""
    now = clock.now()
    meeting = factories.meeting(name="Spine Forum", starts_on=(now + timedelta(days=1)).date(),
                                timezone="UTC")
    room = factories.room(meeting, "Ballroom A")
    tomorrow = now + timedelta(hours=20)

    def session(code, title, at=tomorrow):
        return factories.activity(meeting, room, code=code, title=title, starts_at=at)

    reviewer = factories.reviewer(meeting, full_name="Rita Reviewer")
    silent = factories.user(full_name="Silent Speaker")
    factories.assignment(silent, session("S1", "Lumbar fusion outcomes"))
    expiring = factories.user(full_name="Expiring Speaker")
    factories.disclosure(expiring, [], submitted_at=now - timedelta(days=2), valid_days=2)
    factories.assignment(expiring, session("S2", "Disc replacement", now + timedelta(days=6)))
    factories.assignment(expiring, session("S3", "Disc replacement, part two",
                                           now + timedelta(hours=30)))
    undecided = factories.user(full_name="Undecided Panelist")
    factories.disclosure(undecided, [(factories.company("Axial Biologics"), Nature.CONSULTANT)])
    factories.assignment(undecided, session("S4", "Biologics panel"), AssignmentRole.PANELIST)
    owner = factories.user(full_name="Owner Olsen")
    ortho = factories.company("Orthofix Holdings")
    factories.disclosure(owner, [(ortho, Nature.EMPLOYEE)])
    factories.assignment(owner, session("S5", "Implant design"))
    excluded = factories.user(full_name="Excluded Evans")
    spine = factories.company("Spinetech Devices")
    factories.disclosure(excluded, [(spine, Nature.EMPLOYEE)])
    factories.owner_decision(excluded, spine, OwnerException.NONE)
    factories.assignment(excluded, session("S6", "Device marketing"))
    typed = factories.user(full_name="Typed Company")
    startup = factories.company("Nuvolith Startup", needs_review=True)
    disclosure = factories.disclosure(typed, [(startup, Nature.CONSULTANT)])
    typed_role = factories.assignment(typed, session("S7", "Startups in spine"))
    decision = factories.determination(disclosure.relationships[0], typed_role, reviewer,
                                       relevant=True)
    factories.mitigation(decision, reviewer)
    clear = factories.user(full_name="Clear Clara")
    factories.disclosure(clear, [])
    factories.assignment(clear, session("S8", "Coding and billing"))
    planner = factories.user(full_name="Committee Cora")  # the whole meeting, from tomorrow
    factories.meeting_role(planner, meeting, AssignmentRole.PLANNING_COMMITTEE)
    industry = factories.user(full_name="Industry Ian")  # nobody discloses for a non-CME session
    factories.assignment(industry, factories.activity(
        meeting, room, code="IND", title="Industry lunch", starts_at=now + timedelta(hours=3),
        is_accredited=False))
    later = factories.user(full_name="Later Larry")
    factories.assignment(later, session("S9", "Next week", now + timedelta(days=5)))
    staff = factories.staff(meeting)
    db.session.commit()
    return {"meeting": meeting, "staff": staff, "reviewer": reviewer}


def test_starting_soon_lists_every_role_not_cleared_within_48_hours_with_who_must_act(login_as, soon):
    """Standard 3: relationships are identified and mitigated before the individual assumes
    their role. Staff see, for every role of the next 48 hours not cleared, who must act."""
    page = login_as(soon["staff"]).get(f"/staff/meetings/{soon['meeting'].id}/starting-soon")
    assert page.status_code == 200
    rows = _rows(page.get_data(as_text=True))
    text = "\n".join(rows)
    assert len(rows) == 7, text
    assert "Industry" not in text  # a non-accredited session: nobody's to-do
    assert "Clear Clara" not in text  # cleared
    assert "Later Larry" not in text and "Next week" not in text  # beyond 48 hours
    assert "Disc replacement, part two" in text and "S2 " not in text  # only the session within 48 h

    def row(name):
        [found] = [r for r in rows if name in r]
        return found

    assert row("Committee Cora").startswith("person:") and "Whole meeting" in row("Committee Cora")
    assert rows[0].startswith("person:") and "Committee Cora" in rows[0]  # from the meeting's start
    assert row("Silent Speaker").startswith("person:") and "Submit a disclosure" in row("Silent Speaker")
    assert row("Expiring Speaker").startswith("person:")
    assert "Renew the disclosure: disclosure expires on" in row("Expiring Speaker")
    assert row("Undecided Panelist").startswith("reviewer:")
    assert "Decide whether each relationship is relevant" in row("Undecided Panelist")
    assert row("Owner Olsen").startswith("staff:") and "exception" in row("Owner Olsen")
    assert row("Excluded Evans").startswith("staff:") and "Replace this person" in row("Excluded Evans")
    assert row("Typed Company").startswith("staff:")
    assert "Confirm the company" in row("Typed Company")
    summary = " ".join(re.sub(r"<[^>]+>", "", page.get_data(as_text=True)).split())
    assert "7 roles not cleared: 3 waiting for the person, 1 for a reviewer, 3 for staff." in summary


def test_starting_soon_window_is_configurable_and_a_bad_window_is_a_clear_400(login_as, soon, app):
    client = login_as(soon["staff"])
    url = f"/staff/meetings/{soon['meeting'].id}/starting-soon"
    wide = _rows(client.get(url + "?hours=168").get_data(as_text=True))
    assert any("Later Larry" in r for r in wide) and any("S2 " in r for r in wide)
    app.config["STARTING_SOON_HOURS"] = 1
    assert _rows(client.get(url).get_data(as_text=True)) == []
    assert "Every role starting in the next 1 hour is cleared." in client.get(url).get_data(as_text=True)
    bad = client.get(url + "?hours=9999")
    assert bad.status_code == 400
    assert "is not a number of hours from 1 to 336" in htmllib.unescape(bad.get_data(as_text=True))


def test_starting_soon_is_for_meeting_staff_only(login_as, soon):
    url = f"/staff/meetings/{soon['meeting'].id}/starting-soon"
    assert login_as(soon["reviewer"]).get(url).status_code == 403
    other = factories.staff(factories.meeting())
    db.session.commit()
    assert login_as(other).get(url).status_code == 403


def test_reminder_goes_out_ahead_of_a_disclosure_expiring_before_its_session(login_as, soon, smtp):  # noqa: F811
    """A disclosure must be valid when the person assumes the role: someone whose disclosure
    on file expires before their session is reminded before it, told the day it expires."""
    client = login_as(soon["staff"])
    client.post(f"/staff/meetings/{soon['meeting'].id}/reminders/disclosure")
    recipients = sorted(m["To"] for m in smtp.messages)
    expiring = db.session.scalar(sa.select(factories.User).where(
        factories.User.full_name == "Expiring Speaker"))
    assert expiring.email in recipients
    [message] = smtp.to(expiring.email)
    body = " ".join(message.get_content().split())
    valid_until = expiring.disclosures[0].valid_until
    assert (f"the disclosure you submitted expires on {valid_until:%B} {valid_until.day}, "
            f"{valid_until.year}, before this session, so please submit an updated one") in body
    assert "Disc replacement" in body
    # Someone who never disclosed gets the plain reminder, without a renewal sentence.
    silent = db.session.scalar(sa.select(factories.User).where(
        factories.User.full_name == "Silent Speaker"))
    [plain] = smtp.to(silent.email)
    assert "expires on" not in plain.get_content().split("Open this link")[0].split("Log in")[0]
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.action == "reminder.sent")) == len(smtp.messages)
