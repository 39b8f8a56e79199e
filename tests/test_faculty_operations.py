"""The disclosure rules, tested directly on the operations (no HTTP)."""

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from disclosures import clock
from disclosures.enums import AssignmentState, MitigationMethod, Nature, OwnerException
from disclosures.extensions import db
from disclosures.faculty import operations
from disclosures.faculty.operations import (
    DisclosureEntry,
    DisclosureRejected,
    RelationshipEntry,
    submit_disclosure,
)
from disclosures.models import (
    AuditEvent,
    Company,
    Determination,
    Disclosure,
    Mitigation,
    Relationship,
)
from disclosures.registry import operations as registry

from . import factories

NOW = datetime(2025, 6, 15, 14, 0, tzinfo=UTC)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def _at_now():
    """These tests tell a story around NOW: the clock reads NOW too, so decisions and
    reviews happen when the story says, not on the day the suite runs."""
    clock.travel(NOW)
    yield
    clock.reset()


def row(company="Medtronic", nature=Nature.CONSULTANT, started=date(2024, 1, 10), ended=None,
        ongoing=True, detail=None):
    return RelationshipEntry(company, nature, started, ended, ongoing, detail)


def entry(person, rows=(), *, has=None, name=None, complete=True):
    return DisclosureEntry(
        has_relationships=bool(rows) if has is None else has,
        relationships=list(rows),
        attestation_name=person.full_name if name is None else name,
        attested_complete=complete,
    )


def rejected(person, the_entry) -> list[str]:
    with pytest.raises(DisclosureRejected) as caught:
        submit_disclosure(person, the_entry, now=NOW)
    assert db.session.scalar(sa.select(sa.func.count(Disclosure.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Company.id))) == 0
    return [p.message for p in caught.value.problems]


def test_window_start_counts_24_calendar_months_back(app):
    assert operations.window_start(date(2025, 6, 15)) == date(2023, 6, 15)
    assert operations.window_start(date(2024, 2, 29)) == date(2022, 2, 28)


def test_relationship_ended_before_window_is_refused_naming_first_date(app):
    person = factories.user()
    messages = rejected(person, entry(person, [row(started=date(2022, 1, 1), ended=date(2023, 6, 14), ongoing=False)]))
    assert any("June 15, 2023" in m and "24-month window" in m for m in messages)


def test_the_window_is_disclosure_lookback_months_long(app, monkeypatch):
    monkeypatch.setitem(app.config, "DISCLOSURE_LOOKBACK_MONTHS", 12)
    person = factories.user()
    messages = rejected(person, entry(person, [row(started=date(2022, 1, 1), ended=date(2024, 6, 14), ongoing=False)]))
    assert any("June 15, 2024" in m and "12-month window" in m for m in messages)


def test_relationship_ended_on_first_day_of_window_is_accepted(app):
    person = factories.user()
    result = submit_disclosure(
        person, entry(person, [row(started=date(2022, 1, 1), ended=date(2023, 6, 15), ongoing=False)]), now=NOW
    )
    assert result.disclosure.relationships[0].ended_on == date(2023, 6, 15)


def test_start_in_future_is_refused(app):
    person = factories.user()
    messages = rejected(person, entry(person, [row(started=TODAY + timedelta(days=1))]))
    assert any("in the future" in m for m in messages)


def test_end_before_start_is_refused(app):
    person = factories.user()
    messages = rejected(person, entry(person, [row(started=date(2025, 1, 1), ended=date(2024, 12, 1), ongoing=False)]))
    assert any("end date is before the start date" in m for m in messages)


def test_neither_end_date_nor_ongoing_is_refused(app):
    person = factories.user()
    messages = rejected(person, entry(person, [row(ended=None, ongoing=False)]))
    assert any("tick “Ongoing”" in m for m in messages)


def test_missing_company_and_nature_are_refused(app):
    person = factories.user()
    messages = rejected(person, entry(person, [row(company="  ", nature=None)]))
    assert "Enter the company's name." in messages
    assert "Choose the nature of the relationship." in messages


def test_none_chosen_with_rows_filled_is_refused(app):
    person = factories.user()
    messages = rejected(person, entry(person, [row()], has=False))
    assert any("“I have had none”" in m and "1 relationship row" in m for m in messages)


def test_relationships_chosen_without_rows_is_refused(app):
    person = factories.user()
    messages = rejected(person, entry(person, [row(company="", nature=None, started=None, ongoing=False)], has=True))
    assert any("listed none" in m for m in messages)


def test_no_choice_is_refused(app):
    person = factories.user()
    the_entry = entry(person)
    the_entry.has_relationships = None
    assert any("Say whether" in m for m in rejected(person, the_entry))


