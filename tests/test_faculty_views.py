"""Faculty pages: home, the disclosure form (with and without JavaScript), versions, 403s."""

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from disclosures.enums import Nature
from disclosures.extensions import db
from disclosures.faculty.operations import window_start
from disclosures.models import AuditEvent, Company, Disclosure, Relationship

from . import factories

TODAY = date.today()


def form_data(person, rows=(), *, has="yes", **extra):
    data = {
        "has_relationships": has,
        "discusses_off_label": "no",
        "attestation_name": person.full_name,
        "attested_complete": "y",
        "submit": "1",
    }
    for i, r in enumerate(rows):
        for key, value in r.items():
            data[f"relationships-{i}-{key}"] = value
    data.update(extra)
    return data


def rel(company="Medtronic", nature="consultant", started=None, ended=None, **more):
    if started == "":
        started_text = ""
    else:
        started_text = (started or TODAY - timedelta(days=100)).isoformat()
    r = {"company": company, "nature": nature, "started_on": started_text}
    if ended:
        r["ended_on"] = ended.isoformat()
    else:
        r["ongoing"] = "y"
    r.update(more)
    return r


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count(model.id)))


# --------------------------------------------------------------------- login and 403


@pytest.mark.parametrize("url", ["/faculty/", "/faculty/disclosure/new", "/faculty/disclosure/1",
                                 "/faculty/companies/suggest?q=med"])
def test_faculty_pages_require_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/login" in response.location


def test_disclosure_post_requires_login_and_saves_nothing(client, app):
    person = factories.user()
    db.session.commit()
    response = client.post("/faculty/disclosure/new", data=form_data(person, [rel()]))
    assert response.status_code == 302 and "/login" in response.location
    assert count(Disclosure) == 0


def test_another_faculty_members_disclosure_is_403(app, login_as):
    owner = factories.user(full_name="Dana Owner")
    other = factories.user()
    d = factories.disclosure(owner, [(factories.company("Secret Devices"), Nature.CONSULTANT)])
    response = login_as(other).get(f"/faculty/disclosure/{d.id}")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Secret Devices" not in page and "only your own disclosures" in page


@pytest.mark.parametrize("role", ["reviewer", "staff", "other_staff", "auditor"])
def test_a_disclosure_is_read_by_the_staff_and_reviewers_of_the_persons_meetings(app, login_as, role):
    """Staff and reviewers of a meeting where the person holds a role read the disclosure;
    staff of another meeting do not; auditors read every record."""
    owner = factories.user(full_name="Dana Owner")
    meeting = factories.meeting()
    factories.assignment(owner, factories.activity(meeting))
    d = factories.disclosure(owner, [(factories.company("Visible Devices"), Nature.CONSULTANT)])
    reader = {
        "reviewer": lambda: factories.reviewer(meeting),
        "staff": lambda: factories.staff(meeting),
        "other_staff": lambda: factories.staff(factories.meeting()),
        "auditor": factories.auditor,
    }[role]()
    response = login_as(reader).get(f"/faculty/disclosure/{d.id}")
    page = response.get_data(as_text=True)
    if role == "other_staff":
        assert response.status_code == 403 and "Visible Devices" not in page
    else:
        assert response.status_code == 200 and "Visible Devices" in page


def test_missing_disclosure_is_404(app, login_as):
    assert login_as(factories.user()).get("/faculty/disclosure/999").status_code == 404


# --------------------------------------------------------------------- home


def test_home_without_disclosure_says_none_yet_and_lists_roles(app, login_as):
    person = factories.user()
    meeting = factories.meeting(timezone="America/New_York", starts_on=date(TODAY.year + 1, 7, 10))
    room = factories.room(meeting, "Hall B")
    start = datetime.combine(meeting.starts_on, datetime.min.time(), tzinfo=UTC) + timedelta(hours=14)
    factories.assignment(person, factories.activity(meeting, room, title="Lumbar fusion debate", starts_at=start))
    page = login_as(person).get("/faculty/").get_data(as_text=True)
    assert "You have not disclosed yet" in page
    assert "Disclose now" in page
    assert "Lumbar fusion debate" in page and "Hall B" in page
    assert "10:00 AM" in page  # 14:00 UTC shown in the meeting's time zone (EDT)
    assert "Awaiting disclosure" in page


