"""Column types and helpers shared by every model."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


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
