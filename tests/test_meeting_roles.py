"""Everyone in control of content discloses (ACCME Standard 3, issue 16): the planning
committee, the course director, COI and content reviewers and staff who control content
hold roles for the whole meeting. They disclose before they act, are judged as of the
meeting's start and reviewed like any role; reviewers decide only once their own
disclosure is cleared, and never about a company they have a relationship with."""

from __future__ import annotations

import html
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from disclosures.enums import AssignmentRole, AssignmentState, MitigationMethod, Nature
from disclosures.extensions import db
from disclosures.models import Assignment, AuditEvent, Determination, Mitigation
from disclosures.reminders import operations as reminders
from disclosures.review.operations import mitigation_methods

from . import factories


def _text(response) -> str:
    return " ".join(html.unescape(response.get_data(as_text=True)).split())


def _state(assignment) -> AssignmentState:
    db.session.expire_all()
    return db.session.get(Assignment, assignment.id).state


def _decision(relationship, assignment, relevance="relevant"):
    prefix = f"d{relationship.id}-{assignment.id}"
    return {f"{prefix}-relevance": relevance, f"{prefix}-rationale": "Judged.",
            f"{prefix}-version": "0", f"{prefix}-disclosure": str(relationship.disclosure_id)}


def _decide_url(meeting, person, relationship, assignment):
    return (f"/review/meetings/{meeting.id}/people/{person.id}"
            f"/determinations/{relationship.id}/{assignment.id}")


# ------------------------------------------------------------------ disclose before acting

def test_a_planning_committee_member_without_a_disclosure_is_awaiting_disclosure_and_is_reminded(
        app, login_as):
    """Everyone in control of content discloses, planners included, before they act: a
    planning committee member who has not disclosed is awaiting disclosure, counted on the
    dashboard, reminded (the message names the role) and sees the role on their own page."""
    meeting = factories.meeting(name="Spine Forum 2031")
    member = factories.user(full_name="Paula Planner")
    role = factories.meeting_role(member, meeting, AssignmentRole.PLANNING_COMMITTEE)
    assert _state(role) is AssignmentState.AWAITING_DISCLOSURE

    plan = reminders.plan_disclosure_reminders(meeting)
    [entry] = plan.due
    assert entry.user.id == member.id
    with app.test_request_context():
        message = reminders._disclosure_message(entry, "https://cme.example.org/login", None)
    body = message.get_content()
    assert "Spine Forum 2031: planning committee member for the whole meeting" in body
    assert "everyone in control of educational content to disclose" in body

    home = _text(login_as(member).get("/faculty/"))
    assert "Planning committee member" in home and "Awaiting disclosure" in home
    assert "disclose before you plan or review" in home

    staff = factories.staff(meeting)
    dashboard = login_as(staff).get(f"/staff/meetings/{meeting.id}/dashboard").get_data(as_text=True)
    assert 'data-state="awaiting_disclosure">1<' in dashboard

    factories.disclosure(member, [])  # nothing to disclose: cleared, no longer reminded
    assert _state(role) is AssignmentState.CLEARED
    assert reminders.plan_disclosure_reminders(meeting).due == []


def test_a_meeting_level_role_is_judged_as_of_the_meetings_start(app):
    """Relevant relationships are identified and mitigated before the role is assumed: a
    role for the whole meeting starts on the meeting's first day, 00:00 in its time zone. A
    disclosure submitted that morning, before the first session, is in time for the
    speaker of that session and too late for the course director."""
    meeting = factories.meeting(timezone="America/Chicago")
    room = factories.room(meeting)
    first_day = meeting.starts_on
    session = factories.activity(meeting, room, starts_at=datetime.combine(
        first_day, time(15, 0), tzinfo=UTC))
    person = factories.user(full_name="Dana Director")
    director = factories.meeting_role(person, meeting, AssignmentRole.COURSE_DIRECTOR)
    speaker = factories.assignment(person, session)
    start = meeting.local(director.starts_at)
    assert (start.date(), start.time()) == (first_day, time(0, 0))

    # 08:00 in Chicago on the first day: after the meeting started, before the session.
    morning = datetime.combine(first_day, time(8, 0), tzinfo=meeting.tz).astimezone(UTC)
    factories.disclosure(person, [], submitted_at=morning)
    db.session.expire_all()
    assert _state(speaker) is AssignmentState.CLEARED
    director = db.session.get(Assignment, director.id)
    assert director.state is AssignmentState.AWAITING_DISCLOSURE
    assert director.state_reasons == [
        "No disclosure before the session: the one received came after it started"]

    # One submitted the day before is in time for both.
    factories.disclosure(person, [], submitted_at=morning - timedelta(days=1))
    assert _state(director) is AssignmentState.CLEARED


