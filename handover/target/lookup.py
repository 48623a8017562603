"""Look-up of rows by natural key: the one way every stage finds target, ledger and history rows by key.

A row's natural key is built by :mod:`handover.keys` (``dossier_code``, or ``record_type/record_number``); the
target's rows are found by their unique key (``source_system`` + ``dossier_code``, or ``source_system`` +
``record_type`` + ``record_number``), the ledger's and history's by their ``natural_key`` column. The keys are
sent in as few statements as the database takes (:func:`key_conditions`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Row, String, Text, any_, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY

from handover.keys import key_parts, natural_key
from handover.keys_sql import key_columns
from handover.models import Entity
from handover.target import schema
from handover.target.hashing import table_for

IN_SLICE = 900  # values per IN list where the database takes no array or JSON parameter


def key_conditions(conn: Connection, column: Any, values: Sequence[str]) -> Iterator[Any]:
    """``column IN values`` as few conditions as the database takes (none for no values).

    PostgreSQL: one ``= ANY(array)`` with the array sent as a single text parameter (the server splits it);
    SQLite: one ``IN (SELECT value FROM json_each(:json))`` with the values as one JSON parameter; others: ``IN``
    lists of at most :data:`IN_SLICE` values.
    """
    if not values:
        return
    if conn.dialect.name == "postgresql":
        joined = "\x1f".join(values)
        if joined.count("\x1f") == len(values) - 1:  # one text parameter, split by the server: fast to send
            yield column == any_(
                func.string_to_array(literal(joined, Text), literal("\x1f", Text), type_=ARRAY(String))
            )
        else:
            yield column == any_(literal(list(values), ARRAY(String)))
        return
    if conn.dialect.name == "sqlite":
        listed = func.json_each(literal(json.dumps(list(values), ensure_ascii=False), String)).table_valued(
            "value"
        )
        yield column.in_(select(listed.c.value))
        return
    for start in range(0, len(values), IN_SLICE):
        yield column.in_(values[start : start + IN_SLICE])


def target_rows(
    conn: Connection,
    entity: Entity,
    source_id: str,
    keys: Iterable[str],
    columns: Sequence[Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """The target rows of ``source_id`` with these natural keys: key → row, with ``columns`` and the key
    columns (every column when ``columns`` is None). A record key without ``/`` matches no row."""
    table = table_for(entity)
    names = {c.name for c in columns} if columns is not None else None
    wanted_columns = (
        list(table.columns)
        if columns is None
        else [*columns, *(c for c in key_columns(entity, table) if c.name not in names)]  # type: ignore[operator]
    )
    wanted = set(keys)
    # looked up by the key's last part (the dossier code, the record number), then checked whole
    column = key_columns(entity, table)[-1]
    lookup = sorted({parts[-1] for key in wanted if (parts := key_parts(entity, key)) is not None})
    found: dict[str, dict[str, Any]] = {}
    for part in key_conditions(conn, column, lookup):
        for row in conn.execute(
            select(*wanted_columns).where(table.c.source_system == source_id, part)
        ).mappings():
            record = dict(row)
            key = natural_key(entity, record)
            if key in wanted:
                found[key] = record  # type: ignore[index]
    return found


def ledger_rows(
    conn: Connection,
    columns: Sequence[Any],
    entity: Entity,
    source_id: str,
    keys: Iterable[str],
    *where: Any,
) -> Iterator[Row[Any]]:
    """The ledger rows of ``source_id``'s ``entity`` rows with these natural keys that meet ``where``."""
    lg = schema.ledger.c
    for part in key_conditions(conn, lg.natural_key, sorted(set(keys))):
        yield from conn.execute(
            select(*columns).where(*where, lg.source_id == source_id, lg.entity == entity.value, part)
        )


def history_rows(
    conn: Connection, columns: Sequence[Any], entity: Entity, source_id: str, keys: Iterable[str]
) -> Iterator[Row[Any]]:
    """The ``history`` entries of ``source_id``'s ``entity`` rows with these natural keys, oldest first for
    each key."""
    h = schema.history.c
    for part in key_conditions(conn, h.natural_key, sorted(set(keys))):
        yield from conn.execute(
            select(*columns)
            .where(h.entity == entity.value, h.source_system == source_id, part)
            .order_by(h.id)
        )
