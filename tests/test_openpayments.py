"""Open Payments cross-check: NPIs, importing CMS files as published, the advisory panel of
the review page, manufacturers linked once, and what reviewers record."""

from __future__ import annotations

import io
import random
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from disclosures.enums import Nature
from disclosures.extensions import db
from disclosures.models import AuditEvent, Manufacturer, OpenPayment, OpenPaymentsReview, User
from disclosures.openpayments.npi import npi_problem
from disclosures.openpayments.sample import (
    GENERAL_COLUMNS,
    OWNERSHIP_COLUMNS,
    RESEARCH_COLUMNS,
    npi_with_check_digit,
    row_for,
    write_rows,
)

from . import factories

ALICE_NPI = "1234567893"  # the CMS documentation's example: check digit 3
BOB_NPI = npi_with_check_digit("987654321")
STRANGER_NPI = npi_with_check_digit("555555555")

ACME = ("100000000001", "Acme Spine, Inc.")  # a comma in a quoted name
BIOMET = ("100000000002", "Biomet Orthopedics, LLC")
CARDIO = ("100000000003", "Cardio Devices Corp")
OLDCO = ("100000000004", "Oldco Pharmaceuticals")


@pytest.fixture()
def world(app):
    """A meeting on 2027-10-06; Alice (NPI) speaks at 09:00 on day 1 and again on day 2;
    she disclosed Acme; a reviewer, staff, a co-faculty member, faculty without a role tie."""
    meeting = factories.meeting(name="Spine 2027", starts_on=date(2027, 10, 6), days=3)
    room = factories.room(meeting, "Hall A")
    first = factories.activity(meeting, room, title="Lumbar fusion",
                               starts_at=datetime(2027, 10, 6, 14, 0, tzinfo=UTC))
    later = factories.activity(meeting, room, title="Cervical disc",
                               starts_at=datetime(2027, 10, 7, 14, 0, tzinfo=UTC))
    alice = factories.user(full_name="Alice Able", npi=ALICE_NPI)
    bob = factories.user(full_name="Bob Baker", npi=BOB_NPI)
    factories.assignment(alice, first)
    factories.assignment(alice, later)
    factories.assignment(bob, later)
    acme = factories.company("Acme Spine")  # "Acme Spine, Inc." normalises to the same key
    factories.company("Biomet Orthopedics")
    factories.disclosure(alice, [(acme, Nature.CONSULTANT)])
    reviewer = factories.reviewer(meeting, full_name="Rita Reviewer")
    staff = factories.staff(meeting, full_name="Sam Staff")
    db.session.commit()
    return {"meeting": meeting, "alice": alice, "bob": bob, "reviewer": reviewer, "staff": staff}


def _general_rows():
    return [
        # Alice, undisclosed Biomet, in the window (2026-03 and 2027-01): shown, summed.
        row_for("general", ALICE_NPI, manufacturer=BIOMET, amount="1200.50",
                paid_on=date(2026, 3, 14), nature="Consulting Fee", record_id="1001",
                last="Able, MD"),
        row_for("general", ALICE_NPI, manufacturer=BIOMET, amount="99.50",
                paid_on=date(2027, 1, 2), nature="Food and Beverage", record_id="1002"),
        # Alice, disclosed Acme: not shown.
        row_for("general", ALICE_NPI, manufacturer=ACME, amount="5000.00",
                paid_on=date(2026, 6, 1), nature="Consulting Fee", record_id="1003"),
        # Alice, undisclosed Oldco, but before the 24 months (window starts 2025-10-06).
        row_for("general", ALICE_NPI, manufacturer=OLDCO, amount="7777.00",
                paid_on=date(2025, 10, 5), nature="Honoraria", record_id="1004"),
        # Someone nobody here holds: not stored.
        row_for("general", STRANGER_NPI, manufacturer=CARDIO, amount="3333.00",
                paid_on=date(2026, 5, 5), record_id="1005", first="Stan", last="Stranger"),
        # Bob, undisclosed Cardio (a manufacturer no registry name matches).
        row_for("general", BOB_NPI, manufacturer=CARDIO, amount="250.00",
                paid_on=date(2026, 11, 30), nature="Travel and Lodging", record_id="1006"),
    ]


