"""Staff: the company registry (confirm, alias, merge) and owner/employee decisions."""


import pytest
import sqlalchemy as sa

from disclosures.enums import AssignmentState, Nature, OwnerException
from disclosures.extensions import db
from disclosures.models import AuditEvent, Company, CompanyAlias, OwnerDecision, Relationship
from disclosures.registry import operations

from . import factories


def events(action: str) -> list[AuditEvent]:
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)).all()


# --------------------------------------------------------------------- access


STAFF_GETS = ["/staff/companies", "/staff/companies/{company}", "/staff/meetings/{meeting}/owners",
              "/staff/assignments/{assignment}/owner"]
STAFF_POSTS = ["/staff/companies/{company}/confirm", "/staff/companies/{company}/aliases",
               "/staff/companies/{company}/merge", "/staff/assignments/{assignment}/owner"]


@pytest.fixture()
def ids(app):
    company = factories.company("Typed In Devices", needs_review=True)
    meeting = factories.meeting()
    person = factories.user()
    assignment = factories.assignment(person, factories.activity(meeting))
    db.session.commit()
    return {"company": company.id, "meeting": meeting.id, "assignment": assignment.id}


def test_missing_company_is_404(app, login_as):
    assert login_as(factories.admin()).get("/staff/companies/999").status_code == 404


# --------------------------------------------------------------------- registry


def test_registry_lists_companies_needing_review_first(app, login_as):
    factories.company("Confirmed Pharma")
    factories.company("Typed In Devices", needs_review=True)
    page = login_as(factories.admin()).get("/staff/companies").get_data(as_text=True)
    assert "Typed In Devices" in page and "Confirmed Pharma" not in page
    assert "1 company typed in by faculty is waiting" in page
    page = login_as(factories.admin()).get("/staff/companies?show=all&q=pharma").get_data(as_text=True)
    assert "Confirmed Pharma" in page and "Typed In Devices" not in page


def test_registry_search_matches_aliases(app, login_as):
    factories.company("Johnson & Johnson", aliases=["J&J"])
    page = login_as(factories.admin()).get("/staff/companies?show=all&q=j%26j").get_data(as_text=True)
    assert "Johnson &amp; Johnson" in page


def test_confirm_company_as_eligible_is_saved_and_audited(app, login_as):
    company = factories.company("Mercy Health System", needs_review=True)
    client = login_as(factories.admin())
    response = client.post(f"/staff/companies/{company.id}/confirm",
                           data={"eligibility": "eligible", "note": "A hospital system."})
    assert response.status_code == 302
    company = db.session.get(Company, company.id)
    assert not company.needs_review and not company.is_ineligible and company.note == "A hospital system."
    [event] = events("company.confirmed")
    assert event.changes["is_ineligible"] == {"before": True, "after": False}


def test_confirm_without_choice_shows_message_and_changes_nothing(app, login_as):
    company = factories.company("Unsure Co", needs_review=True)
    response = login_as(factories.admin()).post(f"/staff/companies/{company.id}/confirm", data={})
    assert response.status_code == 400
    assert "Choose whether the company is ineligible or eligible." in response.get_data(as_text=True)
    assert db.session.get(Company, company.id).needs_review


def test_alias_added_then_matches_typed_name(app, login_as):
    company = factories.company("Johnson & Johnson")
    client = login_as(factories.admin())
    assert client.post(f"/staff/companies/{company.id}/aliases", data={"alias": "J&J"}).status_code == 302
    assert operations.find_company("j & j").id == company.id
    assert len(events("company.alias_added")) == 1


def test_alias_that_names_another_company_is_refused(app, login_as):
    company = factories.company("Johnson & Johnson")
    factories.company("Medtronic")
    response = login_as(factories.admin()).post(
        f"/staff/companies/{company.id}/aliases", data={"alias": "MEDTRONIC inc"})
    assert response.status_code == 400
    assert "already matches Medtronic" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(CompanyAlias.id))) == 0


