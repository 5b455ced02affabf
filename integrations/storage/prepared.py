"""Core statements compiled once per dialect and run on the unit of work's driver cursor.

`Connection.execute` spends about 50 µs a statement above the driver (the cache key, an
execution context, events, result set-up). The accept runs eight statements and the invite page
two, so on the two most public URLs that machinery was a fifth of the request. Their store
(and the outbox insert they share) compiles each statement once per dialect and runs it here:
the same SQL, bound and read through the column types' own processors (so values convert exactly
as through `execute`), on the unit of work's own connection and transaction. Only the per-call
bookkeeping is skipped. A driver error becomes SQLAlchemy's wrapper of it (an `IntegrityError`
stays an `IntegrityError`), so callers handle errors as before.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import ClauseElement

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class Bind:
    """One parameter of a compiled statement."""

    name: str  # as the caller's parameters name it
    key: str  # as the SQL names it (for named parameter styles)
    process: _Processor  # the column type's bind processor, if it has one
    required: bool  # the caller must give it; else `value`, written in the statement
    value: Any


@dataclass(frozen=True)
class Prepared:
    """One statement, compiled for one dialect."""

    sql: str
    binds: tuple[Bind, ...]  # in positional order for positional parameter styles
    positional: bool
    row: Any  # a namedtuple class for the result columns (None: no rows come back)
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column, its result processor)


def prepare(statement: ClauseElement, dialect: Dialect, keys: Sequence[str] = ()) -> Prepared:
    """Compile `statement` for `dialect`; `keys`: the columns an INSERT's parameters name."""
    _check_defaults(statement, keys)
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys) or None)
    if compiled.post_compile_params or compiled.literal_execute_params:
        # Expanding IN lists and literal-execute values are rendered per call by execute.
        raise ValueError("prepared statements cannot hold expanding or literal-execute parameters")
    if compiled.positional:
        found = [(name, compiled.binds[name]) for name in compiled.positiontup]
    else:
        found = [(name, bind) for bind, name in compiled.bind_names.items()]
    # A name the driver's parameter syntax cannot hold is written escaped in the SQL.
    escaped = dict(getattr(compiled, "escaped_bind_names", None) or {})
    binds = tuple(
        Bind(
            name,
            escaped.get(name, name),
            bind.type._cached_bind_processor(dialect),
            bind.required,
            None if bind.required else bind.effective_value,
        )
        for name, bind in found
    )
    columns = list(getattr(statement, "exported_columns", ()))
    row = namedtuple("Row", [c.key for c in columns], rename=True) if columns else None
    processors = (c.type._cached_result_processor(dialect, None) for c in columns)
    results = tuple((n, p) for n, p in enumerate(processors) if p is not None)
    return Prepared(compiled.string, binds, bool(compiled.positional), row, results)


def _check_defaults(statement: ClauseElement, keys: Sequence[str]) -> None:
    """Python-side column defaults are filled by SQLAlchemy's execution context, which `run`
    skips: an INSERT must give those columns, an UPDATE those with an onupdate."""
    table: Any = getattr(statement, "table", None)
    if table is None or not (statement.is_insert or statement.is_update):  # type: ignore[attr-defined]
        return
    given = set(keys) | {getattr(k, "key", k) for k in getattr(statement, "_values", None) or ()}
    missing = [
        c.key
        for c in table.columns
        if c.key not in given and (c.default if statement.is_insert else c.onupdate) is not None  # type: ignore[attr-defined]
    ]
    if missing:
        raise ValueError(f"prepared statements must give the columns {missing} (Python defaults)")


def run(conn: Connection, prepared: Prepared, params: Mapping[str, Any]) -> list[Any]:
    """Execute on `conn`'s driver connection (inside its transaction); the rows, if any."""
    cursor = _cursor(conn)
    try:
        cursor.execute(prepared.sql, _bound(prepared, params))
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _wrapped(conn, cursor, prepared, params, exc) from exc
    if prepared.row is None:
        return []
    return _rows(prepared, cursor.fetchall())


def _cursor(conn: Connection) -> Any:
    """The driver connection's cursor for these statements, made once per driver connection:
    a new psycopg cursor costs about 17 µs (its adapters and transformer), a sixth of what a
    statement costs the client. Kept in the pool entry's info beside the connection it belongs
    to, so a reconnected entry gets a new one; a cursor holds no transaction of its own."""
    fairy = conn.connection
    driver = fairy.driver_connection
    kept = fairy.info.get(_CURSOR)
    if kept is not None and kept[0] is driver:
        return kept[1]
    cursor = driver.cursor()  # type: ignore[union-attr]
    fairy.info[_CURSOR] = (driver, cursor)
    return cursor


_CURSOR = "meetagain.prepared_cursor"


def _bound(prepared: Prepared, params: Mapping[str, Any]) -> Any:
    values = []
    for bind in prepared.binds:
        if bind.name in params:
            value = params[bind.name]
        elif bind.required:
            raise KeyError(f"the statement needs the parameter {bind.name!r}")
        else:
            value = bind.value
        values.append(bind.process(value) if bind.process else value)
    if prepared.positional:
        return values
    return {b.key: v for b, v in zip(prepared.binds, values, strict=True)}


def _rows(prepared: Prepared, raw: Sequence[Sequence[Any]]) -> list[Any]:
    """The driver's rows as named rows, each column through its type's result processor."""
    make, results = prepared.row._make, prepared.results
    if not results:
        return [make(r) for r in raw]
    rows = []
    for r in raw:
        values = list(r)
        for n, process in results:
            values[n] = process(values[n])
        rows.append(make(values))
    return rows


def _wrapped(
    conn: Connection, cursor: Any, prepared: Prepared, params: Any, exc: Exception
) -> Exception:
    """SQLAlchemy's wrapper of a driver error. When the server is gone, the connection is
    invalidated first, as `execute` would: the pool then never hands it out again."""
    gone = conn.dialect.is_disconnect(exc, conn.connection.driver_connection, cursor)  # type: ignore[arg-type]
    if gone:
        conn.invalidate(exc)
    return DBAPIError.instance(
        prepared.sql, params, exc, conn.dialect.loaded_dbapi.Error, connection_invalidated=gone
    )


# Compiled statements by dialect (name, driver, server version) and statement name. The
# statements are constants with bind parameters, so one compile per process serves every call.
_COMPILED: dict[tuple[Any, ...], Prepared] = {}


def compiled(
    conn: Connection, name: str, build: Callable[[], ClauseElement], keys: Sequence[str] = ()
) -> Prepared:
    """The statement `build()` returns, compiled for `conn`'s dialect once per process;
    `name` is unique in the process ("store.statement")."""
    dialect = conn.dialect
    key = (dialect.name, dialect.driver, dialect.server_version_info, name, tuple(keys))
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = prepare(build(), dialect, keys)
    return found
