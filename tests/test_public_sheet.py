"""The room sheet and the all-faculty page: what attendees read, in HTML and PDF."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pypdf
import pytest
import sqlalchemy as sa

from disclosures import wording
from disclosures.demo import load_demo_meeting
from disclosures.enums import AssignmentRole, AssignmentState, Nature
from disclosures.extensions import db
from disclosures.models import (
    Assignment,
    CommercialSupport,
    Company,
    Determination,
    Meeting,
    Mitigation,
    User,
)
from disclosures.public import microcache
from disclosures.state import judgements

from . import factories

MITIGATED = wording.MITIGATED
NONE = wording.NO_RELATIONSHIPS
REVIEW = wording.UNDER_REVIEW


def pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def html_text(response) -> str:
    import html
    import re

    text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(text).split())


@pytest.fixture()
def scenario(app):
    """One room, one activity: cleared with a relevant and an irrelevant relationship,
    cleared without relationships, awaiting review, and an unconfirmed company."""
    meeting = factories.meeting(name="Spine & Pain <Summit>")
    room = factories.room(meeting, "Ballroom C")
    activity = factories.activity(meeting, room, title="Lumbar fusion update",
                                  commercial_supporters=[{"name": "Sponsor Medical", "in_kind": None},
                                                         {"name": "Loaner Devices", "in_kind": "Loan of instruments"}])
    reviewer = factories.reviewer(meeting, full_name="Rita Reviewer")
    relevant_co = factories.company("Relevant Spine Devices")
    irrelevant_co = factories.company("Irrelevant Pharma")
    secret_co = factories.company("Unreviewed Biologics")

    cleared = factories.user(full_name="Amelia Cleared", degrees="MD", email="amelia@example.org")
    d = factories.disclosure(cleared, [(relevant_co, Nature.CONSULTANT), (irrelevant_co, Nature.SPEAKER)])
    a_cleared = factories.assignment(cleared, activity, discusses_off_label=True,
                                     off_label_detail="Off-label use of drug Z.")
    det = factories.determination(d.relationships[0], a_cleared, reviewer, relevant=True,
                                  rationale="SECRET RATIONALE relevant")
    factories.mitigation(det, reviewer, notes="SECRET MITIGATION NOTE")
    factories.determination(d.relationships[1], a_cleared, reviewer, relevant=False,
                            rationale="SECRET RATIONALE irrelevant")

    none = factories.user(full_name="Noah Nothing", degrees="DO")
    factories.disclosure(none, [])
    factories.assignment(none, activity, AssignmentRole.MODERATOR)

    pending = factories.user(full_name="Paula Pending", degrees=None)
    factories.disclosure(pending, [(secret_co, Nature.ADVISOR)])
    factories.assignment(pending, activity, AssignmentRole.PANELIST)

    missing = factories.user(full_name="Mo Missing")
    factories.assignment(missing, activity, AssignmentRole.PANELIST)
    db.session.commit()
    return {"room": room, "meeting": meeting, "token": room.public_token}


def _check_scenario_text(text: str) -> None:
    assert "Amelia Cleared, MD" in text
    assert "Relevant Spine Devices — Consultant" in text
    assert MITIGATED in text
    assert wording.no_relationships("Noah Nothing, DO") in text
    assert "Paula Pending" in text and "Mo Missing" in text
    assert text.count(REVIEW) == 1  # Paula Pending: disclosed, not yet reviewed
    assert text.count(wording.AWAITING) == 1  # Mo Missing: nothing received
    assert "Sponsor Medical" in text and "Loaner Devices (in-kind: Loan of instruments)" in text
    assert "This presentation includes discussion of off-label use of drug Z." in text
    for hidden in ("Irrelevant Pharma", "Unreviewed Biologics", "SECRET", "@example.org"):
        assert hidden not in text


def test_room_sheet_shows_exact_public_statements(client, scenario):
    response = client.get(f"/r/{scenario['token']}")
    assert response.status_code == 200
    text = html_text(response)
    _check_scenario_text(text)
    assert "Ballroom C" in text and "Spine & Pain <Summit>" in text
    assert "Lumbar fusion update" in text


def test_room_sheet_pdf_shows_exact_public_statements(client, scenario):
    response = client.get(f"/r/{scenario['token']}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.data))
    assert "Ballroom C" in reader.metadata.title
    assert reader.metadata.author == "CME Disclosures"
    assert reader.trailer["/Root"]["/Lang"] == "en-US"
    text = pdf_text(response.data)
    _check_scenario_text(text)
    assert "Spine & Pain <Summit>" in text  # escaped, not parsed as markup
    assert "Page 1 of 1" in text


@pytest.mark.parametrize("size, width", [("letter", 612), ("a4", 595)])
def test_room_sheet_pdf_page_size_follows_query(client, scenario, size, width):
    response = client.get(f"/r/{scenario['token']}.pdf?size={size}")
    page = pypdf.PdfReader(io.BytesIO(response.data)).pages[0]
    assert round(float(page.mediabox.width)) == width


def test_room_sheet_pdf_unknown_size_is_400(client, scenario):
    response = client.get(f"/r/{scenario['token']}.pdf?size=tabloid")
    assert response.status_code == 400
    assert b"size=letter" in response.data


def test_room_sheet_unknown_token_is_friendly_404(client, scenario):
    for path in ("/r/not-a-real-token", "/r/not-a-real-token.pdf"):
        response = client.get(path)
        assert response.status_code == 404
        assert b"scan the code posted at the room entrance" in response.data


def test_room_sheet_conditional_get_answers_304(client, scenario):
    first = client.get(f"/r/{scenario['token']}")
    etag = first.headers["ETag"]
    assert first.headers["Last-Modified"]
    assert client.get(f"/r/{scenario['token']}", headers={"If-None-Match": etag}).status_code == 304
    assert client.get(f"/r/{scenario['token']}",
                      headers={"If-Modified-Since": first.headers["Last-Modified"]}).status_code == 304
    pdf = client.get(f"/r/{scenario['token']}.pdf")
    assert client.get(f"/r/{scenario['token']}.pdf",
                      headers={"If-None-Match": pdf.headers["ETag"]}).status_code == 304


def test_room_sheet_changes_when_a_review_is_recorded(client, scenario, app):
    first = client.get(f"/r/{scenario['token']}")
    pdf_first = client.get(f"/r/{scenario['token']}.pdf")
    pending = db.session.scalars(sa.select(Assignment).join(Assignment.user)
                                 .where(Assignment.role == AssignmentRole.PANELIST)).all()
    reviewer = db.session.scalars(sa.select(User).where(User.full_name == "Rita Reviewer")).one()
    paula = next(a for a in pending if a.user.full_name == "Paula Pending")
    relationship = paula.user.disclosures[-1].relationships[0]
    factories.determination(relationship, paula, reviewer, relevant=False)
    db.session.commit()

    second = client.get(f"/r/{scenario['token']}", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert second.headers["ETag"] != first.headers["ETag"]
    assert wording.no_relationships("Paula Pending") in html_text(second)
    pdf_second = client.get(f"/r/{scenario['token']}.pdf")
    assert wording.no_relationships("Paula Pending") in pdf_text(pdf_second.data)
    assert pdf_text(pdf_first.data).count(REVIEW) == 1
    assert pdf_text(pdf_second.data).count(REVIEW) == 0


def test_room_sheet_pdf_is_built_once_and_every_server_serves_the_same_bytes(client, scenario, app):
    """The PDF of a sheet version is kept in the database: another app server (here: past
    this one's micro-cache) serves it byte for byte, and its SHA-256 is on record."""
    import hashlib

    from disclosures.models import SheetPdf

    first = client.get(f"/r/{scenario['token']}.pdf")
    microcache.clear()
    again = client.get(f"/r/{scenario['token']}.pdf")
    assert again.data == first.data
    [stored] = db.session.scalars(sa.select(SheetPdf).where(SheetPdf.size == "letter")).all()
    assert stored.sha256 == hashlib.sha256(first.data).hexdigest()


def test_room_sheet_lists_today_first_while_meeting_runs(client):
    meeting = factories.meeting(starts_on=date.today() - timedelta(days=1), days=2, timezone="UTC")
    room = factories.room(meeting, "Hall 1")
    factories.activity(meeting, room, title="Yesterday talk",
                       starts_at=datetime.combine(date.today() - timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=9))
    factories.activity(meeting, room, title="Today talk",
                       starts_at=datetime.combine(date.today(), datetime.min.time(), tzinfo=UTC) + timedelta(hours=9))
    factories.activity(meeting, room, title="Tomorrow talk",
                       starts_at=datetime.combine(date.today() + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=9))
    db.session.commit()
    text = html_text(client.get(f"/r/{room.public_token}"))
    assert text.index("Today talk") < text.index("Yesterday talk")
    assert text.index("Today talk") < text.index("Tomorrow talk")
    assert "Today" in text


# --- Demo meeting: exact names, companies and statements -----------------------------------

@pytest.fixture()
def demo(app):
    load_demo_meeting(password="x" * 12)
    db.session.commit()
    return db.session.scalars(sa.select(Meeting)).one()


def _expected(assignments):
    """What the rule says each role's statement is, judged from scratch as of its start."""
    judged = judgements([a.id for a in assignments])
    companies = set()
    counts = {"awaiting": 0, "review": 0, "relevant": 0, "none": 0}
    for a in assignments:
        judgement = judged[a.id]
        if judgement.state is AssignmentState.EXCLUDED:
            continue  # left off every public document (staff replace them)
        if judgement.state is AssignmentState.AWAITING_DISCLOSURE:
            counts["awaiting"] += 1
        elif not judgement.is_cleared:
            counts["review"] += 1
        elif judgement.relevant:
            counts["relevant"] += 1
            companies.update(line.company for line in judgement.relevant)
        else:
            counts["none"] += 1
    return counts, companies


def _check_exact(text: str, assignments) -> None:
    # Roles in non-accredited sessions (the demo's industry lunch) are listed apart, with no
    # statement; commercial supporters are acknowledged by name (Standard 4).
    assignments = [a for a in assignments if a.activity is None or a.activity.is_accredited]
    supporters = set(db.session.scalars(
        sa.select(Company.name).join(CommercialSupport, CommercialSupport.company_id == Company.id)))
    counts, companies = _expected(assignments)
    assert text.count(wording.AWAITING) == counts["awaiting"]
    assert text.count(REVIEW) == counts["review"]
    assert text.count(MITIGATED) == counts["relevant"]
    assert text.count(NONE) == counts["none"]
    all_companies = db.session.scalars(sa.select(Company.name)).all()
    for name in all_companies:
        if name in supporters and name not in companies:
            continue
        assert (name in text) == (name in companies), name
    states = {a.id: a.state for a in assignments}
    shown = {a.user.full_name for a in assignments if states[a.id] is not AssignmentState.EXCLUDED}
    for a in assignments:
        assert (a.user.full_name in text) == (a.user.full_name in shown), a.user.full_name
    notes = db.session.scalars(sa.select(Mitigation.notes)).all()
    rationales = db.session.scalars(sa.select(Determination.rationale)).all()
    for secret in {*notes, *rationales}:
        assert secret not in text
    assert "@example.org" not in text


def _room_with_most_activities(meeting):
    return max(meeting.rooms, key=lambda r: len(r.activities))


def test_room_sheet_demo_shows_exactly_the_right_statements(client, demo):
    room = _room_with_most_activities(demo)
    assignments = [a for act in room.activities for a in act.assignments if not a.is_removed]
    counts, companies = _expected(assignments)
    assert counts["review"] and counts["relevant"] and counts["none"] and companies
    _check_exact(html_text(client.get(f"/r/{room.public_token}")), assignments)
    _check_exact(pdf_text(client.get(f"/r/{room.public_token}.pdf").data), assignments)


def test_all_faculty_demo_shows_everyone_with_exact_statements(client, demo):
    assignments = db.session.scalars(sa.select(Assignment).where(Assignment.removed_at.is_(None))).all()
    page = client.get("/disclosures")
    assert page.status_code == 200
    _check_exact(html_text(page), assignments)
    booklet = client.get("/disclosures.pdf")
    assert booklet.status_code == 200
    text = pdf_text(booklet.data)
    # The HTML page lists the planning committee and reviewers (roles held for the whole
    # meeting) in a section of their own; the printed booklet lists session roles.
    _check_exact(text, [a for a in assignments if a.activity_id is not None])
    for name in ("José Álvarez-Peña", "Zoë Brontë-Søndergaard", "王伟 (Wang Wei)", "Дмитрий Соколов"):
        assert name in text


def test_room_sheet_pdf_renders_non_latin_names(client, demo):
    person = db.session.scalars(sa.select(User).where(User.full_name == "王伟 (Wang Wei)")).one()
    room = next(a.activity.room for a in person.assignments if a.activity.room)
    text = pdf_text(client.get(f"/r/{room.public_token}.pdf").data)
    assert "王伟 (Wang Wei)" in text


def test_all_faculty_is_alphabetical_by_family_name(client, demo):
    text = html_text(client.get(f"/m/{demo.slug}/disclosures"))
    assert text.index("José Álvarez-Peña") < text.index("Zoë Brontë-Søndergaard") < text.index("Maria Okafor")


def test_all_faculty_search_filters_by_name_and_company(client, demo):
    text = html_text(client.get("/disclosures?q=alvarez"))
    assert "José Álvarez-Peña" in text and "Zoë Brontë-Søndergaard" not in text
    assert "1 of " in text
    nobody = client.get("/disclosures?q=zzzz-nobody")
    assert "Nobody matches" in html_text(nobody)
    too_long = client.get("/disclosures?q=" + "x" * 101)
    assert too_long.status_code == 400
    assert "at most 100 characters" in html_text(too_long)


def test_all_faculty_uses_running_or_next_meeting(client):
    factories.meeting(name="Past Meeting", starts_on=date.today() - timedelta(days=100))
    factories.meeting(name="Next Meeting", starts_on=date.today() + timedelta(days=10))
    factories.meeting(name="Later Meeting", starts_on=date.today() + timedelta(days=200))
    db.session.commit()
    assert "Next Meeting" in html_text(client.get("/disclosures"))


def test_all_faculty_without_any_meeting_is_404(client):
    assert client.get("/disclosures").status_code == 404
    assert client.get("/m/no-such-meeting/disclosures").status_code == 404


def test_all_faculty_conditional_get_answers_304(client, scenario):
    first = client.get("/disclosures")
    assert client.get("/disclosures", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    pdf = client.get("/disclosures.pdf")
    assert client.get("/disclosures.pdf", headers={"If-None-Match": pdf.headers["ETag"]}).status_code == 304