def test_home_with_current_disclosure_shows_dates_and_history(app, login_as):
    person = factories.user()
    submitted = datetime(2025, 3, 4, 12, tzinfo=UTC)
    factories.disclosure(person, [], submitted_at=submitted - timedelta(days=30), valid_days=5000)
    factories.disclosure(person, [], submitted_at=submitted, valid_days=5000)
    page = login_as(person).get("/faculty/").get_data(as_text=True)
    assert "Submitted on Mar 4, 2025" in page
    assert "Update my disclosure" in page
    assert "Version 1" in page and "Version 2" in page


def test_home_with_expired_disclosure_asks_for_update(app, login_as):
    person = factories.user()
    a = factories.assignment(person, factories.activity(factories.meeting()))
    factories.disclosure(person, [], submitted_at=datetime.now(UTC) - timedelta(days=400))
    page = login_as(person).get("/faculty/").get_data(as_text=True)
    assert "Needs update" in page and "expired on" in page
    assert a.id and "Awaiting disclosure" in page


# --------------------------------------------------------------------- the form


def test_form_shows_nature_guidance_and_window(app, login_as):
    page = login_as(factories.user()).get("/faculty/disclosure/new").get_data(as_text=True)
    assert "diversified mutual funds do not" in page
    assert "principal or named investigator" in page
    assert window_start(TODAY).strftime("%b %-d, %Y") in page
    assert 'name="add_relationship"' in page and "disclosure-form.js" in page
    assert "<script>" not in page and "style=" not in page


def test_valid_submission_with_three_relationships_redirects_to_saved_version(app, login_as):
    person = factories.user()
    factories.company("Johnson & Johnson", aliases=["J&J"])
    client = login_as(person)
    response = client.post("/faculty/disclosure/new", data=form_data(person, [
        rel("J&J", "consultant"),
        rel("Globus Medical", "researcher", ended=TODAY - timedelta(days=10)),
        rel("Brand New Implants", "private_stock"),
    ]))
    assert response.status_code == 302
    d = db.session.scalars(sa.select(Disclosure)).one()
    assert response.location.endswith(f"/faculty/disclosure/{d.id}")
    assert [r.nature for r in d.relationships] == [Nature.CONSULTANT, Nature.RESEARCHER, Nature.PRIVATE_STOCK]
    assert d.attestation_name == person.full_name and d.attested_complete
    assert count(AuditEvent) >= 1
    page = client.get(response.location).get_data(as_text=True)
    assert "Johnson &amp; Johnson" in page and "Brand New Implants" in page and "New to the registry" in page
    assert "“J&amp;J” as Johnson &amp; Johnson" in page


