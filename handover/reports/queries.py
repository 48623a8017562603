"""The queries both reports share, read back from the target database (SQLAlchemy Core).

Reports never use in-memory pipeline state: everything here is recounted from ``batches``, ``batch_sources``,
``chunks``, ``ledger``, ``dossiers``, ``records`` and ``findings`` (see :mod:`handover.target.schema`).
Row-level queries are generators that stream with ``yield_per``: memory does not grow with the row count.
The workbook's large lists read all communes' dossiers (records) in one query sorted by commune
(:class:`CommuneRows`), as tuples; :func:`iter_dossiers` / :func:`iter_records` read one commune's as dicts.
Aggregates (per source, per unit, per check) are small and returned whole.

A ledger row is joined to the loaded row it produced on ``source_id = source_system`` and
``natural_key = dossier_code`` (dossiers) or ``natural_key = record_type || '/' || record_number`` (records).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, String, and_, case, func, or_, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from handover.errors import BatchNotFoundError, ReportError
from handover.models import DISPOSITIONS, Counts, RowAccount
from handover.target.schema import batch_sources, batches, chunks, dossiers, findings, ledger, records
from handover.text import clean

YIELD_PER = 1000
STREAM_PER = 500  # rows fetched at a time by the tuple streams of the large sheets
CONFLICT_CHECK = "content_conflict"
T = TypeVar("T")

FINGERPRINT_SQL = """\
SELECT entity, source_id, natural_key, content_hash
FROM ledger
WHERE batch_id = :batch_id AND disposition = 'loaded';
-- join the four columns with '|', end each line with LF, sort the lines by their UTF-8 bytes, SHA-256 the whole"""
FINGERPRINT_RULE = (
    "SHA-256 over the lines 'entity|source_system|natural_key|content_hash' + LF (UTF-8), one per ledger row of "
    "the batch with disposition 'loaded', sorted by byte order"
)


@dataclasses.dataclass(frozen=True)
class BatchInfo:
    batch_id: str
    description: str | None
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    tool_version: str | None
    config_sha256: str | None
    fingerprint: str | None
    summary: dict[str, Any]
    summary_error: str | None = None


@dataclasses.dataclass(frozen=True)
class UnitLine:
    """One line of the summary: old district → old commune → new commune, with counts per disposition."""

    old_district_code: str | None
    old_district_name: str | None
    old_commune_code: str | None
    old_commune_name: str | None
    new_commune_code: str | None
    new_commune_name: str | None
    counts: Counts


@dataclasses.dataclass(frozen=True)
class Commune:
    """A receiving new commune of the batch: loaded dossiers and records, and the old districts giving them."""

    code: str | None
    name: str | None
    dossiers: int
    records: int
    old_districts: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Department:
    """A provincial department receiving loaded dossiers of the batch: those whose procedure the routing table
    sends to the province (:func:`handover.exports.portal.routed_to_province`), in one new province. ``code``
    (``<province code>-<ASCII slug of the name>``, e.g. ``15-so-cong-thuong``) names its record and file;
    ``name`` is printed as the receiving side (``"Sở Công Thương, Tỉnh Lào Cai"``); ``agencies``: the
    ``handling_agency`` values that name it (the same name, cleaned)."""

    code: str
    name: str
    dossiers: int
    records: int
    old_districts: tuple[str, ...]
    province_code: str | None
    agency: str
    agencies: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class HeldRow:
    """A quarantined row with every finding about it."""

    source_id: str
    source_row: int
    entity: str
    natural_key: str | None
    old_commune_name: str | None
    reason: str | None
    findings: tuple[dict[str, Any], ...]


def _loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def batch_info(conn: Connection, batch_id: str) -> BatchInfo:
    """The ``batches`` row; :class:`BatchNotFoundError` when the batch is not in the target."""
    row = conn.execute(select(batches).where(batches.c.batch_id == batch_id)).mappings().first()
    if row is None:
        known = conn.execute(
            select(batches.c.batch_id).order_by(batches.c.started_at.desc()).limit(5)
        ).scalars()
        listed = ", ".join(known) or "none"
        raise BatchNotFoundError(
            f"Batch {batch_id!r} is not in the target database (latest batches: {listed}).",
            hint="Check the batch id (the `id` in the batch TOML) and the --db URL, or run the batch first.",
            batch=batch_id,
        )
    summary: Any = {}
    error = None
    if row["summary_json"]:
        summary = _loads(row["summary_json"])
        if not isinstance(summary, dict):
            summary, error = {}, "summary_json is not a JSON object"
    return BatchInfo(
        batch_id=row["batch_id"],
        description=row["description"],
        status=row["status"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        tool_version=row["tool_version"],
        config_sha256=row["config_sha256"],
        fingerprint=row["fingerprint"],
        summary=summary,
        summary_error=error,
    )


def sources(conn: Connection, batch_id: str) -> list[dict[str, Any]]:
    """``batch_sources`` rows (fingerprints) of the batch, by source id."""
    stmt = (
        select(batch_sources).where(batch_sources.c.batch_id == batch_id).order_by(batch_sources.c.source_id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def row_account(source: dict[str, Any]) -> RowAccount | None:
    """The reader's account of a ``batch_sources`` row (every physical row: data and non-data), or None for a
    source of a batch begun before rows were accounted for (or an unreadable value)."""
    raw = source.get("non_data_json")
    if not raw:
        return None
    try:
        return RowAccount.model_validate_json(raw)
    except ValueError:
        return None


def chunk_counts(conn: Connection, batch_id: str) -> dict[str, Counts]:
    """Per source: the sums of the committed ``chunks`` rows (the balance as the loader recorded it)."""
    c = chunks.c
    stmt = (
        select(
            c.source_id,
            func.sum(c.rows),
            *(func.sum(getattr(c, d)) for d in DISPOSITIONS),
        )
        .where(c.batch_id == batch_id)
        .group_by(c.source_id)
        .order_by(c.source_id)
    )
    out: dict[str, Counts] = {}
    for source_id, rows, *parts in conn.execute(stmt):
        out[source_id] = Counts(
            extracted=int(rows or 0), **{d: int(v or 0) for d, v in zip(DISPOSITIONS, parts, strict=True)}
        )
    return out


# the ledger's columns a summary line is counted by: the unit line's, in UnitLine order
_UNIT_KEYS = (
    "old_district_code",
    "old_district_name",
    "old_commune_code",
    "old_commune_name",
    "new_commune_code",
    "new_commune_name",
)
# what the tally groups by, the most varied first: SQLite sorts the batch's rows by these to group them, and a
# comparison that tells two rows apart at the first column is the cheapest
_TALLY_KEYS = (
    "old_commune_code",
    "disposition",
    "new_commune_code",
    "source_id",
    "old_district_code",
    "old_district_name",
    "old_commune_name",
    "new_commune_name",
)


@dataclasses.dataclass(frozen=True)
class LedgerTally:
    """The batch's ledger counted once: per source (:func:`ledger_counts`) and per unit line
    (:func:`unit_lines`)."""

    sources: dict[str, Counts]
    units: list[UnitLine]


def _counts(parts: dict[str, int]) -> Counts:
    return Counts(extracted=sum(parts.values()), **{d: parts.get(d, 0) for d in DISPOSITIONS})


def _unit_order(key: tuple[str | None, ...]) -> tuple:
    """Summary lines by old district, old commune, new commune (codes and names; empty last); lines that only
    NULL and '' tell apart by their values, NULL first (the order the grouping queries gave them)."""
    return tuple(v or "\uffff" for v in key), tuple((v is not None, v or "") for v in key)


def _pk_index(conn: Connection) -> str | None:
    """SQLite: the name of the ledger's primary-key index (batch_id, source_id, source_row), else None."""
    if conn.dialect.name != "sqlite":
        return None
    for _seq, name, _unique, origin, *_ in conn.exec_driver_sql(f"PRAGMA index_list({ledger.name})"):
        if origin == "pk":
            return str(name)
    return None