@pytest.mark.parametrize("typed", ["person x", "PERSON   X", "  Person x  "])
def test_attestation_name_matches_ignoring_case_and_spacing(app, typed):
    person = factories.user(full_name="Person X")
    result = submit_disclosure(person, entry(person, name=typed), now=NOW)
    assert result.disclosure.attestation_name == " ".join(typed.split())
    assert result.disclosure.attested_at == NOW


def test_attestation_name_that_differs_is_refused(app):
    person = factories.user(full_name="Ana Ruiz")
    messages = rejected(person, entry(person, name="Ana Ruiz-Lopez"))
    assert any("does not match your account name" in m and "Ana Ruiz" in m for m in messages)


def test_completeness_box_unticked_is_refused(app):
    person = factories.user()
    assert any("complete" in m for m in rejected(person, entry(person, complete=False)))


def test_valid_submission_with_three_relationships_is_saved_with_attestation_and_audit(app):
    person = factories.user()
    known = factories.company("Johnson & Johnson", aliases=["J&J"])
    result = submit_disclosure(
        person,
        entry(
            person,
            [
                row("j&j", Nature.CONSULTANT),
                row("Globus Medical", Nature.RESEARCHER, started=date(2024, 3, 1), ended=date(2025, 2, 1), ongoing=False),
                row("Stryker", Nature.SPEAKER, detail="Speakers bureau, spine"),
            ],
        ),
        now=NOW,
        valid_days=365,
    )
    db.session.commit()
    d = db.session.get(Disclosure, result.disclosure.id)
    assert d.version == 1
    assert d.has_relationships is True
    assert d.attested_complete is True
    assert d.valid_until == TODAY + timedelta(days=365)
    assert [r.company.name for r in d.relationships] == ["Johnson & Johnson", "Globus Medical", "Stryker"]
    assert d.relationships[0].company_id == known.id
    assert d.relationships[1].ended_on == date(2025, 2, 1)
    assert d.relationships[2].ended_on is None  # ongoing
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "disclosure.submitted")).all()
    assert len(events) == 1
    event = events[0]
    assert event.subject_user_id == person.id and event.object_id == d.id
    assert event.changes["relationship_count"] == 3
    text = str(event.changes)
    assert "Stryker" not in text and "Globus" not in text and "rhBMP" not in text


@pytest.mark.parametrize("typed", ["J&J", "Johnson and Johnson", "Johnson & Johnson", "johnson & johnson, inc."])
def test_company_found_by_name_or_alias_case_and_punctuation_insensitive(app, typed):
    company = factories.company("Johnson & Johnson", aliases=["J&J"])
    assert registry.find_company(typed).id == company.id


def test_suggestions_include_aliases_and_skip_unconfirmed(app):
    factories.company("Johnson & Johnson", aliases=["J&J"])
    factories.company("Johnston Unreviewed Devices", needs_review=True)
    assert registry.suggest_companies("j&j") == [{"name": "Johnson & Johnson", "alias": "J&J"}]
    assert [s["name"] for s in registry.suggest_companies("johns")] == ["Johnson & Johnson"]


def test_unknown_company_is_created_ineligible_and_needing_review_once(app):
    person = factories.user()
    result = submit_disclosure(
        person, entry(person, [row("Spinewave Devices"), row("SPINEWAVE devices, Inc.", Nature.ROYALTIES)]), now=NOW
    )
    companies = db.session.scalars(sa.select(Company)).all()
    assert len(companies) == 1
    assert companies[0].is_ineligible and companies[0].needs_review
    assert {r.company_id for r in result.disclosure.relationships} == {companies[0].id}


def _reviewed_first_version():
    reviewer = factories.user()
    person = factories.user()
    # The session a month after NOW: every version below is valid on its day.
    assignment = factories.assignment(person, factories.activity(factories.meeting(starts_on=TODAY + timedelta(days=30))))
    first = submit_disclosure(
        person,
        entry(person, [row("Medtronic", Nature.CONSULTANT), row("Stryker", Nature.SPEAKER)]),
        now=NOW - timedelta(days=30),
    ).disclosure
    kept, changed = first.relationships
    d1 = factories.determination(kept, assignment, reviewer, relevant=True)
    factories.mitigation(d1, reviewer, MitigationMethod.PEER_REVIEW, "Slides reviewed by Dr B.")
    factories.determination(changed, assignment, reviewer, relevant=False)
    return person, assignment, first, kept, changed, d1


