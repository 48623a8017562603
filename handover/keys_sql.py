"""The natural key in SQL: :func:`handover.keys.natural_key` built by the database, and rows joined by key.

The key is the one :mod:`handover.keys` defines (the dossier code, or ``record_type/record_number``; a row lacking
a part, ``NULL`` or empty, has none); here it is a SQLAlchemy expression over a table's key columns, the same on
SQLite, PostgreSQL and MariaDB:

* :func:`natural_key_sql`: a row's key from its columns, ``NULL`` where :func:`~handover.keys.natural_key` gives
  ``None`` (an empty part is told by its length, not by ``= ''``, which MariaDB's PAD SPACE collations make true
  for blanks);
* :func:`key_parts_sql`: the inverse, a stored key (the ``natural_key`` of ``ledger`` and ``history``) split into
  the values of its fields, as :func:`~handover.keys.key_parts` splits it (at the first ``/``);
* :func:`key_matches`: a table's row has this key. Both ways at once: the columns equal the key's parts, so that
  the database finds the row through its unique key (source, type, number), and the row's key equals the key
  (which alone would have it compare the key with every row of the source).

This module imports SQLAlchemy; :mod:`handover.keys` does not.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, and_, case, func, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from handover.keys import KEY_SEPARATOR
from handover.models import Entity, natural_key_fields

_SEPARATOR = "'" + KEY_SEPARATOR + "'"  # as an SQL string literal
_ZERO = literal_column("0", Integer)  # in the SQL text, not a parameter


def key_columns(entity: Entity | str, table: Any) -> list[Any]:
    """The columns of ``table`` (``dossiers``, ``records``, or any table or alias holding the key fields) whose
    values make a row's natural key, in key order."""
    return [table.c[name] for name in natural_key_fields(entity)]


def natural_key_sql(entity: Entity | str, table: Any) -> ColumnElement[str]:
    """A row's natural key from ``table``'s key columns (:func:`key_columns`): :func:`handover.keys.natural_key`
    in SQL, ``NULL`` when a part is ``NULL`` or empty."""
    columns = key_columns(entity, table)
    joined = columns[0]
    for column in columns[1:]:
        joined = joined + literal_column(_SEPARATOR, String) + column  # `||`, or concat() on MariaDB
    present = and_(*(func.length(column) > _ZERO for column in columns))  # NULL → NULL: not present
    return case((present, joined), else_=None)


class _KeyHead(FunctionElement[str]):
    """A record's key up to its first ``/``: the record type."""

    type = String()
    name = "key_head"
    inherit_cache = True


class _KeyTail(FunctionElement[str]):
    """A record's key after its first ``/``: the record number."""

    type = String()
    name = "key_tail"
    inherit_cache = True


@compiles(_KeyHead)
@compiles(_KeyTail)
def _key_part(element: _KeyHead | _KeyTail, compiler: Any, **kw: Any) -> str:  # SQLite, MySQL / MariaDB
    key = compiler.process(element.clauses, **kw)
    if isinstance(element, _KeyHead):
        return f"substr({key}, 1, instr({key}, {_SEPARATOR}) - 1)"
    return f"substr({key}, instr({key}, {_SEPARATOR}) + 1)"


@compiles(_KeyHead, "postgresql")
@compiles(_KeyTail, "postgresql")
def _key_part_pg(element: _KeyHead | _KeyTail, compiler: Any, **kw: Any) -> str:
    key = compiler.process(element.clauses, **kw)
    if isinstance(element, _KeyHead):
        return f"split_part({key}, {_SEPARATOR}, 1)"
    return f"substr({key}, strpos({key}, {_SEPARATOR}) + 1)"


def key_parts_sql(entity: Entity | str, key: Any) -> list[ColumnElement[str]]:
    """The values of the key fields a stored key (an SQL expression: a column, a bound parameter) is made of,
    in key order: the key itself for a dossier, the parts before and after its first ``/`` for a record. For a
    record key without ``/`` they are not the record's (:func:`key_matches` checks the whole key)."""
    if len(natural_key_fields(entity)) == 1:
        return [key]
    return [_KeyHead(key), _KeyTail(key)]


def key_matches(entity: Entity | str, table: Any, key: Any) -> ColumnElement[bool]:
    """``table``'s row has the natural key ``key`` (an SQL expression: the ledger's ``natural_key`` column, a
    bound parameter): its key columns equal the key's parts (:func:`key_parts_sql`, what finds it through the
    unique key) and its :func:`natural_key_sql` equals the key."""
    columns = key_columns(entity, table)
    parts = key_parts_sql(entity, key)
    return and_(
        *(column == part for column, part in zip(columns, parts, strict=True)),
        natural_key_sql(entity, table) == key,
    )