def ledger_tally(conn: Connection, batch_id: str) -> LedgerTally:
    """The batch's ledger counted per source and per unit line, with counts per disposition: ONE grouping
    query (the batch's rows read once) instead of one per figure.

    On SQLite the rows are read along the primary key, in the order they were written (the index on
    (batch_id, source_id, natural_key) the planner picks otherwise visits them at random, about 1.5 s more
    at 1M rows); PostgreSQL and MariaDB choose their own plan.
    """
    cols = ", ".join(ledger.c[k].name for k in _TALLY_KEYS)
    index = _pk_index(conn)
    hint = f" INDEXED BY {conn.dialect.identifier_preparer.quote(index)}" if index else ""
    stmt = text(
        f"SELECT {cols}, COUNT(*) FROM {ledger.name}{hint} WHERE batch_id = :batch_id GROUP BY {cols}"
    )
    per_source: dict[str, dict[str, int]] = {}
    per_unit: dict[tuple[str | None, ...], dict[str, int]] = {}
    at = [_TALLY_KEYS.index(k) for k in _UNIT_KEYS]
    i_source, i_disposition = _TALLY_KEYS.index("source_id"), _TALLY_KEYS.index("disposition")
    for *values, n in conn.execute(stmt, {"batch_id": batch_id}):
        disposition = values[i_disposition]
        for parts in (
            per_source.setdefault(values[i_source], {}),
            per_unit.setdefault(tuple(values[i] for i in at), {}),
        ):
            parts[disposition] = parts.get(disposition, 0) + int(n)
    return LedgerTally(
        sources={source_id: _counts(per_source[source_id]) for source_id in sorted(per_source)},
        units=[UnitLine(*key, counts=_counts(per_unit[key])) for key in sorted(per_unit, key=_unit_order)],
    )


def ledger_counts(conn: Connection, batch_id: str) -> dict[str, Counts]:
    """Per source: the ledger recounted (one ledger row per extracted source row), by source id."""
    return ledger_tally(conn, batch_id).sources


def total(counts: dict[str, Counts]) -> Counts:
    return Counts.total(counts.values())


