"""Issue 16: owners, employees and stock (ACCME Standard 3 FAQ), owner/employee decisions
per company, excluded roles kept away from learners, and the day a mitigation was put in
place. Every test runs on SQLite and, with DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime, timedelta

import pypdf
import pytest
import sqlalchemy as sa

from disclosures import clock, wording
from disclosures.api import operations as api_ops
from disclosures.enums import (
    AssignmentRole,
    AssignmentState,
    MitigationMethod,
    Nature,
    OwnerException,
)
from disclosures.extensions import db
from disclosures.models import Assignment, AuditEvent, Mitigation, OwnerDecision

from . import factories


def pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def html_text(response) -> str:
    import html
    import re

    text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(text).split())


def state(assignment: Assignment):
    return factories.stored_states([assignment])[assignment.id]


@pytest.fixture()
def world(app):
    """A meeting with one room and one talk, a reviewer, a staff member on no activity."""
    meeting = factories.meeting(name="Spine Forum 2031")
    room = factories.room(meeting, "Ballroom A")
    talk = factories.activity(meeting, room, title="Lumbar fusion outcomes")
    reviewer = factories.reviewer(meeting, full_name="Rita Reviewer")
    staff = factories.staff(meeting, full_name="Sam Staff")
    db.session.commit()
    return {"meeting": meeting, "room": room, "talk": talk, "reviewer": reviewer, "staff": staff}


def _owner_post(assignment, company, exception, note="Reason for the record.", seen=0):
    return {"company": str(company.id), "seen": str(seen), "exception": exception.value, "note": note}


# --------------------------------------------------------------------------- stock in plain words


def test_form_asks_about_stock_in_plain_words_and_no_longer_offers_ownership_interest(app, login_as):
    """ACCME Standard 3 FAQ: the form asks which kind of holding, in plain words, so nobody
    has to know that public stock is a financial relationship and private stock ownership."""
    page = login_as(factories.user()).get("/faculty/disclosure/new").get_data(as_text=True)
    for label in ("Stock in a publicly traded company, or stock options",
                  "Stock in a privately held company, or founder or owner",
                  "Employee", "Executive or board member"):
        assert label in page
    assert 'value="ownership"' not in page
    assert "not listed on a stock exchange" in page  # the help text says what each covers


def test_publicly_traded_stock_and_stock_options_never_exclude(world, login_as):
    """ACCME Standard 3 FAQ: stock in a publicly traded ineligible company, and stock options,
    are financial relationships, not ownership: never an exclusion or an owner decision; the
    relationship is judged for relevance like any other, and learners read its nature."""
    person = factories.user(full_name="Paul Public")
    company = factories.company("Listed Spine Inc")
    assignment = factories.assignment(person, world["talk"])
    d = factories.disclosure(person, [(company, Nature.PUBLIC_STOCK)])
    assert state(assignment).state is AssignmentState.AWAITING_REVIEW
    det = factories.determination(d.relationships[0], assignment, world["reviewer"], relevant=True)
    assert state(assignment).state is AssignmentState.NEEDS_MITIGATION
    factories.mitigation(det, world["reviewer"])
    assert state(assignment).state is AssignmentState.CLEARED
    # Not on the staff's owner/employee list; learners read the nature in plain words.
    client = login_as(world["staff"])
    assert "Paul Public" not in html_text(client.get(f"/staff/meetings/{world['meeting'].id}/owners"))
    sheet = html_text(client.get(f"/r/{world['room'].public_token}"))
    assert "Listed Spine Inc — Stock in a publicly traded company, or stock options" in sheet

@pytest.mark.parametrize("nature", [Nature.PRIVATE_STOCK, Nature.EMPLOYEE, Nature.EXECUTIVE])
@pytest.mark.parametrize("decided", [OwnerException.NONE, OwnerException.BASIC_SCIENCE])
def test_private_stock_and_employment_await_the_staff_decision_then_excluded_or_excepted(
        world, login_as, nature, decided):
    """ACCME Standard 3: stock in a privately held ineligible company (or founding or owning
    it), and employment (including an executive or board role), make the person an owner or
    employee: the role awaits the staff decision, then is excluded (no exception applies)
    or goes on to review under an exception (here basic science)."""
    person = factories.user(full_name="Olga Owner")
    company = factories.company("Private Start-up Devices")
    assignment = factories.assignment(person, world["talk"])
    factories.disclosure(person, [(company, nature)])
    assert state(assignment).state is AssignmentState.AWAITING_OWNER_DECISION
    client = login_as(world["staff"])
    response = client.post(f"/staff/assignments/{assignment.id}/owner",
                           data=_owner_post(assignment, company, decided))
    assert response.status_code == 302
    expected = (AssignmentState.EXCLUDED if decided is OwnerException.NONE
                else AssignmentState.AWAITING_REVIEW)
    assert state(assignment).state is expected


def test_a_former_ownership_interest_row_is_treated_as_ownership_and_must_be_restated(world):
    """Rows disclosed as "ownership interest" before the form asked which kind cannot be
    classified after the fact: they are treated as ownership (staff decide), and a new
    submission must say which kind it is."""
    from disclosures.faculty.operations import (
        DisclosureEntry,
        DisclosureRejected,
        RelationshipEntry,
        submit_disclosure,
    )

    person = factories.user(full_name="Lena Legacy")
    company = factories.company("Old Holdings Medical")
    assignment = factories.assignment(person, world["talk"])
    factories.disclosure(person, [(company, Nature.OWNERSHIP)])
    assert state(assignment).state is AssignmentState.AWAITING_OWNER_DECISION
    entry = DisclosureEntry(True, [RelationshipEntry(company.name, Nature.OWNERSHIP,
                                                     clock.now().date() - timedelta(days=30), None, True)],
                            person.full_name, True)
    with pytest.raises(DisclosureRejected, match="Say which kind of ownership"):
        submit_disclosure(person, entry)


# --------------------------------------------------------------------------- owner decisions


def test_not_an_owner_or_employee_sends_the_relationship_to_ordinary_review(world, login_as):
    """Staff may find a person is not an owner or employee (an advisory board disclosed as
    a board role): with the reason (required), the company then counts as an ordinary
    relationship, its relevance decided as usual."""
    person = factories.user(full_name="Nadia Board")
    company = factories.company("Keystone Devices")
    assignment = factories.assignment(person, world["talk"])
    d = factories.disclosure(person, [(company, Nature.EXECUTIVE)])
    client = login_as(world["staff"])
    url = f"/staff/assignments/{assignment.id}/owner"
    page = client.get(url).get_data(as_text=True)
    assert "Not an owner or employee" in page
    # The reason is required: refused, nothing stored.
    refused = client.post(url, data=_owner_post(assignment, company, OwnerException.NOT_OWNER, note=" "))
    assert refused.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(OwnerDecision.id))) == 0
    assert state(assignment).state is AssignmentState.AWAITING_OWNER_DECISION
    saved = client.post(url, data=_owner_post(
        assignment, company, OwnerException.NOT_OWNER,
        note="Scientific advisory board, not the board of directors."))
    assert saved.status_code == 302
    assert state(assignment).state is AssignmentState.AWAITING_REVIEW
    # The reviewer reads staff's decision beside the relationship, not "Owner or employee".
    review = login_as(world["reviewer"]).get(
        f"/review/meetings/{world['talk'].meeting_id}/people/{person.id}").get_data(as_text=True)
    assert "Staff decided: not an owner or employee" in review
    assert ">Owner or employee<" not in review
    det = factories.determination(d.relationships[0], assignment, world["reviewer"], relevant=False)
    assert state(assignment).state is AssignmentState.CLEARED
    factories.determination(d.relationships[0], assignment, world["reviewer"], relevant=True,
                            supersedes=det)
    assert state(assignment).state is AssignmentState.NEEDS_MITIGATION


@pytest.mark.parametrize("who", ["self", "co-faculty"])
def test_staff_can_never_decide_an_exception_for_themselves_or_co_faculty(world, login_as, who):
    """Standard 3 (independence): staff can never decide an exception, or any owner
    decision, for themselves or for someone they share an activity with. The page says why
    and offers no form; a forged post is 403 and nothing is stored."""
    staff = world["staff"]
    company = factories.company("Own Devices")
    if who == "self":
        person = staff
    else:
        person = factories.user(full_name="Cora Colleague")
        factories.assignment(staff, world["talk"], AssignmentRole.MODERATOR)
    assignment = factories.assignment(person, world["talk"])
    factories.disclosure(person, [(company, Nature.PRIVATE_STOCK)])
    client = login_as(staff)
    listed = client.get(f"/staff/meetings/{world['talk'].meeting_id}/owners").get_data(as_text=True)
    row = re.search(r"<tr>(?:(?!</tr>).)*Own Devices.*?</tr>", listed, re.S).group(0)
    assert "another staff member must" in html.unescape(row) and ">Decide<" not in row
    url = f"/staff/assignments/{assignment.id}/owner"
    page = client.get(url)
    assert page.status_code == 200
    assert "another staff member must" in page.get_data(as_text=True)
    assert "Record decision for" not in page.get_data(as_text=True)
    forged = client.post(url, data=_owner_post(assignment, company, OwnerException.UNRELATED))
    assert forged.status_code == 403
    assert "another staff member must" in forged.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(OwnerDecision.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))
                             .where(AuditEvent.action == "owner_decision.recorded")) == 0
    assert state(assignment).state is AssignmentState.AWAITING_OWNER_DECISION


# --------------------------------------------------------------------------- excluded roles


@pytest.fixture()
def excluded(world):
    """Ellen Excluded (employee, no exception) and Clara Cleared share the talk."""
    ellen = factories.user(full_name="Ellen Excluded")
    employer = factories.company("Employer Implants")
    a_ellen = factories.assignment(ellen, world["talk"])
    factories.disclosure(ellen, [(employer, Nature.EMPLOYEE)])
    factories.owner_decision(ellen, employer, OwnerException.NONE, world["staff"])
    clara = factories.user(full_name="Clara Cleared")
    a_clara = factories.assignment(clara, world["talk"], AssignmentRole.MODERATOR)
    factories.disclosure(clara, [])
    db.session.commit()
    assert state(a_ellen).state is AssignmentState.EXCLUDED
    assert state(a_clara).state is AssignmentState.CLEARED
    return {**world, "ellen": a_ellen, "clara": a_clara}


def _no_excluded(text: str) -> None:
    assert "Clara Cleared" in text
    assert "Ellen Excluded" not in text
    assert wording.UNDER_REVIEW not in text
    assert "Employer Implants" not in text


def test_an_excluded_role_never_appears_as_under_review_in_any_public_document(excluded, client):
    """Standard 3: an excluded owner or employee may not control content. Attendees never
    see them presented as "under review": they are left off the room sheet (HTML and PDF),
    the all-faculty page and booklet PDF, and the API; the activity does not claim the
    Standard 3 statement (it is not complete) and names no one as pending."""
    token = excluded["room"].public_token
    sheet = html_text(client.get(f"/r/{token}"))
    _no_excluded(sheet)
    assert wording.NOT_COMPLETE in sheet and wording.INTRO not in sheet
    _no_excluded(pdf_text(client.get(f"/r/{token}.pdf").data))
    _no_excluded(html_text(client.get("/disclosures")))
    _no_excluded(pdf_text(client.get("/disclosures.pdf").data))
    slug = excluded["meeting"].slug
    _no_excluded(html_text(client.get(f"/m/{slug}/disclosures")))
    _token, raw = api_ops.issue_token(excluded["staff"], excluded["meeting"], "App")
    db.session.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    for url in (f"/api/v1/rooms/{excluded['room'].id}",
                f"/api/v1/meetings/{excluded['meeting'].id}/activities",
                f"/api/v1/activities/{excluded['talk'].id}"):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, url
        _no_excluded(response.get_data(as_text=True))
        body = response.json
        activities = body["activities"] if "activities" in body else [body["activity"]]
        assert all(not a["complete"] and a["pending"] == [] for a in activities), url


def test_an_excluded_role_has_no_disclosure_slide(excluded, login_as):
    """The first slide is shown to learners: none is made for an excluded role."""
    response = login_as(excluded["staff"]).get(f"/assignments/{excluded['ellen'].id}/slide.pdf")
    assert response.status_code == 404
    assert "staff are replacing them" in response.get_data(as_text=True)


def test_staff_see_an_excluded_role_as_one_to_replace(excluded, login_as):
    """Staff read an excluded role as something to replace (dashboard and meeting page)."""
    client = login_as(excluded["staff"])
    meeting_id = excluded["meeting"].id
    for url in (f"/staff/meetings/{meeting_id}/dashboard", f"/staff/meetings/{meeting_id}"):
        text = html_text(client.get(url))
        assert "Ellen Excluded" in text and "Replace: excluded" in text, url


def test_replacing_the_excluded_role_completes_the_activity(excluded, client, login_as):
    """Once staff take the excluded person off the activity, the Standard 3 statement is made."""
    from disclosures.staff import operations as staff_ops

    staff_ops.remove_assignment(excluded["staff"], excluded["ellen"])
    db.session.commit()
    sheet = html_text(client.get(f"/r/{excluded['room'].public_token}"))
    assert wording.INTRO in sheet and "Ellen Excluded" not in sheet


# --------------------------------------------------------------------------- mitigation dates


@pytest.fixture()
def relevant(world):
    """Maria, speaker of the talk, with a relevant consulting relationship."""
    maria = factories.user(full_name="Maria Okafor")
    company = factories.company("Meridian Spine")
    assignment = factories.assignment(maria, world["talk"])
    d = factories.disclosure(maria, [(company, Nature.CONSULTANT)])
    det = factories.determination(d.relationships[0], assignment, world["reviewer"], relevant=True)
    db.session.commit()
    return {**world, "maria": maria, "assignment": assignment, "determination": det}


def _mitigate(client, case, on):
    det = case["determination"]
    prefix = f"m{det.id}"
    return client.post(
        f"/review/meetings/{case['meeting'].id}/people/{case['maria'].id}/determinations/{det.id}/mitigations",
        data={f"{prefix}-method": "peer_review", f"{prefix}-notes": "Slides peer reviewed.",
              f"{prefix}-version": str(det.id), f"{prefix}-disclosure": str(det.relationship.disclosure_id),
              f"{prefix}-in_place_on": on.isoformat() if on else ""})


def test_mitigation_form_asks_when_it_was_put_in_place_default_today(relevant, login_as):
    """Standard 3: record the mitigation, who and when: the form asks the day it was put in
    place, today by default."""
    page = login_as(relevant["reviewer"]).get(
        f"/review/meetings/{relevant['meeting'].id}/people/{relevant['maria'].id}").get_data(as_text=True)
    assert "Put in place on" in page
    assert f'value="{clock.meeting_today(relevant["meeting"]).isoformat()}"' in page


def test_a_mitigation_in_place_before_the_start_clears_the_role(relevant, login_as):
    """Standard 3: mitigate before the role is assumed: one in place before the start counts."""
    client = login_as(relevant["reviewer"])
    on = clock.meeting_today(relevant["meeting"]) - timedelta(days=2)
    assert _mitigate(client, relevant, on).status_code == 302
    mitigation = db.session.scalar(sa.select(Mitigation))
    assert mitigation.in_place_on == on
    status = state(relevant["assignment"])
    assert status.state is AssignmentState.CLEARED and not status.late


def test_a_mitigation_dated_in_the_future_is_refused(relevant, login_as):
    """A mitigation is recorded once it is in place: a day after today is refused, nothing stored."""
    client = login_as(relevant["reviewer"])
    response = _mitigate(client, relevant, clock.meeting_today(relevant["meeting"]) + timedelta(days=1))
    assert response.status_code in (400, 409)
    assert "record a mitigation once it is in place" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Mitigation.id))) == 0
    assert state(relevant["assignment"]).state is AssignmentState.NEEDS_MITIGATION


def test_a_mitigation_in_place_after_the_start_is_kept_flagged_late_and_does_not_clear_the_role(
        relevant, login_as):
    """Standard 3: relevant relationships are mitigated before the individual assumes their
    role. A mitigation put in place after the role's start (its session's day, in the
    meeting's time zone) is kept and flagged late, and the role as of its start is not
    mitigated by it: never silently accepted. Even one recorded before the start but dated
    after its day (impossible now, since future days are refused) would not count."""
    meeting = relevant["meeting"]
    start_day = clock.start_day(relevant["talk"])
    try:
        clock.travel(datetime.combine(start_day + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
                     + timedelta(hours=18))
        client = login_as(relevant["reviewer"])
        response = _mitigate(client, relevant, start_day + timedelta(days=1))
        assert response.status_code == 302 and "/login" not in response.headers["Location"]
    finally:
        clock.reset()
    client = login_as(relevant["reviewer"])
    mitigation = db.session.scalar(sa.select(Mitigation))
    assert mitigation is not None and mitigation.in_place_on == start_day + timedelta(days=1)
    status = state(relevant["assignment"])
    assert status.state is AssignmentState.NEEDS_MITIGATION
    assert status.late
    review = html_text(client.get(f"/review/meetings/{meeting.id}/people/{relevant['maria'].id}"))
    assert "Late: in place after the session started" in review
    assert "Late: recorded after the start" in review


def test_a_mitigation_recorded_before_the_start_but_in_place_after_it_does_not_count(relevant):
    """The rule itself (``state``): the day it was in place decides, not when it was typed."""
    start_day = clock.start_day(relevant["talk"])
    mitigation = Mitigation(determination=relevant["determination"], method=MitigationMethod.PEER_REVIEW,
                            notes="Planned peer review.", recorded_by=relevant["reviewer"],
                            in_place_on=start_day + timedelta(days=1))
    db.session.add(mitigation)
    db.session.flush()
    factories.refresh([relevant["assignment"].id])
    status = state(relevant["assignment"])
    assert status.state is AssignmentState.NEEDS_MITIGATION and status.late
    on_the_day = Mitigation(determination=relevant["determination"], method=MitigationMethod.ATTEST_EVIDENCE,
                            notes="Attested.", recorded_by=relevant["reviewer"], in_place_on=start_day)
    db.session.add(on_the_day)
    db.session.flush()
    factories.refresh([relevant["assignment"].id])
    assert state(relevant["assignment"]).state is AssignmentState.CLEARED
    # The accreditor's records say when it was in place and that it was late.
    from disclosures.records.operations import meeting_records

    records = meeting_records(relevant["meeting"])
    mitigations = [m for item in records["assignments"] for r in item["relationships"]
                   for d in r["decisions"] for m in d["mitigations"]]
    assert {(m["in_place_on"], m["late"]) for m in mitigations} == {
        ((start_day + timedelta(days=1)).isoformat(), True), (start_day.isoformat(), False)}


def test_the_next_disclosure_asks_which_kind_a_former_ownership_interest_was(app, login_as):
    """Starting a new version from one with a former "ownership interest", the form asks
    the person which kind it is (public stock or options, or private stock/founder)."""
    person = factories.user(full_name="Lena Legacy")
    factories.disclosure(person, [(factories.company("Old Holdings Medical"), Nature.OWNERSHIP)])
    page = html_text(login_as(person).get("/faculty/disclosure/new"))
    assert "You disclosed an ownership interest in Old Holdings Medical. Say which kind" in page
