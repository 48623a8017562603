"""Bulk writes per database, inside the caller's transaction.

* PostgreSQL with psycopg 3: ``COPY table (columns) FROM STDIN`` on the connection's own transaction; the COPY
  text is built column by column (each distinct value formatted once) and written in blocks, or row by row by
  psycopg when a column holds a type that path does not know.
* MariaDB / MySQL: batched ``executemany`` (PyMySQL turns it into multi-row ``INSERT ... VALUES``).
* SQLite (WAL mode, see :mod:`handover.target.db`) and anything else: batched ``executemany``.

Rows are written in two steps: :func:`encode` turns values given column-wise into rows in the form the database
takes (:class:`Encoded`: COPY text lines, or tuples of bound values), :func:`insert_encoded` writes them. Encoding
needs no connection, only the :class:`Wire` (which database, which driver); :func:`joined` puts the columns the
load adds beside them. :func:`insert_columns` does both steps at once. No per-row dicts, no SQLAlchemy statement
compilation per batch.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

BATCH_SIZE = 1000


def uses_copy(conn: Connection) -> bool:
    """True when ``conn`` is PostgreSQL through psycopg 3 (COPY available)."""
    return Wire.of(conn).copy


@functools.lru_cache(maxsize=8)
def _fresh_dialect(name: str, driver: str) -> Dialect:
    return URL.create(f"{name}+{driver}").get_dialect()()


@dataclasses.dataclass(frozen=True)
class Wire:
    """Which database and driver rows are encoded for (see :func:`encode`)."""

    name: str  # dialect name: postgresql, sqlite, mysql, ...
    driver: str  # psycopg, pysqlite, pymysql, ...
    dialect_object: Any = dataclasses.field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, bind: Connection | Engine) -> Wire:
        """The wire of a connection or an engine (no connection made)."""
        return cls(bind.dialect.name, bind.dialect.driver, bind.dialect)

    @property
    def copy(self) -> bool:
        """PostgreSQL through psycopg 3: rows go in by COPY."""
        return self.name == "postgresql" and self.driver == "psycopg"

    @property
    def dialect(self) -> Dialect:
        return self.dialect_object or _fresh_dialect(self.name, self.driver)


@dataclasses.dataclass
class Encoded:
    """Rows of some columns of a table, in the form the :class:`Wire` takes: COPY text lines without their line
    end (``text``), or tuples (values bound as the dialect binds them; raw values for psycopg's row-by-row
    COPY)."""

    columns: tuple[str, ...]
    rows: list[Any]
    text: bool

    def __len__(self) -> int:
        return len(self.rows)

    def between(self, start: int, stop: int) -> list[Any]:
        return self.rows[start:stop]

    def spread(self, positions: Sequence[int], n: int) -> Encoded:
        """These rows at ``positions`` of ``n`` rows (None at the others)."""
        rows: list[Any] = [None] * n
        for i, row in zip(positions, self.rows, strict=True):
            rows[i] = row
        return Encoded(self.columns, rows, self.text)


@dataclasses.dataclass
class Joined:
    """Row ``positions[k]`` of ``left`` with row ``k`` of ``right`` beside it, for every ``k`` (see
    :func:`joined`); the rows are put together block by block as they are written, never all at once."""

    left: Encoded
    positions: Sequence[int]
    right: Encoded

    @property
    def columns(self) -> tuple[str, ...]:
        return self.left.columns + self.right.columns

    @property
    def text(self) -> bool:
        return self.left.text

    def __len__(self) -> int:
        return len(self.positions)

    def between(self, start: int, stop: int) -> list[Any]:
        rows, picked = self.left.rows, self.positions[start:stop]
        if not self.right.columns:
            return [rows[i] for i in picked]
        beside = self.right.rows[start:stop]
        if self.text:
            return [f"{rows[i]}\t{r}" for i, r in zip(picked, beside, strict=True)]
        return [rows[i] + r for i, r in zip(picked, beside, strict=True)]


class RowsRefused(DBAPIError):
    """The database refused rows written by :func:`insert_encoded`: the driver's error (``orig``), the table,
    the rows, and which of them the database named (``index``, 0-based, when it said: PostgreSQL's COPY names the
    line), else None (:func:`locate_refused` finds it). ``row_of``: set by the caller that knows which source
    row each of ``rows`` is (index → source row)."""

    def __init__(self, cause: DBAPIError, table: Table, rows: Encoded | Joined, index: int | None) -> None:
        super().__init__(cause.statement, None, cause.orig)  # type: ignore[arg-type]
        self.table = table
        self.rows = rows
        self.index = index
        self.row_of: Callable[[int], Any] | None = None


_COPY_LINE = re.compile(r"\bCOPY \S+, line (\d+)(?:, column ([^:\s]+))?")
_MYSQL_COLUMN = re.compile(r"\bcolumn [`']([^`']+)[`']", re.IGNORECASE)
_SQLITE_COLUMN = re.compile(r"constraint failed: \w+\.(\w+)")


def _copy_context(orig: BaseException | None) -> tuple[int | None, str | None]:
    """PostgreSQL: the line of the COPY the server refused (1-based) and the column, when it names them."""
    diag = getattr(orig, "diag", None)
    context = getattr(diag, "context", None) or ""
    found = _COPY_LINE.search(context)
    if found is None:
        return None, getattr(diag, "column_name", None)
    return int(found.group(1)), found.group(2) or getattr(diag, "column_name", None)


def refused_field(exc: BaseException) -> str | None:
    """The column a database refusal names, when the driver says (PostgreSQL's diagnostics, MariaDB's "for
    column 'x'", SQLite's "constraint failed: table.x")."""
    orig = getattr(exc, "orig", None) or exc
    _, column = _copy_context(orig)
    if column:
        return column
    text = str(orig)
    found = _MYSQL_COLUMN.search(text) or _SQLITE_COLUMN.search(text)
    return found.group(1) if found else None


def _may_locate(exc: BaseException) -> bool:
    """Whether the refusal is about content (a constraint, a value), which trying the rows again shows, and not
    about the connection, a lock or a timeout."""
    orig = getattr(exc, "orig", None)
    if orig is None or getattr(exc, "connection_invalidated", False):
        return False
    module = type(orig).__module__.split(".")[0]
    name = {cls.__name__ for cls in type(orig).__mro__}
    if name & {"IntegrityError", "DataError"}:
        return True
    if module == "pymysql" and orig.args and isinstance(orig.args[0], int):
        code = orig.args[0]  # server errors: 1000-1999 and 3000-4999; 1205 lock wait, 1213 deadlock
        return (1000 <= code < 2000 or 3000 <= code < 5000) and code not in (1205, 1213)
    return False


def locate_refused(engine: Engine, refused: RowsRefused) -> tuple[int, BaseException] | None:
    """The row of ``refused.rows`` the database refuses on its own and its error, found by bisection in
    transactions that are always rolled back (nothing is written); None when the rows go in alone (the refusal
    needed the rest of the chunk's transaction), or when the refusal is not about content."""
    if refused.index is not None:
        return refused.index, refused
    if not _may_locate(refused):
        return None
    rows = refused.rows
    every = Encoded(rows.columns, rows.between(0, len(rows)), rows.text)

    def error_of(start: int, stop: int) -> BaseException | None:
        with engine.connect() as conn:
            transaction = conn.begin()
            try:
                insert_encoded(
                    conn, refused.table, Encoded(every.columns, every.rows[start:stop], every.text)
                )
            except SQLAlchemyError as exc:
                return exc
            finally:
                transaction.rollback()
        return None

    try:
        low, high = 0, len(every)
        error = error_of(low, high)
        while error is not None and high - low > 1:
            middle = (low + high) // 2
            first = error_of(low, middle)
            if first is not None:
                high, error = middle, first
            else:
                low, error = middle, error_of(middle, high)
    except SQLAlchemyError:  # the database cannot be asked now: the chunk's own error is the one to show
        return None
    return None if error is None else (low, error)


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` into ``table`` the fastest correct way for the database; returns the row count."""
    if not rows:
        return 0
    columns = list(rows[0].keys())
    return insert_columns(conn, table, {c: [r[c] for r in rows] for c in columns})


def _bound(dialect: Dialect, table: Table, name: str, values: Sequence[Any]) -> Sequence[Any]:
    """``values`` as the dialect binds them for column ``name`` (e.g. SQLite dates to text)."""
    column_type = table.c[name].type
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
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


def _copy_texts(values: Sequence[Any], distinct: set[Any] | None = None) -> Sequence[str] | str | None:
    """Each value as a field of PostgreSQL's COPY text format; one str when every value has the same text (a
    column of NULLs or of one value); None for types this does not handle. Text needing no escape is given back
    as it is (the list itself when it holds no NULL). ``distinct``: ``set(values)``, when the caller has it."""
    try:
        distinct = set(values) if distinct is None else distinct
    except TypeError:  # unhashable
        return None
    if len(distinct) < 2 and distinct != {0}:  # no value, or one (but 0.0 and -0.0: see below)
        return "\\N" if not distinct or None in distinct else _copy_text_of(values[0])
    kinds = set(map(type, distinct))
    kinds.discard(type(None))
    if len(kinds) > 1:
        return None
    kind = kinds.pop()
    if kind is not str and kind not in _COPY_FORMATS:
        return None
    form = _COPY_FORMATS.get(kind, _copy_text)
    if 0 in distinct:  # 0.0 == -0.0, which PostgreSQL keeps apart: value by value
        return ["\\N" if v is None else form(v) for v in values]
    present = [v for v in distinct if v is not None] if None in distinct else list(distinct)
    if kind is str:
        joined = "".join(present)
        if "\\" not in joined and "\t" not in joined and "\n" not in joined and "\r" not in joined:
            return ["\\N" if v is None else v for v in values] if None in distinct else values
        form = _copy_text
    memo: dict[Any, str] = {v: form(v) for v in present}
    memo[None] = "\\N"
    return list(map(memo.__getitem__, values))


def _copy_text_of(value: Any) -> str | None:
    """One value as a COPY field, None for a type :func:`_copy_texts` does not handle."""
    kind = type(value)
    if kind is str:
        return _copy_text(value)
    form = _COPY_FORMATS.get(kind)
    return None if form is None else form(value)


def _copy_text(value: str) -> str:
    """A text as a COPY field (each replacement only where its character is: a search is cheaper than a
    replacement that finds nothing)."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\t" in value:
        value = value.replace("\t", "\\t")
    if "\n" in value:
        value = value.replace("\n", "\\n")
    if "\r" in value:
        value = value.replace("\r", "\\r")
    return value


def encode(
    wire: Wire,
    table: Table,
    data: Mapping[str, Sequence[Any]],
    *,
    text: bool | None = None,
    distinct: Mapping[str, set[Any]] | None = None,
) -> Encoded:
    """Rows given column-wise (column name → values, all of one length) encoded for ``wire``. With COPY, as
    text when every column's values can be (``text=False``: as tuples anyway; ``text=True``: TypeError when
    they cannot), else as tuples. COPY text puts the columns whose values are all alike last, their fields
    joined once for every row (:attr:`Encoded.columns` in that order). ``distinct``: the set of each column's
    values, for the columns the caller has it of."""
    columns = tuple(data)
    if not columns:
        return Encoded((), [], bool(text))
    if wire.copy and text is not False:
        known = distinct or {}
        texts = [_copy_texts(data[c], known.get(c)) for c in columns]
        if all(t is not None for t in texts):
            varying = [k for k, t in enumerate(texts) if not isinstance(t, str)]
            alike = [k for k, t in enumerate(texts) if isinstance(t, str)]
            fields = [texts[k] for k in varying]
            if alike:
                fields.append(itertools.repeat("\t".join(texts[k] for k in alike), len(data[columns[0]])))  # type: ignore[misc]
            rows = list(map("\t".join, zip(*fields, strict=False)))  # type: ignore[arg-type]
            return Encoded(tuple(columns[k] for k in varying + alike), rows, True)
        if text:
            raise TypeError(f"values of {table.name} that COPY text does not take")
    if wire.copy:  # psycopg adapts row by row
        return Encoded(columns, list(zip(*(data[c] for c in columns), strict=True)), False)
    dialect = wire.dialect
    return Encoded(
        columns, list(zip(*(_bound(dialect, table, c, data[c]) for c in columns), strict=True)), False
    )


def joined(left: Encoded, positions: Sequence[int], right: Encoded) -> Joined:
    """Row ``positions[k]`` of ``left`` with row ``k`` of ``right`` beside it (encoded alike), for every ``k``."""
    if left.text != right.text:
        raise ValueError("rows encoded two ways cannot be joined")
    if right.columns and len(right) != len(positions):
        raise ValueError(f"{len(positions)} rows picked, {len(right)} rows to put beside them")
    return Joined(left, positions, right)


def insert_encoded(conn: Connection, table: Table, encoded: Encoded | Joined) -> int:
    """Write rows made by :func:`encode` / :func:`joined` for this connection's wire; returns the row count.

    PostgreSQL (psycopg 3): one COPY (text in blocks, or tuples row by row); other databases: the driver's
    ``executemany`` (PyMySQL turns it into multi-row ``INSERT ... VALUES``; SQLite gets batches of
    20 × :data:`BATCH_SIZE` rows)."""
    n = len(encoded)
    if not encoded.columns or n == 0:
        return 0
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in encoded.columns)
    if uses_copy(conn):
        statement = f"COPY {quote(table.name)} ({names}) FROM STDIN"
        raw = conn.connection.driver_connection
        assert raw is not None
        try:
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                for start in range(0, n, _COPY_BLOCK):
                    block = encoded.between(start, start + _COPY_BLOCK)  # a new list
                    if encoded.text:
                        block.append("")  # the last line's end, without copying the block's text again
                        copy.write("\n".join(block))
                    else:
                        for row in block:
                            copy.write_row(row)
        except conn.dialect.loaded_dbapi.Error as exc:  # same exception type as every other statement
            line, _ = _copy_context(exc)
            index = line - 1 if line is not None and 0 < line <= n else None
            raise RowsRefused(DBAPIError(statement, None, exc), table, encoded, index) from exc
        return n
    if encoded.text:
        raise ValueError(f"COPY text for a {conn.dialect.name} connection")
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join([marker] * len(encoded.columns))})"
    )
    step = n if conn.dialect.name == "mysql" else BATCH_SIZE * 20
    for start in range(0, n, step):
        try:
            conn.exec_driver_sql(statement, encoded.between(start, start + step))
        except DBAPIError as exc:  # which row: locate_refused
            raise RowsRefused(exc, table, encoded, None) from exc
    return n


def insert_columns(conn: Connection, table: Table, data: Mapping[str, Sequence[Any]]) -> int:
    """Insert rows given column-wise (column name → values, all of one length); returns the row count
    (:func:`encode` then :func:`insert_encoded`)."""
    return insert_encoded(conn, table, encode(Wire.of(conn), table, data))


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
