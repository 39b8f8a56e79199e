"""Programmes as they really arrive (issue 16): exports of scheduling tools name columns and
roles their own way, write room names loosely and overlap sessions. The import reads them,
asks staff once for a column it cannot recognise, lands "ballroom a" in Ballroom A and
warns (never refuses) about clashes."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from disclosures.enums import AssignmentRole
from disclosures.extensions import db
from disclosures.models import Activity, Assignment, AuditEvent, Meeting, Room, User
from disclosures.programme.reading import MissingColumns, read_programme

from . import factories

# What a scheduling tool exports: its own column names, first and last name apart, a day
# column nobody would guess ("Programme Day"), loose room names and its own role names.
SCHEDULER_CSV = (
    b"Session Code,Session Title,Programme Day,Start Time,End Time,Room Name,First Name,"
    b"Last Name,Presenter Email,Faculty Role\n"
    b"S101,Lumbar fusion outcomes,2027-10-07,08:00,09:30,ballroom a,Dana,Okafor,"
    b"dana@example.org,Chair\n"
    b"S101,Lumbar fusion outcomes,2027-10-07,08:00,09:30,ballroom a,Lee,Park,lee@example.org,"
    b"Presenter\n"
    b"S102,Cervical arthroplasty,2027-10-07,10:00,11:00,BALLROOM-A,Noor,Haddad,"
    b"noor@example.org,Panel member\n"
)


@pytest.fixture()
def meeting(app):
    return factories.meeting(slug="spine-2027", starts_on=date(2027, 10, 6), days=3,
                             timezone="America/Chicago")


def _upload(client, meeting, data: bytes, filename="export.csv"):
    return client.post(f"/staff/meetings/{meeting.id}/import",
                       data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def _warnings(html: str) -> str:
    """The text of the preview's warnings section (empty when there is none)."""
    found = re.search(r'<section class="panel warning-summary".*?</section>', html, re.S)
    return " ".join(found.group(0).split()) if found else ""


def _hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html).group(1)