def unit_lines(conn: Connection, batch_id: str) -> list[UnitLine]:
    """The ledger grouped by old district → old commune → new commune, with counts per disposition."""
    return ledger_tally(conn, batch_id).units


class Shared:
    """The aggregates both reports show (:func:`ledger_tally`, :func:`chunk_counts`,
    :func:`findings_per_check`), read once when the two are written together: ``get(conn, query, batch_id)``
    runs ``query(conn, batch_id)`` the first time, on the caller's connection, and hands every later caller,
    in any thread, the same value (to be read, not changed). A caller asking while another thread reads it
    waits for that; a query that fails is run again by the next caller."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[Any, str], threading.Lock] = {}
        self._values: dict[tuple[Any, str], Any] = {}

    def get(self, conn: Connection, query: Callable[[Connection, str], T], batch_id: str) -> T:
        key = (query, batch_id)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                self._values[key] = query(conn, batch_id)
            return self._values[key]


# ---------------------------------------------------------------------------------------------------------
# loaded rows of the batch
# ---------------------------------------------------------------------------------------------------------


def _record_key():
    return records.c.record_type + "/" + records.c.record_number


def _dossier_join():
    return ledger.join(
        dossiers,
        and_(
            dossiers.c.source_system == ledger.c.source_id,
            dossiers.c.dossier_code == ledger.c.natural_key,
        ),
    )


class _KeyHead(FunctionElement):
    """A record's natural key up to its first ``/``: the record type (which has none)."""

    type = String()
    name = "key_head"
    inherit_cache = True


class _KeyTail(FunctionElement):
    """A record's natural key after its first ``/``: the record number."""

    type = String()
    name = "key_tail"
    inherit_cache = True


@compiles(_KeyHead)
@compiles(_KeyTail)
def _key_part(element: _KeyHead | _KeyTail, compiler: Any, **kw: Any) -> str:  # SQLite, MySQL / MariaDB
    key = compiler.process(element.clauses, **kw)
    if isinstance(element, _KeyHead):
        return f"substr({key}, 1, instr({key}, '/') - 1)"
    return f"substr({key}, instr({key}, '/') + 1)"


@compiles(_KeyHead, "postgresql")
@compiles(_KeyTail, "postgresql")
def _key_part_pg(element: _KeyHead | _KeyTail, compiler: Any, **kw: Any) -> str:
    key = compiler.process(element.clauses, **kw)
    if isinstance(element, _KeyHead):
        return f"split_part({key}, '/', 1)"
    return f"substr({key}, strpos({key}, '/') + 1)"


def _record_join():
    """The ledger joined to ``records``. Besides the key equality, the key's two parts equal the record's
    columns (the same rows: a record type holds no ``/``), so that each ledger row finds its record through
    the unique index (source_system, record_type, record_number). With the key equality alone, SQLite, and
    PostgreSQL and MariaDB without fresh statistics, walk the batch's ledger and compare each row's key with
    every record of its source: 8,000 records took 9-22 s on each, growing as the square."""
    key = ledger.c.natural_key
    return ledger.join(
        records,
        and_(
            records.c.source_system == ledger.c.source_id,
            records.c.record_type == _KeyHead(key),
            records.c.record_number == _KeyTail(key),
            _record_key() == key,
        ),
    )


def _loaded(entity: str, batch_id: str):
    return and_(ledger.c.batch_id == batch_id, ledger.c.disposition == "loaded", ledger.c.entity == entity)


def receiving_communes(conn: Connection, batch_id: str, *, new_only: bool = False) -> list[Commune]:
    """Every new commune that receives at least one loaded dossier or record of the batch, by code. A dossier
    routed to a provincial department (:func:`handover.exports.portal.routed_to_province`) is the department's,
    not its commune's: it is counted by :func:`receiving_departments`. ``new_only`` (a later round,
    :func:`handover_rounds`): only the rows the batch newly handed over (:func:`newly_handed_over`)."""
    return _receivers(conn, batch_id, new_only)[0]


def receiving_departments(conn: Connection, batch_id: str, *, new_only: bool = False) -> list[Department]:
    """Every provincial department that receives at least one loaded dossier of the batch, by code
    (``new_only``: as for :func:`receiving_communes`)."""
    return _receivers(conn, batch_id, new_only)[1]


def department_code(province_code: str | None, agency: str) -> str:
    """A department's code: ``<new province code>-<ASCII slug of its name>`` (``15-so-cong-thuong``)."""
    from handover.text import ascii_slug

    return f"{province_code or '00'}-{ascii_slug(agency)}"


def routed_department(level: Any, agency: Any, province: str | None) -> str | None:
    """The code of the department a dossier with this routing goes to
    (:func:`handover.exports.portal.routed_to_province`), or None: it goes to its commune."""
    from handover.exports.portal import routed_to_province

    if not routed_to_province({"handling_level": level, "handling_agency": agency}):
        return None
    return department_code(province, clean(agency))


