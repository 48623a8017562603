"""Bulk writes per database, inside the caller's transaction.

* PostgreSQL with psycopg 3: ``COPY table (columns) FROM STDIN`` on the connection's own transaction.
* MariaDB / MySQL: batched ``executemany`` (PyMySQL turns it into multi-row ``INSERT ... VALUES``).
* SQLite (WAL mode, see :mod:`handover.target.db`) and anything else: batched ``executemany``.

All rows of one call must have the same keys (the table columns to fill).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    quote = conn.dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
    except conn.dialect.loaded_dbapi.Error as exc:  # same exception type as every other statement
        raise DBAPIError(statement, None, exc) from exc
    return len(rows)


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` into ``table`` the fastest correct way for the database; returns the row count."""
    if not rows:
        return 0
    if uses_copy(conn):
        return copy_rows(conn, table, rows)
    statement = table.insert()
    for start in range(0, len(rows), BATCH_SIZE):
        conn.execute(statement, list(rows[start : start + BATCH_SIZE]))
    return len(rows)


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