def test_resubmission_keeps_history_and_carries_unchanged_review(app):
    person, assignment, first, kept, changed, d1 = _reviewed_first_version()
    second = submit_disclosure(
        person,
        entry(person, [
            row("medtronic inc", Nature.CONSULTANT, detail="now with a note"),
            row("Stryker", Nature.ADVISOR),
        ]),
        now=NOW,
    ).disclosure
    db.session.commit()
    db.session.expire_all()
    assert second.version == 2
    new_kept, new_changed = second.relationships
    assert new_kept.carried_from_id == kept.id
    carried = db.session.scalars(sa.select(Determination).where(Determination.relationship_id == new_kept.id)).one()
    assert carried.carried_from_id == d1.id and carried.is_relevant
    assert [m.notes for m in carried.mitigations] == ["Slides reviewed by Dr B."]
    assert new_changed.carried_from_id is None
    assert db.session.scalars(sa.select(Determination).where(Determination.relationship_id == new_changed.id)).all() == []
    # History: the first version is untouched and still has its own determinations.
    old = db.session.get(Disclosure, first.id)
    assert old.version == 1 and len(old.relationships) == 2
    assert db.session.scalar(sa.select(sa.func.count(Mitigation.id))) == 2
    assert db.session.scalar(sa.select(sa.func.count(Determination.id))) == 3
    # The changed relationship needs review again; the carried one stays decided.
    status = factories.stored_states([assignment])[assignment.id]
    assert status.state is AssignmentState.AWAITING_REVIEW
    assert "1 relationship awaiting" in status.reasons[0]


def test_resubmission_with_changed_dates_resets_review(app):
    person, assignment, first, kept, changed, d1 = _reviewed_first_version()
    second = submit_disclosure(
        person,
        entry(person, [row("Medtronic", Nature.CONSULTANT, started=date(2024, 2, 1)), row("Stryker", Nature.SPEAKER)]),
        now=NOW,
    ).disclosure
    assert second.relationships[0].carried_from_id is None
    assert second.relationships[1].carried_from_id == changed.id


@pytest.mark.parametrize("nature", [Nature.EMPLOYEE, Nature.EXECUTIVE, Nature.PRIVATE_STOCK])
def test_owner_or_employee_of_ineligible_company_is_flagged_on_every_assignment(app, nature):
    """ACCME: employment (including an executive or board role) and stock in a privately
    held ineligible company make the person an owner or employee: staff must decide."""
    person = factories.user()
    meeting = factories.meeting()
    assignments = [factories.assignment(person, factories.activity(meeting)) for _ in range(2)]
    submit_disclosure(person, entry(person, [row("Spinal Implants Co", nature)]), now=NOW)
    db.session.flush()
    statuses = factories.stored_states(assignments)
    for a in assignments:
        assert statuses[a.id].state is AssignmentState.AWAITING_OWNER_DECISION
        assert "Owner or employee" in statuses[a.id].reasons[0]


def test_an_owner_decision_holds_per_company_and_a_new_company_needs_its_own(app):
    """Standard 3: the owner/employee decision is made per company, for every role; a
    resubmission keeps it, and a newly disclosed company waits for staff again."""
    staff = factories.admin()
    person = factories.user()
    a = factories.assignment(person, factories.activity(factories.meeting(starts_on=TODAY + timedelta(days=30))))
    submit_disclosure(person, entry(person, [row("Old Devices", Nature.EMPLOYEE)]), now=NOW - timedelta(days=5))
    old = db.session.scalar(sa.select(Company).where(Company.name == "Old Devices"))
    registry.record_owner_decision(staff, person, old, OwnerException.UNRELATED, "Talk is on billing.")
    # Unchanged employee relationship: the decision stands and the role goes to review.
    submit_disclosure(person, entry(person, [row("Old Devices", Nature.EMPLOYEE)]), now=NOW - timedelta(days=2))
    assert registry.owner_decision(person, old).exception is OwnerException.UNRELATED
    assert factories.stored_states([a])[a.id].state is AssignmentState.AWAITING_REVIEW
    # A new one: staff must decide for that company.
    submit_disclosure(
        person, entry(person, [row("Old Devices", Nature.EMPLOYEE), row("New Pharma", Nature.PRIVATE_STOCK)]), now=NOW
    )
    new = db.session.scalar(sa.select(Company).where(Company.name == "New Pharma"))
    assert registry.owner_decision(person, new) is None
    assert registry.owner_decision(person, old).exception is OwnerException.UNRELATED
    assert factories.stored_states([a])[a.id].state is AssignmentState.AWAITING_OWNER_DECISION


def test_none_submission_saves_no_relationships(app):
    person = factories.user()
    d = submit_disclosure(person, entry(person, [row(company="", nature=None, started=None, ongoing=False)], has=False), now=NOW).disclosure
    assert d.has_relationships is False and d.relationships == []
    assert db.session.scalar(sa.select(sa.func.count(Relationship.id))) == 0