def test_meeting_level_roles_are_never_on_a_room_sheet_and_are_listed_on_the_all_faculty_page(
        client):
    """What learners read before the activity: planners and reviewers control the whole
    meeting's content, so the all-faculty page lists them with their statement; they are
    in no room, so never on a room sheet."""
    meeting = factories.meeting(slug="spine-2031")
    room = factories.room(meeting, "Hall A")
    factories.assignment(factories.user(full_name="Sam Speaker"), factories.activity(meeting, room))
    member = factories.user(full_name="Paula Planner")
    factories.meeting_role(member, meeting, AssignmentRole.PLANNING_COMMITTEE)
    factories.disclosure(member, [])
    db.session.commit()
    page = _text(client.get("/m/spine-2031/disclosures"))
    assert "Planning committee and reviewers" in page
    section = page.split("Planning committee and reviewers", 1)[1]
    assert "Paula Planner" in section and "Planning committee member" in section
    assert "Paula Planner, MD has no relevant financial relationships" in section
    sheet = _text(client.get(f"/r/{room.public_token}"))
    assert "Sam Speaker" in sheet and "Paula Planner" not in sheet


# ------------------------------------------------------------------ reviewed like any role

def test_planner_mitigations_peer_review_of_planning_decisions_recusal_divestment(app, login_as):
    """Standard 3 names the planners' mitigations: peer review of planning decisions by
    persons without relevant relationships, recusal, divestment; not the faculty's
    attestation that recommendations are evidence-based."""
    for role in AssignmentRole.meeting_level():
        methods = mitigation_methods(role)
        assert {MitigationMethod.PEER_REVIEW_PLANNING, MitigationMethod.RECUSE,
                MitigationMethod.DIVEST} <= set(methods)
        assert MitigationMethod.ATTEST_EVIDENCE not in methods

    meeting = factories.meeting()
    member = factories.user(full_name="Paula Planner")
    role = factories.meeting_role(member, meeting, AssignmentRole.PLANNING_COMMITTEE)
    meridian = factories.company("Meridian Spine Technologies")
    [relationship] = factories.disclosure(member, [(meridian, Nature.CONSULTANT)]).relationships
    reviewer = factories.reviewer(meeting, full_name="Renee Reviewer")
    client = login_as(reviewer)
    page = _text(client.get(f"/review/meetings/{meeting.id}/people/{member.id}"))
    assert "Whole meeting" in page and "Planning committee member" in page
    assert client.post(_decide_url(meeting, member, relationship, role),
                       data=_decision(relationship, role)).status_code == 302
    determination = db.session.scalar(sa.select(Determination))
    page = _text(client.get(f"/review/meetings/{meeting.id}/people/{member.id}"))
    assert "Peer review of planning decisions by persons without relevant relationships" in page
    assert _state(role) is AssignmentState.NEEDS_MITIGATION
    prefix = f"m{determination.id}"
    sent = {f"{prefix}-method": "peer_review_planning", f"{prefix}-version": str(determination.id),
            f"{prefix}-notes": "Her topic choices were reviewed by the course director.",
            f"{prefix}-disclosure": str(relationship.disclosure_id)}
    url = f"/review/meetings/{meeting.id}/people/{member.id}/determinations/{determination.id}/mitigations"
    assert client.post(url, data={**sent, f"{prefix}-method": "attest_evidence"}).status_code == 400
    assert client.post(url, data=sent).status_code == 302
    assert db.session.scalar(sa.select(Mitigation.method)) is MitigationMethod.PEER_REVIEW_PLANNING
    assert _state(role) is AssignmentState.CLEARED


