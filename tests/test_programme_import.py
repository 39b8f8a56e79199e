"""Programme import: preview, confirm, idempotence, bad files, the CLI."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from disclosures.enums import AssignmentRole, Role
from disclosures.extensions import db
from disclosures.models import Activity, Assignment, AuditEvent, Room, User

from . import factories

DATA = Path(__file__).parent / "data"
SAMPLE = (DATA / "programme.csv").read_bytes()
HEADER = "activity code,title,day,start,end,room,topics,credit hours,faculty name,email,role\n"


@pytest.fixture()
def meeting(app):
    return factories.meeting(slug="spine-2027", starts_on=date(2027, 10, 6), days=3,
                             timezone="America/Chicago")


def _counts() -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Activity, Room, Assignment, User, AuditEvent)
    }


def _upload(client, meeting, data: bytes, filename="programme.csv"):
    return client.post(f"/staff/meetings/{meeting.id}/import",
                       data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def _import(client, meeting, data: bytes, filename="programme.csv"):
    """Upload, then confirm with the id the preview page carries."""
    preview = _upload(client, meeting, data, filename)
    assert preview.status_code == 200, preview.get_data(as_text=True)
    html = preview.get_data(as_text=True)
    marker = 'name="upload_id" type="hidden" value="'
    upload_id = html.split(marker, 1)[1].split('"', 1)[0]
    return client.post(f"/staff/meetings/{meeting.id}/import/confirm", data={"upload_id": upload_id})


def test_import_pages_require_login(client, meeting):
    assert "/login" in client.get(f"/staff/meetings/{meeting.id}/import").headers["Location"]
    response = client.post(f"/staff/meetings/{meeting.id}/import/confirm", data={"upload_id": "x" * 32})
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", [Role.FACULTY, Role.REVIEWER])
def test_import_forbidden_to_non_staff(login_as, meeting, role):
    client = login_as(factories.user(role))
    before = _counts()
    assert client.get(f"/staff/meetings/{meeting.id}/import").status_code == 403
    assert _upload(client, meeting, SAMPLE).status_code == 403
    assert client.post(f"/staff/meetings/{meeting.id}/import/confirm",
                       data={"upload_id": "x" * 32}).status_code == 403
    assert _counts() == before


def test_import_page_documents_the_columns(login_as, meeting):
    page = login_as(factories.user(Role.STAFF)).get(f"/staff/meetings/{meeting.id}/import")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for column in ("activity code", "credit hours", "faculty name", "role"):
        assert column in html


def test_import_preview_writes_nothing_and_lists_what_changes(login_as, meeting):
    client = login_as(factories.user(Role.STAFF))
    before = _counts()
    response = _upload(client, meeting, SAMPLE)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Lumbar fusion: ten-year outcomes" in html and "Noor Haddad" in html
    assert "Hall B" in html and "Room 201" in html
    assert _counts() == before


def test_import_sample_csv_creates_programme(login_as, meeting):
    staff = factories.user(Role.STAFF)
    factories.user(email="lee.park@example.org", full_name="Lee Park")
    client = login_as(staff)
    response = _import(client, meeting, SAMPLE)
    assert response.status_code == 302
    activities = {a.code: a for a in db.session.scalars(sa.select(Activity))}
    assert sorted(activities) == ["S101", "S102", "S201", "S202"]
    s101 = activities["S101"]
    assert s101.room.name == "Hall B"
    # 08:00 in Chicago on 2027-10-07 (CDT) is 13:00 UTC; 1:30 PM is 18:30 UTC.
    assert s101.starts_at == datetime(2027, 10, 7, 13, 0, tzinfo=UTC)
    assert activities["S201"].starts_at == datetime(2027, 10, 8, 18, 30, tzinfo=UTC)
    assert s101.topics == ["lumbar fusion", "outcomes"]
    assert s101.credit_hours == Decimal("1.50")
    assert activities["S202"].assignments == []
    roles = {(a.user.email, a.role) for a in s101.assignments}
    assert roles == {("dana.okafor@example.org", AssignmentRole.MODERATOR),
                     ("lee.park@example.org", AssignmentRole.SPEAKER)}
    noor = db.session.scalar(sa.select(User).where(User.email == "noor.haddad@example.org"))
    assert noor.full_name == "Noor Haddad" and noor.password_hash is None
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 4  # staff + 3 faculty
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "programme.imported"))
    assert event.actor_id == staff.id
    assert event.changes["activities_created"] == 4 and event.changes["assignments_created"] == 4
    assert event.changes["people_created"] == 2 and event.changes["rooms_created"] == 2


def test_import_same_file_twice_changes_nothing(login_as, meeting):
    client = login_as(factories.user(Role.STAFF))
    assert _import(client, meeting, SAMPLE).status_code == 302
    before = _counts()
    versions = dict(db.session.execute(sa.select(Activity.code, Activity.version_id)).all())
    preview = _upload(client, meeting, SAMPLE).get_data(as_text=True)
    assert "Nothing to change" in preview
    assert _counts() == before
    assert dict(db.session.execute(sa.select(Activity.code, Activity.version_id)).all()) == versions


def test_import_edited_file_updates_in_place(login_as, meeting):
    client = login_as(factories.user(Role.STAFF))
    assert _import(client, meeting, SAMPLE).status_code == 302
    s102_id = db.session.scalar(sa.select(Activity.id).where(Activity.code == "S102"))
    edited = SAMPLE.replace(b"Cervical disc arthroplasty versus fusion", b"Cervical arthroplasty 2027")
    edited = edited.replace(b"S102,Cervical arthroplasty 2027,2027-10-07,10:00,11:00,Hall B",
                            b"S102,Cervical arthroplasty 2027,2027-10-07,10:30,11:30,Ballroom A")
    preview = _upload(client, meeting, edited).get_data(as_text=True)
    assert "Cervical arthroplasty 2027" in preview and "Ballroom A" in preview
    assert _import(client, meeting, edited).status_code == 302
    s102 = db.session.get(Activity, s102_id)
    assert s102.title == "Cervical arthroplasty 2027"
    assert s102.room.name == "Ballroom A"
    assert s102.starts_at == datetime(2027, 10, 7, 15, 30, tzinfo=UTC)
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 4
    last = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "programme.imported")
                              .order_by(AuditEvent.id.desc())).first()
    assert last.changes["activities_updated"] == 1 and last.changes["updated"] == ["S102"]


def test_import_xlsx_gives_the_same_programme_as_csv(login_as, meeting):
    client = login_as(factories.user(Role.STAFF))
    assert _import(client, meeting, (DATA / "programme.xlsx").read_bytes(), "programme.xlsx").status_code == 302
    s201 = db.session.scalar(sa.select(Activity).where(Activity.code == "S201"))
    assert s201.starts_at == datetime(2027, 10, 8, 18, 30, tzinfo=UTC)
    assert s201.title == "Spinal cord stimulation for chronic pain, a review"
    # And the CSV of the same programme is then a no-op.
    assert "Nothing to change" in _upload(client, meeting, SAMPLE).get_data(as_text=True)


def _xlsx(rows) -> bytes:
    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


BAD_FILES = [
    ("empty", b"", "programme.csv", "The file is empty"),
    ("wrong columns", b"session,name,when\nS1,Talk,2027-10-07\n", "programme.csv",
     "missing the column(s): activity code"),
    ("non-utf8", (HEADER + "S1,Caf\xe9 talk,2027-10-07,08:00,09:00,Hall,,1,,,\n").encode("latin-1"),
     "programme.csv", "not UTF-8"),
    ("not a spreadsheet", b"this is not a zip file at all", "programme.xlsx",
     "not a readable Excel spreadsheet"),
    ("header only", HEADER.encode(), "programme.csv", "no programme rows"),
]


@pytest.mark.parametrize("name, data, filename, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_import_bad_file_explains_and_writes_nothing(login_as, meeting, name, data, filename, message):
    client = login_as(factories.user(Role.STAFF))
    before = _counts()
    response = _upload(client, meeting, data, filename)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _counts() == before


BAD_ROWS = [
    ("bad date", "S1,Talk,07/10/2027,08:00,09:00,Hall,,1,,,", 2, "day", "is not a date"),
    ("day outside meeting", "S1,Talk,2027-11-01,08:00,09:00,Hall,,1,,,", 2, "day", "outside the meeting"),
    ("bad time", "S1,Talk,2027-10-07,8h,09:00,Hall,,1,,,", 2, "start", "is not a time"),
    ("end before start", "S1,Talk,2027-10-07,10:00,09:00,Hall,,1,,,", 2, "end", "after the start"),
    ("bad role", "S1,Talk,2027-10-07,08:00,09:00,Hall,,1,Ann Lee,ann@example.org,keynote", 2, "role",
     "is not a role"),
    ("bad email", "S1,Talk,2027-10-07,08:00,09:00,Hall,,1,Ann Lee,ann-at-example,speaker", 2, "email",
     "is not an email address"),
    ("bad hours", "S1,Talk,2027-10-07,08:00,09:00,Hall,,lots,,,", 2, "credit hours", "not a number"),
    ("missing code", ",Talk,2027-10-07,08:00,09:00,Hall,,1,,,", 2, "activity code", "required"),
    ("new person without name", "S1,Talk,2027-10-07,08:00,09:00,Hall,,1,,who@example.org,speaker", 2,
     "faculty name", "give the person&#39;s name"),
]


@pytest.mark.parametrize("name, row, number, column, reason", BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_import_bad_row_shows_row_column_reason_and_writes_nothing(login_as, meeting, name, row, number,
                                                                  column, reason):
    client = login_as(factories.user(Role.STAFF))
    before = _counts()
    data = (HEADER + "S0,Fine talk,2027-10-07,07:00,07:30,Hall,,0.5,,,\n" + row + "\n").encode()
    response = _upload(client, meeting, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<td class="num">{number + 1}</td><td>{column}</td>' in html
    assert reason in html
    assert "nothing will be imported" in html
    assert 'name="upload_id"' not in html
    assert _counts() == before


def test_import_conflicting_rows_of_one_activity_are_refused(login_as, meeting):
    client = login_as(factories.user(Role.STAFF))
    data = (HEADER + "S1,Talk,2027-10-07,08:00,09:00,Hall,,1,A B,a@example.org,speaker\n"
            "S1,Other title,2027-10-07,08:00,09:00,Hall,,1,C D,c@example.org,speaker\n").encode()
    html = _upload(client, meeting, data).get_data(as_text=True)
    assert "Differs from row 2 for activity S1" in html


def test_import_xlsx_bad_cells_are_reported(login_as, meeting):
    client = login_as(factories.user(Role.STAFF))
    data = _xlsx([HEADER.strip().split(","),
                  ["S1", "Talk", "someday", "08:00", "09:00", "Hall", None, 1, None, None, None]])
    response = _upload(client, meeting, data, "p.xlsx")
    assert response.status_code == 422
    assert "“someday” is not a date" in response.get_data(as_text=True)


def test_import_over_the_size_limit_is_refused(login_as, app, meeting):
    client = login_as(factories.user(Role.STAFF))
    before = _counts()
    old = app.config.get("IMPORT_MAX_BYTES")
    app.config["IMPORT_MAX_BYTES"] = 1024
    try:
        big = SAMPLE + b"\n" * 1200
        response = _upload(client, meeting, big)
        assert response.status_code == 400
        assert "larger than" in response.get_data(as_text=True)
        huge = SAMPLE + b"\n" * 200_000  # beyond the limit plus the form allowance: 413
        assert _upload(client, meeting, huge).status_code == 413
    finally:
        if old is None:
            app.config.pop("IMPORT_MAX_BYTES")
        else:
            app.config["IMPORT_MAX_BYTES"] = old
    assert _counts() == before


def test_import_confirm_with_unknown_or_foreign_upload_is_refused(login_as, meeting):
    owner = factories.user(Role.STAFF)
    other = factories.user(Role.STAFF)
    client = login_as(owner)
    html = _upload(client, meeting, SAMPLE).get_data(as_text=True)
    upload_id = html.split('name="upload_id" type="hidden" value="', 1)[1].split('"', 1)[0]
    before = _counts()
    other_client = login_as(other)
    response = other_client.post(f"/staff/meetings/{meeting.id}/import/confirm",
                                 data={"upload_id": upload_id})
    assert response.status_code == 400 and "Upload the file again" in response.get_data(as_text=True)
    response = client.post(f"/staff/meetings/{meeting.id}/import/confirm",
                           data={"upload_id": "../../etc/passwd"})
    assert response.status_code == 400
    assert _counts() == before


def test_import_never_removes_people_or_restores_removed_ones(login_as, meeting):
    client = login_as(factories.user(Role.STAFF))
    assert _import(client, meeting, SAMPLE).status_code == 302
    dana = db.session.scalar(sa.select(Assignment).join(User, Assignment.user_id == User.id).where(User.email == "dana.okafor@example.org"))
    dana.removed_at = datetime.now(UTC)
    db.session.commit()
    without_lee = b"\n".join(line for line in SAMPLE.split(b"\n") if b"lee.park" not in line)
    preview = _upload(client, meeting, without_lee).get_data(as_text=True)
    assert "Nothing to change" in preview and "Not put back" in preview
    assert db.session.scalar(sa.select(sa.func.count(Assignment.id)).where(Assignment.removed_at.is_(None))) == 3


def test_import_cli_dry_run_then_real_then_noop(app, meeting, tmp_path):
    db.session.commit()
    runner = app.test_cli_runner()
    path = DATA / "programme.csv"
    result = runner.invoke(args=["import-programme", "spine-2027", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.output and "activities created: 4" in result.output
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 0
    result = runner.invoke(args=["import-programme", "spine-2027", str(path)])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 4
    events = db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))
    result = runner.invoke(args=["import-programme", "spine-2027", str(path)])
    assert "Nothing to change" in result.output
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == events


def test_import_cli_bad_file_lists_errors_and_fails(app, meeting, tmp_path):
    db.session.commit()
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "S1,Talk,2027-13-40,08:00,09:00,Hall,,1,,,\n")
    result = app.test_cli_runner().invoke(args=["import-programme", "spine-2027", str(bad)])
    assert result.exit_code != 0
    assert "row 2, column day" in result.output and "nothing imported" in result.output
    unknown = app.test_cli_runner().invoke(args=["import-programme", "nope", str(bad)])
    assert unknown.exit_code != 0 and "No meeting has the short name" in unknown.output
