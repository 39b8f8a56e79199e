"""Staff manage a meeting's programme by hand: meetings, rooms, activities, assignments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from disclosures.enums import AssignmentRole, Nature
from disclosures.extensions import db
from disclosures.models import Activity, Assignment, AuditEvent, Meeting, Room, User

from . import factories


def _events(action: str) -> list[AuditEvent]:
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)).all()


MEETING_FORM = {
    "name": "Spine Annual Meeting 2027",
    "slug": "spine-2027",
    "location": "Chicago, IL",
    "starts_on": "2027-10-06",
    "ends_on": "2027-10-09",
    "timezone": "America/Chicago",
    "disclosure_deadline": "2027-09-15",
}


def _staff_pages(meeting, room, activity, assignment):
    return [
        ("get", "/staff/meetings/new"),
        ("get", f"/staff/meetings/{meeting.id}"),
        ("get", f"/staff/meetings/{meeting.id}/edit"),
        ("get", f"/staff/meetings/{meeting.id}/rooms/new"),
        ("get", f"/staff/rooms/{room.id}/edit"),
        ("get", f"/staff/meetings/{meeting.id}/activities/new"),
        ("get", f"/staff/activities/{activity.id}/edit"),
        ("get", f"/staff/activities/{activity.id}/assign"),
        ("post", f"/staff/assignments/{assignment.id}/remove"),
    ]


@pytest.fixture()
def programme(app):
    meeting = factories.meeting(name="Spine Annual", timezone="America/Chicago")
    room = factories.room(meeting, "Hall B")
    activity = factories.activity(meeting, room, code="S101", title="Lumbar fusion outcomes")
    person = factories.user(full_name="Dana Okafor")
    assignment = factories.assignment(person, activity)
    return meeting, room, activity, assignment


def test_programme_pages_missing_objects_are_404(login_as, app):
    client = login_as(factories.admin())
    for url in ("/staff/meetings/999", "/staff/rooms/999/edit", "/staff/activities/999/edit",
                "/staff/activities/999/assign"):
        assert client.get(url).status_code == 404, url
    assert client.post("/staff/assignments/999/remove").status_code == 404


def test_meeting_create_saves_and_audits(login_as, app):
    staff = factories.admin()
    client = login_as(staff)
    response = client.post("/staff/meetings/new", data=MEETING_FORM)
    assert response.status_code == 302
    meeting = db.session.scalar(sa.select(Meeting).where(Meeting.slug == "spine-2027"))
    assert meeting.name == "Spine Annual Meeting 2027"
    assert meeting.disclosure_deadline == date(2027, 9, 15)
    assert response.headers["Location"].endswith(f"/staff/meetings/{meeting.id}")
    event = _events("meeting.created")[0]
    assert event.actor_id == staff.id and event.changes["slug"]["after"] == "spine-2027"
    page = client.get(f"/staff/meetings/{meeting.id}").get_data(as_text=True)
    assert "Spine Annual Meeting 2027" in page and "America/Chicago" in page
    assert "Spine Annual Meeting 2027" in client.get("/staff/").get_data(as_text=True)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"timezone": "Mars/Olympus"}, "not a known time zone"),
        ({"ends_on": "2027-10-01"}, "cannot be before the first day"),
        ({"slug": "Spine 2027!"}, "lower-case letters"),
        ({"starts_on": "06/10/2027"}, "YYYY-MM-DD"),
    ],
)
def test_meeting_create_bad_input_explains_and_saves_nothing(login_as, app, changes, message):
    client = login_as(factories.admin())
    response = client.post("/staff/meetings/new", data={**MEETING_FORM, **changes})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Meeting.id))) == 0


def test_meeting_slug_taken_is_refused(login_as, app):
    factories.meeting(slug="spine-2027")
    client = login_as(factories.admin())
    response = client.post("/staff/meetings/new", data=MEETING_FORM)
    assert response.status_code == 400
    assert "already uses the short name" in response.get_data(as_text=True)


def test_meeting_edit_records_before_and_after(login_as, programme):
    meeting = programme[0]
    client = login_as(factories.admin())
    data = {**MEETING_FORM, "slug": meeting.slug, "name": "Renamed Meeting",
            "starts_on": meeting.starts_on.isoformat(), "ends_on": meeting.ends_on.isoformat()}
    assert client.post(f"/staff/meetings/{meeting.id}/edit", data=data).status_code == 302
    assert db.session.get(Meeting, meeting.id).name == "Renamed Meeting"
    event = _events("meeting.updated")[0]
    assert event.changes["name"] == {"before": "Spine Annual", "after": "Renamed Meeting"}


def test_meeting_page_lists_rooms_activities_faculty_and_nav(login_as, programme):
    meeting = programme[0]
    page = login_as(factories.admin()).get(f"/staff/meetings/{meeting.id}").get_data(as_text=True)
    assert 'class="subnav"' in page
    for text in ("Hall B", "S101", "Lumbar fusion outcomes", "Dana Okafor", "Awaiting disclosure"):
        assert text in page


def test_room_add_and_rename_keep_the_qr_token(login_as, programme):
    meeting, room, *_ = programme
    token = room.public_token
    client = login_as(factories.admin())
    assert client.post(f"/staff/meetings/{meeting.id}/rooms/new", data={"name": " Room  201 "}).status_code == 302
    assert db.session.scalar(sa.select(Room).where(Room.name == "Room 201")) is not None
    response = client.post(f"/staff/meetings/{meeting.id}/rooms/new", data={"name": "Hall B"})
    assert response.status_code == 400 and "already has a room called" in response.get_data(as_text=True)
    assert client.post(f"/staff/rooms/{room.id}/edit", data={"name": "Hall C"}).status_code == 302
    renamed = db.session.get(Room, room.id)
    assert renamed.name == "Hall C" and renamed.public_token == token
    assert _events("room.renamed")[0].changes["name"] == {"before": "Hall B", "after": "Hall C"}
    assert len(_events("room.created")) == 1


def _activity_form(room, **changes):
    data = {
        "code": "S202",
        "title": "Cervical disc arthroplasty",
        "room_id": str(room.id),
        "starts_at": "2027-10-07T08:00",
        "ends_at": "2027-10-07T09:30",
        "topics": "cervical spine\narthroplasty",
        "credit_hours": "1.5",
    }
    data.update(changes)
    return data


def test_activity_create_stores_local_time_as_utc(login_as, programme):
    meeting, room, *_ = programme
    client = login_as(factories.admin())
    response = client.post(f"/staff/meetings/{meeting.id}/activities/new", data=_activity_form(room))
    assert response.status_code == 302
    act = db.session.scalar(sa.select(Activity).where(Activity.code == "S202"))
    # 08:00 in Chicago in October (CDT, UTC-5) is 13:00 UTC.
    assert act.starts_at == datetime(2027, 10, 7, 13, 0, tzinfo=UTC)
    assert act.ends_at == datetime(2027, 10, 7, 14, 30, tzinfo=UTC)
    assert act.topics == ["cervical spine", "arthroplasty"]
    assert act.credit_hours == Decimal("1.50")
    assert act.is_accredited  # the form's default: accredited for CME
    assert _events("activity.created")[0].changes["code"]["after"] == "S202"
    page = client.get(f"/staff/meetings/{meeting.id}").get_data(as_text=True)
    assert "8:00 AM" in page and "Cervical disc arthroplasty" in page


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"ends_at": "2027-10-07T07:00"}, "The end must be after the start"),
        ({"starts_at": "tomorrow"}, "YYYY-MM-DD HH:MM"),
        ({"code": "S101"}, "already has the code"),
        ({"credit_hours": "-1"}, "between 0 and 99"),
        ({"title": ""}, "Enter the title"),
    ],
)
def test_activity_bad_input_explains_and_saves_nothing(login_as, programme, changes, message):
    meeting, room, *_ = programme
    client = login_as(factories.admin())
    response = client.post(f"/staff/meetings/{meeting.id}/activities/new",
                           data=_activity_form(room, **changes))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 1


def test_activity_room_of_another_meeting_is_refused(login_as, programme):
    meeting, *_ = programme
    other_room = factories.room(factories.meeting(), "Elsewhere")
    client = login_as(factories.admin())
    response = client.post(f"/staff/meetings/{meeting.id}/activities/new",
                           data=_activity_form(other_room))
    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 1


def test_activity_edit_updates_and_audits(login_as, programme):
    meeting, room, activity, _ = programme
    client = login_as(factories.admin())
    form_page = client.get(f"/staff/activities/{activity.id}/edit").get_data(as_text=True)
    assert "Lumbar fusion outcomes" in form_page
    data = _activity_form(room, code="S101", title="Lumbar fusion: ten-year outcomes",
                          version_id=str(activity.version_id))
    assert client.post(f"/staff/activities/{activity.id}/edit", data=data).status_code == 302
    assert db.session.get(Activity, activity.id).title == "Lumbar fusion: ten-year outcomes"
    assert _events("activity.updated")[0].changes["title"]["after"] == "Lumbar fusion: ten-year outcomes"


def test_activity_concurrent_edit_is_409_and_keeps_first_save(login_as, programme):
    meeting, room, activity, _ = programme
    client = login_as(factories.admin())
    seen_version = str(activity.version_id)
    first = _activity_form(room, code="S101", title="First editor", version_id=seen_version)
    second = _activity_form(room, code="S101", title="Second editor", version_id=seen_version)
    assert client.post(f"/staff/activities/{activity.id}/edit", data=first).status_code == 302
    response = client.post(f"/staff/activities/{activity.id}/edit", data=second)
    assert response.status_code == 409
    assert "Someone else saved this activity" in response.get_data(as_text=True)
    assert db.session.get(Activity, activity.id).title == "First editor"


def test_assign_existing_person_by_email(login_as, programme):
    meeting, room, activity, _ = programme
    person = factories.user(email="lee.park@example.org", full_name="Lee Park")
    client = login_as(factories.admin())
    response = client.post(f"/staff/activities/{activity.id}/assign",
                           data={"email": "Lee.Park@Example.org", "role": "moderator"})
    assert response.status_code == 302
    made = db.session.scalar(sa.select(Assignment).where(Assignment.user_id == person.id))
    assert made.role is AssignmentRole.MODERATOR and made.activity_id == activity.id
    assert _events("assignment.created")[0].subject_user_id == person.id
    again = client.post(f"/staff/activities/{activity.id}/assign",
                        data={"email": "lee.park@example.org", "role": "moderator"})
    assert again.status_code == 400 and "already moderator" in again.get_data(as_text=True)


def test_assign_new_person_creates_account_and_invites(login_as, programme, outbox):
    activity = programme[2]
    client = login_as(factories.admin())
    response = client.post(f"/staff/activities/{activity.id}/assign",
                           data={"email": "new.faculty@example.org", "full_name": "Noor Haddad",
                                 "role": "speaker"})
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "new.faculty@example.org"))
    assert user.full_name == "Noor Haddad" and user.password_hash is None
    assert len(user.assignments) == 1
    assert [m["To"] for m in outbox] == ["new.faculty@example.org"]
    assert "/invitation/" in outbox[0].get_content()
    assert programme[0].name in outbox[0].get_content()


def test_assign_unknown_email_without_name_asks_for_name(login_as, programme):
    activity = programme[2]
    client = login_as(factories.admin())
    response = client.post(f"/staff/activities/{activity.id}/assign",
                           data={"email": "stranger@example.org", "role": "speaker"})
    assert response.status_code == 400
    assert "enter the person&#39;s full name" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(User).where(User.email == "stranger@example.org")) is None


def test_remove_assignment_keeps_history(login_as, programme):
    meeting, room, activity, assignment = programme
    reviewer = factories.user()
    company = factories.company("Meridian Spine Technologies")
    disclosure = factories.disclosure(assignment.user, [(company, Nature.CONSULTANT)])
    determination = factories.determination(disclosure.relationships[0], assignment, reviewer,
                                            relevant=True)
    factories.mitigation(determination, reviewer)
    client = login_as(factories.admin())
    response = client.post(f"/staff/assignments/{assignment.id}/remove")
    assert response.status_code == 302
    kept = db.session.get(Assignment, assignment.id)
    assert kept.removed_at is not None
    assert len(kept.determinations) == 1 and len(kept.determinations[0].mitigations) == 1
    assert _events("assignment.removed")[0].subject_user_id == assignment.user_id
    page = client.get(f"/staff/meetings/{meeting.id}").get_data(as_text=True)
    assert "Removed: Dana Okafor" in page
    # Assigning them again restores the same row, with its history.
    client.post(f"/staff/activities/{activity.id}/assign",
                data={"email": assignment.user.email, "role": "speaker"})
    assert db.session.get(Assignment, assignment.id).removed_at is None
    assert len(_events("assignment.restored")) == 1
