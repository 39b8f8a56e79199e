"""The database itself refuses UPDATE and DELETE on audit_event.

The ORM already refuses both (``models.audit``); a trigger makes raw statements fail
too. SQLite: two BEFORE triggers that RAISE(ABORT); PostgreSQL: one plpgsql trigger
function. The statements are written out here so this migration never changes.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MESSAGE = "audit_event is append-only"
CREATE = {
    "sqlite": [
        "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
        "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$",
        "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
    ],
}
DROP = {
    "sqlite": ["DROP TRIGGER IF EXISTS audit_event_no_update",
               "DROP TRIGGER IF EXISTS audit_event_no_delete"],
    "postgresql": ["DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
                   "DROP FUNCTION IF EXISTS audit_event_append_only()"],
}


def upgrade():
    for statement in CREATE.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade():
    for statement in DROP.get(op.get_bind().dialect.name, []):
        op.execute(statement)
