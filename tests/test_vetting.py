"""Only vetted text reaches learners (issue 16; ACCME Standard 3, Standard 4).

- Companies typed by faculty are published only after staff confirm the company and its
  public name (correct legal name, no trade names, no ® or ™, no slogans); a role whose
  relevant relationship names an unconfirmed company is not cleared.
- Text with ®, ™, "#1", web addresses or prices in a printed field is flagged to staff
  (and to faculty on their form): a warning, not a refusal, except a company's public name,
  which staff cannot confirm while it carries ® or ™.
- A relationship of nature "Other" requires a short description, which is what learners read.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pypdf
import pytest
import sqlalchemy as sa

from disclosures import vetting, wording
from disclosures.enums import AssignmentState, Nature
from disclosures.extensions import db
from disclosures.faculty import operations as faculty
from disclosures.models import Activity, Assignment, AuditEvent, Company, CompanyAlias, Statement
from disclosures.publication.operations import refresh
from disclosures.registry import operations as registry
from disclosures.state import judgements

from . import factories
from .test_faculty_views import form_data, rel

AWAITING_CONFIRMATION = "1 company awaiting confirmation by staff"


def html_text(response) -> str:
    import html
    import re

    text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(text).split())


def pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def stored(assignment: Assignment) -> Assignment:
    """The stored role, checked against the rule judged again from scratch."""
    db.session.flush()
    db.session.expire_all()
    row = db.session.get(Assignment, assignment.id)
    judged = judgements([assignment.id])[assignment.id]
    assert (row.state, tuple(row.state_reasons)) == (judged.state, judged.reasons)
    return row


# --------------------------------------------------------------------------- the detector


@pytest.mark.parametrize("text, flag", [
    ("Acme® Spine", "a trademark sign (® or ™)"),
    ("FlexiCage™ Systems", "a trademark sign (® or ™)"),
    ("Acme (TM) Devices", "a trademark sign (® or ™)"),
    ("The #1 spine company", "a ranking claim such as “#1”"),
    ("Number one in biologics", "a ranking claim such as “#1”"),
    ("Visit https://acme.example", "a web address"),
    ("See www.acme-spine.com", "a web address"),
    ("acmespine.com", "a web address"),
    ("Implant at $4,999", "a price"),
    ("Kit for 250 EUR", "a price"),
    ("Only 99 €", "a price"),
])
def test_printed_text_with_trademark_ranking_url_or_price_is_flagged(text, flag):
    assert flag in vetting.flags(text)
    assert vetting.warning(text, "The name").startswith(f"The name contains {flag}")


@pytest.mark.parametrize("text", [
    "Johnson & Johnson", "Meridian Spine Technologies, Inc.", "Off-label use of rhBMP-2 in the cervical spine",
    "Session #12: lumbar fusion", "St. Catherine Medical Center", "Travel grant for a cadaver course",
    "2.5 mg/kg dosing in children", "", None,
])
def test_plain_printed_text_is_not_flagged(text):
    assert vetting.flags(text) == [] and vetting.warning(text) is None


# --------------------------------------------------------------------------- unconfirmed companies


@pytest.fixture()
def typed_company(app):
    """One speaker whose relevant, mitigated relationship names a company typed by faculty
    that staff have not confirmed, in a room with a public sheet."""
    meeting = factories.meeting(name="Spine Forum")
    room = factories.room(meeting, "Ballroom A")
    activity = factories.activity(meeting, room, title="Expandable cages")
    reviewer = factories.reviewer(meeting)
    staff = factories.staff(meeting)
    typed = factories.company("Spinewave® Startup Devices", needs_review=True)
    speaker = factories.user(full_name="Uma Unconfirmed", degrees="MD")
    d = factories.disclosure(speaker, [(typed, Nature.CONSULTANT)])
    assignment = factories.assignment(speaker, activity)
    det = factories.determination(d.relationships[0], assignment, reviewer, relevant=True)
    factories.mitigation(det, reviewer)
    db.session.commit()
    return {"meeting": meeting, "room": room, "assignment": assignment, "company": typed,
            "speaker": speaker, "staff": staff}


def public_texts(client, speaker_client, s) -> dict[str, str]:
    """Every document learners read, as text: room page and PDF, all-faculty page and
    booklet, the first slide, and the public statements."""
    meeting, room = s["meeting"], s["room"]
    texts = {
        "room page": html_text(client.get(f"/r/{room.public_token}")),
        "room sheet PDF": pdf_text(client.get(f"/r/{room.public_token}.pdf").data),
        "all-faculty page": html_text(client.get(f"/m/{meeting.slug}/disclosures")),
        "booklet PDF": pdf_text(client.get(f"/m/{meeting.slug}/disclosures.pdf").data),
        "first slide": pdf_text(speaker_client.get(
            f"/assignments/{s['assignment'].id}/slide.pdf").data),
        "public statements": "\n".join(db.session.scalars(
            sa.select(Statement.words).where(Statement.meeting_id == meeting.id))),
    }
    for where, text in texts.items():
        assert "Uma Unconfirmed" in text, where
    return texts


def test_standard3_role_naming_an_unconfirmed_company_is_not_cleared(typed_company):
    """Only vetted text reaches learners: a relevant, mitigated relationship with a
    company staff have not confirmed keeps the role from being cleared, with the reason."""
    row = stored(typed_company["assignment"])
    assert row.state is AssignmentState.AWAITING_REVIEW
    assert row.state_reasons == [AWAITING_CONFIRMATION]


def test_unconfirmed_company_never_appears_in_any_public_document_until_staff_confirm_it(
        typed_company, client, login_as):
    """An unconfirmed company never appears in any public document (HTML, PDF, the public
    statements); once staff confirm it and its public name, it does, as confirmed."""
    speaker_client = login_as(typed_company["speaker"])
    for where, text in public_texts(client, speaker_client, typed_company).items():
        assert "Spinewave" not in text, where
        assert "Consultant" not in text, where
    company_id = typed_company["company"].id

    staff = login_as(typed_company["staff"])
    response = staff.post(f"/staff/companies/{company_id}/confirm", data={
        "name": "Spinewave Startup Devices", "eligibility": "ineligible", "note": ""})
    assert response.status_code == 302
    assert stored(typed_company["assignment"]).state is AssignmentState.CLEARED
    for where, text in public_texts(client, speaker_client, typed_company).items():
        assert "Spinewave Startup Devices — Consultant" in text, where
        assert "®" not in text, where


def test_irrelevant_relationship_with_an_unconfirmed_company_does_not_hold_a_role_back(app):
    """Only relevant relationships are printed: one decided not relevant needs no confirmation."""
    meeting = factories.meeting()
    reviewer = factories.reviewer(meeting)
    person = factories.user()
    d = factories.disclosure(person, [(factories.company("Typed Pharma", needs_review=True),
                                       Nature.SPEAKER)])
    assignment = factories.assignment(person, factories.activity(meeting, factories.room(meeting)))
    factories.determination(d.relationships[0], assignment, reviewer, relevant=False)
    row = stored(assignment)
    assert row.state is AssignmentState.CLEARED
    assert "Typed Pharma" not in row.statement.words


def test_unmitigated_relationship_with_an_unconfirmed_company_gives_both_reasons(app):
    meeting = factories.meeting()
    reviewer = factories.reviewer(meeting)
    person = factories.user()
    d = factories.disclosure(person, [(factories.company("Typed One", needs_review=True), Nature.SPEAKER),
                                      (factories.company("Typed Two", needs_review=True), Nature.ADVISOR)])
    assignment = factories.assignment(person, factories.activity(meeting))
    first = factories.determination(d.relationships[0], assignment, reviewer, relevant=True)
    factories.determination(d.relationships[1], assignment, reviewer, relevant=True)
    factories.mitigation(first, reviewer)
    row = stored(assignment)
    assert row.state is AssignmentState.NEEDS_MITIGATION
    assert row.state_reasons == ["1 relevant relationship without a mitigation",
                                 "2 companies awaiting confirmation by staff"]


def test_merging_a_typed_company_into_a_confirmed_one_clears_the_role(typed_company):
    confirmed = factories.company("Spinewave Medical Group")
    registry.merge_companies(typed_company["staff"], typed_company["company"], confirmed)
    row = stored(typed_company["assignment"])
    assert row.state is AssignmentState.CLEARED
    assert "Spinewave Medical Group — Consultant" in row.statement.words


# --------------------------------------------------------------------------- confirming a public name


@pytest.mark.parametrize("name", ["Spinewave® Startup Devices", "Spinewave Startup Devices™",
                                  "Spinewave (R) Startup Devices"])
def test_staff_cannot_confirm_a_public_name_with_a_trademark_sign(typed_company, login_as, name):
    """The public name is the plain legal name: no ® or ™. Refused with the reason, nothing saved."""
    company_id = typed_company["company"].id
    response = login_as(typed_company["staff"]).post(
        f"/staff/companies/{company_id}/confirm",
        data={"name": name, "eligibility": "ineligible", "note": ""})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "carries a trademark sign (® or ™)" in page and "remove the sign, then confirm" in page
    company = db.session.get(Company, company_id)
    assert company.needs_review and company.name == "Spinewave® Startup Devices"
    assert not db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "company.confirmed")).all()
    assert stored(typed_company["assignment"]).state is AssignmentState.AWAITING_REVIEW


def test_staff_cannot_confirm_a_typed_name_with_a_trademark_sign_left_unchanged(typed_company):
    with pytest.raises(registry.RegistryError, match="trademark sign"):
        registry.confirm_company(typed_company["staff"], typed_company["company"],
                                 is_ineligible=True, note=None)


def test_confirming_a_corrected_public_name_keeps_the_typed_spelling_as_an_alias(typed_company):
    company = typed_company["company"]
    factories.company("Other Devices")
    registry.confirm_company(typed_company["staff"], company, is_ineligible=True, note=None,
                             name="  Spinewave   Medical, LLC ")
    db.session.flush()
    assert company.name == "Spinewave Medical, LLC" and not company.needs_review
    assert [a.name for a in company.aliases] == ["Spinewave® Startup Devices"]
    assert registry.find_company("Spinewave Startup Devices").id == company.id  # faculty still match
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "company.confirmed"))
    assert event.changes["renamed"] is True and "Spinewave" not in str(event.changes)


def test_confirming_the_public_name_of_another_company_is_refused(typed_company, login_as):
    factories.company("Keystone Surgical Devices", aliases=["KSD"])
    response = login_as(typed_company["staff"]).post(
        f"/staff/companies/{typed_company['company'].id}/confirm",
        data={"name": "KSD", "eligibility": "ineligible"})
    assert response.status_code == 400
    assert "already names Keystone Surgical Devices" in response.get_data(as_text=True)
    assert db.session.get(Company, typed_company["company"].id).needs_review


def test_a_blank_public_name_keeps_the_name(app):
    company = factories.company("Typed Plainly", needs_review=True)
    registry.confirm_company(factories.admin(), company, is_ineligible=False, note=None, name="  ")
    assert company.name == "Typed Plainly" and not company.needs_review
    assert db.session.scalar(sa.select(sa.func.count(CompanyAlias.id))) == 0


# --------------------------------------------------------------------------- warnings to staff and faculty


def test_registry_flags_company_names_with_trademarks_slogans_urls_or_prices(app, login_as):
    factories.company("Spinewave® Startup Devices", needs_review=True)
    factories.company("The #1 Spine Co at www.no1spine.com", needs_review=True)
    factories.company("Plain Devices", needs_review=True)
    page = html_text(login_as(factories.admin()).get("/staff/companies"))
    assert page.count("Check the name: a trademark sign (® or ™)") == 1
    assert "Check the name: a ranking claim such as “#1”" in page
    assert "Check the name: a web address" in page
    assert page.count("Check the name") == 3  # Plain Devices is not flagged


def test_company_page_warns_about_its_name_and_prefills_the_public_name(typed_company, login_as):
    page = login_as(typed_company["staff"]).get(
        f"/staff/companies/{typed_company['company'].id}").get_data(as_text=True)
    assert "This text contains a trademark sign (® or ™)" in page  # on the public name
    assert 'name="name"' in page and 'value="Spinewave® Startup Devices"' in page
    assert "learners do not see it until you confirm it and its public name" in page


def test_activity_title_and_supporters_with_flags_are_saved_with_a_warning(app, login_as):
    """Staff are warned, not refused: an activity title or a commercial supporter with a
    trademark, a slogan, a web address or a price is saved, and the warning is shown."""
    meeting = factories.meeting()
    activity = factories.activity(meeting, title="Lumbar fusion")
    client = login_as(factories.staff(meeting))
    local = meeting.local(activity.starts_at)
    response = client.post(f"/staff/activities/{activity.id}/edit", data={
        "version_id": str(activity.version_id), "code": activity.code,
        "title": "Lumbar fusion with FlexiCage®", "room_id": "0",
        "starts_at": local.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (local + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "topics": "", "credit_hours": "1",
    }, follow_redirects=True)
    assert response.status_code == 200
    page = html_text(response)
    assert f"The title of {activity.code} contains a trademark sign (® or ™)" in page
    db.session.expire_all()
    assert db.session.get(Activity, activity.id).title == "Lumbar fusion with FlexiCage®"
    form = html_text(client.get(f"/staff/activities/{activity.id}/edit"))
    assert "This text contains a trademark sign (® or ™)" in form


def test_faculty_see_warnings_on_the_other_description_and_off_label_detail(app, login_as):
    """The faculty form flags, without refusing, printed text with a trademark, a URL or a price."""
    person = factories.user()
    client = login_as(person)
    data = form_data(person, [rel("Acme Spine", "other", detail="Speaker for FlexiCage® www.acme.com")])
    response = client.post("/faculty/disclosure/new", data=data, follow_redirects=True)
    assert response.status_code == 200
    page = html_text(response)
    assert "Relationship 1: the description contains a trademark sign (® or ™) and a web address" in page
    assert "This description contains a trademark sign" in page  # on the disclosure page too
    form = html_text(client.get("/faculty/disclosure/new"))  # the next version starts from this one
    assert "This text contains a trademark sign (® or ™) and a web address" in form
    # The off-label detail is declared per presentation, and flagged there.
    talk = factories.assignment(person, factories.activity(factories.meeting()))
    db.session.commit()  # the request sees only what is committed
    response = client.post(f"/faculty/roles/{talk.id}/off-label", follow_redirects=True, data={
        "discusses_off_label": "yes", "off_label_detail": "SpineGel™ at $500 a dose"})
    assert response.status_code == 200
    assert "The off-label detail contains a trademark sign (® or ™) and a price" in html_text(response)
    form = html_text(client.get(f"/faculty/roles/{talk.id}/off-label"))
    assert "This text contains a trademark sign (® or ™) and a price" in form


def test_reviewers_see_warnings_on_printed_disclosure_text(app, login_as):
    meeting = factories.meeting()
    reviewer = factories.reviewer(meeting)
    person = factories.user()
    factories.assignment(person, factories.activity(meeting), discusses_off_label=True,
                         off_label_detail="The #1 off-label use")
    d = factories.disclosure(person, [(factories.company("Acme Spine"), Nature.OTHER)])
    d.relationships[0].detail = "Grant, see www.acme.com"
    db.session.commit()
    page = html_text(login_as(reviewer).get(f"/review/meetings/{meeting.id}/people/{person.id}"))
    assert "This description contains a web address" in page
    assert "This detail contains a ranking claim such as “#1”" in page


# --------------------------------------------------------------------------- "Other" is described


def test_other_relationship_requires_a_short_description(app):
    """Standard 3: the nature of each relationship is disclosed; "Other" must say what it is."""
    person = factories.user()
    today = date(2025, 6, 15)
    other = faculty.RelationshipEntry("Acme Spine", Nature.OTHER, date(2025, 1, 1), None, True, "  ")
    entry = faculty.DisclosureEntry(True, [other], person.full_name, True)
    with pytest.raises(faculty.DisclosureRejected) as caught:
        faculty.submit_disclosure(person, entry, now=datetime(2025, 6, 15, 12, tzinfo=UTC))
    [problem] = caught.value.problems
    assert (problem.field, problem.row) == ("detail", 0)
    assert "Describe this “Other” relationship in a few words" in problem.message
    assert "learners read your description in place of “Other”" in problem.message
    other.detail = "x" * (faculty.OTHER_DETAIL_MAX + 1)
    [problem] = faculty.check_disclosure(entry, person, today)
    assert f"to {faculty.OTHER_DETAIL_MAX} characters" in problem.message
    other.detail = "Travel grant"
    assert faculty.check_disclosure(entry, person, today) == []


def test_other_relationship_without_description_is_refused_on_the_form(app, login_as):
    person = factories.user()
    response = login_as(person).post("/faculty/disclosure/new",
                                     data=form_data(person, [rel("Acme Spine", "other")]))
    assert response.status_code == 400
    page = html_text(response)
    assert "Relationship 1: Describe this “Other” relationship in a few words" in page
    assert "Detail (required for “Other”)" in page


def test_learners_read_the_description_of_an_other_relationship_not_the_word_other(app, client):
    meeting = factories.meeting()
    room = factories.room(meeting, "Room 201")
    reviewer = factories.reviewer(meeting)
    person = factories.user(full_name="Otto Other", degrees="MD")
    d = factories.disclosure(person, [(factories.company("Axial Biologics"), Nature.OTHER)])
    d.relationships[0].detail = "  Travel grant   for a cadaver course "
    assignment = factories.assignment(person, factories.activity(meeting, room))
    det = factories.determination(d.relationships[0], assignment, reviewer, relevant=True)
    factories.mitigation(det, reviewer)
    db.session.commit()
    row = stored(assignment)
    assert row.state is AssignmentState.CLEARED
    assert "Axial Biologics — Travel grant for a cadaver course" in row.statement.words
    assert "— Other" not in row.statement.words
    sheet = html_text(client.get(f"/r/{room.public_token}"))
    assert "Axial Biologics — Travel grant for a cadaver course" in sheet
    assert wording.MITIGATED in sheet


# --------------------------------------------------------------------------- the demo


def test_demo_meeting_shows_an_unconfirmed_company_holding_a_role_back(app, client):
    from disclosures.demo import load_demo_meeting

    load_demo_meeting(password="x" * 12)
    db.session.commit()
    typed = db.session.scalar(sa.select(Company).where(Company.needs_review.is_(True)))
    assert "®" in typed.name  # staff must correct its public name before confirming it
    held = [a for a in db.session.scalars(sa.select(Assignment))
            if AWAITING_CONFIRMATION in (a.state_reasons or [])]
    assert held and all(a.state is AssignmentState.AWAITING_REVIEW for a in held)
    words = "\n".join(db.session.scalars(sa.select(Statement.words)))
    assert "Spinewave" not in words
    assert "Travel grant for a cadaver course" in words  # an "Other" relationship, described
    refresh([a.id for a in held])  # nothing changes when nothing changed
    registry.confirm_company(factories.admin(), typed, is_ineligible=True, note=None,
                             name="Spinewave Startup Devices")
    for assignment in held:
        assert stored(assignment).state is AssignmentState.CLEARED
    assert "Spinewave Startup Devices — Consultant" in "\n".join(
        db.session.scalars(sa.select(Statement.words)))