# ------------------------------------------------------------------ reviewers disclose too

@pytest.mark.parametrize("standing", ["no role", "no disclosure", "not reviewed"])
def test_a_reviewer_without_their_own_reviewed_disclosure_is_refused_and_nothing_is_stored(
        login_as, standing):
    """Reviewers are in control of content: a reviewer records no decision until their
    own disclosure for the meeting is current and reviewed by someone else (403, nothing
    stored); the review page says why and links to their own disclosure."""
    meeting = factories.meeting()
    room = factories.room(meeting)
    speaker = factories.user(full_name="Sam Speaker")
    talk = factories.assignment(speaker, factories.activity(meeting, room))
    [relationship] = factories.disclosure(
        speaker, [(factories.company("Meridian Spine Technologies"), Nature.CONSULTANT)]).relationships
    reviewer = factories.reviewer(meeting, full_name="Renee Reviewer", cleared=False)
    if standing != "no role":
        own = factories.meeting_role(reviewer, meeting, AssignmentRole.COI_REVIEWER)
    if standing == "not reviewed":  # a relationship nobody else has decided about yet
        factories.disclosure(reviewer, [(factories.company("Summit Pharmaceuticals"), Nature.ADVISOR)])
        assert _state(own) is AssignmentState.AWAITING_REVIEW
    client = login_as(reviewer)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))

    response = client.post(_decide_url(meeting, speaker, relationship, talk),
                           data=_decision(relationship, talk))
    assert response.status_code == 403
    assert "Reviewers are in control of content, so they disclose too" in _text(response)
    none = client.post(f"/review/meetings/{meeting.id}/people/{speaker.id}/none-relevant",
                       data={"none-disclosure": str(relationship.disclosure_id),
                             "none-rationale": "Unrelated."})
    assert none.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(Determination.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == before

    page = client.get(f"/review/meetings/{meeting.id}/people/{speaker.id}")
    assert page.status_code == 200  # may read, may not decide
    assert "Reviewers are in control of content" in _text(page)
    assert 'href="/faculty/">Go to your own disclosure' in page.get_data(as_text=True)


def test_granting_the_reviewer_role_makes_the_person_a_coi_reviewer_who_must_disclose(login_as):
    """Reviewers are in control of content: staff making someone a reviewer also make them
    the meeting's COI reviewer, a role that must disclose and be reviewed."""
    meeting = factories.meeting()
    staff = factories.staff(meeting)
    factories.user(email="renee@example.org", full_name="Renee Reviewer")
    response = login_as(staff).post(f"/staff/meetings/{meeting.id}/access",
                                    data={"email": "renee@example.org", "role": "reviewer"})
    assert response.status_code == 302
    [role] = db.session.scalars(sa.select(Assignment)).all()
    assert (role.role, role.activity_id, role.state) == (
        AssignmentRole.COI_REVIEWER, None, AssignmentState.AWAITING_DISCLOSURE)


def test_a_reviewer_with_a_relationship_with_company_x_cannot_decide_a_relationship_with_x_and_the_page_names_who_can(
        login_as):
    """Relevance is identified by people without a relationship with the company: a
    reviewer who discloses a relationship with Meridian (any nature, last 24 months)
    cannot decide another person's relationship with Meridian (403, nothing stored); the
    review page says so next to it and names the reviewers who can. They still decide the
    relationships with other companies."""
    meeting = factories.meeting()
    room = factories.room(meeting)
    meridian = factories.company("Meridian Spine Technologies")
    summit = factories.company("Summit Pharmaceuticals")
    speaker = factories.user(full_name="Sam Speaker")
    talk = factories.assignment(speaker, factories.activity(meeting, room))
    with_meridian, with_summit = factories.disclosure(
        speaker, [(meridian, Nature.CONSULTANT), (summit, Nature.SPEAKER)]).relationships
    renee = factories.reviewer(meeting, full_name="Renee Reviewer")
    peter = factories.reviewer(meeting, full_name="Peter Peerson")
    mona = factories.reviewer(meeting, full_name="Mona Meridianfan")  # also tied to Meridian

    def own_role(person):
        return db.session.scalar(sa.select(Assignment).where(
            Assignment.user_id == person.id, Assignment.activity_id.is_(None)))

    # Renee's own disclosure names Meridian; Peter reviewed it (not relevant to her role).
    own = own_role(renee)
    [hers] = factories.disclosure(renee, [(meridian, Nature.ADVISOR)]).relationships
    factories.determination(hers, own, peter, relevant=False)
    [monas] = factories.disclosure(mona, [(meridian, Nature.SPEAKER)]).relationships
    factories.determination(monas, own_role(mona), peter, relevant=False)
    assert _state(own) is AssignmentState.CLEARED
    client = login_as(renee)

    page = _text(client.get(f"/review/meetings/{meeting.id}/people/{speaker.id}"))
    refusal = ("You disclosed a financial relationship with Meridian Spine Technologies, so you "
               "cannot decide about another person's relationship with Meridian Spine Technologies")
    assert refusal in page
    assert "Who can: Peter Peerson." in page  # not Mona: she is tied to Meridian too
    assert page.count(refusal) == 1  # not next to Summit

    response = client.post(_decide_url(meeting, speaker, with_meridian, talk),
                           data=_decision(with_meridian, talk))
    assert response.status_code == 403 and refusal in _text(response)
    assert db.session.scalar(sa.select(sa.func.count(Determination.id))) == 2  # the set-up only
    none = client.post(f"/review/meetings/{meeting.id}/people/{speaker.id}/none-relevant",
                       data={"none-disclosure": str(with_meridian.disclosure_id),
                             "none-rationale": "Unrelated."})
    assert none.status_code == 403

    assert client.post(_decide_url(meeting, speaker, with_summit, talk),
                       data=_decision(with_summit, talk)).status_code == 302
    assert login_as(peter).post(_decide_url(meeting, speaker, with_meridian, talk),
                                data=_decision(with_meridian, talk)).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(Determination.id))) == 4


