"""The accredited provider of each meeting, and the programme columns staff mapped.

- ``meeting.provider_name``, ``meeting.joint_provider_name``: the accredited provider
  (and joint provider, if any) printed on the sheets (ACCME Standard 3 disclosure to
  learners names who provides the activity).
- ``meeting.disclosure_policy_url``: the provider's disclosure policy (https only).
- ``meeting.import_column_map``: which column of a scheduler's export staff chose for
  each required programme column (JSON ``{"activity code": "<header key>", ...}``), so
  the next file from the same tool imports without asking again.

All nullable: existing meetings keep working unchanged.

Revision ID: 0016p
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

revision = "0016p"
down_revision = "0019"
branch_labels = None
depends_on = None

TEXT_COLUMNS = (("provider_name", 200), ("joint_provider_name", 200),
                ("disclosure_policy_url", 500))


def upgrade():
    with op.batch_alter_table("meeting") as batch:
        for name, length in TEXT_COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length=length), nullable=True))
            batch.create_check_constraint(op.f(f"ck_meeting_{name}_length"),
                                          f"length({name}) <= {length}")
        batch.add_column(sa.Column("import_column_map", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("meeting") as batch:
        batch.drop_column("import_column_map")
        for name, _length in reversed(TEXT_COLUMNS):
            batch.drop_constraint(op.f(f"ck_meeting_{name}_length"), type_="check")
            batch.drop_column(name)