def _receivers(conn: Connection, batch_id: str, new_only: bool) -> tuple[list[Commune], list[Department]]:
    """The batch's receiving communes and departments, from one count of its loaded rows per commune, old
    district and routing (level, agency, province)."""
    found: dict[str | None, dict[str, Any]] = {}
    routed: dict[str, dict[str, Any]] = {}
    for table, join, entity in ((dossiers, _dossier_join(), "dossier"), (records, _record_join(), "record")):
        c = table.c
        routing = (c.handling_level, c.handling_agency, c.new_province_code) if entity == "dossier" else ()
        stmt = select(
            c.new_commune_code, func.max(c.new_commune_name), c.old_district_name, func.count(), *routing
        ).group_by(c.new_commune_code, c.old_district_name, *routing)
        if new_only:
            stmt = stmt.where(newly_handed_over(table, batch_id))
        else:
            stmt = stmt.select_from(join).where(_loaded(entity, batch_id))
        for code, name, district, n, *route in conn.execute(stmt):
            dept = routed_department(*route) if route else None
            if dept is not None:
                item = routed.setdefault(
                    dept,
                    {
                        "agency": clean(route[1]),
                        "province": route[2],
                        "n": 0,
                        "raw": set(),
                        "districts": set(),
                    },
                )
                item["n"] += int(n)
                item["raw"].add(route[1])
                if district:
                    item["districts"].add(district)
                continue
            item = found.setdefault(code, {"names": {}, "dossier": 0, "record": 0, "districts": set()})
            names = item["names"].setdefault(entity, {})
            if name is not None and (names.get(district) is None or name > names[district]):
                names[district] = name
            item[entity] += int(n)
            if district:
                item["districts"].add(district)
    communes = [
        Commune(code, _first_name(v["names"]), v["dossier"], v["record"], tuple(sorted(v["districts"])))
        for code, v in sorted(found.items(), key=lambda kv: kv[0] or "\uffff")
    ]
    provinces = _province_names() if routed else {}
    departments = [
        Department(
            code,
            ", ".join(p for p in (v["agency"], provinces.get(v["province"] or "", "")) if p),
            v["n"],
            0,
            tuple(sorted(v["districts"])),
            v["province"],
            v["agency"],
            tuple(sorted(v["raw"])),
        )
        for code, v in sorted(routed.items())
    ]
    return communes, departments


def _first_name(names: dict[str, dict[str | None, str | None]]) -> str | None:
    """A commune's name: the first of its groups (dossiers then records; by old district, NULL first) whose
    greatest name is not empty ."""
    for entity in ("dossier", "record"):
        by_district = names.get(entity, {})
        for district in sorted(by_district, key=lambda d: (d is not None, d or "")):
            if by_district[district]:
                return by_district[district]
    return None


def _province_names() -> dict[str, str]:
    """New province code → name, from the units reference."""
    from handover.resources import mappings_dir
    from handover.units.reference import Reference

    return Reference.load(mappings_dir() / "units").new_provinces


def _stream(conn: Connection, stmt) -> Iterator[dict[str, Any]]:
    result = conn.execute(stmt.execution_options(yield_per=YIELD_PER))
    try:
        for row in result.mappings():
            yield dict(row)
    finally:
        result.close()


def _stream_rows(conn: Connection, stmt) -> Iterator[Sequence[Any]]:
    """Rows as tuples (no mapping per row), fetched :data:`STREAM_PER` at a time."""
    result = conn.execute(stmt.execution_options(yield_per=STREAM_PER))
    try:
        yield from result
    finally:
        result.close()


def _commune_is(column, code: str | None):
    return column.is_(None) if code is None else column == code


def _nulls_last(column):
    """Sort key putting NULL after every code on every database (as :func:`receiving_communes` orders)."""
    return case((column.is_(None), 1), else_=0)


DOSSIER_FIELDS: tuple[str, ...] = (
    "source_system",
    "dossier_code",
    "procedure_code",
    "procedure_name",
    "applicant_name",
    "applicant_id",
    "phone",
    "received_date",
    "due_date",
    "due_flag",
    "status_raw",
    "handling_level",
    "handling_agency",
    "fee",
    "amount_paid",
    "payment_date",
    "payment_channel",
    "receipt_number",
    "old_district_name",
    "old_commune_name",
)
RECORD_FIELDS: tuple[str, ...] = (
    "source_system",
    "record_type",
    "record_number",
    "registered_date",
    "subject_name",
    "subject_id",
    "business_name",
    "status_raw",
    "old_district_name",
    "old_commune_name",
)


def _dossier_select(batch_id: str, *lead):
    d = dossiers.c
    return (
        select(*lead, *(getattr(d, f) for f in DOSSIER_FIELDS))
        .select_from(_dossier_join())
        .where(_loaded("dossier", batch_id))
    )


def _dossier_order():
    d = dossiers.c
    return (d.old_district_code, d.old_commune_code, d.received_date, d.dossier_code, d.source_system)


def _record_select(batch_id: str, *lead):
    r = records.c
    return (
        select(*lead, *(getattr(r, f) for f in RECORD_FIELDS))
        .select_from(_record_join())
        .where(_loaded("record", batch_id))
    )


