"""Roles held per meeting: what staff of one meeting see of another, the Access page,
meeting creation, and what the audit log shows to whom.

The route × role table (test_authorisation.py) says who may call each route; these tests
check what the allowed pages show and what giving and taking roles does.
"""

from __future__ import annotations

import sqlalchemy as sa

from disclosures.enums import MeetingRole
from disclosures.extensions import db
from disclosures.models import AuditEvent, Meeting, Membership

from . import factories


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_meetings_list_shows_staff_only_their_meetings_and_auditors_all(app, login_as):
    spine = factories.meeting(name="Spine Annual Meeting")
    hand = factories.meeting(name="Hand Surgery Course")
    spine_staff = factories.staff(spine)
    auditor = factories.auditor()
    db.session.commit()
    page = _text(login_as(spine_staff).get("/staff/"))
    assert "Spine Annual Meeting" in page and "Hand Surgery Course" not in page
    assert "New meeting" not in page  # only site administrators create meetings
    page = _text(login_as(auditor).get("/staff/"))
    assert "Spine Annual Meeting" in page and "Hand Surgery Course" in page
    assert f"/staff/meetings/{hand.id}/records" in page  # an auditor goes to the records
    assert f'href="/staff/meetings/{hand.id}"' not in page


def test_whoever_creates_a_meeting_becomes_its_staff(app, login_as):
    admin = factories.admin()
    response = login_as(admin).post("/staff/meetings/new", data={
        "name": "Spine Update 2031", "slug": "spine-2031", "starts_on": "2031-10-06",
        "ends_on": "2031-10-08", "timezone": "America/Chicago"})
    assert response.status_code == 302, _text(response)[:2000]
    meeting = db.session.scalar(sa.select(Meeting).where(Meeting.slug == "spine-2031"))
    roles = db.session.execute(sa.select(Membership.user_id, Membership.role)
                               .where(Membership.meeting_id == meeting.id)).all()
    assert roles == [(admin.id, MeetingRole.STAFF)]


def test_access_page_gives_a_role_to_an_existing_person_and_invites_a_new_one(app, login_as, outbox):
    meeting = factories.meeting(name="Spine Annual Meeting")
    staff = factories.staff(meeting, full_name="Sam Staff")
    rita = factories.user(email="rita@example.org", full_name="Rita Reviewer")
    db.session.commit()
    client = login_as(staff)
    response = client.post(f"/staff/meetings/{meeting.id}/access",
                           data={"email": "RITA@example.org", "role": "reviewer"})
    assert response.status_code == 302
    page = _text(client.get(f"/staff/meetings/{meeting.id}/access"))
    assert "Rita Reviewer is now reviewer of this meeting" in page
    # Rita now reviews this meeting: its queue opens for her.
    assert login_as(rita).get("/review/").status_code == 200
    # A new address without a name is refused with how to fix it; with one, it is invited.
    response = client.post(f"/staff/meetings/{meeting.id}/access",
                           data={"email": "newcomer@example.org", "role": "staff"})
    assert response.status_code == 400 and "full name too" in _text(response)
    response = client.post(f"/staff/meetings/{meeting.id}/access",
                           data={"email": "newcomer@example.org", "full_name": "Nia Newcomer",
                                 "role": "staff"})
    assert response.status_code == 302
    assert [m["To"] for m in outbox] == ["newcomer@example.org"]
    # Giving the same role again is refused, and nothing is added.
    response = client.post(f"/staff/meetings/{meeting.id}/access",
                           data={"email": "rita@example.org", "role": "reviewer"})
    assert response.status_code == 400 and "already reviewer of this meeting" in _text(response)
    assert db.session.scalar(sa.select(sa.func.count(Membership.id))) == 3
    actions = db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.action.like("membership.%")).order_by(AuditEvent.id)).all()
    assert actions == ["membership.granted", "membership.granted"]


def test_taking_a_role_away_keeps_it_on_record_and_ends_access(app, login_as):
    meeting = factories.meeting()
    staff = factories.staff(meeting, full_name="Sam Staff")
    rita = factories.reviewer(meeting, full_name="Rita Reviewer")
    membership = rita.memberships[0]
    db.session.commit()
    response = login_as(staff).post(f"/staff/memberships/{membership.id}/remove")
    assert response.status_code == 302
    assert login_as(rita).get("/review/").status_code == 403
    kept = db.session.get(Membership, membership.id)
    assert kept.revoked_at is not None and kept.revoked_by_id == staff.id
    page = _text(login_as(staff).get(f"/staff/meetings/{meeting.id}/access"))
    assert "Roles that ended (1)" in page and "Rita Reviewer" in page
    # The meeting's only staff member cannot remove their own role.
    own = staff.memberships[0]
    response = login_as(staff).post(f"/staff/memberships/{own.id}/remove", follow_redirects=True)
    assert "only staff member" in _text(response)
    assert db.session.get(Membership, own.id).revoked_at is None


def test_audit_log_shows_staff_the_events_of_their_meetings_only(app, login_as):
    spine = factories.meeting(name="Spine Annual Meeting")
    hand = factories.meeting(name="Hand Surgery Course")
    spine_staff = factories.staff(spine)
    hand_staff = factories.staff(hand)
    db.session.commit()
    login_as(spine_staff).post(f"/staff/meetings/{spine.id}/rooms/new", data={"name": "Spine Hall"})
    login_as(hand_staff).post(f"/staff/meetings/{hand.id}/rooms/new", data={"name": "Hand Hall"})
    spine_log = _text(login_as(spine_staff).get("/staff/audit?action=room"))
    assert "Spine Hall" in spine_log and "Hand Hall" not in spine_log
    auditor_log = _text(login_as(factories.auditor()).get("/staff/audit?action=room"))
    assert "Spine Hall" in auditor_log and "Hand Hall" in auditor_log


def test_review_summaries_go_to_the_reviewers_of_each_meeting_only(app):
    from disclosures.enums import Nature
    from disclosures.reminders.operations import plan_review_summaries

    spine = factories.meeting(name="Spine Annual Meeting")
    hand = factories.meeting(name="Hand Surgery Course")
    spine_reviewer = factories.reviewer(spine, full_name="Spine Reviewer")
    factories.reviewer(hand, full_name="Hand Reviewer")
    speaker = factories.user()
    factories.assignment(speaker, factories.activity(spine))
    factories.disclosure(speaker, [(factories.company(), Nature.CONSULTANT)])
    db.session.commit()
    plan = plan_review_summaries(None)
    assert [(entry.user.full_name, [c[0].name for c in entry.counts]) for entry in plan.due] == [
        (spine_reviewer.full_name, ["Spine Annual Meeting"])]