# ------------------------------------------------------------------ staff assign them

def test_staff_add_and_remove_planning_committee_members_on_the_meeting_page_audited(login_as):
    """Staff name the planning committee and reviewers on the meeting's page (an existing
    account by email, or a new person invited); adding and removing are audited."""
    meeting = factories.meeting()
    staff = factories.staff(meeting)
    factories.user(email="paula@example.org", full_name="Paula Planner")
    client = login_as(staff)
    url = f"/staff/meetings/{meeting.id}/planning-roles"
    assert client.post(url, data={"email": "paula@example.org",
                                  "role": "planning_committee"}).status_code == 302
    assert client.post(url, data={"email": "new.director@example.org", "full_name": "Nia Director",
                                  "role": "course_director"}).status_code == 302
    again = client.post(url, data={"email": "paula@example.org", "role": "planning_committee"})
    assert again.status_code == 400 and "already planning committee member" in _text(again)
    page = _text(client.get(url))
    assert "Paula Planner" in page and "Nia Director" in page and "Course director" in page
    roles = db.session.scalars(sa.select(Assignment).order_by(Assignment.id)).all()
    assert [(a.role, a.activity_id, a.meeting_id) for a in roles] == [
        (AssignmentRole.PLANNING_COMMITTEE, None, meeting.id),
        (AssignmentRole.COURSE_DIRECTOR, None, meeting.id)]
    response = client.post(f"/staff/assignments/{roles[0].id}/remove", data={})
    assert response.status_code == 302 and response.headers["Location"].endswith(url)
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action.in_(["assignment.created", "assignment.removed"]))
        .order_by(AuditEvent.id)).all()
    assert [(e.action, e.subject_user_id, e.meeting_id) for e in events] == [
        ("assignment.created", roles[0].user_id, meeting.id),
        ("assignment.created", roles[1].user_id, meeting.id),
        ("assignment.removed", roles[0].user_id, meeting.id)]
    page = _text(client.get(url))
    assert "Paula Planner is no longer planning committee member of this meeting" in page
    assert "Roles that ended (1)" in page and _state(roles[0]) is not None
    assert db.session.get(Assignment, roles[0].id).removed_at is not None