def _selected(html: str, name: str) -> str:
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    found = re.search(r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', select)
    return (found.group(1) or found.group(2)) if found else ""


def _mapping(html: str, **chosen) -> dict:
    """The mapping form as the page shows it, with ``chosen`` columns changed."""
    data = {"upload_id": _hidden(html, "upload_id")}
    for column in ("activity_code", "title", "day", "start", "end"):
        data[f"column_{column}"] = chosen.get(column, _selected(html, f"column_{column}"))
    return data


def _confirm(client, meeting, html: str):
    return client.post(f"/staff/meetings/{meeting.id}/import/confirm",
                       data={"upload_id": _hidden(html, "upload_id")})


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def test_scheduler_style_csv_with_synonym_headers_imports_with_a_mapping_step_and_ballroom_a_lands_in_ballroom_a(
        login_as, meeting):
    ballroom = factories.room(meeting, "Ballroom A")
    token = ballroom.public_token
    staff = factories.staff(meeting)
    client = login_as(staff)

    # 1. The file lacks a recognisable "day": staff are asked which column holds it, with
    #    a sample value of each column, and what was recognised is already chosen.
    asked = _upload(client, meeting, SCHEDULER_CSV)
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200
    assert "Which column holds what?" in html and "no column we recognise for <strong>day</strong>" in html
    assert "Programme Day (e.g. 2027-10-07)" in html
    assert _selected(html, "column_activity_code") == "sessioncode"
    assert _selected(html, "column_start") == "starttime"
    assert _selected(html, "column_day") == ""
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 0

    # 2. Staff choose "Programme Day": the choice is audited and remembered; the preview
    #    shows how rooms, roles and columns were read.
    preview = client.post(f"/staff/meetings/{meeting.id}/import/columns",
                          data=_mapping(html, day="programmeday"))
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200, page
    assert "ballroom a → Ballroom A" in page and "BALLROOM-A → Ballroom A" in page
    assert "0 new rooms" in page
    assert "Chair → moderator" in page and "Presenter → speaker" in page
    assert "Panel member → panelist" in page
    assert "Session Code → activity code" in page and "Programme Day → day" in page
    [mapped] = _events("programme.columns_mapped")
    assert mapped.actor_id == staff.id
    assert mapped.changes["columns"]["after"]["day"] == "programmeday"
    assert mapped.changes["headers"]["day"] == "Programme Day"
    assert db.session.get(Meeting, meeting.id).import_column_map["day"] == "programmeday"

    # 3. Confirm: everything lands in the one Ballroom A, whose QR code is unchanged.
    done = _confirm(client, meeting, page)
    assert done.status_code == 302
    assert "Added: 0 rooms, 3 new people, 3 assignments." in client.get(done.location).get_data(as_text=True)
    rooms = list(db.session.scalars(sa.select(Room).where(Room.meeting_id == meeting.id)))
    assert [(r.name, r.public_token) for r in rooms] == [("Ballroom A", token)]
    activities = {a.code: a for a in db.session.scalars(sa.select(Activity))}
    assert {a.room.name for a in activities.values()} == {"Ballroom A"}
    assert activities["S101"].starts_at == datetime(2027, 10, 7, 13, 0, tzinfo=UTC)
    roles = {(a.user.full_name, a.role) for a in db.session.scalars(sa.select(Assignment))}
    assert roles == {("Dana Okafor", AssignmentRole.MODERATOR), ("Lee Park", AssignmentRole.SPEAKER),
                     ("Noor Haddad", AssignmentRole.PANELIST)}

    # 4. The next file from the same tool goes straight to the preview.
    again = _upload(client, meeting, SCHEDULER_CSV)
    assert again.status_code == 200
    assert "Nothing to change" in again.get_data(as_text=True)


def test_confirm_imports_the_columns_the_preview_showed_even_if_the_meeting_map_changed_since(
        login_as, meeting):
    client = login_as(factories.staff(meeting))
    html = _upload(client, meeting, SCHEDULER_CSV).get_data(as_text=True)
    page = client.post(f"/staff/meetings/{meeting.id}/import/columns",
                       data=_mapping(html, day="programmeday")).get_data(as_text=True)
    # Someone else maps the day differently in between (nonsense, but remembered).
    db.session.get(Meeting, meeting.id).import_column_map = {"day": "starttime"}
    db.session.commit()
    assert _confirm(client, meeting, page).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 2


def test_mapping_the_same_file_column_to_two_programme_columns_is_refused_and_nothing_remembered(
        login_as, meeting):
    client = login_as(factories.staff(meeting))
    html = _upload(client, meeting, SCHEDULER_CSV).get_data(as_text=True)
    response = client.post(f"/staff/meetings/{meeting.id}/import/columns",
                           data=_mapping(html, day="starttime"))
    assert response.status_code == 400
    assert "The same column already holds the day: choose the column that holds the start." in response.get_data(as_text=True)
    assert _events("programme.columns_mapped") == []
    assert db.session.get(Meeting, meeting.id).import_column_map is None


def test_mapping_needs_a_choice_for_every_required_column(login_as, meeting):
    client = login_as(factories.staff(meeting))
    html = _upload(client, meeting, SCHEDULER_CSV).get_data(as_text=True)
    response = client.post(f"/staff/meetings/{meeting.id}/import/columns", data=_mapping(html))
    assert response.status_code == 400
    assert "Choose the column of the file that holds the day." in response.get_data(as_text=True)


def test_mapping_someone_elses_or_an_expired_upload_is_refused(login_as, meeting):
    html = _upload(login_as(factories.staff(meeting)), meeting, SCHEDULER_CSV).get_data(as_text=True)
    other = login_as(factories.staff(meeting))
    response = other.post(f"/staff/meetings/{meeting.id}/import/columns",
                          data=_mapping(html, day="programmeday"))
    assert response.status_code == 400
    assert "upload the file again" in response.get_data(as_text=True)
    response = other.post(f"/staff/meetings/{meeting.id}/import/columns",
                          data={"upload_id": "x" * 32, "column_day": "programmeday"})
    assert response.status_code == 400
    assert _events("programme.columns_mapped") == []


@pytest.mark.parametrize("header", [
    "SESSION_CODE,session-title,Date,start time,END TIME",
    "Session Code,Session Title,Session Date,Session Start,Session End",
    "activity code,title,day,start,end",
    "Activity-Code ,  Title, DAY,Start.,End!",
])
def test_header_synonyms_match_ignoring_case_spaces_and_punctuation_and_only_required_columns_are_needed(
        app, meeting, header):
    parsed = read_programme(f"{header}\nS1,Talk,2027-10-07,08:00,09:00\n".encode(), "p.csv", meeting)
    assert parsed.errors == []
    [activity] = parsed.activities.values()
    assert (activity.code, activity.title, activity.room) == ("S1", "Talk", None)


def test_first_name_and_last_name_together_make_the_faculty_name(app, meeting):
    data = ("Session Code,Title,Date,Start,End,Given Name,Family Name,E-mail\n"
            "S1,Talk,2027-10-07,08:00,09:00,Ana María,de la Cruz,ana@example.org\n").encode()
    [person] = read_programme(data, "p.csv", meeting).faculty
    assert (person.name, person.email) == ("Ana María de la Cruz", "ana@example.org")


def test_a_file_still_missing_a_required_column_names_it_and_lists_the_files_columns(app, meeting):
    data = b"Code,Title,When\nS1,Talk,2027-10-07 08:00\n"
    with pytest.raises(MissingColumns) as caught:
        read_programme(data, "p.csv", meeting)
    assert caught.value.missing == ["day", "start", "end"]
    assert [(c.text, c.sample) for c in caught.value.columns] == [
        ("Code", "S1"), ("Title", "Talk"), ("When", "2027-10-07 08:00")]


ROLE_SYNONYMS = [
    ("Chair", AssignmentRole.MODERATOR), ("Co-chair", AssignmentRole.MODERATOR),
    ("Faculty", AssignmentRole.SPEAKER), ("Presenter", AssignmentRole.SPEAKER),
    ("Lecturer", AssignmentRole.SPEAKER), ("Panel member", AssignmentRole.PANELIST),
    ("Planner", AssignmentRole.PLANNER),
    ("Planning committee", AssignmentRole.PLANNING_COMMITTEE),
    ("Course Director", AssignmentRole.COURSE_DIRECTOR),
    ("COI reviewer", AssignmentRole.COI_REVIEWER),
    ("Content reviewer", AssignmentRole.CONTENT_REVIEWER),
    ("MODERATOR", AssignmentRole.MODERATOR),
]


@pytest.mark.parametrize("written, role", ROLE_SYNONYMS, ids=[w for w, _ in ROLE_SYNONYMS])
def test_role_synonyms_of_scheduling_tools_map_to_roles_and_the_preview_shows_them(
        login_as, meeting, written, role):
    data = ("activity code,title,day,start,end,faculty name,email,role\n"
            f"S1,Talk,2027-10-07,08:00,09:00,Ann Lee,ann@example.org,{written}\n").encode()
    [person] = read_programme(data, "p.csv", meeting).faculty
    assert person.role is role
    html = _upload(login_as(factories.staff(meeting)), meeting, data).get_data(as_text=True)
    if written.lower() != role.value:
        assert f"{written} → {role.value}" in html


def test_course_director_rows_import_as_the_meeting_level_role_everyone_in_control_of_content_discloses(
        login_as, meeting):
    """ACCME Standard 3: everyone in control of content discloses. A "Course Director" row
    (on an activity's line, as schedulers export it) gives the person the course director
    role for the whole meeting, shown as such in the preview; a planning committee row
    likewise; the activity still gets its speaker."""
    data = (b"activity code,title,day,start,end,faculty name,email,role\n"
            b"S1,Talk,2027-10-07,08:00,09:00,Ann Lee,ann@example.org,Course Director\n"
            b"S1,Talk,2027-10-07,08:00,09:00,Bo Chen,bo@example.org,Planning committee\n"
            b"S1,Talk,2027-10-07,08:00,09:00,Cy Diaz,cy@example.org,Speaker\n"
            b"S2,Other talk,2027-10-07,10:00,11:00,Ann Lee,ann@example.org,Course Director\n")
    client = login_as(factories.staff(meeting))
    preview = _upload(client, meeting, data).get_data(as_text=True)
    assert "Course Director → course_director (whole meeting)" in preview
    assert "Planning committee → planning_committee (whole meeting)" in preview
    assert _confirm(client, meeting, preview).status_code == 302
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(User.email, Assignment.role, Assignment.activity_id, Assignment.meeting_id,
                  Assignment.state)
        .join(User, User.id == Assignment.user_id).order_by(User.email)).all()
    assert [(r.email, r.role, r.activity_id is None) for r in rows] == [
        ("ann@example.org", AssignmentRole.COURSE_DIRECTOR, True),  # once, not per row
        ("bo@example.org", AssignmentRole.PLANNING_COMMITTEE, True),
        ("cy@example.org", AssignmentRole.SPEAKER, False),
    ]
    assert {r.meeting_id for r in rows} == {meeting.id}
    # Nobody has disclosed yet: the course director must, before acting.
    assert rows[0].state.value == "awaiting_disclosure"
    roles = client.get(f"/staff/meetings/{meeting.id}/planning-roles").get_data(as_text=True)
    assert "Ann Lee" in roles and "Course director" in roles and "Awaiting disclosure" in roles


