"""Stock asked in plain words, "not an owner or employee", excluded roles left off public
documents, and the day each mitigation was put in place (issue 16).

- ``relationship.nature`` gains ``private_stock`` ("Stock in a privately held company, or
  founder or owner": makes the person an owner) and ``public_stock`` ("Stock in a publicly
  traded company, or stock options": an ordinary relationship). Existing ``ownership`` rows
  cannot be classified after the fact: they keep their value, read "Ownership interest",
  are still treated as ownership (staff decide), and the form no longer offers it.
- ``owner_decision.exception`` gains ``not_owner`` (staff found the person is not an owner
  or employee: the relationship is judged for relevance like any other).
- ``statement.kind`` gains ``excluded`` (an excluded role's statement: not presented).
- ``mitigation.in_place_on`` (date, nullable): the day the mitigation was put in place, as
  the reviewer says. Existing rows get none and count from when they were recorded.

Stored states are not judged here: ``executive`` now makes an owner or employee, so run
``flask --app wsgi refresh-record`` after upgrading a database with data.

SQLite rebuilds a table to change a CHECK constraint, which drops its append-only
triggers: they are created again. Downgrade maps the new values to the nearest old ones
(both stock natures to ``ownership``, ``not_owner`` to ``none``, an ``excluded``
statement to ``review``) and drops the column.

Revision ID: 0020b
Revises: 0016p
"""
import sqlalchemy as sa
from alembic import op

revision = "0020b"
down_revision = "0016p"
branch_labels = None
depends_on = None

NATURES_OLD = ("employee", "researcher", "consultant", "advisor", "speaker", "contractor",
               "royalties", "executive", "ownership", "other")
NATURES_NEW = ("employee", "executive", "private_stock", "public_stock", "researcher",
               "consultant", "advisor", "speaker", "contractor", "royalties", "ownership",
               "other")
EXCEPTIONS_OLD = ("unrelated", "basic_science", "device_training", "none")
EXCEPTIONS_NEW = (*EXCEPTIONS_OLD, "not_owner")
KINDS_OLD = ("relevant", "none", "review", "awaiting")
KINDS_NEW = (*KINDS_OLD, "excluded")

# (table, column, constraint, old values, new values): each enum's CHECK constraint
CHECKS = (
    ("relationship", "nature", "nature", NATURES_OLD, NATURES_NEW),
    ("owner_decision", "exception", "owner_exception", EXCEPTIONS_OLD, EXCEPTIONS_NEW),
    ("statement", "kind", "statement_kind", KINDS_OLD, KINDS_NEW),
)
APPEND_ONLY = ("owner_decision", "statement")


def _in(column, values):
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _triggers(table, dialect):
    message = f"{table} is append-only"
    if dialect == "sqlite":
        return [f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"]
    return [f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION record_append_only()"]


def _drop_triggers(table, dialect):
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_update", f"DROP TRIGGER IF EXISTS {table}_no_delete"]
    return [f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"]


def _recheck(which: int, dialect: str) -> None:
    """Every CHECK constraint of ``CHECKS`` made to allow values ``which`` (3: old, 4: new)."""
    for table, column, name, *values in CHECKS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")
            batch.create_check_constraint(op.f(f"ck_{table}_{name}"), _in(column, values[which - 3]))


def upgrade():
    dialect = op.get_bind().dialect.name
    # Nullable: SQLite adds it in place (the table keeps its triggers).
    op.add_column("mitigation", sa.Column("in_place_on", sa.Date(), nullable=True))
    _recheck(4, dialect)
    if dialect == "sqlite":  # the rebuilt tables lost their triggers
        for table in APPEND_ONLY:
            for statement in _triggers(table, dialect):
                op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        for statement in _drop_triggers(table, dialect):
            op.execute(statement)
    op.execute("UPDATE relationship SET nature = 'ownership' "
               "WHERE nature IN ('private_stock', 'public_stock')")
    op.execute("UPDATE owner_decision SET exception = 'none' WHERE exception = 'not_owner'")
    if dialect == "sqlite":
        op.execute("UPDATE statement SET kind = 'review', data = json_set(data, '$.kind', 'review') "
                   "WHERE kind = 'excluded'")
    else:
        op.execute("UPDATE statement SET kind = 'review', "
                   "data = jsonb_set(data::jsonb, '{kind}', '\"review\"')::json WHERE kind = 'excluded'")
    _recheck(3, dialect)
    for table in APPEND_ONLY:
        for statement in _triggers(table, dialect):
            op.execute(statement)
    if dialect == "sqlite":  # SQLite 3.35+ drops a column in place (the triggers stay)
        op.execute("ALTER TABLE mitigation DROP COLUMN in_place_on")
    else:
        op.drop_column("mitigation", "in_place_on")
