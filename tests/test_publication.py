"""The published record: what learners were shown, as frozen versions an accreditor can ask
for, verify byte for byte, and that never rewrite themselves as time passes."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta

import pypdf
import pytest
import sqlalchemy as sa

from disclosures import clock, wording
from disclosures.enums import AssignmentRole, Nature
from disclosures.extensions import db
from disclosures.models import SheetVersion, Statement
from disclosures.public import microcache
from disclosures.registry import operations as registry

from . import factories
from .test_public_sheet import html_text, pdf_text


@pytest.fixture()
def talk(app):
    """One room, one talk; the speaker's relevant relationship with Keystone is mitigated."""
    meeting = factories.meeting(name="Spine Week", slug="spine-week")
    room = factories.room(meeting, "Hall K")
    activity = factories.activity(meeting, room, title="Pedicle screws")
    reviewer = factories.reviewer(meeting, full_name="Rita Reviewer", cleared=False)
    speaker = factories.user(full_name="Sara Speaker", degrees="MD")
    company = factories.company("Keystone Surgical")
    disclosure = factories.disclosure(speaker, [(company, Nature.CONSULTANT)])
    assignment = factories.assignment(speaker, activity, AssignmentRole.SPEAKER)
    decision = factories.determination(disclosure.relationships[0], assignment, reviewer, relevant=True)
    factories.mitigation(decision, reviewer)
    staff = factories.staff(meeting, full_name="Sam Staff", cleared=False)
    db.session.commit()
    return {"meeting": meeting, "room": room, "activity": activity, "assignment": assignment,
            "company": company, "staff": staff, "token": room.public_token, "reviewer": reviewer}


