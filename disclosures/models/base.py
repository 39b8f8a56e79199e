"""Column types and helpers shared by every model."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Now, in UTC: what every ``*_at`` column defaults to (``clock.now``)."""
    from ..clock import now

    return now()


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: the same behaviour on SQLite and PostgreSQL."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone first")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def enum_column(enum_cls: type[enum.Enum], name: str, **kwargs) -> sa.Enum:
    """An enum stored as its string value, with a CHECK constraint in every database."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
        **kwargs,
    )


def length_limits(metadata: sa.MetaData) -> list[tuple[str, str, int]]:
    """(table, column, limit) for every bounded text column: ``String(n)`` (not enums) and
    ``Text`` columns declared with ``info={"max_length": n}``."""
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            limit = column.info.get("max_length")
            if limit is None and isinstance(column.type, sa.String) and not isinstance(column.type, sa.Enum):
                limit = column.type.length
            if limit:
                found.append((table.name, column.name, int(limit)))
    return found


def add_length_checks(metadata: sa.MetaData) -> None:
    """A CHECK ``length(column) <= n`` on every bounded text column.

    The forms limit every field; this makes the schema say the same in both databases:
    PostgreSQL enforces ``varchar(n)`` by itself, SQLite enforces no declared length, and
    neither bounds ``Text``. Named ``ck_<table>_<column>_length`` by the naming convention.
    Migration 0002 adds the same constraints to existing databases.
    """
    for table_name, column_name, limit in length_limits(metadata):
        table = metadata.tables[table_name]
        name = f"{column_name}_length"
        if any(getattr(c, "name", None) in (name, f"ck_{table_name}_{name}") for c in table.constraints):
            continue
        table.append_constraint(sa.CheckConstraint(f"length({column_name}) <= {limit}", name=name))


# --------------------------------------------------------------------------- records


class RecordIsAppendOnly(RuntimeError):
    """A record row (a decision, a published statement, a sheet) was about to change."""


class AppendOnly:
    """Mixin: rows of this model are records: inserted, never updated or deleted.

    The ORM refuses here (``_refuse_record_changes``), and the database too (triggers
    created with the table by ``append_only_triggers`` and by the migration that adds
    the table), so neither a code path nor a raw statement can rewrite what was decided
    or published.
    """

    record_error: type[Exception] = RecordIsAppendOnly


@event.listens_for(Session, "before_flush")
def _refuse_record_changes(session: Session, flush_context, instances) -> None:
    for obj in session.dirty:
        if isinstance(obj, AppendOnly) and session.is_modified(obj):
            raise obj.record_error(f"{type(obj).__name__} rows are records: they cannot be changed")
    for obj in session.deleted:
        if isinstance(obj, AppendOnly):
            raise obj.record_error(f"{type(obj).__name__} rows are records: they cannot be deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_record_changes(state) -> None:
    """The same for bulk ``update(Model)`` / ``delete(Model)`` statements."""
    if not (state.is_update or state.is_delete):
        return
    for mapper in getattr(state, "all_mappers", ()) or ():
        if issubclass(mapper.class_, AppendOnly):
            raise mapper.class_.record_error(
                f"{mapper.class_.__name__} rows are records: they cannot be changed or deleted")


RECORD_FUNCTION = {
    "postgresql": "CREATE OR REPLACE FUNCTION record_append_only() RETURNS trigger "
                  "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '% is append-only', "
                  "TG_TABLE_NAME; END $$",
}


def append_only_triggers(table: str) -> dict[str, list[str]]:
    """The statements that make the database refuse UPDATE and DELETE on ``table``."""
    message = f"{table} is append-only"
    return {
        "sqlite": [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
        ],
        "postgresql": [
            RECORD_FUNCTION["postgresql"],
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION record_append_only()",
        ],
    }


def drop_append_only_triggers(table: str) -> dict[str, list[str]]:
    return {
        "sqlite": [f"DROP TRIGGER IF EXISTS {table}_no_update",
                   f"DROP TRIGGER IF EXISTS {table}_no_delete"],
        "postgresql": [f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"],
    }


def in_force(model):
    """The clause "nothing supersedes this row" of an appended record with ``supersedes_id``
    (a decision changed is a new row superseding the old one)."""
    later = sa.orm.aliased(model)
    return ~sa.exists().where(later.supersedes_id == model.id)


def record_tables(metadata_owner) -> list[str]:
    """The tables of every mapped ``AppendOnly`` model under ``metadata_owner`` (db.Model)."""
    return sorted(
        mapper.class_.__tablename__
        for mapper in metadata_owner.registry.mappers
        if issubclass(mapper.class_, AppendOnly)
    )


def make_append_only(model) -> None:
    """Create ``model``'s table with its append-only triggers (``create_all``)."""
    for dialect, statements in append_only_triggers(model.__tablename__).items():
        for statement in statements:
            event.listen(model.__table__, "after_create",
                         sa.DDL(statement.replace("%", "%%")).execute_if(dialect=dialect))
