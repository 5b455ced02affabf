"""Column types that keep the domain's invariants in the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from integrations.storage.dbapi import sqlite_time


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always hands back aware UTC datetimes.

    SQLite has no zone-aware type, so without this a round trip would return naive values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"refusing to store naive datetime {value.isoformat()}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # SQLite stores naive UTC text; `sqlite_time` writes exactly SQLAlchemy's format in
        # one C call instead of a Python formatting step per value (every time column of
        # every statement goes through here).
        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError(f"refusing to store naive datetime {value.isoformat()}")
            return sqlite_time(value)

        return process

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            if isinstance(value, str):
                try:
                    # Naive UTC text, as stored: parsed with its zone in one C call
                    # (datetime.replace costs five times the parse).
                    return datetime.fromisoformat(value + "+00:00")
                except ValueError:
                    found = datetime.fromisoformat(value)  # text that carries its own offset
            else:
                found = value
            return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
