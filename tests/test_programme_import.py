"""Programme import: preview, confirm, idempotence, bad files, the CLI."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from disclosures.enums import AssignmentRole
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


def test_import_page_documents_the_columns(login_as, meeting):
    page = login_as(factories.admin()).get(f"/staff/meetings/{meeting.id}/import")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for column in ("activity code", "credit hours", "faculty name", "role"):
        assert column in html


def test_import_preview_writes_nothing_and_lists_what_changes(login_as, meeting):
    client = login_as(factories.admin())
    before = _counts()
    response = _upload(client, meeting, SAMPLE)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Lumbar fusion: ten-year outcomes" in html and "Noor Haddad" in html
    assert "Hall B" in html and "Room 201" in html
    assert _counts() == before


def test_import_sample_csv_creates_programme(login_as, meeting):
    staff = factories.admin()
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
    client = login_as(factories.admin())
    assert _import(client, meeting, SAMPLE).status_code == 302
    before = _counts()
    versions = dict(db.session.execute(sa.select(Activity.code, Activity.version_id)).all())
    preview = _upload(client, meeting, SAMPLE).get_data(as_text=True)
    assert "Nothing to change" in preview
    assert _counts() == before
    assert dict(db.session.execute(sa.select(Activity.code, Activity.version_id)).all()) == versions


def test_import_edited_file_updates_in_place(login_as, meeting):
    client = login_as(factories.admin())
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
    client = login_as(factories.admin())
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
    ("non-utf8", (HEADER + "S1,Caf\xe9 talk,2027-10-07,08:00,09:00,Hall,,1,,,\n").encode("latin-1"),
     "programme.csv", "not UTF-8"),
    ("not a spreadsheet", b"this is not a zip file at all", "programme.xlsx",
     "not a readable Excel spreadsheet"),
    ("header only", HEADER.encode(), "programme.csv", "no programme rows"),
]


@pytest.mark.parametrize("name, data, filename, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_import_bad_file_explains_and_writes_nothing(login_as, meeting, name, data, filename, message):
    client = login_as(factories.admin())
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
    # Every text is checked against the column it is stored in (a 500 or a 409 before).
    ("name too long", f"S1,Talk,2027-10-07,08:00,09:00,Hall,,1,{'N' * 201},ann@example.org,speaker", 2,
     "faculty name", "201 characters; at most 200 fit here"),
    ("email too long", f"S1,Talk,2027-10-07,08:00,09:00,Hall,,1,Ann Lee,{'a' * 243}@example.org,speaker", 2,
     "email", "255 characters; at most 254 fit here"),
    ("code too long", f"{'C' * 41},Talk,2027-10-07,08:00,09:00,Hall,,1,,,", 2, "activity code",
     "41 characters; at most 40 fit here"),
    ("title too long", f"S1,{'T' * 301},2027-10-07,08:00,09:00,Hall,,1,,,", 2, "title",
     "301 characters; at most 300 fit here"),
    ("room too long", f"S1,Talk,2027-10-07,08:00,09:00,{'R' * 121},,1,,,", 2, "room",
     "121 characters; at most 120 fit here"),
    ("cell too long", f"S1,Talk,2027-10-07,08:00,09:00,Hall,{'t' * 1001},1,,,", 2, "topics",
     "1,001 characters; a cell may hold at most 1,000"),
    ("too many topics", "S1,Talk,2027-10-07,08:00,09:00,Hall," + ";".join(f"t{i}" for i in range(21)) + ",1,,,", 2,
     "topics", "21 topics: an activity has at most 20"),
]


@pytest.mark.parametrize("name, row, number, column, reason", BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_import_bad_row_shows_row_column_reason_and_writes_nothing(login_as, meeting, name, row, number,
                                                                  column, reason):
    client = login_as(factories.admin())
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
    client = login_as(factories.admin())
    data = (HEADER + "S1,Talk,2027-10-07,08:00,09:00,Hall,,1,A B,a@example.org,speaker\n"
            "S1,Other title,2027-10-07,08:00,09:00,Hall,,1,C D,c@example.org,speaker\n").encode()
    html = _upload(client, meeting, data).get_data(as_text=True)
    assert "Differs from row 2 for activity S1" in html


def test_import_xlsx_bad_cells_are_reported(login_as, meeting):
    client = login_as(factories.admin())
    data = _xlsx([HEADER.strip().split(","),
                  ["S1", "Talk", "someday", "08:00", "09:00", "Hall", None, 1, None, None, None]])
    response = _upload(client, meeting, data, "p.xlsx")
    assert response.status_code == 422
    assert "“someday” is not a date" in response.get_data(as_text=True)


def test_import_over_the_size_limit_is_refused(login_as, app, meeting):
    client = login_as(factories.admin())
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
    owner = factories.admin()
    other = factories.admin()
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
    client = login_as(factories.admin())
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


# --- Hostile files: each is read in a child process limited to 512 MB of address space ----

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml."
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
COLUMN_NAMES = HEADER.strip().split(",")
GOOD_ROW = ["S1", "Talk", "2027-10-07", "08:00", "09:00", "Hall", "", "1", "Ann Lee", "ann@example.org", "speaker"]


def _column_letter(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cells(row: int, values) -> str:
    cells = "".join(f'<c r="{_column_letter(i)}{row}" t="inlineStr"><is><t>{v}</t></is></c>'
                    for i, v in enumerate(values, 1))
    return f'<row r="{row}">{cells}</row>'


def _sheet(rows: str, dimension: str = "A1:K2", prolog: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<worksheet xmlns="{MAIN_NS}">'
            f'<dimension ref="{dimension}"/><sheetData>{rows}</sheetData></worksheet>').encode()


def _package(sheet, *, strings=None, styles=None, members=()) -> bytes:
    """A minimal .xlsx written by hand. A part is bytes, or a function that writes it to a
    stream (for parts too large to hold in memory)."""
    overrides = [("xl/workbook.xml", TYPE + "sheet.main+xml"), ("xl/worksheets/sheet1.xml", TYPE + "worksheet+xml")]
    rels = [("worksheet", "worksheets/sheet1.xml")]
    parts = {"xl/worksheets/sheet1.xml": sheet}
    for name, part, content_type, rel in (("xl/sharedStrings.xml", strings, "sharedStrings+xml", "sharedStrings"),
                                          ("xl/styles.xml", styles, "styles+xml", "styles")):
        if part is not None:
            overrides.append((name, TYPE + content_type))
            rels.append((rel, name.removeprefix("xl/")))
            parts[name] = part
    parts["[Content_Types].xml"] = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        + "".join(f'<Override PartName="/{n}" ContentType="{t}"/>' for n, t in overrides) + "</Types>").encode()
    parts["_rels/.rels"] = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{REL}officeDocument" Target="xl/workbook.xml"/></Relationships>').encode()
    parts["xl/workbook.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN_NS}" xmlns:r="{REL.rstrip("/")}">'
        '<sheets><sheet name="Programme" sheetId="1" r:id="rId1"/></sheets></workbook>').encode()
    parts["xl/_rels/workbook.xml.rels"] = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(f'<Relationship Id="rId{i}" Type="{REL}{t}" Target="{target}"/>' for i, (t, target) in enumerate(rels, 1))
        + "</Relationships>").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in [*parts.items(), *members]:
            with archive.open(name, "w") as stream:
                content(stream) if callable(content) else stream.write(content)
    return out.getvalue()


def _repeat(start: bytes, unit: bytes, times: int, end: bytes):
    def write(stream):
        stream.write(start)
        chunk = unit * 10_000
        for _ in range(times // 10_000):
            stream.write(chunk)
        stream.write(end)
    return write


def _random_cells(count: int) -> bytes:
    """Cells with random numbers: XML that does not compress much (no ratio check helps)."""
    numbers = random.Random(7).choices(range(10**8), k=count)
    return "".join(f"<c><v>{n}</v></c>" for n in numbers).encode()


def _dimension_bomb():
    # Declares 16,384 columns by 60,000 rows; holds two rows and an empty one at the end.
    return _package(_sheet(_cells(1, COLUMN_NAMES) + _cells(2, GOOD_ROW) + '<row r="60000"/>',
                           dimension="A1:XFD60000"))


def _shared_strings_bomb():
    # 170 MB of one-letter strings in a 400 KB file.
    return _package(_sheet(_cells(1, COLUMN_NAMES) + _cells(2, GOOD_ROW)),
                    strings=_repeat(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN_NS}">'.encode(),
                                    b"<si><t>a</t></si>", 10_000_000, b"</sst>"))


def _entity_bomb():
    entities = "".join(f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, 10))
    prolog = f'<!DOCTYPE worksheet [<!ENTITY e0 "lol">{entities}]>'
    return _package(_sheet(_cells(1, COLUMN_NAMES) + _cells(2, ["&e9;", *GOOD_ROW[1:]]), prolog=prolog))


def _zip_bomb_member():
    # A sheet padded with 200 MB of spaces: 200 KB in the file.
    head, tail = _sheet(_cells(1, COLUMN_NAMES) + _cells(2, GOOD_ROW)).split(b"</sheetData>")
    return _package(_repeat(head, b" " * 100, 2_000_000, b"</sheetData>" + tail))


def _thousands_of_columns_xlsx():
    return _package(_sheet(_cells(1, COLUMN_NAMES + [f"note {i}" for i in range(5_000)]) + _cells(2, GOOD_ROW),
                           dimension="A1:GJH2"))


def _million_cells_in_a_row():
    head, tail = _sheet(_cells(1, COLUMN_NAMES)).split(b"</sheetData>")
    return _package(head + b'<row r="2">' + _random_cells(1_000_000) + b"</row></sheetData>" + tail)


def _styles_loaded_whole():
    # openpyxl parses styles.xml into one tree: a million formats with random numbers.
    numbers = random.Random(3).choices(range(10**8), k=1_000_000)
    body = "".join(f'<xf numFmtId="{n}"/>' for n in numbers).encode()
    return _package(_sheet(_cells(1, COLUMN_NAMES) + _cells(2, GOOD_ROW)),
                    styles=f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{MAIN_NS}"><cellXfs>'.encode()
                    + body + b"</cellXfs></styleSheet>")


def _many_members():
    return _package(_sheet(_cells(1, COLUMN_NAMES) + _cells(2, GOOD_ROW)),
                    members=[(f"xl/media/{i}.bin", b"") for i in range(2_000)])


HOSTILE_FILES = [
    # (name, build, file name, what the child prints: a refusal containing this, or rows read)
    ("dimension bomb", _dimension_bomb, "p.xlsx", {"rows": 1}),
    ("shared strings bomb", _shared_strings_bomb, "p.xlsx", "xl/sharedStrings.xml unpacks to 162 MB (at most 64 MB)"),
    ("entity bomb", _entity_bomb, "p.xlsx", "it declares a DTD or XML entities"),
    ("zip bomb member", _zip_bomb_member, "p.xlsx", "xl/worksheets/sheet1.xml unpacks to 190 MB"),
    ("thousands of columns", _thousands_of_columns_xlsx, "p.xlsx", "row 1 of xl/worksheets/sheet1.xml has more than 10,000 XML elements"),
    ("a million cells in a row", _million_cells_in_a_row, "p.xlsx", "row 2 of xl/worksheets/sheet1.xml has more than 10,000 XML elements"),
    ("styles loaded whole", _styles_loaded_whole, "p.xlsx", "xl/styles.xml has more than 100,000 XML elements"),
    ("many members", _many_members, "p.xlsx", "files (at most 1,000)"),
    ("zip directory", lambda: _package(_sheet(_cells(1, COLUMN_NAMES)), members=[(f"m/{i}", b"") for i in range(20_000)]),
     "p.xlsx", "its ZIP directory lists more than 1,000 files"),
    ("csv one long line", lambda: HEADER.encode() + b"," * 40_000_000, "p.csv", "Line 2 makes a row longer than 262,144 characters"),
    ("csv blank lines", lambda: HEADER.encode() + b"\n" * 40_000_000, "p.csv", "a header row but no programme rows"),
    ("csv thousands of columns", lambda: (HEADER.strip() + "".join(f",note {i}" for i in range(5_000)) + "\n"
                                          + ",".join(GOOD_ROW) + "\n").encode(), "p.csv", "more than 200 columns"),
]

CHILD = """
import datetime, json, resource, sys, types
limit = 512 * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from config import TestConfig
from disclosures import create_app
from disclosures.programme.reading import ProgrammeFileError, read_programme
data = open(sys.argv[1], "rb").read()
meeting = types.SimpleNamespace(starts_on=datetime.date(2027, 10, 6), ends_on=datetime.date(2027, 10, 8))
with create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://").app_context():
    try:
        parsed = read_programme(data, sys.argv[2], meeting)
    except ProgrammeFileError as exc:
        print(json.dumps({"refused": str(exc)}))
    else:
        print(json.dumps({"rows": parsed.row_count, "errors": [e.reason for e in parsed.errors]}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("name, build, filename, expected", HOSTILE_FILES, ids=[h[0] for h in HOSTILE_FILES])
def test_hostile_file_is_refused_within_512_mb(tmp_path, name, build, filename, expected):
    path = tmp_path / filename
    path.write_bytes(build())
    assert path.stat().st_size < 50 * 1024 * 1024  # within the upload limit
    result = subprocess.run([sys.executable, "-c", CHILD, str(path), filename], capture_output=True,
                            text=True, timeout=240, env={**os.environ, "DISCLOSURES_INSTANCE": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    if isinstance(expected, dict):
        assert outcome.get("rows") == expected["rows"] and outcome.get("errors") == [], outcome
    else:
        assert expected in outcome.get("refused", ""), outcome


def test_openpyxl_reads_through_defusedxml_and_refuses_entities():
    """The second line of defence, independent of our own check: openpyxl, as installed,
    refuses XML entities (it uses defusedxml when it is importable)."""
    from defusedxml import EntitiesForbidden

    with pytest.raises(ValueError) as refused:  # openpyxl wraps the parser's error
        workbook = openpyxl.load_workbook(io.BytesIO(_entity_bomb()), read_only=True)
        list(workbook.worksheets[0].iter_rows(values_only=True))
    assert isinstance(refused.value.__cause__, EntitiesForbidden)


def test_import_confirm_of_a_stored_file_with_too_long_values_is_refused_cleanly(login_as, app, meeting):
    """A file kept for confirmation is planned again: values too long for the database are a
    clear 400, never a 500 (PostgreSQL) or a "changed at the same moment" 409 (SQLite)."""
    from disclosures.jobs.programme import keep_upload

    staff = factories.admin()
    client = login_as(staff)
    before = _counts()
    data = (HEADER + f"S1,Talk,2027-10-07,08:00,09:00,Hall,,1,{'N' * 201},ann@example.org,speaker\n").encode()
    upload_id = keep_upload(staff, meeting, data, "programme.csv")
    db.session.commit()
    response = client.post(f"/staff/meetings/{meeting.id}/import/confirm", data={"upload_id": upload_id},
                           follow_redirects=True)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Stopped with an error" in text and "now has errors" in text
    assert _counts() == before


def test_import_stops_checking_after_a_thousand_problems(login_as, meeting):
    client = login_as(factories.admin())
    bad = "S1,Talk,someday,08:00,09:00,Hall,,1,,,\n"
    response = _upload(client, meeting, (HEADER + bad * 3_000).encode())
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "1000 problems in the file" in html
    assert "rows from 1002 on were not checked" in html and "… and 500 more." in html


CSV_FILES = [
    ("nul byte", (HEADER + "S1,Talk\x00,2027-10-07,08:00,09:00,Hall,,1,,,\n").encode(), "binary data"),
    ("unclosed quote", (HEADER + 'S1,"Talk,2027-10-07,08:00,09:00,Hall,,1,,,\n' + "x" * 300_000 + "\n").encode(),
     "an unclosed quote"),
    ("bad utf-8 late in the file", (HEADER + "S1,Talk,2027-10-07,08:00,09:00,Hall,,1,,,\n" * 2_000).encode()
     + b"S2,Caf\xe9,2027-10-07,08:00,09:00,Hall,,1,,,\n", "not UTF-8"),
    ("no header in the first thousand rows", b"\n" * 1_500 + HEADER.encode(), "The file has no rows"),
    ("rows beyond the limit", (HEADER + "\n" * 500 + "S1,Talk,2027-10-07,08:00,09:00,Hall,,1,,,\n"
                               * 50_000).encode(), "goes on past row 50,001"),
]


@pytest.mark.parametrize("name, data, message", CSV_FILES, ids=[c[0] for c in CSV_FILES])
def test_import_unreadable_csv_explains_and_writes_nothing(login_as, meeting, name, data, message):
    client = login_as(factories.admin())
    before = _counts()
    response = _upload(client, meeting, data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _counts() == before


def test_import_reads_classic_mac_line_endings(login_as, meeting):
    client = login_as(factories.admin())
    data = SAMPLE.replace(b"\r\n", b"\n").replace(b"\n", b"\r")
    response = _upload(client, meeting, data)
    assert response.status_code == 200
    assert "Lumbar fusion: ten-year outcomes" in response.get_data(as_text=True)


def test_import_cli_refuses_a_hostile_spreadsheet(app, meeting, tmp_path):
    db.session.commit()
    bomb = tmp_path / "bomb.xlsx"
    bomb.write_bytes(_entity_bomb())
    result = app.test_cli_runner().invoke(args=["import-programme", "spine-2027", str(bomb)])
    assert result.exit_code == 1
    assert "it declares a DTD or XML entities" in result.output
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 0


def test_import_cli_says_where_checking_stopped(app, meeting, tmp_path):
    db.session.commit()
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "S1,Talk,someday,08:00,09:00,Hall,,1,,,\n" * 1_100)
    result = app.test_cli_runner().invoke(args=["import-programme", "spine-2027", str(bad)])
    assert result.exit_code == 1
    assert "rows from 1002 on were not checked" in result.output
    assert "1,000 problems" in result.output



def _random_attributes(tag: str, count: int) -> bytes:
    numbers = random.Random(11).choices(range(10**8), k=count)
    return "".join(f'<{tag} n="{n}"/>' for n in numbers).encode()


def _workbook_with_chartsheet(target_part: bytes) -> bytes:
    """A workbook whose relationships also name a big worksheet part as a chartsheet (which
    openpyxl would parse whole)."""
    base = _package(_sheet(_cells(1, COLUMN_NAMES) + _cells(2, GOOD_ROW)))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "xl/_rels/workbook.xml.rels":
                content = content.replace(b"</Relationships>", (
                    f'<Relationship Id="rId9" Type="{REL}chartsheet" Target="worksheets/big.xml"/>'
                    "</Relationships>").encode())
            if info.filename == "[Content_Types].xml":
                content = content.replace(b"</Types>", (
                    f'<Override PartName="/xl/worksheets/big.xml" ContentType="{TYPE}worksheet+xml"/></Types>').encode())
            archive.writestr(info, content)
        archive.writestr("xl/worksheets/big.xml", target_part)
    return out.getvalue()


PACKAGE_LIMITS = [
    ("shared strings over 16 MB", lambda: _package(
        _sheet(_cells(1, COLUMN_NAMES)),
        strings=f'<sst xmlns="{MAIN_NS}">'.encode() + b"".join(
            b"<si><t>" + random.Random(i).randbytes(3_000).hex().encode() + b"</t></si>" for i in range(3_000))
        + b"</sst>"), "its shared-strings table xl/sharedStrings.xml is over 16 MB"),
    ("rows beyond half a million", lambda: _package(_sheet(_cells(1, COLUMN_NAMES) + "".join(
        f'<row r="{r}"/>' for r in range(2, 600_002)))), "has more than 500,000 rows or strings"),
    ("elements outside the rows", lambda: _package(
        f'<worksheet xmlns="{MAIN_NS}"><cols>'.encode() + _random_attributes("col", 150_000)
        + b"</cols><sheetData>" + _cells(1, COLUMN_NAMES).encode() + b"</sheetData></worksheet>"),
     "elements outside its rows"),
    ("a worksheet also named as a chartsheet", lambda: _workbook_with_chartsheet(
        f'<worksheet xmlns="{MAIN_NS}"><sheetData><row r="1">'.encode() + _random_attributes("c", 9_000)
        + b"</row>" + b"".join(f'<row r="{r}"><c><v>{r}</v></c></row>'.encode() for r in range(2, 40_000))
        + b"</sheetData></worksheet>"), "xl/worksheets/big.xml has more than 100,000 XML elements"),
]


@pytest.mark.parametrize("name, build, message", PACKAGE_LIMITS, ids=[p[0] for p in PACKAGE_LIMITS])
def test_import_xlsx_beyond_a_package_limit_explains_and_writes_nothing(login_as, meeting, name, build, message):
    client = login_as(factories.admin())
    before = _counts()
    response = _upload(client, meeting, build(), "programme.xlsx")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _counts() == before

