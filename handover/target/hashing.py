"""Content hashes of loaded rows and the fingerprint of a batch's loaded set: how an auditor recomputes them.

**Content hash of a row** (column ``content_hash`` of ``dossiers`` / ``records``, and of the ledger):

1. Take the row's *content columns*: every column of its table except the technical ones ``id``, ``batch_id``,
   ``updated_batch_id``, ``loaded_at`` and ``content_hash``. Sort them by column name.
2. Turn each value into text: NULL (and the empty string) → ``""``; in a date-time column
   (:data:`DATETIME_COLUMNS`: ``received_at``, ``due_at``, ``returned_at``, local wall time) → ``YYYY-MM-DD
   HH:MM:SS``; any other date or date-time → its date as ``YYYY-MM-DD``; a number → ``format(float(value),
   ".15g")`` (so ``150000.0`` and ``150000`` both give ``150000``, ``0.1`` gives ``0.1``); any other value → its
   text in Unicode NFC.
3. Leave out the pairs of the *optional columns* (:data:`OPTIONAL_COLUMNS`, columns the tables gained after rows
   had been loaded: ``amount_paid``, ``payment_date``, ``payment_channel``, ``receipt_number``, ``received_at``,
   ``due_at``, ``returned_at`` of ``dossiers``) whose text is ``""``: a row that leaves them NULL, as every row
   loaded before they existed does, keeps the hash it had.
4. Serialise the list of ``[column, text]`` pairs as compact JSON (``json.dumps(pairs, ensure_ascii=False,
   separators=(",", ":"))``), encode it as UTF-8 and take its SHA-256, written as 64 lower-case hex digits.

The hash therefore depends only on what is stored, and comes out the same from a row read back from SQLite,
PostgreSQL or MariaDB.

**Fingerprint of a batch's loaded set** (``batches.fingerprint``): for every ledger row of the batch whose
disposition is ``loaded``, the line ``entity|source_system|natural_key|content_hash`` followed by a newline
(``entity`` is ``dossier`` or ``record``; ``source_system`` is the source id; ``natural_key`` is the dossier code,
or ``record_type/record_number``; ``content_hash`` as above, of the row the source delivered). Sort the lines
(by their UTF-8 bytes), concatenate them, and take the SHA-256 of the UTF-8 bytes, in hex. The same rows give the
same fingerprint whatever the order, chunking or number of runs that loaded them.

SQL to list the lines: ``SELECT entity, source_id, natural_key, content_hash FROM ledger WHERE batch_id = :id
AND disposition = 'loaded'``. Those are the hashes the ledger stored; recomputed from the target rows themselves
(what ``handover db verify`` does, and :data:`RECOMPUTE_SCRIPT` for a SQLite target with nothing but Python),
each line takes the content hash of the row now stored under its key, except where the row no longer holds this
batch's version by design (action ``conflict_kept``, or ``updated_batch_id`` names a later batch): there the
ledger's hash stands. A deleted row gives an empty hash.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from itertools import repeat
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, String, bindparam, select

from handover.keys_sql import key_matches, natural_key_sql
from handover.models import Entity
from handover.target import schema
from handover.target.values import pick

# = json.dumps(..., ensure_ascii=False, separators=(",", ":")), built once.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_hexdigest = type(hashlib.sha256()).hexdigest
_escape = json.encoder.encode_basestring  # one JSON string, as _encode writes it (ensure_ascii=False)

TECHNICAL_COLUMNS: frozenset[str] = frozenset(
    {"id", "batch_id", "updated_batch_id", "loaded_at", "content_hash"}
)
# Content columns added by later schema versions (0005: payment, 0006: times of day): hashed only when they hold a
# value (step 3 above), so that the rows loaded before them, and rows that leave them empty, keep their hashes.
OPTIONAL_COLUMNS: frozenset[str] = frozenset(
    {
        "amount_paid",
        "payment_date",
        "payment_channel",
        "receipt_number",
        "received_at",
        "due_at",
        "returned_at",
    }
)
# Content columns of type DateTime: their text keeps the time of day (step 2 above).
DATETIME_COLUMNS: frozenset[str] = frozenset(
    c.name
    for table in (schema.dossiers, schema.records)
    for c in table.columns
    if isinstance(c.type, DateTime) and c.name not in TECHNICAL_COLUMNS
)


def _set_literal(names: frozenset[str]) -> str:
    """Python source of a set of names, sorted: ``{"a", "b"}`` (``set()`` when empty)."""
    return "{" + ", ".join(json.dumps(n) for n in sorted(names)) + "}" if names else "set()"


_RECOMPUTE_TEMPLATE = r"""# recompute.py: python3 recompute.py target.db BATCH_ID   (Python standard library only)
# Recomputes every content hash from the rows stored in dossiers/records, checks both ways against the ledger,
# prints each problem, then the loaded-set fingerprint; exits 1 when a row differs.
import hashlib, json, sqlite3, sys, unicodedata