def test_room_names_in_a_file_match_ignoring_case_spaces_and_punctuation_and_make_one_new_room(
        login_as, meeting):
    data = (b"activity code,title,day,start,end,room\n"
            b"S1,Talk,2027-10-07,08:00,09:00,Hall  B\n"
            b"S2,Talk,2027-10-07,10:00,11:00,hall b\n"
            b"S3,Talk,2027-10-07,12:00,13:00,HALL-B.\n")
    client = login_as(factories.staff(meeting))
    preview = _upload(client, meeting, data).get_data(as_text=True)
    assert "1 new room: Hall B." in preview  # spaces collapsed, as every cell
    assert "hall b → Hall B" in preview and "HALL-B. → Hall B" in preview
    assert _confirm(client, meeting, preview).status_code == 302
    assert list(db.session.scalars(sa.select(Room.name))) == ["Hall B"]
    assert {a.room.name for a in db.session.scalars(sa.select(Activity))} == {"Hall B"}


@pytest.mark.parametrize("name", ["ballroom a", "BALLROOM-A", "Ballroom  A.", "Ballroom A"])
def test_staff_cannot_add_by_hand_a_twin_of_a_room_written_differently(login_as, meeting, name):
    factories.room(meeting, "Ballroom A")
    response = login_as(factories.staff(meeting)).post(
        f"/staff/meetings/{meeting.id}/rooms/new", data={"name": name})
    assert response.status_code == 400
    assert "already has" in response.get_data(as_text=True) and "Ballroom A" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Room.id))) == 1