def _record_order():
    r = records.c
    return (r.old_district_code, r.old_commune_code, r.record_type, r.record_number, r.source_system)


def newly_handed_over(table: Any, batch_id: str):
    """The rows of ``dossiers`` or ``records`` the batch newly handed over: those it brought into the target
    (the row's ``batch_id``: it inserted them, or a rollback of the batch that had passed them to it). Every
    such row is a loaded row of the batch's ledger (``handover db verify`` checks it); the loaded rows it found
    ``unchanged`` or updated were handed over by an earlier batch."""
    return table.c.batch_id == batch_id


def _new_select(entity: str, batch_id: str, *lead):
    """(select, order) of the rows the batch newly handed over, the columns and order of the ledger's."""
    if entity == "dossier":
        table, fields, order = dossiers, DOSSIER_FIELDS, _dossier_order()
    else:
        table, fields, order = records, RECORD_FIELDS, _record_order()
    stmt = select(*lead, *(table.c[f] for f in fields)).where(newly_handed_over(table, batch_id))
    return stmt, order


def iter_dossiers(conn: Connection, batch_id: str, commune_code: str | None) -> Iterator[dict[str, Any]]:
    """Loaded dossiers of the batch going to one new commune, by old district, old commune, receipt, code."""
    stmt = (
        _dossier_select(batch_id)
        .where(_commune_is(dossiers.c.new_commune_code, commune_code))
        .order_by(*_dossier_order())
    )
    return _stream(conn, stmt)


def iter_records(conn: Connection, batch_id: str, commune_code: str | None) -> Iterator[dict[str, Any]]:
    """Loaded records of the batch going to one new commune."""
    stmt = (
        _record_select(batch_id)
        .where(_commune_is(records.c.new_commune_code, commune_code))
        .order_by(*_record_order())
    )
    return _stream(conn, stmt)


class CommuneRows:
    """The loaded dossiers (or records) of every receiving commune from ONE ordered query, handed out a
    commune at a time: ``rows(code)`` yields tuples ``(new_commune_code, *DOSSIER_FIELDS)`` (or
    ``RECORD_FIELDS``) in the order of :func:`iter_dossiers` / :func:`iter_records`.

    ``new_only``: only the rows the batch newly handed over (:func:`newly_handed_over`), for a later round.

    Ask for communes in :func:`receiving_communes` order (code, NULL last), as the query sorts them. One query
    instead of one per commune: each per-commune query walks the whole batch's ledger. Should a database sort
    the codes differently, a commune that is not next in the stream is read by its own query instead, and its
    rows are skipped when the stream reaches them: the output is the same, only slower.
    """

    def __init__(self, conn: Connection, batch_id: str, entity: str, *, new_only: bool = False) -> None:
        self._conn, self._batch_id, self._entity = conn, batch_id, entity
        self._table = dossiers if entity == "dossier" else records
        self._new_only = new_only
        self._stream: Iterator[Sequence[Any]] | None = None
        self._head: Sequence[Any] | None = None
        self._done: set[str | None] = set()

    def _select(self, *lead):
        if self._new_only:
            return _new_select(self._entity, self._batch_id, *lead)
        if self._entity == "dossier":
            return _dossier_select(self._batch_id, *lead), _dossier_order()
        return _record_select(self._batch_id, *lead), _record_order()

    def _open(self) -> None:
        code = self._table.c.new_commune_code
        stmt, order = self._select(code)
        self._stream = _stream_rows(self._conn, stmt.order_by(_nulls_last(code), code, *order))
        self._head = next(self._stream, None)

    def _advance(self) -> None:
        assert self._stream is not None
        self._head = next(self._stream, None)

    def rows(self, code: str | None) -> Iterator[Sequence[Any]]:
        if self._stream is None:
            self._open()
        while self._head is not None and self._head[0] in self._done:
            self._advance()
        self._done.add(code)
        if self._head is not None and self._head[0] == code:
            while self._head is not None and self._head[0] == code:
                yield self._head
                self._advance()
            return
        column = self._table.c.new_commune_code
        stmt, order = self._select(column)
        yield from _stream_rows(self._conn, stmt.where(_commune_is(column, code)).order_by(*order))

    def close(self) -> None:
        """Release the query (rows not read are dropped)."""
        if self._stream is not None:
            self._stream.close()  # type: ignore[attr-defined]
            self._stream, self._head = None, None


_LEVEL_AT = 1 + DOSSIER_FIELDS.index("handling_level")  # in a row (new_commune_code, *DOSSIER_FIELDS, ...)
_AGENCY_AT = 1 + DOSSIER_FIELDS.index("handling_agency")