db, batch = sys.argv[1], sys.argv[2]
con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
con.row_factory = sqlite3.Row
TECHNICAL = {"id", "batch_id", "updated_batch_id", "loaded_at", "content_hash"}
OPTIONAL = @OPTIONAL@  # hashed only when they hold a value
TIMES = @TIMES@  # date-times: YYYY-MM-DD HH:MM:SS


def text(name, value):
    if value is None:
        return ""
    if name in TIMES:
        return str(value).replace("T", " ")[:19]
    if isinstance(value, (int, float)):
        return format(float(value), ".15g")
    return unicodedata.normalize("NFC", str(value))


def row_hash(row):
    pairs = sorted([name, text(name, row[name])] for name in row.keys() if name not in TECHNICAL)
    pairs = [pair for pair in pairs if pair[1] or pair[0] not in OPTIONAL]
    return hashlib.sha256(json.dumps(pairs, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


lines, problems = [], 0
ledger = con.execute(
    "SELECT entity, source_id, natural_key, action, content_hash FROM ledger"
    " WHERE batch_id = ? AND disposition = 'loaded'", (batch,)).fetchall()
# entity → its table, a row's natural key in SQL, and "the row has the natural key :key"
KEYS = {"dossier": ("dossiers", @DOSSIER_KEY@,
                    @DOSSIER_MATCH@),
        "record": ("records", @RECORD_KEY@,
                   @RECORD_MATCH@)}
for entity, source, key, action, ledger_hash in ledger:
    table, _, match = KEYS[entity]
    row = con.execute(f"SELECT * FROM {table} WHERE source_system = :source AND {match}",
                      {"source": source, "key": key}).fetchone()
    if row is None:
        print("missing from the target:", entity, source, key)
        problems += 1
        lines.append(f"{entity}|{source}|{key}|")
        continue
    digest = row_hash(row)
    ours = action in ("inserted", "unchanged", "updated") and row["updated_batch_id"] in (None, batch)
    if digest != row["content_hash"] or (ours and digest != ledger_hash):
        print("changed:", entity, source, key)
        problems += 1
    lines.append(f"{entity}|{source}|{key}|{digest if ours else ledger_hash}")
for entity, (table, key, _) in KEYS.items():
    for source, extra in con.execute(
            f"SELECT source_system, {key} FROM {table} WHERE ? IN (batch_id, updated_batch_id)"
            " EXCEPT SELECT source_id, natural_key FROM ledger"
            " WHERE batch_id = ? AND disposition = 'loaded' AND entity = ?", (batch, batch, entity)):
        print("not in the batch's ledger:", entity, source, extra)
        problems += 1
print(hashlib.sha256("".join(sorted(line + "\n" for line in lines)).encode()).hexdigest())
sys.exit(1 if problems else 0)
"""


def _sqlite_text(expression: Any) -> str:
    """An SQL expression as SQLite text, its parameters named (``:key``), as a Python string literal."""
    from sqlalchemy.dialects import sqlite

    return repr(str(expression.compile(dialect=sqlite.dialect(paramstyle="named"))))


def _recompute_script() -> str:
    """The recipe an auditor runs on a SQLite target (:data:`RECOMPUTE_SCRIPT`); its key SQL is
    :mod:`handover.keys_sql`'s."""
    script = _RECOMPUTE_TEMPLATE.replace("@OPTIONAL@", _set_literal(OPTIONAL_COLUMNS))
    script = script.replace("@TIMES@", _set_literal(DATETIME_COLUMNS))
    key = bindparam("key", type_=String)
    for entity in Entity:
        table, name = table_for(entity), entity.name
        script = script.replace(f"@{name}_KEY@", _sqlite_text(natural_key_sql(entity, table)))
        script = script.replace(f"@{name}_MATCH@", _sqlite_text(key_matches(entity, table, key)))
    return script


def table_for(entity: Entity | str) -> Any:
    return schema.dossiers if Entity(entity) is Entity.DOSSIER else schema.records


RECOMPUTE_SCRIPT = _recompute_script()


def content_columns(entity: Entity | str) -> tuple[str, ...]:
    """The columns the content hash covers, in hashing order (sorted by name); the optional ones among them count
    only when they hold a value."""
    return tuple(sorted(c.name for c in table_for(entity).columns if c.name not in TECHNICAL_COLUMNS))


_STAMP_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")


def datetime_text(value: Any) -> str:
    """Step 2 of the content hash for a date-time column: ``YYYY-MM-DD HH:MM:SS`` (``""`` for NULL); text as
    SQLite stores it (``2025-02-23 14:35:20.000000``) or ISO (``2025-02-23T14:35:20``) gives the same. Anything
    else (never stored there) as :func:`canonical_text` writes it."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")[:19]
    if isinstance(value, str) and _STAMP_TEXT.match(value):
        return value[:10] + " " + value[11:19]
    return canonical_text(value)


def column_text(name: str, value: Any) -> str:
    """Step 2 of the content hash: one stored value of column ``name`` as text."""
    return datetime_text(value) if name in DATETIME_COLUMNS else canonical_text(value)


def canonical_text(value: Any) -> str:
    """Step 2 of the content hash: one stored value of a column other than the date-times as text."""
    if value is None:
        return ""
    if type(value) is str:
        return value if value.isascii() else unicodedata.normalize("NFC", value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
        if math.isnan(number):
            return ""
        return format(number, ".15g")
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return unicodedata.normalize("NFC", str(value))


def content_hash(row: Mapping[str, Any], entity: Entity | str) -> str:
    """SHA-256 hex of ``row``'s content columns (missing columns count as NULL)."""
    return hash_values([row.get(name) for name in content_columns(entity)], content_columns(entity))


def hash_values(values: Iterable[Any], columns: tuple[str, ...]) -> str:
    """Content hash of values given in the order of ``columns`` (= :func:`content_columns`)."""
    pairs = [[name, column_text(name, v)] for name, v in zip(columns, values, strict=True)]
    pairs = [pair for pair in pairs if pair[1] or pair[0] not in OPTIONAL_COLUMNS]
    return hashlib.sha256(_encode(pairs).encode("utf-8")).hexdigest()


_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')


def _escaped_texts(values: Sequence[Any], distinct: set[Any] | None = None) -> list[bytes] | bytes:
    """Canonical text of each value, JSON-escaped without the quotes, UTF-8 (once per distinct value); one
    ``bytes`` when the values are one value (or none). ``distinct``: ``set(values)``, when the caller has it."""
    try:
        distinct = set(values) if distinct is None else distinct
    except TypeError:  # unhashable values: one by one
        return [_escape(canonical_text(v))[1:-1].encode("utf-8") for v in values]
    # Equal values share one canonical text (1, 1.0 and True all give "1"), so a memo is exact, except for
    # 0.0 == -0.0 ("0" and "-0"): a column holding a negative zero goes value by value.
    if 0 in distinct and any(math.copysign(1.0, v) < 0 for v in [v for v in values if v == 0]):
        return [_escape(canonical_text(v))[1:-1].encode("utf-8") for v in values]
    if len(distinct) < 2:
        return _escape(canonical_text(values[0] if values else None))[1:-1].encode("utf-8")
    strings = [v for v in distinct if v is not None] if None in distinct else list(distinct)
    try:
        joined = "|".join(strings)  # "|" never composes: NFC of the join = join of the NFCs
    except TypeError:  # not all text
        joined = None
    if (
        joined is not None
        and joined.isprintable()  # no control character (others too: those go the slow way)
        and '"' not in joined
        and "\\" not in joined
        and (joined.isascii() or unicodedata.is_normalized("NFC", joined))
    ):  # NFC text needing no escape is its own canonical text
        if len(distinct) * 4 > len(values):  # mostly distinct: encode the column in one piece (no NUL in it)
            filled = [v or "" for v in values] if None in distinct else values
            return "\x00".join(filled).encode("utf-8").split(b"\x00")
        memo = {v: v.encode("utf-8") for v in strings}
        memo[None] = b""
        return list(map(memo.__getitem__, values))
    memo = {}
    for value in distinct:
        text = canonical_text(value)
        memo[value] = (_escape(text)[1:-1] if _NEEDS_ESCAPE.search(text) else text).encode("utf-8")
    return list(map(memo.__getitem__, values))


def hash_columns(
    values_by_column: Mapping[str, Sequence[Any]],
    columns: tuple[str, ...],
    *,
    distinct: Mapping[str, set[Any]] | None = None,
) -> list[str]:
    """Content hashes of many rows given column-wise (same result as :func:`hash_values` row by row);
    ``distinct``: the set of each column's values, for the columns the caller has it of.

    Each column's UTF-8 texts are computed once per distinct value (a column of one value: one text). The rows
    are grouped by the optional columns they hold (one group when none does); in each group, each row's JSON is
    one join of fixed pieces (the column names, and the texts of the columns alike in every row) with the row's
    other texts, then one SHA-256.
    """
    if not columns:
        return []
    n = len(values_by_column[columns[0]])
    known = distinct or {}
    texts = [
        _escaped_texts(_datetime_texts(values_by_column[name]))
        if name in DATETIME_COLUMNS
        else _escaped_texts(values_by_column[name], known.get(name))
        for name in columns
    ]
    optional = [k for k, name in enumerate(columns) if name in OPTIONAL_COLUMNS]
    held = [k for k in optional if (texts[k] if isinstance(texts[k], bytes) else any(texts[k]))]
    if not held:  # no row holds an optional column: one shape, every row
        return _shape_hashes(texts, columns, [k for k in range(len(columns)) if k not in optional], None, n)
    # the rows grouped by the optional columns they hold (their shape), each group hashed as above
    holds = [repeat(True, n) if isinstance(texts[k], bytes) else map(bool, texts[k]) for k in held]
    groups: dict[tuple[bool, ...], list[int]] = {}
    for i, shape in enumerate(zip(*holds, strict=True)):
        group = groups.get(shape)
        if group is None:
            group = groups[shape] = []
        group.append(i)
    out: list[str] = [""] * n
    for shape, positions in groups.items():
        filled = {k for k, on in zip(held, shape, strict=True) if on}
        kept = [k for k in range(len(columns)) if k not in optional or k in filled]
        for i, digest in zip(positions, _shape_hashes(texts, columns, kept, positions, n), strict=True):
            out[i] = digest
    return out


def _shape_hashes(
    texts: list[list[bytes] | bytes],
    columns: tuple[str, ...],
    kept: list[int],
    rows: list[int] | None,
    n: int,
) -> list[str]:
    """The hashes of the rows at ``rows`` (None: all ``n``) over the ``kept`` columns: each row's JSON one join
    of fixed pieces (the column names, and the texts of the columns alike in every row) with the row's other
    texts, then one SHA-256."""
    alike: dict[int, bytes] = {k: text for k in kept if isinstance(text := texts[k], bytes)}
    pieces = _pieces([columns[k] for k in kept], [alike.get(k) for k in kept])
    m = n if rows is None else len(rows)
    varying: list[Any] = [texts[k] if rows is None else pick(texts[k], rows) for k in kept if k not in alike]
    if not varying:
        return [hashlib.sha256(pieces[0]).hexdigest()] * m
    parts: list[Any] = []
    for piece, column in zip(pieces, varying, strict=False):
        parts += (repeat(piece, m), column)
    parts.append(repeat(pieces[-1], m))
    return list(map(_hexdigest, map(hashlib.sha256, map(b"".join, zip(*parts, strict=True)))))


def _datetime_texts(values: Sequence[Any]) -> Sequence[Any]:
    """A date-time column's values as their step-2 text (None for ``""``), once per distinct value."""
    try:
        distinct = set(values)
    except TypeError:  # unhashable values
        return [datetime_text(v) or None for v in values]
    if not distinct - {None}:  # the usual column: no time of day at all
        return values
    if 0 in distinct:  # 0.0 == -0.0 (never a stored date-time): value by value
        return [datetime_text(v) or None for v in values]
    memo = {v: datetime_text(v) or None for v in distinct}
    return list(map(memo.__getitem__, values))


def _pieces(names: Sequence[str], fixed: Sequence[bytes | None]) -> list[bytes]:
    """The bytes of step 4's JSON for these columns cut where a row's text goes: one piece more than the
    columns whose text ``fixed`` does not give (its escaped UTF-8, as :func:`_escaped_texts` gives it, for the
    columns every row has alike)."""
    pieces, current = [], b"["
    for k, (name, text) in enumerate(zip(names, fixed, strict=True)):
        current += (b"," if k else b"") + b"[" + _escape(name).encode("utf-8") + b',"'
        if text is None:
            pieces.append(current)
            current = b""
        else:
            current += text
        current += b'"]'
    pieces.append(current + b"]")
    return pieces


def fingerprint_lines(lines: Iterable[tuple[str, str, str, str]]) -> str:
    """SHA-256 hex over the sorted ``entity|source_system|natural_key|content_hash\\n`` lines."""
    # Code-point order of str is the byte order of their UTF-8: sort the text, encode once.
    text = "".join(sorted(["|".join(parts) + "\n" for parts in lines]))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def loaded_fingerprint(engine: Engine | Connection, batch_id: str) -> str:
    """Fingerprint of the rows the batch's ledger marks loaded (see the module text).

    The database sorts the lines in byte order and they are hashed as they stream in, so memory does not grow
    with the batch (SQLite's default collation is byte order; PostgreSQL is asked for ``COLLATE "C"``, MySQL
    for a binary cast). Any other database: sorted here, as :func:`fingerprint_lines` does.
    """
    if isinstance(engine, Connection):
        return _streamed_fingerprint(engine, batch_id)
    with engine.connect() as conn:
        return _streamed_fingerprint(conn, batch_id)


def _streamed_fingerprint(conn: Connection, batch_id: str) -> str:
    from sqlalchemy import LargeBinary, cast, func, literal

    lg = schema.ledger.c
    where = (lg.batch_id == batch_id, lg.disposition == "loaded")
    backend = conn.dialect.name
    if backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
        rows = conn.execute(select(lg.entity, lg.source_id, lg.natural_key, lg.content_hash).where(*where))
        return fingerprint_lines((e, s, k or "", h or "") for e, s, k, h in rows)
    bar = literal("|")
    line = (
        lg.entity + bar + lg.source_id + bar + func.coalesce(lg.natural_key, "") + bar
        + func.coalesce(lg.content_hash, "")
    )  # fmt: skip
    if backend == "postgresql":
        order = line.collate("C")
    elif backend in ("mysql", "mariadb"):
        order = cast(line, LargeBinary)
    else:
        order = line
    digest = hashlib.sha256()
    # the option on the statement, not the connection (which would keep it for the rest of the transaction)
    result = conn.execute(select(line).where(*where).order_by(order).execution_options(yield_per=20_000))
    try:
        for (text,) in result:
            digest.update(text.encode("utf-8") + b"\n")
    finally:
        result.close()  # a server-side cursor must be closed before the transaction goes on
    return digest.hexdigest()
