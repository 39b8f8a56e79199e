"""Command-line tools."""

import sqlalchemy as sa

from disclosures.enums import AssignmentState, MeetingRole, SiteRole
from disclosures.extensions import db
from disclosures.models import Activity, Assignment, Company, Membership, Room, User

from . import factories


def test_create_user(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-user", "Boss@Example.org", "--name", "Bea Boss", "--site-role", "admin",
              "--password", "a long password"]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User))
    assert user.email == "boss@example.org" and user.site_role is SiteRole.ADMIN
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
    faculty = db.session.scalar(sa.select(sa.func.count(sa.distinct(Assignment.user_id))))
    assert faculty >= 80
    # The demo's staff and reviewers hold their roles in the demo meeting.
    roles = dict(db.session.execute(
        sa.select(User.email, Membership.role).join(Membership, Membership.user_id == User.id)
        .where(User.email.in_(["staff@example.org", "reviewer@example.org"]))).all())
    assert roles == {"staff@example.org": MeetingRole.STAFF,
                     "reviewer@example.org": MeetingRole.REVIEWER}
    assert db.session.scalar(sa.select(sa.func.count(Company.id)).where(Company.is_ineligible)) >= 30
    assert db.session.scalar(sa.select(sa.func.count(Company.id)).where(~Company.is_ineligible)) >= 2
    assignments = db.session.scalars(sa.select(Assignment)).all()
    states = {s.state for s in factories.stored_states(assignments).values()}
    assert states == set(AssignmentState)
    # Loading twice is refused; --if-empty is quiet about it.
    assert runner.invoke(args=["demo-data"]).exit_code != 0
    assert runner.invoke(args=["demo-data", "--if-empty"]).exit_code == 0


def test_grant_role_gives_a_role_in_a_meeting_and_audits_it(app):
    from disclosures.models import AuditEvent, Meeting


    person = factories.user(email="rita@example.org")
    meeting = factories.meeting(slug="spine-2027")
    factories.meeting(slug="hand-2027")
    db.session.commit()
    runner = app.test_cli_runner()
    ambiguous = runner.invoke(args=["grant-role", "rita@example.org", "reviewer"])
    assert ambiguous.exit_code != 0 and "--meeting" in ambiguous.output
    result = runner.invoke(args=["grant-role", "Rita@Example.org", "reviewer", "--meeting", "spine-2027"])
    assert result.exit_code == 0, result.output
    assert "reviewer of spine-2027" in result.output
    roles = db.session.execute(sa.select(Membership.meeting_id, Membership.role)
                               .where(Membership.user_id == person.id)).all()
    assert roles == [(meeting.id, MeetingRole.REVIEWER)]
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))
                             .where(AuditEvent.action == "membership.granted")) == 1
    again = runner.invoke(args=["grant-role", "rita@example.org", "reviewer", "--meeting", "spine-2027"])
    assert again.exit_code != 0 and "already reviewer" in again.output
    assert db.session.get(Meeting, meeting.id) is not None
