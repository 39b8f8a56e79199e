"""What people read and sign, polished (issue 16): singular and plural, times in the
meeting's zone for every role, the reviewer's error banner, phones at 390 px, the typed
signature, the room sign and its code, the attendee header, and the provider settings."""

from __future__ import annotations

import io
import os
import re
import threading
import unicodedata
from datetime import UTC, date, datetime

import pypdf
import pytest
import sqlalchemy as sa

from disclosures.enums import Nature
from disclosures.extensions import db
from disclosures.faculty.operations import names_match
from disclosures.models import AuditEvent, Meeting, Room
from disclosures.words import comparison_key, plural

from . import factories


@pytest.fixture()
def scene(app):
    """A Chicago meeting in October 2027 (CDT), a session at 9:00 AM, a speaker who has
    disclosed one relationship, a reviewer and staff."""
    meeting = factories.meeting(name="Spine Forum 2027", slug="spine-2027",
                                starts_on=date(2027, 10, 7), days=2, timezone="America/Chicago")
    room = factories.room(meeting, "Ballroom A")
    activity = factories.activity(meeting, room, code="S101", title="Lumbar fusion outcomes",
                                  starts_at=datetime(2027, 10, 7, 14, 0, tzinfo=UTC))
    person = factories.user(full_name="José Núñez", degrees="MD PhD", email="jose@example.org")
    assignment = factories.assignment(person, activity)
    disclosure = factories.disclosure(person, [(factories.company("Meridian Spine"), Nature.CONSULTANT)])
    return {"meeting": meeting, "room": room, "activity": activity, "person": person,
            "assignment": assignment, "disclosure": disclosure,
            "reviewer": factories.reviewer(meeting, full_name="Rita Reviewer"),
            "staff": factories.staff(meeting, full_name="Sam Staff")}


# --- "relationship(s)", "room(s)": singular or plural -----------------------------------


@pytest.mark.parametrize("count, word, expected", [
    (0, "room", "0 rooms"), (1, "room", "1 room"), (2, "room", "2 rooms"),
    (1, "relationship", "1 relationship"), (3, "relevant relationship", "3 relevant relationships"),
    (1, "new person", "1 new person"), (2, "new person", "2 new people"),
    (2, "company", "2 companies"), (1_204, "assignment", "1,204 assignments"),
    (2, "reviewer summary", "2 reviewer summaries"), (1, "reviewer summary", "1 reviewer summary"),
    (3, "day", "3 days"),
])
def test_counts_are_written_in_the_singular_or_the_plural_never_with_s_in_brackets(count, word, expected):
    assert plural(count, word) == expected


def test_no_page_flash_or_mail_template_writes_s_in_brackets():
    from pathlib import Path

    root = Path(__file__).parent.parent
    offenders = [str(p.relative_to(root)) for folder in ("templates", "disclosures")
                 for p in (root / folder).rglob("*") if p.suffix in (".html", ".txt", ".py")
                 and "(s)" in p.read_text(encoding="utf-8")
                 and "fonts" not in p.parts and p.name != "wording.py"]  # the printed statement wording is the lead's
    assert offenders == []


def test_reviewer_state_reason_says_1_relationship_not_relationship_s(login_as, scene):
    html = login_as(scene["reviewer"]).get(
        f"/review/meetings/{scene['meeting'].id}/people/{scene['person'].id}").get_data(as_text=True)
    assert "1 relationship awaiting a relevance decision" in html


# --- Times carry the meeting's time zone for every role ----------------------------------


def test_faculty_see_their_session_time_in_the_meetings_zone_with_its_name(login_as, scene):
    client = login_as(scene["person"])
    home = client.get("/faculty/").get_data(as_text=True)
    assert "Oct 7, 2027 9:00 AM CDT" in home
    page = client.get(f"/faculty/disclosure/{scene['disclosure'].id}").get_data(as_text=True)
    facts = page.split('<dl class="facts">', 1)[1].split("</dl>", 1)[0]
    # Submitted and signed in the meeting's zone (CST or CDT, by the day it was submitted).
    assert "UTC" not in facts and len(re.findall(r"\d:\d\d [AP]M C[SD]T", facts)) == 2


def test_reviewers_see_session_times_with_the_zone_not_a_bare_local_time(login_as, scene):
    client = login_as(scene["reviewer"])
    page = client.get(f"/review/meetings/{scene['meeting'].id}/people/{scene['person'].id}")
    assert "Thu Oct 7, 9:00 AM CDT" in page.get_data(as_text=True)
    queue = client.get("/review/").get_data(as_text=True)
    assert "Thu Oct 7, 9:00 AM CDT" in queue


