"""The meeting each audit event belongs to, so a meeting's staff read its events only.

``audit_event.meeting_id`` (indexed, no foreign key: the log outlives what it names) is
written with every new event about a meeting or something held in one. Events written
before this revision keep no meeting (the log is append-only: they cannot be updated);
site administrators and auditors read them, and meeting staff read those about people
with a role in their meetings.

Added with ALTER TABLE, not a batch rebuild, so the append-only triggers stay.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("audit_event", sa.Column("meeting_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_audit_event_meeting_id"), "audit_event", ["meeting_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_audit_event_meeting_id"), table_name="audit_event")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite 3.35+ drops a column in place (no rebuild, so the triggers stay).
        op.execute("ALTER TABLE audit_event DROP COLUMN meeting_id")
    else:
        op.drop_column("audit_event", "meeting_id")
