"""Bulk writes per database, inside the caller's transaction.

* PostgreSQL with psycopg 3: ``COPY table (columns) FROM STDIN`` on the connection's own transaction; the COPY
  text is built column by column (each distinct value formatted once) and written in blocks, or row by row by
  psycopg when a column holds a type that path does not know.
* MariaDB / MySQL: batched ``executemany`` (PyMySQL turns it into multi-row ``INSERT ... VALUES``).
* SQLite (WAL mode, see :mod:`handover.target.db`) and anything else: batched ``executemany``.

All rows of one call must have the same keys (the table columns to fill). :func:`insert_columns` takes the
values column-wise (what the loader builds) and hands the driver plain tuples: no per-row dicts, no SQLAlchemy
statement compilation per batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam
from sqlalchemy.exc import DBAPIError

BATCH_SIZE = 1000


def uses_copy(conn: Connection) -> bool:
    """True when ``conn`` is PostgreSQL through psycopg 3 (COPY available)."""
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


def copy_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """PostgreSQL: COPY ``rows`` into ``table`` within the open transaction of ``conn``."""
    if not rows:
        return 0
    columns = list(rows[0].keys())
    return _copy_columns(conn, table, {c: [r[c] for r in rows] for c in columns})


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` into ``table`` the fastest correct way for the database; returns the row count."""
    if not rows:
        return 0
    columns = list(rows[0].keys())
    return insert_columns(conn, table, {c: [r[c] for r in rows] for c in columns})


def _bound(conn: Connection, table: Table, name: str, values: Sequence[Any]) -> Sequence[Any]:
    """``values`` as the dialect binds them for column ``name`` (e.g. SQLite dates to text)."""
    process = table.c[name].type._cached_bind_processor(conn.dialect)
    if process is None:
        return values
    try:
        memo = {v: process(v) for v in set(values)}
    except TypeError:  # unhashable values
        return [process(v) for v in values]
    return list(map(memo.__getitem__, values))


_COPY_BLOCK = 5000
_COPY_FORMATS: dict[type, Any] = {
    float: repr,
    int: str,
    date: date.isoformat,
    datetime: lambda v: v.isoformat(" "),
}


def _copy_texts(values: Sequence[Any]) -> list[str] | None:
    """Each value as a field of PostgreSQL's COPY text format, or None for types this does not handle."""
    try:
        distinct = set(values)
    except TypeError:  # unhashable
        return None
    kinds = set(map(type, distinct))
    kinds.discard(type(None))
    if len(kinds) > 1:
        return None
    memo: dict[Any, str] = {}
    if kinds:
        kind = kinds.pop()
        strings = [v for v in distinct if v is not None]
        if kind is str:
            joined = "".join(strings)
            if any(c in joined for c in "\\\t\n\r"):
                memo = {
                    v: v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
                    for v in strings
                }
            elif None in distinct:
                return ["\\N" if v is None else v for v in values]
            else:
                return list(values)
        elif kind in _COPY_FORMATS:
            form = _COPY_FORMATS[kind]
            if 0 in distinct:  # 0.0 == -0.0, which PostgreSQL keeps apart
                return ["\\N" if v is None else form(v) for v in values]
            memo = {v: form(v) for v in strings}
        else:
            return None
    memo[None] = "\\N"
    return list(map(memo.__getitem__, values))


def _copy_columns(conn: Connection, table: Table, data: Mapping[str, Sequence[Any]]) -> int:
    """PostgreSQL: one ``COPY table (columns) FROM STDIN`` of rows given column-wise, in the open transaction."""
    columns = list(data)
    n = len(data[columns[0]])
    quote = conn.dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    raw = conn.connection.driver_connection
    assert raw is not None
    texts = [_copy_texts(data[c]) for c in columns]
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            if all(t is not None for t in texts):  # COPY text built column-wise, written in blocks
                lines = list(map("\t".join, zip(*texts, strict=True)))  # type: ignore[arg-type]
                for start in range(0, n, _COPY_BLOCK):
                    copy.write("\n".join(lines[start : start + _COPY_BLOCK]) + "\n")
            else:  # a type the text path does not know: psycopg adapts row by row
                write = copy.write_row
                for row in zip(*(data[c] for c in columns), strict=True):
                    write(row)
    except conn.dialect.loaded_dbapi.Error as exc:  # same exception type as every other statement
        raise DBAPIError(statement, None, exc) from exc
    return n


def insert_columns(conn: Connection, table: Table, data: Mapping[str, Sequence[Any]]) -> int:
    """Insert rows given column-wise (column name → values, all of one length); returns the row count.

    PostgreSQL (psycopg 3): one COPY; other databases: the driver's ``executemany`` with tuples (PyMySQL turns
    it into multi-row ``INSERT ... VALUES``; SQLite gets batches of 20 × :data:`BATCH_SIZE` rows).
    """
    columns = list(data)
    if not columns:
        return 0
    n = len(data[columns[0]])
    if n == 0:
        return 0
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    if uses_copy(conn):
        return _copy_columns(conn, table, data)
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    statement = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join([marker] * len(columns))})"
    rows = list(zip(*(_bound(conn, table, c, data[c]) for c in columns), strict=True))
    step = len(rows) if conn.dialect.name == "mysql" else BATCH_SIZE * 20
    for start in range(0, len(rows), step):
        conn.exec_driver_sql(statement, rows[start : start + step])
    return n


def update_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *, key: str = "id") -> int:
    """UPDATE ``table`` SET the other keys of each row WHERE ``key`` = row[key] (batched executemany)."""
    if not rows:
        return 0
    columns = [c for c in rows[0] if c != key]
    statement = (
        table.update()
        .where(table.c[key] == bindparam("_key"))
        .values({c: bindparam(f"_v_{c}") for c in columns})
    )
    params = [{"_key": r[key], **{f"_v_{c}": r[c] for c in columns}} for r in rows]
    for start in range(0, len(params), BATCH_SIZE):
        conn.execute(statement, params[start : start + BATCH_SIZE])
    return len(rows)
