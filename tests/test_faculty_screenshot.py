"""The disclosure form on a 390-px phone, in a real browser (Debian Chromium via Playwright).

Runs only when SCREENSHOTS names a folder (it needs Chromium and a free port 5101):

    SCREENSHOTS=/tmp/shots .venv/bin/pytest -q tests/test_faculty_screenshot.py

It saves PNGs of the home page, the form (after adding a row with JavaScript) and
the form with errors, and fails when any of them scrolls sideways on a phone.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from disclosures.enums import Nature

from . import factories

SHOTS = os.environ.get("SCREENSHOTS")
PORT = int(os.environ.get("SCREENSHOT_PORT", "5101"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.skipif(not SHOTS, reason="set SCREENSHOTS=<folder> to take phone screenshots")


@pytest.fixture()
def served(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", PORT, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{PORT}"
    server.shutdown()
    thread.join()


def test_disclosure_form_fits_a_390px_phone(app, served):
    from playwright.sync_api import sync_playwright

    from disclosures.extensions import db

    out = Path(SHOTS)
    out.mkdir(parents=True, exist_ok=True)
    person = factories.user(full_name="Alexandra Castellanos-Whitfield", email="alex@example.org")
    meeting = factories.meeting(name="Annual Spine Meeting", timezone="America/Chicago")
    room = factories.room(meeting, "Grand Ballroom C")
    factories.assignment(person, factories.activity(meeting, room, title="Minimally invasive lumbar fusion: outcomes at five years"))
    factories.company("Johnson & Johnson", aliases=["J&J"])
    factories.disclosure(
        person, [(factories.company("Medtronic"), Nature.CONSULTANT)],
        submitted_at=datetime.now(UTC) - timedelta(days=40),
    )
    db.session.commit()

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{served}/login")
        page.fill("input[name=email]", person.email)
        page.fill("input[name=password]", factories.PASSWORD)
        page.click("button[type=submit], input[type=submit]")
        page.goto(f"{served}/faculty/")
        widths = {"home": page.evaluate("document.documentElement.scrollWidth")}
        page.screenshot(path=str(out / "faculty-home-390.png"), full_page=True)

        page.goto(f"{served}/faculty/disclosure/new")
        page.click("[data-add-row]")  # JavaScript adds the row in place
        assert page.locator("[data-row]").count() == 2
        assert page.input_value("#relationships-0-company") == "Medtronic"  # the last version
        page.fill("#relationships-1-company", "J&J")
        page.select_option("#relationships-1-nature", "speaker")
        page.fill("#relationships-1-started_on", (datetime.now(UTC).date() - timedelta(days=90)).isoformat())
        page.check("#relationships-1-ongoing")
        widths["form"] = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(out / "disclosure-form-390.png"), full_page=True)

        page.click("form.disclosure-form .actions button.primary")  # no signature: errors
        page.wait_for_selector(".error-summary")
        widths["errors"] = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(out / "disclosure-form-errors-390.png"), full_page=True)
        browser.close()

    assert widths == {"home": 390, "form": 390, "errors": 390}