def without_routed(rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
    """Dossier rows ``(new_commune_code, *DOSSIER_FIELDS, ...)`` less those routed to a provincial department
    (:func:`handover.exports.portal.routed_to_province`): what the commune itself receives."""
    from handover.exports.portal import routed_to_province

    for row in rows:
        if not routed_to_province({"handling_level": row[_LEVEL_AT], "handling_agency": row[_AGENCY_AT]}):
            yield row


class OwnDossiers:
    """:class:`CommuneRows` of dossiers, each commune's without the dossiers routed to a department."""

    def __init__(self, conn: Connection, batch_id: str, *, new_only: bool = False) -> None:
        self._rows = CommuneRows(conn, batch_id, "dossier", new_only=new_only)

    def rows(self, code: str | None) -> Iterator[Sequence[Any]]:
        return without_routed(self._rows.rows(code))

    def close(self) -> None:
        self._rows.close()


class DepartmentRows:
    """The loaded dossiers a department receives, as :class:`CommuneRows` hands out a commune's: ``rows(code)``
    yields tuples ``(new_commune_code, *DOSSIER_FIELDS)`` in the order of :func:`iter_dossiers`, one query
    per department (a batch has few). ``new_only``: as for :class:`CommuneRows`."""

    def __init__(
        self, conn: Connection, batch_id: str, departments: Sequence[Department], *, new_only: bool = False
    ) -> None:
        self._conn, self._batch_id, self._new_only = conn, batch_id, new_only
        self._departments = {d.code: d for d in departments}

    def rows(self, code: str | None) -> Iterator[Sequence[Any]]:
        from handover.exports.portal import routed_to_province

        dept = self._departments[code or ""]
        d = dossiers.c
        if self._new_only:
            stmt, order = _new_select("dossier", self._batch_id, d.new_commune_code)
        else:
            stmt, order = _dossier_select(self._batch_id, d.new_commune_code), _dossier_order()
        stmt = stmt.where(
            _commune_is(d.new_province_code, dept.province_code), d.handling_agency.in_(dept.agencies)
        )
        for row in _stream_rows(self._conn, stmt.order_by(*order)):
            if routed_to_province({"handling_level": row[_LEVEL_AT], "handling_agency": row[_AGENCY_AT]}):
                yield row

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------------------
# rounds: the batches of the same sources, each handing over what is new
# ---------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class UnitRound:
    """What one batch newly handed over to one receiving unit (:func:`newly_handed_over`), and which hand-over
    to that unit it is: ``round`` k is the batch's place among the batches of these sources that handed
    anything over to the unit, by start; ``first_batch`` (started ``first_started_at``) is the one of round 1,
    whose record a later round's supplements."""

    code: str | None
    name: str | None
    dossiers: int
    records: int
    round: int
    first_batch: str
    first_started_at: datetime | None


@dataclasses.dataclass(frozen=True)
class Round:
    """A batch of the same sources as the batch reported on (or that batch), with what it newly handed over to
    each unit."""

    batch_id: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    units: tuple[UnitRound, ...]

    @property
    def dossiers(self) -> int:
        return sum(u.dossiers for u in self.units)

    @property
    def records(self) -> int:
        return sum(u.records for u in self.units)


def earlier_batches(conn: Connection, batch_id: str) -> list[str]:
    """The batches of the target that read a source of the same id as ``batch_id`` and started before it
    (by ``started_at``, then batch id), rolled-back ones left out, earliest first. None: ``batch_id`` is a
    first round; some: it is a later round (a decisions round, a re-exported source), whose records list
    only what it newly hands over."""
    b, bs = batches.c, batch_sources.c
    me = conn.execute(select(b.started_at).where(b.batch_id == batch_id)).first()
    if me is None or me[0] is None:
        return []
    started = me[0]
    mine = select(bs.source_id).where(bs.batch_id == batch_id).scalar_subquery()
    stmt = (
        select(b.batch_id, b.started_at)
        .where(
            b.batch_id != batch_id,
            b.status != "rolled_back",
            or_(b.started_at < started, and_(b.started_at == started, b.batch_id < batch_id)),
            b.batch_id.in_(select(bs.batch_id).where(bs.source_id.in_(mine))),
        )
        .order_by(b.started_at, b.batch_id)
    )
    return [batch for batch, _ in conn.execute(stmt)]


def later_rounds(conn: Connection, batch_id: str) -> list[Round]:
    """:func:`handover_rounds` when ``batch_id`` is a later round (it has :func:`earlier_batches`), else ``[]``
    (a first round: its records are the usual ones, and nothing is counted)."""
    return handover_rounds(conn, batch_id) if earlier_batches(conn, batch_id) else []


def handover_rounds(conn: Connection, batch_id: str) -> list[Round]:
    """The rounds of ``batch_id``'s sources up to it: the :func:`earlier_batches` and the batch itself (last),
    each with what it newly handed over per receiving unit from those sources, and for each unit which
    hand-over it is (:class:`UnitRound`). A batch that handed nothing over is a round without units."""
    order = [*earlier_batches(conn, batch_id), batch_id]
    source_ids = [
        s
        for s in conn.execute(
            select(batch_sources.c.source_id).where(batch_sources.c.batch_id == batch_id)
        ).scalars()
    ]
    handed: dict[tuple[str, str | None], list[Any]] = {}  # (batch, unit code) → [name, dossiers, records]
    provinces: dict[str, str] | None = None
    for table, at in ((dossiers, 1), (records, 2)):
        c = table.c
        # a dossier routed to a provincial department is handed over to it (the unit: the department's code)
        routing = (c.handling_level, c.handling_agency, c.new_province_code) if table is dossiers else ()
        stmt = (
            select(c.batch_id, c.new_commune_code, func.max(c.new_commune_name), func.count(), *routing)
            .where(c.batch_id.in_(order))
            .group_by(c.batch_id, c.new_commune_code, *routing)
        )
        if source_ids:  # else a batch without its sources listed: the rows it holds are its own sources'
            stmt = stmt.where(c.source_system.in_(source_ids))
        for batch, code, name, n, *route in conn.execute(stmt):
            dept = routed_department(*route) if route else None
            if dept is not None:
                provinces = _province_names() if provinces is None else provinces
                code = dept
                name = ", ".join(p for p in (clean(route[1]), provinces.get(route[2] or "", "")) if p)
            item = handed.setdefault((batch, code), [None, 0, 0])
            item[0] = item[0] or name
            item[at] += int(n)
    info = {
        row.batch_id: row
        for row in conn.execute(
            select(batches.c.batch_id, batches.c.status, batches.c.started_at, batches.c.finished_at).where(
                batches.c.batch_id.in_(order)
            )
        )
    }
    # unit → (its hand-overs so far, the batch of its first, that batch's start)
    seen: dict[str | None, tuple[int, str, datetime | None]] = {}
    rounds = []
    for batch in order:
        row = info.get(batch)
        units = []
        for (owner, code), (name, n_dossiers, n_records) in sorted(
            handed.items(), key=lambda kv: kv[0][1] or "\uffff"
        ):
            if owner != batch:
                continue
            k, first, first_at = seen.get(code, (0, batch, row.started_at if row else None))
            seen[code] = (k + 1, first, first_at)
            units.append(UnitRound(code, name, n_dossiers, n_records, k + 1, first, first_at))
        rounds.append(
            Round(
                batch,
                row.status if row else "",
                row.started_at if row else None,
                row.finished_at if row else None,
                tuple(units),
            )
        )
    return rounds


# ---------------------------------------------------------------------------------------------------------
# rows held back, findings
# ---------------------------------------------------------------------------------------------------------


_FINDING_KEYS = ("field", "check_name", "severity", "message_vi", "message_en")


def iter_quarantined(conn: Connection, batch_id: str) -> Iterator[HeldRow]:
    """Quarantined ledger rows, each with its findings.

    Two streamed queries merged on the ledger key: the quarantined rows, and the findings joined to them
    (driven from ``findings``, whose index does not cover ``source_row``: an outer join from the ledger would
    scan a source's findings once per row). Both are sorted by the same key (unique per batch) on the same
    database, so the findings arrive in the order of their rows. The findings query runs on a connection of
    its own: some drivers stream only one query per connection.
    """
    c, f = ledger.c, findings.c
    held = (
        select(c.source_id, c.source_row, c.entity, c.natural_key, c.old_commune_name, c.reason)
        .where(c.batch_id == batch_id, c.disposition == "quarantined")
        .order_by(c.source_id, c.source_row)
    )
    found = (
        select(f.source_id, f.source_row, *(getattr(f, k) for k in _FINDING_KEYS))
        .select_from(
            findings.join(
                ledger,
                and_(c.batch_id == f.batch_id, c.source_id == f.source_id, c.source_row == f.source_row),
            )
        )
        .where(f.batch_id == batch_id, c.disposition == "quarantined")
        .order_by(f.source_id, f.source_row, f.id)
    )
    with conn.engine.connect() as other:
        found_rows = _stream_rows(other, found)
        try:
            head = next(found_rows, None)
            for source_id, source_row, entity, natural_key, old_commune_name, reason in _stream_rows(
                conn, held
            ):
                items = []
                while head is not None and head[0] == source_id and head[1] == source_row:
                    items.append(dict(zip(_FINDING_KEYS, head[2:], strict=True)))
                    head = next(found_rows, None)
                yield HeldRow(
                    source_id=source_id,
                    source_row=source_row,
                    entity=entity,
                    natural_key=natural_key,
                    old_commune_name=old_commune_name,
                    reason=reason,
                    findings=tuple(items),
                )
        finally:
            found_rows.close()


def iter_review(conn: Connection, batch_id: str) -> Iterator[dict[str, Any]]:
    """Review rows (unit split / ambiguous / not found) with candidates decoded (``candidates_json``: as
    stored), by source and row."""
    c = ledger.c
    stmt = (
        select(
            c.source_id,
            c.source_row,
            c.entity,
            c.natural_key,
            c.reason,
            c.unit_status,
            c.old_district_code,
            c.old_district_name,
            c.old_commune_code,
            c.old_commune_name,
            c.old_province_code,
            c.candidates,
            c.payload,
        )
        .where(c.batch_id == batch_id, c.disposition == "review")
        .order_by(c.source_id, c.source_row)
    )
    for row in _stream(conn, stmt):
        payload = _loads(row.pop("payload"))
        payload = payload if isinstance(payload, dict) else {}
        row["candidates_json"] = row["candidates"]
        row["candidates"] = candidate_list(_loads(row["candidates"]))
        row["suggestions"] = candidate_list(
            _loads(payload.get("unit_suggestions")) or payload.get("unit_suggestions")
        )
        row["village"] = payload.get("village")
        yield row


def candidate_list(value: Any) -> list[str]:
    """Candidates as the ledger stores them (dicts with commune_code/name, or plain names) → display strings."""
    if not value:
        return []
    if isinstance(value, dict | str):
        value = [value]
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            code = item.get("commune_code") or item.get("code") or item.get("new_commune_code")
            name = item.get("name") or item.get("commune_name") or item.get("new_commune_name")
            out.append(" ".join(str(v) for v in (code, name) if v))
        elif item is not None:
            out.append(str(item))
    return [o for o in out if o]


def iter_conflicts(conn: Connection, batch_id: str) -> Iterator[dict[str, Any]]:
    """``content_conflict`` findings: the same key arrived with different content."""
    f = findings.c
    stmt = (
        select(f.source_id, f.source_row, f.natural_key, f.field, f.severity, f.message_vi, f.message_en)
        .where(f.batch_id == batch_id, f.check_name == CONFLICT_CHECK)
        .order_by(f.source_id, f.source_row, f.id)
    )
    return _stream(conn, stmt)


def findings_per_check(conn: Connection, batch_id: str) -> list[dict[str, Any]]:
    """Findings of the batch counted per check and severity, with one example message each."""
    f = findings.c
    stmt = (
        select(
            f.check_name,
            f.severity,
            func.count(),
            func.count(func.distinct(f.source_row)),
            func.min(f.message_vi),
            func.min(f.message_en),
        )
        .where(f.batch_id == batch_id)
        .group_by(f.check_name, f.severity)
        .order_by(f.check_name, f.severity)
    )
    return [
        {"check": c, "severity": s, "count": int(n), "rows": int(r), "example_vi": vi, "example_en": en}
        for c, s, n, r, vi, en in conn.execute(stmt)
    ]


# ---------------------------------------------------------------------------------------------------------
# the loaded-set fingerprint
# ---------------------------------------------------------------------------------------------------------


def fingerprint_lines(conn: Connection, batch_id: str) -> Iterator[str]:
    c = ledger.c
    stmt = select(c.entity, c.source_id, c.natural_key, c.content_hash).where(
        c.batch_id == batch_id, c.disposition == "loaded"
    )
    result = conn.execute(stmt.execution_options(yield_per=YIELD_PER * 10))
    for entity, source_id, key, content_hash in result:
        yield f"{entity}|{source_id}|{key or ''}|{content_hash or ''}\n"


def compute_fingerprint(conn: Connection, batch_id: str) -> str:
    """:data:`FINGERPRINT_RULE`, computed here. Sorting happens in Python (byte order, the same on every
    database); it holds one short line per loaded row, about 150 bytes each."""
    digest = hashlib.sha256()
    for line in sorted(fingerprint_lines(conn, batch_id), key=lambda s: s.encode("utf-8")):
        digest.update(line.encode("utf-8"))
    return digest.hexdigest()


def recompute_fingerprint(conn: Connection, batch_id: str) -> tuple[str, str]:
    """The loaded-set fingerprint recomputed now → (hex digest, which implementation computed it).

    Uses ``handover.target.hashing.loaded_fingerprint`` (the loader's own definition) when it exists, else
    :func:`compute_fingerprint` with the same definition.
    """
    try:
        from handover.target.hashing import loaded_fingerprint  # type: ignore[import-not-found]
    except ImportError:
        return compute_fingerprint(conn, batch_id), "handover.reports.queries.compute_fingerprint"
    return loaded_fingerprint(conn, batch_id), "handover.target.hashing.loaded_fingerprint"


@contextmanager
def guarded(what: str) -> Iterator[None]:
    """Turn a database error while reading the target into a :class:`ReportError` with a next step."""
    try:
        yield
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ReportError(
            f"Cannot read {what} from the target database: {type(exc).__name__}: {first}",
            hint="Check the --db URL, and that this database is the target the batch was run into.",
        ) from exc


@contextmanager
def commune_streams(
    engine: Engine, conn: Connection, batch_id: str, communes: Sequence[Commune], *, new_only: bool = False
) -> Iterator[tuple[OwnDossiers, CommuneRows]]:
    """The two row streams a commune's handover record reads, in :func:`receiving_communes` order: its own
    dossiers (routed ones left out) on ``conn`` and its registration records, on a second connection of
    ``engine`` when any commune has records (some drivers stream only one query per connection). Both are
    closed on exit."""
    with ExitStack() as stack:
        dossier_rows = OwnDossiers(conn, batch_id, new_only=new_only)
        stack.callback(dossier_rows.close)
        other = stack.enter_context(engine.connect()) if any(c.records for c in communes) else conn
        record_rows = CommuneRows(other, batch_id, "record", new_only=new_only)
        stack.callback(record_rows.close)
        yield dossier_rows, record_rows