def test_a_company_made_eligible_leaves_the_sheet_at_once_with_a_new_etag(client, talk):
    """The change marker used to miss Company: the sheet kept the company, 304 included."""
    first = client.get(f"/r/{talk['token']}")
    assert "Keystone Surgical" in html_text(first) and wording.MITIGATED in html_text(first)
    registry.confirm_company(talk["staff"], talk["company"], is_ineligible=False, note="A hospital group.")
    db.session.commit()
    second = client.get(f"/r/{talk['token']}", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and second.headers["ETag"] != first.headers["ETag"]
    assert "Keystone Surgical" not in html_text(second)
    assert wording.no_relationships("Sara Speaker, MD") in html_text(second)
    # And back: ineligible again, with its earlier decision and mitigation in force.
    registry.confirm_company(talk["staff"], talk["company"], is_ineligible=True, note=None)
    db.session.commit()
    assert "Keystone Surgical" in html_text(client.get(f"/r/{talk['token']}"))


def test_another_app_server_sees_a_change_within_the_cache_window(client, talk, monkeypatch):
    """A worker that served the sheet keeps it for PUBLIC_CACHE_SECONDS at most: after that
    it asks the database, which holds the new version whichever server wrote it."""
    ages = {"now": 1000.0}
    monkeypatch.setattr(microcache, "clock", lambda: ages["now"])
    client.get(f"/r/{talk['token']}")
    # Another server's change: this process's commit hook is told nothing about it.
    registry.confirm_company(talk["staff"], talk["company"], is_ineligible=False, note=None)
    db.session.info.pop("public_microcache_dirty", None)  # as if committed elsewhere
    db.session.commit()
    stale = html_text(client.get(f"/r/{talk['token']}"))
    assert "Keystone Surgical" in stale  # inside the window: this worker's copy
    ages["now"] += float(client.application.config["PUBLIC_CACHE_SECONDS"]) + 0.1
    assert "Keystone Surgical" not in html_text(client.get(f"/r/{talk['token']}"))


def test_every_version_stays_readable_by_number_and_by_moment(client, talk):
    room, token = talk["room"], talk["token"]
    before = db.session.scalars(sa.select(SheetVersion).where(SheetVersion.room_id == room.id)
                                .order_by(SheetVersion.number)).all()
    old = before[-1]
    clock.travel(clock.now() + timedelta(hours=1))
    try:
        registry.confirm_company(talk["staff"], talk["company"], is_ineligible=False, note=None)
        db.session.commit()
    finally:
        clock.reset()
    current = html_text(client.get(f"/r/{token}"))
    assert f"Version {old.number + 1}" in current and "Keystone Surgical" not in current
    again = client.get(f"/r/{token}?version={old.number}")
    assert again.status_code == 200 and "Keystone Surgical" in html_text(again)
    assert f"Version {old.number}" in html_text(again)
    moment = talk["meeting"].local(old.valid_from + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    at = client.get(f"/r/{token}?at={moment}")
    assert at.status_code == 200 and "Keystone Surgical" in html_text(at)
    pdf = client.get(f"/r/{token}.pdf?version={old.number}")
    assert "Keystone Surgical" in pdf_text(pdf.data)
    assert client.get(f"/r/{token}?version=999").status_code == 404
    assert client.get(f"/r/{token}?version=abc").status_code == 400
    assert client.get(f"/r/{token}?at=yesterday").status_code == 400
    assert client.get(f"/r/{token}?at=1999-01-01T00:00").status_code == 404


def test_version_and_fingerprint_are_printed_in_the_page_and_pdf_footers(client, talk):
    version = db.session.scalars(sa.select(SheetVersion).where(SheetVersion.room_id == talk["room"].id)
                                 .order_by(SheetVersion.number.desc())).first()
    page = html_text(client.get(f"/r/{talk['token']}"))
    pdf = pdf_text(client.get(f"/r/{talk['token']}.pdf").data)
    for text in (page, pdf):
        assert f"ersion {version.number}" in text
        assert f"fingerprint {version.fingerprint[:8]}" in text


def test_verify_sheet_accepts_every_served_pdf_and_refuses_a_changed_byte(client, talk, app, tmp_path):
    token = talk["token"]
    served = [client.get(f"/r/{token}.pdf").data, client.get(f"/r/{token}.pdf?size=a4").data]
    registry.confirm_company(talk["staff"], talk["company"], is_ineligible=False, note=None)
    db.session.commit()
    served.append(client.get(f"/r/{token}.pdf").data)
    served.append(client.get("/m/spine-week/disclosures.pdf").data)
    runner = app.test_cli_runner()
    for n, content in enumerate(served):
        path = tmp_path / f"sheet-{n}.pdf"
        path.write_bytes(content)
        result = runner.invoke(args=["verify-sheet", str(path)])
        assert result.exit_code == 0, result.output
        assert ("Hall K" in result.output) or ("booklet of Spine Week" in result.output)
    changed = bytearray(served[0])
    changed[len(changed) // 2] ^= 0x01
    forged = tmp_path / "forged.pdf"
    forged.write_bytes(bytes(changed))
    result = runner.invoke(args=["verify-sheet", str(forged)])
    assert result.exit_code == 1 and "matches no published version" in result.output


def test_statements_and_sheet_versions_cannot_be_rewritten(app, talk):
    db.session.commit()
    for model in (Statement, SheetVersion):
        row_id = db.session.scalar(sa.select(model.id).limit(1))
        for statement in (sa.update(model).where(model.id == row_id).values(valid_from=clock.now()),
                          sa.delete(model).where(model.id == row_id)):
            with pytest.raises(sa.exc.DatabaseError), db.engine.begin() as conn:
                conn.execute(statement)
        with pytest.raises(Exception, match="records"):  # the ORM refuses it before the database
            db.session.execute(sa.delete(model).where(model.id == row_id))
        db.session.rollback()


def test_the_export_thirteen_months_later_is_the_same_record(login_as, talk):
    """An audit a year after the meeting reads what was true at each session, not what the
    rule would say of today's data (every disclosure has expired by then)."""
    admin = factories.admin()
    url = f"/staff/meetings/{talk['meeting'].id}/records.json"
    now = json.loads(login_as(admin).get(url).get_data(as_text=True))
    clock.travel(clock.now() + timedelta(days=400))
    try:
        later = json.loads(login_as(admin).get(url).get_data(as_text=True))
    finally:
        clock.reset()
    now.pop("generated_at")
    later.pop("generated_at")
    assert later == now
    [item] = now["assignments"]
    assert item["state_at_start"] == "cleared" and item["statement_at_start"]["kind"] == "relevant"


def test_a_mitigation_after_the_start_is_kept_flagged_and_changes_nothing_public(login_as, client, app):
    meeting = factories.meeting(slug="late-week")
    room = factories.room(meeting, "Hall L")
    activity = factories.activity(meeting, room, title="Late talk")
    reviewer = factories.reviewer(meeting, cleared=False)
    speaker = factories.user(full_name="Lee Late", degrees=None)
    disclosure = factories.disclosure(speaker, [(factories.company("Tardy Devices"), Nature.CONSULTANT)])
    assignment = factories.assignment(speaker, activity, AssignmentRole.SPEAKER)
    decision = factories.determination(disclosure.relationships[0], assignment, reviewer, relevant=True)
    admin = factories.admin()
    db.session.commit()
    clock.travel(activity.starts_at + timedelta(days=2))
    try:
        factories.mitigation(decision, reviewer, notes="Reviewed after the fact.")
        db.session.commit()
        page = html_text(client.get(f"/r/{room.public_token}"))
        data = json.loads(login_as(admin).get(
            f"/staff/meetings/{meeting.id}/records.json").get_data(as_text=True))
    finally:
        clock.reset()
    assert wording.MITIGATED not in page  # the session went ahead unmitigated: the record says so
    [item] = data["assignments"]
    assert item["state_at_start"] == "needs_mitigation" and item["late"] is True
    assert item["latest_state"] == "cleared"
    [mitigation] = item["relationships"][0]["decisions"][0]["mitigations"]
    assert mitigation["late"] is True and mitigation["notes"] == "Reviewed after the fact."
    staff = login_as(admin)
    for url in (f"/staff/meetings/{meeting.id}", f"/staff/meetings/{meeting.id}/dashboard",
                f"/review/meetings/{meeting.id}/people/{speaker.id}"):
        assert "Late: recorded after the start" in html_text(staff.get(url)), url


def test_records_zip_holds_every_version_public_during_the_meeting_with_a_manifest(login_as, talk):
    """What learners could read on the meeting's days: the version up at its opening and
    each one after it (earlier drafts are in the record, not in the archive)."""
    meeting = talk["meeting"]
    admin = factories.admin()
    db.session.commit()
    clock.travel(meeting.local(talk["activity"].starts_at).replace(hour=7).astimezone(clock.now().tzinfo))
    try:
        registry.confirm_company(talk["staff"], talk["company"], is_ineligible=False, note=None)
        db.session.commit()
        client = login_as(admin)
        started = client.post(f"/staff/meetings/{meeting.id}/records.zip")  # a job (immediate in tests)
        page = client.get(started.headers["Location"]).get_data(as_text=True)
        [download] = re.findall(r'href="(/staff/jobs/\d+/download)"', page)
        response = client.get(download)
    finally:
        clock.reset()
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    sheets = sorted(n for n in archive.namelist() if "/rooms/" in n)
    assert len(sheets) == 2
    manifest = archive.read(next(n for n in archive.namelist() if n.endswith("manifest.csv"))).decode()
    for name in sheets:
        assert name.split("/", 1)[1] in manifest
    texts = [pdf_text(archive.read(n)) for n in sheets]
    assert any("Keystone Surgical" in t for t in texts) and any("Keystone Surgical" not in t for t in texts)
    assert all(pypdf.PdfReader(io.BytesIO(archive.read(n))).pages for n in sheets)


def test_room_history_lists_each_version_with_what_changed_for_staff_and_auditors(login_as, talk):
    registry.confirm_company(talk["staff"], talk["company"], is_ineligible=False, note=None)
    db.session.commit()
    url = f"/staff/rooms/{talk['room'].id}/versions"
    for reader in (talk["staff"], factories.auditor()):
        page = html_text(login_as(reader).get(url))
        assert "Company no longer listed: Keystone Surgical" in page
        assert "Company now listed: Keystone Surgical" in page  # when it was first mitigated
        assert "Statement changed: Sara Speaker, MD · " in page
        latest = db.session.scalars(sa.select(SheetVersion).where(SheetVersion.room_id == talk["room"].id)
                                    .order_by(SheetVersion.number.desc())).first()
        assert f"fingerprint {latest.fingerprint[:8]}" in page and "current" in page
    forbidden = login_as(talk["reviewer"]).get(url)
    assert forbidden.status_code == 403
