"""Roles held for the whole meeting (ACCME Standard 3: everyone in control of content).

- ``assignment.meeting_id`` (NOT NULL, indexed): the meeting of every role, backfilled
  from the role's activity; ``assignment.activity_id`` becomes nullable.
- ``assignment.role`` gains ``planning_committee``, ``course_director``, ``coi_reviewer``,
  ``content_reviewer``, ``content_staff`` (held for the whole meeting); a CHECK keeps
  those without an activity and every other role with one; a person holds each
  meeting-level role once per meeting (partial unique index).
- ``mitigation.method`` gains ``peer_review_planning`` (peer review of planning
  decisions, Standard 3's planner mitigation).

Downgrade deletes meeting-level roles (and their decisions): the old schema cannot hold
them.

Revision ID: 0020a
Revises: 0016p
"""
import sqlalchemy as sa
from alembic import op

revision = "0020a"
down_revision = "0020c"
branch_labels = None
depends_on = None

OLD_ROLES = ("speaker", "moderator", "panelist", "planner", "author", "other")
MEETING_ROLES = ("planning_committee", "course_director", "coi_reviewer", "content_reviewer",
                 "content_staff")
OLD_METHODS = ("peer_review", "attest_evidence", "divest", "alter_role", "recuse", "other")
NEW_METHODS = OLD_METHODS[:1] + ("peer_review_planning",) + OLD_METHODS[1:]
MEETING_ROLE_CHECK = ("(activity_id IS NULL) = (role IN ("
                      + ", ".join(f"'{r}'" for r in MEETING_ROLES) + "))")


def _in(values):
    return ", ".join(f"'{v}'" for v in values)


def _mitigation_triggers(dialect, create):
    """The append-only triggers on ``mitigation`` (0007): SQLite's batch mode recreates the
    table, which drops them, so they are dropped first and created again after."""
    if dialect == "sqlite":
        if not create:
            return ["DROP TRIGGER IF EXISTS mitigation_no_update",
                    "DROP TRIGGER IF EXISTS mitigation_no_delete"]
        return [f"CREATE TRIGGER mitigation_no_{what} BEFORE {what.upper()} ON mitigation "
                "BEGIN SELECT RAISE(ABORT, 'mitigation is append-only'); END"
                for what in ("update", "delete")]
    return []  # PostgreSQL alters the constraint in place; its trigger stays


def _method_check(values):
    dialect = op.get_bind().dialect.name
    for statement in _mitigation_triggers(dialect, create=False):
        op.execute(statement)
    with op.batch_alter_table("mitigation") as batch:
        batch.drop_constraint(op.f("ck_mitigation_mitigation_method"), type_="check")
        batch.create_check_constraint(op.f("ck_mitigation_mitigation_method"),
                                      f"method IN ({_in(values)})")
    for statement in _mitigation_triggers(dialect, create=True):
        op.execute(statement)


def upgrade():
    with op.batch_alter_table("assignment") as batch:
        batch.add_column(sa.Column("meeting_id", sa.Integer(), nullable=True))
    op.execute("UPDATE assignment SET meeting_id = "
               "(SELECT activity.meeting_id FROM activity WHERE activity.id = assignment.activity_id)")
    with op.batch_alter_table("assignment") as batch:
        batch.alter_column("meeting_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(op.f("fk_assignment_meeting_id_meeting"), "meeting",
                                 ["meeting_id"], ["id"])
        batch.create_index(op.f("ix_assignment_meeting_id"), ["meeting_id"])
        batch.alter_column("activity_id", existing_type=sa.Integer(), nullable=True)
        batch.drop_constraint(op.f("ck_assignment_assignment_role"), type_="check")
        batch.create_check_constraint(op.f("ck_assignment_assignment_role"),
                                      f"role IN ({_in(OLD_ROLES + MEETING_ROLES)})")
        batch.create_check_constraint(op.f("ck_assignment_meeting_role_has_no_activity"),
                                      MEETING_ROLE_CHECK)
    op.create_index("uq_assignment_meeting_role", "assignment", ["user_id", "meeting_id", "role"],
                    unique=True, sqlite_where=sa.text("activity_id IS NULL"),
                    postgresql_where=sa.text("activity_id IS NULL"))
    _method_check(NEW_METHODS)


def _lift_triggers(tables, dialect, lift):
    """The append-only triggers (0007) are lifted for the downgrade's one purge, then put back."""
    for table in tables:
        if dialect == "sqlite":
            for what in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{what}" if lift else
                           f"CREATE TRIGGER {table}_no_{what} BEFORE {what.upper()} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
        else:
            op.execute(f"ALTER TABLE {table} {'DISABLE' if lift else 'ENABLE'} "
                       f"TRIGGER {table}_append_only")


def downgrade():
    dialect = op.get_bind().dialect.name
    # Meeting-level roles cannot exist in the old schema: they go, with their decisions and
    # statements; a planning-decision peer review becomes a peer review.
    held = ("determination", "mitigation", "statement")
    meeting_roles = "SELECT id FROM assignment WHERE activity_id IS NULL"
    _lift_triggers(held, dialect, lift=True)
    op.execute("DELETE FROM mitigation WHERE determination_id IN (SELECT id FROM determination "
               f"WHERE assignment_id IN ({meeting_roles}))")
    op.execute(f"DELETE FROM determination WHERE assignment_id IN ({meeting_roles})")
    op.execute("UPDATE assignment SET statement_id = NULL WHERE activity_id IS NULL")
    op.execute(f"DELETE FROM statement WHERE assignment_id IN ({meeting_roles})")
    op.execute("DELETE FROM assignment WHERE activity_id IS NULL")
    op.execute("UPDATE mitigation SET method = 'peer_review' WHERE method = 'peer_review_planning'")
    _lift_triggers(held, dialect, lift=False)
    _method_check(OLD_METHODS)
    op.drop_index("uq_assignment_meeting_role", table_name="assignment")
    with op.batch_alter_table("assignment") as batch:
        batch.drop_constraint(op.f("ck_assignment_meeting_role_has_no_activity"), type_="check")
        batch.drop_constraint(op.f("ck_assignment_assignment_role"), type_="check")
        batch.create_check_constraint(op.f("ck_assignment_assignment_role"),
                                      f"role IN ({_in(OLD_ROLES)})")
        batch.alter_column("activity_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_index(op.f("ix_assignment_meeting_id"))
        batch.drop_constraint(op.f("fk_assignment_meeting_id_meeting"), type_="foreignkey")
        batch.drop_column("meeting_id")