def _cms_file(path, rows, kind="general"):
    """The file as CMS might publish it next year: columns reordered, unknown ones added."""
    columns = {"general": GENERAL_COLUMNS, "research": RESEARCH_COLUMNS,
               "ownership": OWNERSHIP_COLUMNS}[kind]
    columns = list(columns)
    random.Random(18).shuffle(columns)
    columns[3:3] = ["Brand_New_Column_2025"]
    columns.append("Another_Unknown_Column")
    rows = [{**r, "Brand_New_Column_2025": "x, y", "Another_Unknown_Column": "\"quoted\""} for r in rows]
    write_rows(path, kind, rows, columns=columns)
    return path


def _import(app, *paths):
    result = app.test_cli_runner().invoke(args=["import-open-payments", *map(str, paths)])
    db.session.rollback()
    return result


def _review_page(login_as, world, reviewer=None, person=None):
    client = login_as(reviewer or world["reviewer"])
    person = person or world["alice"]
    response = client.get(f"/review/meetings/{world['meeting'].id}/people/{person.id}")
    return response.status_code, response.get_data(as_text=True)


def _panel(html: str) -> str:
    return html.split('id="open-payments"', 1)[1].split("</section>", 1)[0]


# ----------------------------------------------------------------------------- NPI


def test_npi_check_digit_is_verified():
    assert npi_problem(ALICE_NPI) is None
    assert "check digit" in npi_problem("1234567890")
    assert "10 digits" in npi_problem("12345")


def test_person_adds_npi_and_bad_check_digit_is_refused_with_message(login_as, app):
    carol = factories.user(full_name="Carol Clinician")
    client = login_as(carol)
    response = client.post("/account/npi", data={"npi": "1234567890"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "is not a valid NPI" in html and "check digit" in html
    assert db.session.get(User, carol.id).npi is None
    response = client.post("/account/npi", data={"npi": "123456 7893"})
    assert response.status_code == 302
    assert db.session.get(User, carol.id).npi == ALICE_NPI
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "user.npi_changed"))
    assert event.changes == {"npi": {"before": None, "after": ALICE_NPI}}
    assert ALICE_NPI in client.get("/account").get_data(as_text=True)


def test_npi_held_by_another_person_is_refused(login_as, world):
    client = login_as(factories.user(full_name="Dan Duplicate"))
    response = client.post("/account/npi", data={"npi": ALICE_NPI})
    assert response.status_code == 400
    assert "already on another person" in response.get_data(as_text=True)


def test_staff_set_npi_of_a_person_with_a_role(login_as, world):
    carol = factories.user(full_name="Carol Clinician")
    db.session.commit()
    client = login_as(world["staff"])
    url = f"/staff/meetings/{world['meeting'].id}/people/{world['bob'].id}/npi"
    assert client.post(url, data={"npi": "9876543210"}).status_code == 400
    new = npi_with_check_digit("111111111")
    assert client.post(url, data={"npi": new}).status_code == 302
    assert db.session.get(User, world["bob"].id).npi == new
    # Someone without a role in the meeting: not the staff's to edit.
    other = f"/staff/meetings/{world['meeting'].id}/people/{carol.id}/npi"
    assert client.post(other, data={"npi": ALICE_NPI}).status_code == 404


# ----------------------------------------------------------------------------- import


def test_cms_layout_sample_imports_and_keeps_only_people_with_a_role(app, world, tmp_path):
    path = _cms_file(tmp_path / "OP_DTL_GNRL_PGYR2026_P01302025.csv", _general_rows())
    text = path.read_text()
    assert len(GENERAL_COLUMNS) >= 40 and "Brand_New_Column_2025" in text
    assert '"Acme Spine, Inc."' in text and "03/14/2026" in text

    result = _import(app, path)
    assert result.exit_code == 0, result.output
    assert "6 rows read, 5 kept" in result.output
    payments = db.session.scalars(sa.select(OpenPayment).order_by(OpenPayment.record_id)).all()
    assert [p.record_id for p in payments] == ["1001", "1002", "1003", "1004", "1006"]
    assert not db.session.scalar(sa.select(OpenPayment).where(OpenPayment.npi == STRANGER_NPI))
    first = payments[0]
    assert (first.npi, first.amount, first.paid_on, first.program_year, first.nature) == (
        ALICE_NPI, Decimal("1200.50"), date(2026, 3, 14), 2026, "Consulting Fee")
    # Manufacturers: matched by the registry's names; unmatched ones wait for staff.
    by_cms = {m.cms_id: m for m in db.session.scalars(sa.select(Manufacturer))}
    assert by_cms[ACME[0]].company.name == "Acme Spine"
    assert by_cms[BIOMET[0]].company.name == "Biomet Orthopedics"
    assert by_cms[CARDIO[0]].company is None  # the stranger's only manufacturer is Bob's too
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "openpayments.imported"))
    assert event.changes["rows_kept"] == 5

    # The same file again replaces its rows: nothing doubles.
    assert _import(app, path).exit_code == 0
    assert db.session.scalar(sa.select(sa.func.count(OpenPayment.id))) == 5


