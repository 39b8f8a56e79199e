"""The first-slide disclosure: who may download it and what it says."""

from __future__ import annotations

import io

import pypdf
import pytest

from disclosures import wording
from disclosures.enums import Nature
from disclosures.extensions import db

from . import factories


@pytest.fixture()
def talk(app):
    meeting = factories.meeting(name="Spine Forum 2030")
    room = factories.room(meeting, "Room 201")
    activity = factories.activity(meeting, room, title="Robotic navigation in pedicle screws")
    reviewer = factories.reviewer(meeting)
    speaker = factories.user(full_name="Søren Kierkegaard-Østergaard", degrees="MD")
    d = factories.disclosure(speaker, [(factories.company("Northstar Robotics"), Nature.CONSULTANT),
                                       (factories.company("Quiet Pharma"), Nature.SPEAKER)])
    assignment = factories.assignment(speaker, activity)
    det = factories.determination(d.relationships[0], assignment, reviewer, relevant=True,
                                  rationale="HIDDEN rationale")
    factories.mitigation(det, reviewer, notes="HIDDEN note")
    factories.determination(d.relationships[1], assignment, reviewer, relevant=False)
    db.session.commit()
    return {"assignment": assignment, "speaker": speaker, "reviewer": reviewer, "activity": activity}


def slide_text(response) -> str:
    reader = pypdf.PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == 1
    return " ".join(reader.pages[0].extract_text().split())


def test_slide_requires_login(client, talk):
    response = client.get(f"/assignments/{talk['assignment'].id}/slide.pdf")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_slide_is_403_for_other_faculty(login_as, talk):
    client = login_as(factories.user(full_name="Other Speaker"))
    response = client.get(f"/assignments/{talk['assignment'].id}/slide.pdf")
    assert response.status_code == 403
    assert b"You can see only your own disclosures" in response.data


def test_slide_for_missing_assignment_is_404(login_as, talk):
    client = login_as(factories.admin())
    assert client.get("/assignments/999999/slide.pdf").status_code == 404


@pytest.mark.parametrize("who", ["speaker", "reviewer", "staff"])
def test_slide_shows_relevant_relationships_and_mitigation(login_as, talk, who):
    user = factories.admin() if who == "staff" else talk[who]
    response = login_as(user).get(f"/assignments/{talk['assignment'].id}/slide.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    page = pypdf.PdfReader(io.BytesIO(response.data)).pages[0]
    ratio = float(page.mediabox.width) / float(page.mediabox.height)
    assert abs(ratio - 16 / 9) < 0.01
    text = slide_text(response)
    assert "Søren Kierkegaard-Østergaard, MD" in text
    assert "Robotic navigation in pedicle screws" in text
    assert "Northstar Robotics — Consultant" in text
    assert wording.MITIGATED in text
    for hidden in ("Quiet Pharma", "HIDDEN"):
        assert hidden not in text


def test_slide_for_unreviewed_assignment_says_under_review(login_as):
    meeting = factories.meeting()
    activity = factories.activity(meeting, factories.room(meeting))
    speaker = factories.user(full_name="Una Reviewed")
    factories.disclosure(speaker, [(factories.company("Pending Devices"), Nature.ADVISOR)])
    assignment = factories.assignment(speaker, activity)
    text = slide_text(login_as(speaker).get(f"/assignments/{assignment.id}/slide.pdf"))
    assert wording.UNDER_REVIEW in text
    assert "Pending Devices" not in text


def test_slide_without_relationships_says_so(login_as):
    meeting = factories.meeting()
    activity = factories.activity(meeting, factories.room(meeting))
    speaker = factories.user(full_name="Clara Clean", degrees="PhD")
    factories.disclosure(speaker, [])
    assignment = factories.assignment(speaker, activity)
    text = slide_text(login_as(speaker).get(f"/assignments/{assignment.id}/slide.pdf"))
    assert wording.no_relationships("Clara Clean, PhD") in text


def test_faculty_home_links_to_slide_once_cleared(login_as, talk):
    page = login_as(talk["speaker"]).get("/faculty/").get_data(as_text=True)
    assert f"/assignments/{talk['assignment'].id}/slide.pdf" in page