@pytest.mark.parametrize(
    ("rows", "extra", "message"),
    [
        ([rel(ended=TODAY - timedelta(days=800), started=TODAY - timedelta(days=900))], {},
         "the first day of the 24-month window"),
        ([rel(started=TODAY + timedelta(days=3))], {}, "is in the future"),
        ([rel(started=TODAY - timedelta(days=10), ended=TODAY - timedelta(days=20))], {},
         "The end date is before the start date"),
        ([rel(company="")], {}, "Enter the company&#39;s name."),
        ([rel(nature="")], {}, "Choose the nature of the relationship."),
        ([rel(started="")], {}, "Enter when the relationship started"),
        ([rel()], {"has_relationships": "no"}, "You chose “I have had none” but filled in 1"),
        ([], {}, "but listed none"),
        ([rel()], {"attestation_name": "Someone Else"}, "does not match your account name"),
        ([rel()], {"attested_complete": ""}, "Tick the box to confirm the disclosure is complete"),
        ([rel(**{"started_on": "03/01/2024"})], {}, "as year-month-day (YYYY-MM-DD)"),
    ],
)
def test_bad_input_shows_its_message_and_saves_nothing(app, login_as, rows, extra, message):
    person = factories.user()
    data = form_data(person, rows, **extra)
    data = {k: v for k, v in data.items() if v != "" or k.endswith("company") or k.endswith("nature")
            or k.endswith("started_on")}
    response = login_as(person).post("/faculty/disclosure/new", data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert "Please correct" in page
    assert count(Disclosure) == 0 and count(Relationship) == 0 and count(Company) == 0
    assert count(AuditEvent) == 0


def test_bad_input_keeps_what_was_typed(app, login_as):
    person = factories.user()
    response = login_as(person).post("/faculty/disclosure/new", data=form_data(
        person, [rel("Typed Devices Inc", detail="Advisory board"), rel("Second Co", started=TODAY + timedelta(days=2))]
    ))
    page = response.get_data(as_text=True)
    assert 'value="Typed Devices Inc"' in page and 'value="Advisory board"' in page
    assert "Relationship 2: The start date" in page


def test_add_another_without_javascript_keeps_typed_rows_and_adds_one(app, login_as):
    person = factories.user()
    data = form_data(person, [rel("First Co", detail="kept")])
    del data["submit"]
    data["add_relationship"] = "1"
    response = login_as(person).post("/faculty/disclosure/new", data=data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'value="First Co"' in page and 'value="kept"' in page
    assert 'name="relationships-1-company"' in page
    assert "Please correct" not in page
    assert count(Disclosure) == 0


def test_remove_without_javascript_drops_that_row_only(app, login_as):
    person = factories.user()
    data = form_data(person, [rel("Keep One"), rel("Drop Me"), rel("Keep Two")])
    del data["submit"]
    data["relationships-1-remove"] = "1"
    page = login_as(person).post("/faculty/disclosure/new", data=data).get_data(as_text=True)
    assert "Drop Me" not in page
    assert 'value="Keep One"' in page and 'value="Keep Two"' in page
    assert count(Disclosure) == 0


def test_update_form_starts_from_latest_version(app, login_as):
    person = factories.user()
    factories.disclosure(person, [(factories.company("Prefilled Spine"), Nature.ADVISOR)])
    page = login_as(person).get("/faculty/disclosure/new").get_data(as_text=True)
    assert 'name="relationships-0-company" type="text" value="Prefilled Spine"' in page
    assert 'name="relationships-1-company"' not in page
    assert "Version 2" in page


def test_resubmission_through_form_keeps_earlier_version_readable(app, login_as):
    person = factories.user()
    client = login_as(person)
    client.post("/faculty/disclosure/new", data=form_data(person, [rel("Alpha Devices")]))
    client.post("/faculty/disclosure/new", data=form_data(person, [rel("Alpha Devices"), rel("Beta Pharma", "speaker")]))
    versions = db.session.scalars(sa.select(Disclosure).order_by(Disclosure.version)).all()
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].relationships[0].carried_from_id == versions[0].relationships[0].id
    page = client.get(f"/faculty/disclosure/{versions[0].id}").get_data(as_text=True)
    assert "earlier version" in page and "Alpha Devices" in page and "Beta Pharma" not in page


def test_company_suggestions_match_aliases(app, login_as):
    factories.company("Johnson & Johnson", aliases=["J&J"])
    response = login_as(factories.user()).get("/faculty/companies/suggest?q=j%26j")
    assert response.status_code == 200
    assert response.get_json() == [{"name": "Johnson & Johnson", "alias": "J&J"}]


def test_company_suggestions_refuse_overlong_query(app, login_as):
    response = login_as(factories.user()).get("/faculty/companies/suggest?q=" + "x" * 300)
    assert response.status_code == 400