def test_research_and_ownership_files_are_read_by_their_own_columns(app, world, tmp_path):
    research = _cms_file(tmp_path / "research.csv", [
        # Bob is the fourth principal investigator of a payment to someone else.
        row_for("research", STRANGER_NPI, manufacturer=BIOMET, amount="20,000.00",
                paid_on=date(2026, 9, 9), record_id="2001",
                extra={"Principal_Investigator_4_NPI": BOB_NPI,
                       "Principal_Investigator_4_Last_Name": "Baker, Jr."}),
        row_for("research", STRANGER_NPI, manufacturer=BIOMET, amount="10.00",
                paid_on=date(2026, 9, 9), record_id="2002"),
    ], kind="research")
    ownership = _cms_file(tmp_path / "ownership.csv", [
        row_for("ownership", ALICE_NPI, manufacturer=CARDIO, amount="15000",
                paid_on=date(2026, 1, 1), record_id="3001"),
    ], kind="ownership")
    result = _import(app, research, ownership)
    assert result.exit_code == 0, result.output
    kept = {(p.kind.value, p.npi, p.nature, p.amount, p.paid_on)
            for p in db.session.scalars(sa.select(OpenPayment))}
    assert kept == {
        ("research", BOB_NPI, "Research", Decimal("20000.00"), date(2026, 9, 9)),
        ("ownership", ALICE_NPI, "Ownership or investment interest", Decimal("15000.00"), None),
    }


def test_a_file_that_is_not_open_payments_is_refused_and_nothing_kept(app, world, tmp_path):
    path = tmp_path / "programme.csv"
    path.write_text("activity code,title,day\nS1,Talk,2027-10-06\n")
    result = _import(app, path)
    assert result.exit_code != 0
    assert "is not an Open Payments" in result.output
    assert db.session.scalar(sa.select(sa.func.count(OpenPayment.id))) == 0


def test_unreadable_values_leave_the_row_out_and_say_so(app, world, tmp_path):
    rows = [row_for("general", ALICE_NPI, manufacturer=BIOMET, amount="12", paid_on=date(2026, 3, 1),
                    record_id="1", extra={"Date_of_Payment": "13/45/2026"}),
            row_for("general", ALICE_NPI, manufacturer=BIOMET, amount="12", paid_on=date(2026, 3, 1),
                    record_id="2")]
    path = _cms_file(tmp_path / "general.csv", rows)
    result = _import(app, path)
    assert result.exit_code == 0
    assert "1 kept, 1 left out" in result.output and "Line 2" in result.output


def test_import_reports_progress(app, world, tmp_path, monkeypatch):
    from disclosures.openpayments import operations

    monkeypatch.setattr(operations, "PROGRESS_EVERY_BYTES", 1)
    rows = [row_for("general", STRANGER_NPI, manufacturer=CARDIO, amount="1", paid_on=date(2026, 1, 1),
                    record_id=str(i)) for i in range(10000)]
    path = _cms_file(tmp_path / "big.csv", rows)
    seen = []
    operations.import_file(path, progress=seen.append)
    db.session.rollback()
    assert len(seen) >= 2 and seen[-1].fraction == 1.0 and seen[-1].rows_read == 10000
    assert seen[0].bytes_read < seen[-1].bytes_read


def test_staff_page_uploads_and_imports(login_as, world):
    rows = [row_for("general", ALICE_NPI, manufacturer=BIOMET, amount="42.00",
                    paid_on=date(2026, 4, 1), record_id="9")]
    buffer = io.StringIO()
    import csv

    writer = csv.DictWriter(buffer, fieldnames=GENERAL_COLUMNS, restval="", quoting=csv.QUOTE_ALL)
    writer.writeheader()
    writer.writerows(rows)
    client = login_as(world["staff"])
    response = client.post("/staff/open-payments", data={
        "files": (io.BytesIO(buffer.getvalue().encode()), "OP_DTL_GNRL_PGYR2026.csv")},
        content_type="multipart/form-data", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "1 rows read, 1 kept" in html
    assert db.session.scalar(sa.select(sa.func.count(OpenPayment.id))) == 1
    bad = client.post("/staff/open-payments", data={"files": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
                      content_type="multipart/form-data")
    assert bad.status_code == 400 and "is not an Open Payments" in bad.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(OpenPayment.id))) == 1