def test_staff_see_programme_times_with_the_zone(login_as, scene):
    html = login_as(scene["staff"]).get(f"/staff/meetings/{scene['meeting'].id}").get_data(as_text=True)
    assert "9:00 AM CDT" in html


def test_disclosure_reminder_mail_gives_the_session_time_with_the_zone(login_as, app, outbox):
    meeting = factories.meeting(slug="m", starts_on=date(2027, 10, 7), timezone="America/Chicago")
    activity = factories.activity(meeting, code="S1", starts_at=datetime(2027, 10, 7, 14, 0, tzinfo=UTC))
    factories.assignment(factories.user(email="late@example.org"), activity)
    response = login_as(factories.staff(meeting)).post(f"/staff/meetings/{meeting.id}/reminders/disclosure")
    assert response.status_code == 302
    [mail] = [m for m in outbox if m["To"] == "late@example.org"]
    assert "Thu Oct 7, 9:00 AM CDT" in mail.get_content()


# --- The reviewer's error banner links to the form in error ------------------------------


def test_reviewer_error_banner_links_to_the_first_field_in_error(login_as, scene):
    relationship = scene["disclosure"].relationships[0]
    prefix = f"d{relationship.id}-{scene['assignment'].id}"
    response = login_as(scene["reviewer"]).post(
        f"/review/meetings/{scene['meeting'].id}/people/{scene['person'].id}"
        f"/determinations/{relationship.id}/{scene['assignment'].id}",
        data={f"{prefix}-relevance": "", f"{prefix}-rationale": "", f"{prefix}-version": "0",
              f"{prefix}-disclosure": str(scene["disclosure"].id)})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    banner = html.split('id="problem"', 1)[1].split("</div>", 1)[0]
    assert f'href="#{prefix}-relevance-0"' in banner
    assert f'id="{prefix}-relevance-0"' in html  # the link lands on the first choice


# --- 390-px phones ----------------------------------------------------------------------


def test_review_page_and_companies_table_stack_into_cards_on_a_phone(login_as, scene):
    factories.company("A company with a very long legal name, Incorporated", needs_review=True)
    review = login_as(scene["reviewer"]).get(
        f"/review/meetings/{scene['meeting'].id}/people/{scene['person'].id}").get_data(as_text=True)
    assert review.count('class="stack-table"') == 2 and 'data-label="Company"' in review
    companies = login_as(factories.admin()).get("/staff/companies").get_data(as_text=True)
    assert 'class="stack-table companies-table"' in companies and 'data-label="Relationships"' in companies


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed")
def test_review_page_and_companies_table_fit_a_390px_phone_in_chromium(app, scene):
    playwright = pytest.importorskip("playwright.sync_api")
    from werkzeug.serving import make_server

    factories.company("Johnson & Johnson Medical Devices Companies, Worldwide", needs_review=True)
    admin = factories.admin(email="admin@example.org")
    db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    widths = {}
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(f"{base}/login")
            page.fill("input[name=email]", admin.email)
            page.fill("input[name=password]", factories.PASSWORD)
            page.click("button[type=submit], input[type=submit]")
            for name, path in (("review", f"/review/meetings/{scene['meeting'].id}/people/{scene['person'].id}"),
                               ("companies", "/staff/companies")):
                page.goto(base + path)
                widths[name] = page.evaluate("document.documentElement.scrollWidth")
            browser.close()
    finally:
        server.shutdown()
        thread.join()
    assert widths == {"review": 390, "companies": 390}


# --- The typed-name attestation ---------------------------------------------------------


@pytest.mark.parametrize("typed", [
    unicodedata.normalize("NFD", "José Núñez"),  # pasted in decomposed form
    "JOSÉ  NÚÑEZ",
    "José Núñez, MD PhD",  # the name as the person writes it, degrees included
    unicodedata.normalize("NFD", "josé núñez, md phd"),
])
def test_typed_signature_matches_after_unicode_normalisation_and_the_display_name(typed):
    assert names_match(typed, "José Núñez", "José Núñez, MD PhD")


@pytest.mark.parametrize("typed", ["Jose Nunez", "José", "J. Núñez"])
def test_typed_signature_still_refuses_another_name(typed):
    assert not names_match(typed, "José Núñez", "José Núñez, MD PhD")


