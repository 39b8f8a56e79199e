"""A determination holds each mitigation once: ``mitigation.notes_key`` and a unique
constraint on (determination_id, method, notes_key).

``notes_key`` is the SHA-256 (hex) of the notes with spacing and case ignored, the
value ``models.review.mitigation_notes_key`` computes for new rows. The same form sent
twice, or two reviewers recording the same mitigation at the same moment, then store
one row.

Existing rows are part of the accreditor's record and are all kept: a row that repeats
an earlier one of the same determination (same method and notes, recorded before this
constraint existed) gets the key ``legacy-<id>`` instead, so the constraint can be
created without deleting it. Downgrade drops the constraint, its length check and the
column; no row is lost either way.

Revision ID: 0004d
Revises: 0003
"""
import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0004d"
down_revision = "0004a"
branch_labels = None
depends_on = None


def _notes_key(notes):
    # Written out here, not imported, so this migration never changes.
    text = " ".join((notes or "").split()).casefold()
    return hashlib.sha256(text.encode()).hexdigest()


def upgrade():
    with op.batch_alter_table("mitigation") as batch:
        batch.add_column(sa.Column("notes_key", sa.String(length=64), nullable=True))

    bind = op.get_bind()
    mitigation = sa.table(
        "mitigation",
        sa.column("id", sa.Integer),
        sa.column("determination_id", sa.Integer),
        sa.column("method", sa.String),
        sa.column("notes", sa.Text),
        sa.column("notes_key", sa.String),
    )
    rows = bind.execute(
        sa.select(mitigation.c.id, mitigation.c.determination_id, mitigation.c.method,
                  mitigation.c.notes).order_by(mitigation.c.id)
    ).all()
    seen = set()
    keys = []
    for row in rows:
        key = _notes_key(row.notes)
        same = (row.determination_id, row.method, key)
        if same in seen:
            key = f"legacy-{row.id}"
        else:
            seen.add(same)
        keys.append({"row_id": row.id, "key": key})
    if keys:
        bind.execute(
            mitigation.update()
            .where(mitigation.c.id == sa.bindparam("row_id"))
            .values(notes_key=sa.bindparam("key")),
            keys,
        )

    with op.batch_alter_table("mitigation") as batch:
        batch.alter_column("notes_key", existing_type=sa.String(length=64), nullable=False)
        batch.create_check_constraint(op.f("ck_mitigation_notes_key_length"), "length(notes_key) <= 64")
        batch.create_unique_constraint(
            op.f("uq_mitigation_determination_id_method_notes_key"),
            ["determination_id", "method", "notes_key"],
        )


def downgrade():
    with op.batch_alter_table("mitigation") as batch:
        batch.drop_constraint(op.f("uq_mitigation_determination_id_method_notes_key"), type_="unique")
        batch.drop_constraint(op.f("ck_mitigation_notes_key_length"), type_="check")
        batch.drop_column("notes_key")