# ----------------------------------------------------------------------------- review page


def test_review_page_shows_undisclosed_company_only_in_the_window(app, login_as, world, tmp_path):
    assert _import(app, _cms_file(tmp_path / "g.csv", _general_rows())).exit_code == 0
    status, html = _review_page(login_as, world)
    assert status == 200
    panel = _panel(html)
    assert "Advisory" in panel and "often not reportable" in panel and "18 months" in panel
    assert "Biomet Orthopedics" in panel  # undisclosed, in the window
    assert "1,300.00" in panel  # 1,200.50 + 99.50
    assert "Consulting Fee" in panel and "Food and Beverage" in panel and "2026" in panel
    assert "Acme" not in panel  # disclosed
    assert "Oldco" not in panel and "7,777.00" not in panel  # a day before the 24 months
    assert "Cardio" not in panel and "3,333.00" not in panel  # Bob's and the stranger's
    # The window ends at the person's first session (2027-10-06), not at the meeting's end.
    assert "Oct 6, 2025" in panel or "2025-10-06" in panel


def test_review_page_names_unlinked_manufacturer_until_staff_link_it(app, login_as, world, tmp_path):
    assert _import(app, _cms_file(tmp_path / "g.csv", _general_rows())).exit_code == 0
    _status, html = _review_page(login_as, world, person=world["bob"])
    assert "Cardio Devices Corp" in _panel(html) and "not linked to the registry" in _panel(html)

    factories.company("Cardio Devices International")
    db.session.commit()
    client = login_as(world["staff"])
    page = client.get("/staff/open-payments/manufacturers").get_data(as_text=True)
    assert "Cardio Devices Corp" in page and CARDIO[0] in page and "Biomet" not in page
    manufacturer = db.session.scalar(sa.select(Manufacturer).where(Manufacturer.cms_id == CARDIO[0]))
    url = f"/staff/open-payments/manufacturers/{manufacturer.id}/link"
    refused = client.post(url, data={f"m{manufacturer.id}-company": "No Such Company"})
    assert refused.status_code == 400 and "No company in the registry" in refused.get_data(as_text=True)
    linked = client.post(url, data={f"m{manufacturer.id}-company": "cardio devices international"})
    assert linked.status_code == 302
    [event] = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "openpayments.manufacturer_linked"))
    assert event.changes["cms_id"] == CARDIO[0] and event.changes["company"] == "Cardio Devices International"
    listed = client.get("/staff/open-payments/manufacturers").get_data(as_text=True)
    assert f'id="manufacturer-{manufacturer.id}"' not in listed  # linked once, gone from the list
    _status, html = _review_page(login_as, world, person=world["bob"])
    assert "Cardio Devices International" in _panel(html)
    assert "not linked to the registry" not in _panel(html)


def test_a_company_can_hold_several_cms_ids(app, login_as, world, tmp_path):
    rows = _general_rows() + [row_for("general", ALICE_NPI, manufacturer=("100000000099", "Acme Spine Holdings LLC"),
                                      amount="10.00", paid_on=date(2026, 2, 2), record_id="1099")]
    assert _import(app, _cms_file(tmp_path / "g.csv", rows)).exit_code == 0
    manufacturer = db.session.scalar(sa.select(Manufacturer).where(Manufacturer.cms_id == "100000000099"))
    assert manufacturer.company is not None  # "holdings" is a corporate suffix: same key as Acme Spine
    _status, html = _review_page(login_as, world)
    assert "Acme" not in _panel(html)  # both CMS IDs are Acme's, disclosed


