"""The whole workflow as its users meet it, in a real browser against a real server:
staff set up a session, a speaker discloses on a phone, a reviewer decides and
mitigates, and an attendee scans the room's QR code and reads the sheet."""

from __future__ import annotations

import io
import re
import subprocess
import tempfile
from datetime import date, timedelta

import zxingcpp
from PIL import Image

from .conftest import PHONE, REVIEWER_PASSWORD, STAFF_PASSWORD

DESKTOP = {"width": 1280, "height": 900}
SPEAKER_EMAIL = "ines.ortega@e2e.example.org"
SPEAKER_NAME = "Inés Ortega-Núñez"
RELEVANT = "Meridian Spine Technologies"
IRRELEVANT = "Granite Reagents"
MITIGATED = "All relevant financial relationships listed for this individual have been mitigated"


def log_in(page, base, email, password):
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def test_disclose_review_and_read_the_room_sheet(live_server, browser, step, console_errors):
    base = live_server
    start = date.today() + timedelta(days=10)

    # 1. Staff: a meeting, a room, a session, an invited speaker assigned to it.
    staff_ctx = browser.new_context(viewport=DESKTOP)
    staff = console_errors(staff_ctx.new_page())
    log_in(staff, base, "staff@e2e.example.org", STAFF_PASSWORD)
    staff.goto(f"{base}/staff/meetings/new")
    staff.get_by_label("Meeting name").fill("Spine Update Live")
    staff.get_by_label("Short name (slug)").fill("spine-live")
    staff.get_by_label("First day").fill(start.isoformat())
    staff.get_by_label("Last day").fill((start + timedelta(days=1)).isoformat())
    staff.get_by_label("Time zone").fill("America/Chicago")
    step(staff, "staff-new-meeting")
    staff.get_by_role("button", name="Save meeting").click()
    staff.wait_for_load_state()
    meeting_url = staff.url
    assert re.search(r"/staff/meetings/\d+$", meeting_url), meeting_url

    # Roles are per meeting: the reviewer reviews this one.
    staff.get_by_role("link", name="Access").click()
    staff.wait_for_load_state()
    staff.get_by_label("Email").fill("reviewer@e2e.example.org")
    staff.get_by_label("Role", exact=True).select_option(label="Reviewer")
    staff.get_by_role("button", name="Give the role").click()
    staff.wait_for_load_state()
    assert "Rita Reviewer is now reviewer of this meeting" in staff.content()
    step(staff, "staff-access")

    staff.goto(f"{meeting_url}/rooms/new")
    staff.get_by_label("Room name").fill("Ballroom C")
    staff.get_by_role("button", name="Save room").click()
    staff.wait_for_load_state()

    staff.goto(f"{meeting_url}/activities/new")
    staff.get_by_label("Activity code").fill("S100")
    staff.get_by_label("Title").fill("Lumbar fusion: what the registries show")
    staff.get_by_label("Room").select_option(label="Ballroom C")
    staff.get_by_label("Starts (meeting time)").fill(f"{start.isoformat()}T09:00")
    staff.get_by_label("Ends (meeting time)").fill(f"{start.isoformat()}T10:15")
    staff.get_by_label("Topics").fill("lumbar fusion\nspinal implants")
    staff.get_by_label("Credit hours").fill("1.25")
    step(staff, "staff-new-activity")
    staff.get_by_role("button", name="Save activity").click()
    staff.wait_for_load_state()

    staff.goto(f"{base}/staff/people/invite")
    staff.get_by_label("Email").fill(SPEAKER_EMAIL)
    staff.get_by_label("Full name").fill(SPEAKER_NAME)
    staff.get_by_label("Degrees").fill("MD")
    staff.get_by_role("button", name="Create account and send invitation").click()
    staff.wait_for_load_state()
    invitation = staff.get_by_role("textbox", name=re.compile("^Invitation link")).input_value()
    assert "/invitation/" in invitation
    step(staff, "staff-invited")

    staff.goto(meeting_url)
    staff.get_by_role("link", name=re.compile("Assign", re.I)).first.click()
    staff.wait_for_load_state()
    staff.get_by_label("Email").fill(SPEAKER_EMAIL)
    staff.get_by_label("Role").select_option(label="Speaker")
    staff.get_by_role("button", name="Assign").click()
    staff.wait_for_load_state()
    assert SPEAKER_NAME in staff.goto(meeting_url).text()
    step(staff, "staff-meeting")

    # 2. The speaker, on a phone: accept the invitation, disclose two relationships, attest.
    phone_ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone = console_errors(phone_ctx.new_page())
    phone.goto(invitation)
    step(phone, "speaker-invitation")
    phone.get_by_label("New password").fill("a speaker's long password")
    phone.get_by_label("Repeat the password").fill("a speaker's long password")
    phone.get_by_role("button", name="Set password").click()
    phone.wait_for_load_state()
    step(phone, "speaker-home")
    phone.get_by_role("link", name=re.compile("disclos", re.I)).filter(has_text=re.compile("Disclose|Update|Start", re.I)).first.click()
    phone.wait_for_load_state()
    phone.get_by_label(re.compile("I have had financial relationships", re.I)).check()
    rows = phone.locator("[data-relationship-row], .relationship-row, fieldset.relationship")
    first = rows.nth(0)
    first.get_by_label("Company").fill(RELEVANT)
    first.get_by_label("Nature of the relationship").select_option(label="Consultant")
    first.get_by_label("Started on").fill((date.today() - timedelta(days=300)).isoformat())
    first.get_by_label("Ongoing").check()
    phone.get_by_role("button", name=re.compile("Add another relationship")).click()
    second = rows.nth(1)
    second.get_by_label("Company").fill(IRRELEVANT)
    second.get_by_label("Nature of the relationship").select_option(label="Speaker / speakers bureau")
    second.get_by_label("Started on").fill((date.today() - timedelta(days=200)).isoformat())
    second.get_by_label("Ended on").fill((date.today() - timedelta(days=30)).isoformat())
    phone.get_by_label(re.compile("Type your full name", re.I)).fill(SPEAKER_NAME.upper())
    phone.locator("input[name=attested_complete]").check()
    step(phone, "speaker-form-filled")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.get_by_role("button", name="Submit disclosure").last.click()
    phone.wait_for_load_state()
    body = phone.locator("main").inner_text()
    assert "submitted" in body.lower()
    step(phone, "speaker-submitted")

    # 3. The reviewer: one relevant (with a mitigation), one not relevant.
    rev_ctx = browser.new_context(viewport=DESKTOP)
    reviewer = console_errors(rev_ctx.new_page())
    log_in(reviewer, base, "reviewer@e2e.example.org", REVIEWER_PASSWORD)
    # Reviewers are in control of content too: they decide only once their own disclosure
    # for the meeting is current (and reviewed). The reviewer page says so and links to it.
    reviewer.goto(f"{base}/review/")
    reviewer.get_by_role("link", name=re.compile(re.escape(SPEAKER_NAME.split()[0]))).first.click()
    reviewer.wait_for_load_state()
    assert "Go to your own disclosure" in reviewer.locator("main").inner_text()
    step(reviewer, "reviewer-own-disclosure-first")
    reviewer.get_by_role("link", name="Go to your own disclosure").click()
    reviewer.wait_for_load_state()
    reviewer.get_by_role("link", name=re.compile("disclos", re.I)).filter(
        has_text=re.compile("Disclose|Update|Start", re.I)).first.click()
    reviewer.wait_for_load_state()
    reviewer.get_by_label("I have had none").check()
    reviewer.get_by_label(re.compile("Type your full name", re.I)).fill("Rita Reviewer")
    reviewer.locator("input[name=attested_complete]").check()
    reviewer.get_by_role("button", name="Submit disclosure").last.click()
    reviewer.wait_for_load_state()
    assert "submitted" in reviewer.locator("main").inner_text().lower()
    reviewer.goto(f"{base}/review/")
    step(reviewer, "reviewer-queue")
    reviewer.get_by_role("link", name=re.compile(re.escape(SPEAKER_NAME.split()[0]))).first.click()
    reviewer.wait_for_load_state()
    relevant = reviewer.locator("section.review-relationship", has_text=RELEVANT)
    relevant.get_by_label("Relevant", exact=True).check()
    relevant.get_by_label(re.compile("Rationale", re.I)).fill("The company sells fusion implants.")
    relevant.get_by_role("button", name="Save decision").click()
    reviewer.wait_for_load_state()
    relevant = reviewer.locator("section.review-relationship", has_text=RELEVANT)
    relevant.get_by_label("Mitigation").select_option(value="peer_review")
    relevant.get_by_label(re.compile("Notes", re.I)).fill("Slides peer reviewed by the planning committee.")
    relevant.get_by_role("button", name="Record mitigation").click()
    reviewer.wait_for_load_state()
    other = reviewer.locator("section.review-relationship", has_text=IRRELEVANT)
    other.get_by_label("Not relevant", exact=True).check()
    other.get_by_label(re.compile("Rationale", re.I)).fill("Reagents are unrelated to this talk.")
    other.get_by_role("button", name="Save decision").click()
    reviewer.wait_for_load_state()
    # The speaker typed the company: until staff confirm it (and its public name) it is
    # printed nowhere, and a role whose relevant relationship names it is not cleared.
    assert "company awaiting confirmation by staff" in reviewer.locator("main").inner_text()
    staff.goto(f"{base}/staff/companies")
    staff.get_by_role("link", name=re.compile("Review " + re.escape(RELEVANT))).first.click()
    staff.wait_for_load_state()
    staff.get_by_label(re.compile("^Ineligible:")).check()
    staff.get_by_role("button", name="Confirm", exact=True).click()
    staff.wait_for_load_state()
    reviewer.reload()
    assert "Cleared" in reviewer.locator("main").inner_text()
    step(reviewer, "reviewer-decided")

    # 4. The attendee: decode the room's QR code, open it on a phone, read the sheet.
    staff.goto(meeting_url + "/starting-soon?hours=336")
    assert "Starting soon" in staff.locator("h1").inner_text()
    step(staff, "staff-starting-soon")
    staff.goto(meeting_url + "/rooms")
    step(staff, "staff-room-codes")
    png_href = staff.get_by_role("link", name=re.compile("PNG", re.I)).first.get_attribute("href")
    png = staff_ctx.request.get(base + png_href if png_href.startswith("/") else png_href)
    assert png.ok
    decoded = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(png.body())), formats=zxingcpp.BarcodeFormat.QRCode
    )
    assert len(decoded) == 1
    room_url = decoded[0].text
    assert room_url.startswith(f"{base}/r/")

    attendee_ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    attendee = console_errors(attendee_ctx.new_page())
    attendee.goto(room_url)
    sheet = attendee.locator("main").inner_text()
    assert SPEAKER_NAME in sheet
    assert RELEVANT in sheet and "Consultant" in sheet
    assert MITIGATED in sheet
    assert IRRELEVANT not in sheet
    assert "fusion implants" not in sheet and "peer reviewed" not in sheet  # internal notes
    assert attendee.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    step(attendee, "attendee-room-sheet")

    pdf_href = attendee.get_by_role("link", name=re.compile("PDF", re.I)).first.get_attribute("href")
    pdf = attendee_ctx.request.get(base + pdf_href if pdf_href.startswith("/") else pdf_href)
    assert pdf.ok and pdf.headers["content-type"].startswith("application/pdf")
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(pdf.body())
        handle.flush()
        text = subprocess.run(["pdftotext", "-layout", handle.name, "-"], capture_output=True,
                              text=True, check=True).stdout
        from pypdf import PdfReader

        reader = PdfReader(handle.name)
        assert "Ballroom C" in (reader.metadata.title or "")  # a title for screen readers
        assert str(reader.trailer["/Root"].get("/Lang", "")).startswith("en")
    flat = " ".join(text.split())
    # pdftotext follows the reading order: the session, then the person, then the statement.
    assert flat.index("Lumbar fusion: what the registries show") < flat.index(SPEAKER_NAME) < flat.index(MITIGATED)
    assert SPEAKER_NAME in flat and RELEVANT in flat
    assert MITIGATED in flat
    assert IRRELEVANT not in flat

    assert console_errors.errors == []
    for context in (staff_ctx, phone_ctx, rev_ctx, attendee_ctx):
        context.close()
