"""Length checks on every bounded text column, so SQLite enforces them too.

The forms already limit every field. PostgreSQL enforces ``varchar(n)`` by itself;
SQLite ignores a declared length, and no database bounds ``Text``. Each column gets
``CHECK (length(column) <= n)``, named ``ck_<table>_<column>_length``, the same
constraint ``models.base.add_length_checks`` declares for new databases.

On SQLite the tables are rebuilt (batch mode); ``migrations/env.py`` turns foreign
keys off for the rebuild and checks them afterwards. A value already longer than its
limit stops the upgrade with the table and column named, before anything changes.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# (table, column, limit): listed here, not imported, so this migration never changes.
LIMITS = [
    ('company', 'name', 200),
    ('company', 'normalized_name', 200),
    ('company', 'note', 2000),
    ('meeting', 'name', 200),
    ('meeting', 'slug', 80),
    ('meeting', 'location', 200),
    ('meeting', 'timezone', 64),
    ('user_account', 'email', 254),
    ('user_account', 'full_name', 200),
    ('user_account', 'degrees', 100),
    ('user_account', 'institution', 200),
    ('user_account', 'password_hash', 255),
    ('user_account', 'session_nonce', 32),
    ('user_account', 'invitation_token_hash', 64),
    ('audit_event', 'action', 64),
    ('audit_event', 'object_type', 64),
    ('company_alias', 'name', 200),
    ('company_alias', 'normalized_name', 200),
    ('disclosure', 'attestation_name', 200),
    ('disclosure', 'off_label_detail', 2000),
    ('room', 'name', 120),
    ('room', 'public_token', 64),
    ('activity', 'code', 40),
    ('activity', 'title', 300),
    ('relationship', 'detail', 500),
    ('assignment', 'owner_decision_note', 4000),
    ('determination', 'rationale', 2000),
    ('mitigation', 'notes', 2000),
]


def _by_table():
    tables = {}
    for table, column, limit in LIMITS:
        tables.setdefault(table, []).append((column, limit))
    return tables


def upgrade():
    bind = op.get_bind()
    for table, column, limit in LIMITS:
        too_long = bind.execute(
            sa.select(sa.func.count()).select_from(sa.table(table))
            .where(sa.func.length(sa.column(column)) > limit)
        ).scalar()
        if too_long:
            raise RuntimeError(
                f"{too_long} row(s) of {table}.{column} are longer than {limit} characters: "
                "shorten them, then run the upgrade again. Nothing was changed."
            )
    for table, columns in _by_table().items():
        with op.batch_alter_table(table) as batch:
            for column, limit in columns:
                batch.create_check_constraint(op.f(f"ck_{table}_{column}_length"), f"length({column}) <= {limit}")


def downgrade():
    for table, columns in _by_table().items():
        with op.batch_alter_table(table) as batch:
            for column, _limit in columns:
                batch.drop_constraint(op.f(f"ck_{table}_{column}_length"), type_="check")