def test_reviewer_records_what_was_done_audited(app, login_as, world, tmp_path):
    client = login_as(world["reviewer"])
    url = f"/review/meetings/{world['meeting'].id}/people/{world['alice'].id}/open-payments"
    missing = client.post(url, data={"op-action": "explained", "op-note": ""})
    assert missing.status_code == 400 and "Say in a note why" in missing.get_data(as_text=True)
    response = client.post(url, data={"op-action": "asked_person",
                                      "op-note": "Emailed Alice about Biomet."})
    assert response.status_code == 302
    [entry] = db.session.scalars(sa.select(OpenPaymentsReview))
    assert entry.recorded_by_id == world["reviewer"].id
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "openpayments.reviewed"))
    assert event.changes == {"action": "asked_person", "note": "Emailed Alice about Biomet."}
    assert event.subject_user_id == world["alice"].id and event.meeting_id == world["meeting"].id
    _status, html = _review_page(login_as, world)
    assert "Asked the person about it" in _panel(html) and "Emailed Alice about Biomet." in _panel(html)


def test_person_without_npi_has_nothing_to_compare(app, login_as, world):
    world["alice"].npi = None
    db.session.commit()
    _status, html = _review_page(login_as, world, reviewer=world["staff"])
    panel = _panel(html)
    assert "no NPI on their profile" in panel and "Add the NPI" in panel


def test_faculty_and_attendees_never_see_payments(app, login_as, client, world, tmp_path):
    assert _import(app, _cms_file(tmp_path / "g.csv", _general_rows())).exit_code == 0
    alice = login_as(world["alice"])
    bob = login_as(world["bob"])
    for viewer in (alice, bob):
        for url in ("/", "/disclose", "/account", f"/m/{world['meeting'].slug}/disclosures"):
            html = viewer.get(url, follow_redirects=True).get_data(as_text=True)
            assert "Biomet Orthopedics" not in html and "1,300.00" not in html, url
    # Bob (co-faculty of Alice) may not open her review page, nor record anything on it.
    assert bob.get(f"/review/meetings/{world['meeting'].id}/people/{world['alice'].id}").status_code == 403
    url = f"/review/meetings/{world['meeting'].id}/people/{world['alice'].id}/open-payments"
    assert bob.post(url, data={"op-action": "asked_person"}).status_code == 403
    public = client.get(f"/m/{world['meeting'].slug}/disclosures").get_data(as_text=True)
    assert "Biomet Orthopedics" not in public


# ----------------------------------------------------------------------------- programme import


def test_programme_import_takes_an_optional_npi_column(app, login_as, world, tmp_path):
    header = "activity code,title,day,start,end,room,topics,credit hours,faculty name,email,role,npi\n"
    new = npi_with_check_digit("222222222")
    good = header + f"S9,Hip talk,2027-10-07,08:00,09:00,Hall A,hip,1,Nia New,nia@example.org,speaker,{new}\n"
    path = tmp_path / "programme.csv"
    path.write_text(good)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import-programme", world["meeting"].slug, str(path)])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    assert db.session.scalar(sa.select(User.npi).where(User.email == "nia@example.org")) == new

    bad = header + "S9,Hip talk,2027-10-07,08:00,09:00,Hall A,hip,1,Nia New,nia@example.org,speaker,2222222220\n"
    path.write_text(bad)
    result = runner.invoke(args=["import-programme", world["meeting"].slug, str(path)])
    assert result.exit_code != 0 and "column npi" in result.output and "check digit" in result.output


def test_only_the_import_page_takes_files_larger_than_the_request_limit(app, login_as, world,
                                                                        monkeypatch):
    rows = [row_for("general", ALICE_NPI, manufacturer=BIOMET, amount="1.00",
                    paid_on=date(2026, 4, 1), record_id=str(i)) for i in range(20)]
    buffer = io.StringIO()
    import csv

    writer = csv.DictWriter(buffer, fieldnames=GENERAL_COLUMNS, restval="", quoting=csv.QUOTE_ALL)
    writer.writeheader()
    writer.writerows(rows)
    data = buffer.getvalue().encode()
    client = login_as(world["staff"])
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2000)
    monkeypatch.setitem(app.config, "OPEN_PAYMENTS_UPLOAD_MAX_BYTES", 10 * len(data))
    assert len(data) > 2000
    elsewhere = client.post("/account/npi", data={"npi": "x" * 3000})
    assert elsewhere.status_code == 413
    response = client.post("/staff/open-payments", data={"files": (io.BytesIO(data), "g.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(OpenPayment.id))) == 20
    monkeypatch.setitem(app.config, "OPEN_PAYMENTS_UPLOAD_MAX_BYTES", len(data) // 2)
    too_big = client.post("/staff/open-payments", data={"files": (io.BytesIO(data), "g.csv")},
                          content_type="multipart/form-data")
    assert too_big.status_code == 413
