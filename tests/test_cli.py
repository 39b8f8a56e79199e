"""Command-line tools."""

import sqlalchemy as sa

from disclosures.enums import AssignmentState, Role
from disclosures.extensions import db
from disclosures.models import Activity, Assignment, Company, Room, User
from disclosures.state import states_for


def test_create_user(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-user", "Boss@Example.org", "--name", "Bea Boss", "--role", "staff",
              "--password", "a long password"]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User))
    assert user.email == "boss@example.org" and user.role is Role.STAFF
    again = runner.invoke(args=["create-user", "boss@example.org", "--name", "X", "--password", "a long password"])
    assert again.exit_code != 0 and "already exists" in again.output


def test_demo_data_is_a_realistic_meeting_in_every_state(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo-data", "--password", "demo password 1"])
    assert result.exit_code == 0, result.output
    for email in ("staff@example.org", "reviewer@example.org", "faculty@example.org"):
        assert email in result.output
    assert db.session.scalar(sa.select(sa.func.count(Room.id))) >= 8
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) >= 40
    faculty = db.session.scalar(sa.select(sa.func.count(User.id)).where(User.role == Role.FACULTY))
    assert faculty >= 80
    assert db.session.scalar(sa.select(sa.func.count(Company.id)).where(Company.is_ineligible)) >= 30
    assert db.session.scalar(sa.select(sa.func.count(Company.id)).where(~Company.is_ineligible)) >= 2
    assignments = db.session.scalars(sa.select(Assignment)).all()
    from datetime import date

    states = {s.state for s in states_for(assignments, date.today()).values()}
    assert states == set(AssignmentState)
    # Loading twice is refused; --if-empty is quiet about it.
    assert runner.invoke(args=["demo-data"]).exit_code != 0
    assert runner.invoke(args=["demo-data", "--if-empty"]).exit_code == 0
