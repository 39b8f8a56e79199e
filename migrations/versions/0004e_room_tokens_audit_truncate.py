"""Replaced room codes are remembered; no TRUNCATE of the audit log.

- ``room_token_retired``: the SHA-256 of each room code that was replaced, with its room
  and when. The old printed sign's page then names the meeting and links to its
  all-faculty disclosures instead of a bare 404. Codes replaced before this revision were
  not kept: their signs keep the generic 404.
- PostgreSQL: ``TRUNCATE audit_event`` is refused too (a statement-level BEFORE TRUNCATE
  trigger, using 0003's function; TRUNCATE skips row triggers). SQLite has no TRUNCATE.

The statements are written out here so this migration never changes.

Revision ID: 0004e
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004e"
down_revision = "0003"
branch_labels = None
depends_on = None

CREATE_TRUNCATE_TRIGGER = (
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()"
)
DROP_TRUNCATE_TRIGGER = "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event"


def upgrade():
    op.create_table(
        "room_token_retired",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("length(token_hash) <= 64",
                           name=op.f("ck_room_token_retired_token_hash_length")),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"],
                                name=op.f("fk_room_token_retired_room_id_room")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_token_retired")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_room_token_retired_token_hash")),
    )
    with op.batch_alter_table("room_token_retired") as batch:
        batch.create_index(batch.f("ix_room_token_retired_room_id"), ["room_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_TRUNCATE_TRIGGER)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_TRUNCATE_TRIGGER)

    with op.batch_alter_table("room_token_retired") as batch:
        batch.drop_index(batch.f("ix_room_token_retired_room_id"))
    op.drop_table("room_token_retired")
