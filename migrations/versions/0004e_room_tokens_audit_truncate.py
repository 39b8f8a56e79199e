"""Replaced room codes are remembered; invitation links can be rebuilt; no TRUNCATE of the log.

- ``room_token_retired``: the SHA-256 of each room code that was replaced, with its room
  and when. The old printed sign's page then names the meeting and links to its
  all-faculty disclosures instead of a bare 404. Codes replaced before this revision were
  not kept: their signs keep the generic 404.
- ``user_account.invitation_nonce``: an invitation's link is derived from the secret key,
  the account id and this nonce, so staff can show it again and a reminder carries the
  same link. Invitations made before this revision have no nonce: their links keep
  working until they expire, but cannot be shown again; the next reminder gives those
  people a new link.
- PostgreSQL: ``TRUNCATE audit_event`` is refused too (a statement-level BEFORE TRUNCATE
  trigger, using 0003's function; TRUNCATE skips row triggers). SQLite has no TRUNCATE.

The statements are written out here so this migration never changes.

Revision ID: 0004e
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004e"
down_revision = "0004d"
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

    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("invitation_nonce", sa.String(length=32), nullable=True))
        batch.create_check_constraint(op.f("ck_user_account_invitation_nonce_length"),
                                      "length(invitation_nonce) <= 32")

    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_TRUNCATE_TRIGGER)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_TRUNCATE_TRIGGER)

    with op.batch_alter_table("user_account") as batch:
        batch.drop_constraint(op.f("ck_user_account_invitation_nonce_length"), type_="check")
        batch.drop_column("invitation_nonce")

    with op.batch_alter_table("room_token_retired") as batch:
        batch.drop_index(batch.f("ix_room_token_retired_room_id"))
    op.drop_table("room_token_retired")