def test_merge_keeps_every_relationship_on_the_surviving_company(app, login_as):
    target = factories.company("Johnson & Johnson")
    duplicate = factories.company("Jonson and Jonson", needs_review=True, aliases=["JnJ typo"])
    p1, p2 = factories.user(), factories.user()
    factories.disclosure(p1, [(duplicate, Nature.CONSULTANT)])
    factories.disclosure(p1, [(duplicate, Nature.CONSULTANT)])
    factories.disclosure(p2, [(duplicate, Nature.SPEAKER), (target, Nature.ADVISOR)])
    duplicate_id = duplicate.id
    response = login_as(factories.admin()).post(
        f"/staff/companies/{duplicate_id}/merge", data={"target": "johnson & johnson"})
    assert response.status_code == 302
    assert db.session.get(Company, duplicate_id) is None
    relationships = db.session.scalars(sa.select(Relationship)).all()
    assert len(relationships) == 4 and {r.company_id for r in relationships} == {target.id}
    assert operations.find_company("Jonson and Jonson").id == target.id
    assert operations.find_company("JnJ typo").id == target.id
    [event] = events("company.merged")
    assert event.changes == {"merged_company_id": duplicate_id, "relationships_moved": 3}


def test_merge_into_unknown_or_same_company_is_refused(app, login_as):
    company = factories.company("Only Co", needs_review=True)
    client = login_as(factories.admin())
    response = client.post(f"/staff/companies/{company.id}/merge", data={"target": "Nowhere Inc"})
    assert response.status_code == 400 and "No company in the registry is called" in response.get_data(as_text=True)
    response = client.post(f"/staff/companies/{company.id}/merge", data={"target": "only co"})
    assert response.status_code == 400 and "Choose a different company" in response.get_data(as_text=True)
    assert db.session.get(Company, company.id) is not None


# --------------------------------------------------------------------- owners and employees


@pytest.fixture()
def employee(app):
    meeting = factories.meeting()
    person = factories.user(full_name="Erin Employee")
    assignment = factories.assignment(person, factories.activity(meeting, title="Coding and billing"))
    factories.disclosure(person, [(factories.company("Big Implant Corp"), Nature.EMPLOYEE)])
    other = factories.user(full_name="Olga Other")
    factories.assignment(other, factories.activity(meeting))
    factories.disclosure(other, [(factories.company("Small Pharma"), Nature.CONSULTANT)])
    db.session.commit()
    return meeting, person, assignment


def test_owner_list_shows_only_owners_and_employees(employee, login_as):
    meeting, person, _ = employee
    page = login_as(factories.admin()).get(f"/staff/meetings/{meeting.id}/owners").get_data(as_text=True)
    assert "Erin Employee" in page and "Big Implant Corp" in page and "Decision needed" in page
    assert "Olga Other" not in page
    assert "<strong>1</strong> decision needed" in page


def _big_implant():
    return db.session.scalar(sa.select(Company).where(Company.name == "Big Implant Corp"))


def test_owner_decision_recorded_lifts_exclusion_and_is_audited(employee, login_as):
    """Standard 3: an owner or employee may take part only under one of the three
    exceptions, decided once per company for every role the person holds."""
    meeting, person, assignment = employee
    staff = factories.admin()
    company = _big_implant()
    response = login_as(staff).post(f"/staff/assignments/{assignment.id}/owner", data={
        "company": company.id, "seen": 0,
        "exception": "unrelated", "note": "The talk covers billing, not implants."})
    assert response.status_code == 302
    decision = db.session.scalar(sa.select(OwnerDecision).where(OwnerDecision.user_id == person.id))
    assert decision.company_id == company.id and decision.exception is OwnerException.UNRELATED
    assert decision.decided_by_id == staff.id and decision.decided_at is not None
    assert decision.note == "The talk covers billing, not implants."
    # No longer excluded: the relationship now goes to the reviewers like any other.
    assert factories.stored_states([assignment])[assignment.id].state is AssignmentState.AWAITING_REVIEW
    [event] = events("owner_decision.recorded")
    assert event.subject_user_id == person.id
    assert event.changes["exception"] == {"before": None, "after": "unrelated"}


def test_owner_decision_without_reasoning_is_refused(employee, login_as):
    _, _, assignment = employee
    response = login_as(factories.admin()).post(
        f"/staff/assignments/{assignment.id}/owner",
        data={"company": _big_implant().id, "seen": 0, "exception": "basic_science"})
    assert response.status_code == 400
    assert "Explain the decision" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(OwnerDecision.id))) == 0


def test_owner_decision_none_keeps_person_excluded(employee, login_as):
    _, _, assignment = employee
    login_as(factories.admin()).post(
        f"/staff/assignments/{assignment.id}/owner",
        data={"company": _big_implant().id, "seen": 0, "exception": "none",
              "note": "Talk is on their implant."})
    status = factories.stored_states([assignment])[assignment.id]
    assert status.state is AssignmentState.EXCLUDED and "no exception applies" in status.reasons[0]