def test_disclosure_signed_with_a_decomposed_name_is_accepted(login_as, app):
    person = factories.user(full_name="Zoë Brontë", degrees="MD")
    client = login_as(person)
    response = client.post("/faculty/disclosure/new", data={
        "has_relationships": "no", "discusses_off_label": "no", "submit": "1",
        "attestation_name": unicodedata.normalize("NFD", "Zoë Brontë"), "attested_complete": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)


# --- The room sign and its code ---------------------------------------------------------


def test_room_sign_carries_the_meeting_dates_provider_and_the_registration_desk(login_as, scene):
    meeting = scene["meeting"]
    meeting.provider_name = "Society of Spine Surgeons"
    meeting.joint_provider_name = "Lakeside CME"
    response = login_as(scene["staff"]).get(f"/staff/rooms/{scene['room'].id}/sign.pdf")
    text = " ".join(pypdf.PdfReader(io.BytesIO(response.data)).pages[0].extract_text().split())
    assert "October 7–9, 2027" in text
    assert "Jointly provided by Society of Spine Surgeons and Lakeside CME" in text
    assert "or ask at the registration desk for a printed copy" in text.lower()


def test_meeting_dates_on_the_sign_read_naturally_across_months_and_years():
    from disclosures.documents.sign import meeting_dates

    assert meeting_dates(date(2027, 10, 7), date(2027, 10, 7)) == "October 7, 2027"
    assert meeting_dates(date(2027, 9, 30), date(2027, 10, 2)) == "September 30 – October 2, 2027"
    assert meeting_dates(date(2027, 12, 31), date(2028, 1, 2)) == "December 31, 2027 – January 2, 2028"


def test_new_and_reissued_room_codes_are_22_characters_and_old_43_character_codes_keep_working(
        login_as, scene, client):
    room = scene["room"]
    assert len(room.public_token) == 22
    old = factories.room(scene["meeting"], "Hall B")
    old.public_token = "A" * 43  # a code printed before: 256 bits, 43 characters
    db.session.commit()
    assert client.get(f"/r/{'A' * 43}").status_code == 200
    login_as(scene["staff"], client).post(f"/staff/rooms/{old.id}/reissue-token")
    reissued = db.session.get(Room, old.id).public_token
    assert len(reissued) == 22 and reissued != "A" * 43


def test_attendee_header_links_to_the_meetings_public_page_not_the_login_page(client, scene):
    db.session.commit()
    for path in (f"/r/{scene['room'].public_token}", "/m/spine-2027/disclosures"):
        html = client.get(path).get_data(as_text=True)
        header = html.split('<header class="site-header">', 1)[1].split("</header>", 1)[0]
        assert 'class="brand" href="/m/spine-2027/disclosures"' in header, path
        assert "/login" not in header


# --- Provider fields of a meeting -------------------------------------------------------


def _meeting_form(meeting: Meeting, **changes) -> dict:
    data = {"name": meeting.name, "slug": meeting.slug, "location": "", "starts_on": meeting.starts_on.isoformat(),
            "ends_on": meeting.ends_on.isoformat(), "timezone": meeting.timezone, "disclosure_deadline": "",
            "provider_name": "", "joint_provider_name": "", "disclosure_policy_url": ""}
    return {**data, **changes}


def test_staff_set_the_accredited_provider_joint_provider_and_policy_address_and_it_is_audited(login_as, scene):
    meeting = scene["meeting"]
    response = login_as(scene["staff"]).post(f"/staff/meetings/{meeting.id}/edit", data=_meeting_form(
        meeting, provider_name="  Society of  Spine Surgeons ", joint_provider_name="Lakeside CME",
        disclosure_policy_url="https://cme.example.org/disclosure-policy"))
    assert response.status_code in (200, 302)
    saved = db.session.get(Meeting, meeting.id)
    assert (saved.provider_name, saved.joint_provider_name, saved.disclosure_policy_url) == (
        "Society of Spine Surgeons", "Lakeside CME", "https://cme.example.org/disclosure-policy")
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "meeting.updated"))
    assert set(event.changes) >= {"provider_name", "joint_provider_name", "disclosure_policy_url"}


@pytest.mark.parametrize("url", ["http://cme.example.org/policy", "javascript:alert(1)", "cme.example.org",
                                 "https://", "https://cme.example.org/a b"])
def test_the_disclosure_policy_address_must_be_https(login_as, scene, url):
    meeting = scene["meeting"]
    response = login_as(scene["staff"]).post(f"/staff/meetings/{meeting.id}/edit",
                                             data=_meeting_form(meeting, disclosure_policy_url=url))
    assert response.status_code == 400
    assert "starts with https://" in response.get_data(as_text=True)
    assert db.session.get(Meeting, meeting.id).disclosure_policy_url is None


def test_the_policy_address_rule_holds_in_the_operation_too(app, scene):
    from disclosures.staff import operations as ops

    with pytest.raises(ops.ProgrammeError, match="https://"):
        ops.update_meeting(None, scene["meeting"], disclosure_policy_url="http://cme.example.org")


def test_room_names_compare_ignoring_case_spaces_and_punctuation():
    assert comparison_key("ballroom a") == comparison_key("Ballroom-A.") == comparison_key("BALLROOM  A")
    assert comparison_key("Hall 1") != comparison_key("Hall 11")