def test_a_room_may_be_renamed_to_its_own_name_written_differently(login_as, meeting):
    room = factories.room(meeting, "Ballroom A")
    response = login_as(factories.staff(meeting)).post(f"/staff/rooms/{room.id}/edit",
                                                       data={"name": "Ballroom a"})
    assert response.status_code in (200, 302)
    assert db.session.get(Room, room.id).name == "Ballroom a"


def test_preview_warns_but_does_not_refuse_when_two_activities_overlap_in_one_room(login_as, meeting):
    existing = factories.room(meeting, "Hall B")
    factories.activity(meeting, existing, code="S900",
                       starts_at=datetime(2027, 10, 7, 15, 30, tzinfo=UTC), minutes=30)  # 10:30 CDT
    data = (b"activity code,title,day,start,end,room\n"
            b"S1,First,2027-10-07,08:00,09:30,Hall B\n"
            b"S2,Second,2027-10-07,09:00,10:00,hall b\n"
            b"S3,Third,2027-10-07,10:00,11:00,Hall B\n"   # touches S2's end: no clash
            b"S4,Elsewhere,2027-10-07,09:00,10:00,Room 201\n")
    client = login_as(factories.staff(meeting))
    response = _upload(client, meeting, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2 warnings" in html
    assert ("Hall B: S1 (row 2, Thu Oct 7 8:00 AM–9:30 AM CDT) and S2 (row 3, Thu Oct 7 "
            "9:00 AM–10:00 AM CDT) overlap in this room.") in html
    assert "S3 (row 4, Thu Oct 7 10:00 AM–11:00 AM CDT) and S900 (already in the programme" in html
    assert "S4" not in _warnings(html)
    assert _confirm(client, meeting, html).status_code == 302  # a warning, not a refusal


def test_preview_warns_when_one_person_would_be_in_two_rooms_at_once(login_as, meeting):
    person = factories.user(email="dana@example.org", full_name="Dana Okafor")
    elsewhere = factories.activity(meeting, factories.room(meeting, "Room 201"), code="S900",
                                   starts_at=datetime(2027, 10, 7, 14, 0, tzinfo=UTC))  # 9:00 CDT
    factories.assignment(person, elsewhere)
    data = (b"activity code,title,day,start,end,room,faculty name,email,role\n"
            b"S1,First,2027-10-07,08:30,09:30,Hall B,Dana Okafor,dana@example.org,chair\n")
    html = _upload(login_as(factories.staff(meeting)), meeting, data).get_data(as_text=True)
    assert ("dana@example.org is in two rooms at once: S1 (row 2, Thu Oct 7 8:30 AM–9:30 AM CDT) "
            "in Hall B, and S900 (already in the programme, Thu Oct 7 9:00 AM–10:00 AM CDT) in "
            "Room 201.") in html


def test_import_cli_reads_the_columns_staff_chose_for_the_meeting(app, meeting, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(SCHEDULER_CSV)
    db.session.commit()
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["import-programme", "spine-2027", str(path)])
    assert refused.exit_code == 1
    assert "no column for day" in refused.output and "import page to choose the columns" in refused.output
    db.session.get(Meeting, meeting.id).import_column_map = {"day": "programmeday"}
    db.session.commit()
    done = runner.invoke(args=["import-programme", "spine-2027", str(path)])
    assert done.exit_code == 0, done.output
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 2
    assert list(db.session.scalars(sa.select(Room.name))) == ["ballroom a"]
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 3


def test_preview_flags_printed_titles_and_rooms_with_trade_marks_slogans_addresses_or_prices(login_as, meeting):
    """Standard 3 statements and Standard 4 acknowledgements name companies plainly; what is
    printed for learners (an activity's title, a room's name) is flagged when it carries
    ®/™, a ranking claim such as "#1", a web address or a price. A warning, not a refusal."""
    data = ("activity code,title,day,start,end,room\n"
            "S1,Spinefuse® Lunch Symposium,2027-10-07,08:00,09:30,Hall B\n"
            "S2,The #1 fusion system: visit www.spinefuse.com,2027-10-07,10:00,11:00,Hall B\n"
            "S3,Lumbar fusion outcomes,2027-10-07,12:00,13:00,Hall B\n"
            "S4,Implant pricing,2027-10-07,12:00,13:00,Acme™ Lounge\n").encode()
    client = login_as(factories.staff(meeting))
    html = _upload(client, meeting, data).get_data(as_text=True)
    warnings = _warnings(html)
    assert "The title of S1 (row 2) contains a trademark sign (® or ™)" in warnings
    assert ("The title of S2 (row 3) contains a ranking claim such as “#1” and a web address"
            in warnings)
    assert "S3" not in warnings
    assert "The new room “Acme™ Lounge” contains a trademark sign" in warnings
    assert _confirm(client, meeting, html).status_code == 302  # a warning, not a refusal
