"""Model constraints that protect the record."""

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from disclosures.audit import record
from disclosures.enums import AssignmentRole, Nature
from disclosures.extensions import db
from disclosures.models import (
    AuditEvent,
    AuditLogIsAppendOnly,
    Company,
    User,
    normalise_company_name,
)

from . import factories


def test_assignment_unique_per_person_activity_role(app):
    person = factories.user()
    activity = factories.activity(factories.meeting())
    factories.assignment(person, activity, AssignmentRole.SPEAKER)
    db.session.commit()
    with pytest.raises(IntegrityError):
        factories.assignment(person, activity, AssignmentRole.SPEAKER)
    db.session.rollback()


def test_same_person_may_hold_two_roles_in_one_activity(app):
    person = factories.user()
    activity = factories.activity(factories.meeting())
    factories.assignment(person, activity, AssignmentRole.SPEAKER)
    factories.assignment(person, activity, AssignmentRole.MODERATOR)
    db.session.commit()
    assert len(person.assignments) == 2


def test_email_unique_case_insensitive(app):
    factories.user(email="Ada.Lovelace@Example.org")
    db.session.commit()
    assert db.session.scalar(sa.select(User.email)) == "ada.lovelace@example.org"
    with pytest.raises(IntegrityError):
        factories.user(email="ADA.LOVELACE@example.ORG")
    db.session.rollback()


def test_relationship_end_before_start_refused_by_database(app):
    from datetime import date

    person = factories.user()
    company = factories.company()
    with pytest.raises(IntegrityError):
        factories.disclosure(person, [(company, Nature.CONSULTANT, date(2026, 5, 1), date(2026, 1, 1))])
    db.session.rollback()


def test_enum_values_are_checked_by_the_database(app):
    person = factories.user()
    db.session.commit()
    with pytest.raises(IntegrityError):
        db.session.execute(sa.text("UPDATE user_account SET site_role = 'overlord' WHERE id = :id"),
                           {"id": person.id})
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize(
    "a, b",
    [
        ("Johnson & Johnson", "johnson and johnson"),
        ("Johnson & Johnson", "Johnson and Johnson, Inc."),
        ("Medtronic plc", "MEDTRONIC"),
        ("Zimmer-Biomet", "Zimmer Biomet"),
        ("Nestlé Health Science", "Nestle Health Science"),
    ],
)
def test_company_names_normalise_alike(a, b):
    assert normalise_company_name(a) == normalise_company_name(b)


def test_company_normalised_name_is_unique(app):
    factories.company("Johnson & Johnson")
    db.session.commit()
    with pytest.raises(IntegrityError):
        db.session.add(Company(name="JOHNSON AND JOHNSON"))
        db.session.flush()
    db.session.rollback()


def test_audit_events_cannot_be_changed_or_deleted(app):
    person = factories.user()
    event = record(None, "user.created", person, {"email": person.email}, subject=person)
    db.session.commit()
    event.action = "user.deleted"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEvent, event.id))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id).action == "user.created"


def test_room_token_is_128_bit_22_characters_random_and_reissuable(app):
    m = factories.meeting()
    room = factories.room(m)
    other = factories.room(m)
    first = room.public_token
    assert len(first) == 22 and first != other.public_token  # 16 bytes, URL-safe base64
    room.reissue_token()
    db.session.commit()
    assert room.public_token != first
