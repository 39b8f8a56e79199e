"""Records for the accreditor: CSV / JSON / ZIP exports and the audit log browser."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from disclosures.demo import load_demo_meeting
from disclosures.enums import Nature
from disclosures.extensions import db
from disclosures.models import (
    Activity,
    AuditEvent,
    Determination,
    Disclosure,
    Meeting,
    Mitigation,
    Room,
)

from . import factories
from .spreadsheet import every_cell_quoted, formulas_read_with


def _csv_rows(response) -> list[dict]:
    text = response.get_data(as_text=True).lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture()
def demo(app):
    load_demo_meeting()
    db.session.commit()
    return db.session.scalar(sa.select(Meeting))


def test_records_missing_meeting_is_404(login_as, app):
    client = login_as(factories.admin())
    assert client.get("/staff/meetings/999/records.csv").status_code == 404


def test_records_export_contains_every_determination_of_the_demo_meeting(login_as, demo):
    staff = factories.admin(email="exporter@example.org")
    client = login_as(staff)
    determinations = db.session.scalars(sa.select(Determination)).all()
    mitigations = db.session.scalars(sa.select(Mitigation)).all()
    assert determinations and mitigations  # the demo has reviewed relationships

    response = client.get(f"/staff/meetings/{demo.id}/records.json")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    exported = {
        d["id"]: d
        for item in data["assignments"]
        for r in item["relationships"] + item["determinations_on_other_versions"]
        for d in r["decisions"]
    }
    assert set(exported) == {d.id for d in determinations}
    for d in determinations:
        out = exported[d.id]
        assert out["is_relevant"] == d.is_relevant
        assert out["reviewer"] == f"{d.reviewer.full_name} <{d.reviewer.email}>"
        assert {m["id"] for m in out["mitigations"]} == {m.id for m in d.mitigations}
    exported_mitigations = [m for d in exported.values() for m in d["mitigations"]]
    assert len(exported_mitigations) == len(mitigations)
    assert all(m["recorded_by"] and m["recorded_at"] for m in exported_mitigations)
    # Every assignment is there, with its state and the disclosure version used.
    from disclosures.models import Assignment
    assert len(data["assignments"]) == db.session.scalar(sa.select(sa.func.count(Assignment.id)))
    states = {item["state_at_start"] for item in data["assignments"]}
    assert {"awaiting_disclosure", "awaiting_review", "needs_mitigation", "cleared"} <= states
    disclosed = [i for i in data["assignments"] if i["disclosure"]]
    latest = {d.user_id: d.version for d in db.session.scalars(sa.select(Disclosure))
              if d.version == max(x.version for x in d.user.disclosures)}
    for item in disclosed:
        assert item["disclosure"]["version"] == latest[item["person"]["id"]]

    rows = _csv_rows(client.get(f"/staff/meetings/{demo.id}/records.csv"))
    judged = [r for r in rows if r["decision_in_force_at_start"]]
    in_force = {d["id"] for item in data["assignments"] for r in item["relationships"]
                if (d := r["determination"])}
    assert len(judged) == len(in_force)
    relevant = [r for r in judged if r["decision_in_force_at_start"] == "relevant"]
    assert relevant and all(r["reviewer"] and r["decided_at"] for r in relevant)
    assert any(r["mitigations"] for r in relevant)
    assert {r["activity_code"] for r in rows if r["activity_code"]} == set(db.session.scalars(
        sa.select(Activity.code).join(Activity.assignments)))
    # Roles held for the whole meeting (planning committee, reviewers) are in the record too.
    assert {r["activity_title"] for r in rows if not r["activity_code"]} >= {
        "Whole meeting (Course director)", "Whole meeting (Planning committee member)",
        "Whole meeting (COI reviewer)"}
    exports = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "records.exported")).all()
    assert [e.changes["format"] for e in exports] == ["json", "csv"]
    assert all(e.actor_id == staff.id for e in exports)


def test_records_keep_removed_people_and_earlier_versions(login_as, app):
    meeting = factories.meeting()
    act = factories.activity(meeting, code="S9")
    person = factories.user(full_name="Ruth Removed")
    assignment = factories.assignment(person, act)
    reviewer = factories.user(full_name="Rita Reviewer")
    company = factories.company("Keystone Surgical Devices")
    first = factories.disclosure(person, [(company, Nature.CONSULTANT)],
                                 submitted_at=datetime.now(UTC) - timedelta(days=20))
    determination = factories.determination(first.relationships[0], assignment, reviewer, relevant=True)
    factories.mitigation(determination, reviewer, notes="Slides peer reviewed")
    factories.disclosure(person, [(company, Nature.ADVISOR)])  # a new version, not yet reviewed
    assignment.removed_at = datetime.now(UTC)
    client = login_as(factories.admin())
    data = json.loads(client.get(f"/staff/meetings/{meeting.id}/records.json").get_data(as_text=True))
    [item] = data["assignments"]
    assert item["removed_at"] is not None and item["person"]["name"] == "Ruth Removed"
    assert item["disclosure"]["version"] == 2
    assert item["relationships"][0]["nature"] == "advisor"
    assert item["relationships"][0]["determination"] is None
    [earlier] = item["determinations_on_other_versions"]
    assert earlier["disclosure_version"] == 1
    assert earlier["determination"]["mitigations"][0]["notes"] == "Slides peer reviewed"


def test_records_csv_neutralises_formulas(login_as, app):
    meeting = factories.meeting()
    act = factories.activity(meeting, title="=HYPERLINK(\"http://evil\")")
    factories.assignment(factories.user(full_name="+Plus Person"), act)
    client = login_as(factories.admin())
    [row] = _csv_rows(client.get(f"/staff/meetings/{meeting.id}/records.csv"))
    assert row["activity_title"].startswith("'=")
    assert row["person_name"] == "'+Plus Person"


def test_records_csv_quotes_every_cell_so_no_separator_splits_a_formula_out(login_as, app):
    meeting = factories.meeting()
    act = factories.activity(meeting, title="=1+1;Acme")
    person = factories.user(full_name="Dana Okafor")
    factories.assignment(person, act)
    factories.disclosure(person, [(factories.company("Acme;=1+1;x"), Nature.CONSULTANT)])
    client = login_as(factories.admin())
    body = client.get(f"/staff/meetings/{meeting.id}/records.csv").data
    text = body.decode("utf-8-sig")
    assert every_cell_quoted(text)
    assert ',"Acme;=1+1;x",' in text  # one cell
    assert ',"\'=1+1;Acme",' in text  # one cell, neutralised
    # A spreadsheet whose list separator is ";" or "," finds no formula in the file.
    assert formulas_read_with(text, ";") == [] and formulas_read_with(text, ",") == []
    [row] = _csv_rows(client.get(f"/staff/meetings/{meeting.id}/records.csv"))
    assert row["company"] == "Acme;=1+1;x" and row["activity_title"] == "'=1+1;Acme"


def test_records_zip_has_csv_json_room_sheets_and_booklet(login_as, app):
    meeting = factories.meeting(slug="zip-meeting")
    hall = factories.room(meeting, "Hall B")
    factories.room(meeting, "Room 201")
    factories.assignment(factories.user(full_name="Dana Okafor"), factories.activity(meeting, hall))
    client = login_as(factories.admin())
    started = client.post(f"/staff/meetings/{meeting.id}/records.zip")
    assert started.status_code == 302 and "/staff/jobs/" in started.headers["Location"]
    page = client.get(started.headers["Location"]).get_data(as_text=True)
    assert "Finished" in page
    assert '<span class="job-done">1</span> of <span class="job-total">1</span>' in page
    [download] = re.findall(r'href="(/staff/jobs/\d+/download)"', page)
    response = client.get(download)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    assert "zip-meeting-records/assignments.csv" in names
    assert "zip-meeting-records/assignments.json" in names
    booklets = [n for n in names if n.startswith("zip-meeting-records/booklet-v")]
    assert booklets, names
    rooms = db.session.scalars(sa.select(Room).order_by(Room.name)).all()
    pdfs = [n for n in names if n.startswith("zip-meeting-records/rooms/")]
    # Every version of every room's sheet that was ever public (Hall B: one per change).
    assert {n.split("/")[-1].split("-v")[0] for n in pdfs} == {f"{r.id}-{r.name.replace(' ', '-')}" for r in rooms}
    assert "zip-meeting-records/manifest.csv" in names
    for name in pdfs + booklets:
        assert archive.read(name).startswith(b"%PDF")
    assert "Dana Okafor" in archive.read("zip-meeting-records/assignments.csv").decode()


def test_records_page_links_downloads(login_as, app):
    meeting = factories.meeting()
    html = login_as(factories.admin()).get(f"/staff/meetings/{meeting.id}/records").get_data(as_text=True)
    assert f"/staff/meetings/{meeting.id}/records.zip" in html
    assert f"/staff/meetings/{meeting.id}/records.csv" in html


# --- Audit log -------------------------------------------------------------------------


@pytest.fixture()
def log(app):
    staff = factories.admin(full_name="Sam Staff", email="sam@example.org")
    reviewer = factories.user(full_name="Rita Reviewer", email="rita@example.org")
    ann = factories.user(full_name="Ann Author", email="ann@example.org")
    bob = factories.user(full_name="Bob Builder", email="bob@example.org")
    db.session.add_all([
        AuditEvent(actor_id=staff.id, action="user.invited", object_type="User", object_id=ann.id,
                   subject_user_id=ann.id, changes={}, at=datetime(2027, 1, 5, 12, tzinfo=UTC)),
        AuditEvent(actor_id=reviewer.id, action="determination.recorded", object_type="Determination",
                   object_id=1, subject_user_id=ann.id, changes={"is_relevant": True},
                   at=datetime(2027, 2, 10, 9, tzinfo=UTC)),
        AuditEvent(actor_id=reviewer.id, action="determination.recorded", object_type="Determination",
                   object_id=2, subject_user_id=bob.id, changes={},
                   at=datetime(2027, 3, 1, 9, tzinfo=UTC)),
    ])
    db.session.flush()
    return staff


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", ["determination.recorded", "determination.recorded", "user.invited"]),
        ("?person=ann", ["determination.recorded", "user.invited"]),
        ("?person=BOB%40example.org", ["determination.recorded"]),
        ("?actor=rita", ["determination.recorded", "determination.recorded"]),
        ("?action=invited", ["user.invited"]),
        ("?date_from=2027-02-10&date_to=2027-02-10", ["determination.recorded"]),
        ("?person=ann&actor=sam", ["user.invited"]),
        ("?person=nobody", []),
    ],
)
def test_audit_log_filters(login_as, log, query, expected):
    html = login_as(log).get("/staff/audit" + query).get_data(as_text=True)
    # Only the fixture's events (logging in writes none): count the action badges.
    found = [a for a in ("determination.recorded", "user.invited")
             for _ in range(html.count(f'<span class="badge">{a}</span>'))]
    assert sorted(found) == sorted(expected)


def test_audit_log_bad_filter_is_400_with_message(login_as, log):
    response = login_as(log).get("/staff/audit?date_from=yesterday")
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.get_data(as_text=True)
    response = login_as(log).get("/staff/audit?date_from=2027-03-01&date_to=2027-02-01")
    assert response.status_code == 400 and "cannot be before" in response.get_data(as_text=True)


def test_audit_log_paginates(login_as, app):
    staff = factories.admin()
    for n in range(55):
        db.session.add(AuditEvent(actor_id=staff.id, action=f"test.event{n:02d}", object_type="X",
                                  changes={}, at=datetime(2027, 1, 1, tzinfo=UTC) + timedelta(minutes=n)))
    client = login_as(staff)
    first = client.get("/staff/audit?action=test.").get_data(as_text=True)
    assert "test.event54" in first and "test.event05" in first and "test.event04" not in first
    assert "page 1 of 2" in first and "page=2" in first
    second = client.get("/staff/audit?action=test.&page=2").get_data(as_text=True)
    assert "test.event04" in second and "test.event00" in second and "test.event05" not in second


def test_export_records_cli_writes_the_zip(app, tmp_path):
    meeting = factories.meeting(slug="cli-meeting")
    factories.room(meeting, "Hall B")
    db.session.commit()
    out = tmp_path / "records.zip"
    result = app.test_cli_runner().invoke(args=["export-records", "cli-meeting", str(out)])
    assert result.exit_code == 0, result.output
    names = zipfile.ZipFile(out).namelist()
    assert "cli-meeting-records/assignments.json" in names and "cli-meeting-records/booklet-v1.pdf" in names
    again = app.test_cli_runner().invoke(args=["export-records", "cli-meeting", str(out)])
    assert again.exit_code != 0 and "exists" in again.output
