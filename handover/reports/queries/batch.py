"""The batch as the target records it: its ``batches`` row, its sources, and its ledger counted per source and
per unit line (old district → old commune → new commune); the aggregates both reports read once
(:class:`Shared`), and database errors turned into a :class:`~handover.errors.ReportError`."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import SQLAlchemyError

from handover.errors import BatchNotFoundError, ReportError
from handover.models import Counts, RowAccount
from handover.target.counts import counts_of, tally
from handover.target.schema import batch_sources, batches, ledger

T = TypeVar("T")


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


def loads_or_none(text: str | None) -> Any:
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
        summary = loads_or_none(row["summary_json"])
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
    """The batch's ledger counted once: per source (as :func:`handover.target.counts.ledger_counts` counts it)
    and per unit line (:func:`unit_lines`)."""

    sources: dict[str, Counts]
    units: list[UnitLine]


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
    (batch_id, source_id, natural_key) the planner picks otherwise visits them at random); PostgreSQL and
    MariaDB choose their own plan.
    """
    cols = ", ".join(ledger.c[k].name for k in _TALLY_KEYS)
    index = _pk_index(conn)
    hint = f" INDEXED BY {conn.dialect.identifier_preparer.quote(index)}" if index else ""
    stmt = text(
        f"SELECT {cols}, COUNT(*) FROM {ledger.name}{hint} WHERE batch_id = :batch_id GROUP BY {cols}"
    )
    rows = conn.execute(stmt, {"batch_id": batch_id}).all()
    per_unit: dict[tuple[str | None, ...], dict[str, int]] = {}
    at = [_TALLY_KEYS.index(k) for k in _UNIT_KEYS]
    i_source, i_disposition = _TALLY_KEYS.index("source_id"), _TALLY_KEYS.index("disposition")
    for *values, n in rows:
        parts = per_unit.setdefault(tuple(values[i] for i in at), {})
        parts[values[i_disposition]] = parts.get(values[i_disposition], 0) + int(n)
    return LedgerTally(
        sources=tally((row[i_source], row[i_disposition], row[-1]) for row in rows),
        units=[UnitLine(*key, counts=counts_of(per_unit[key])) for key in sorted(per_unit, key=_unit_order)],
    )


def total(counts: dict[str, Counts]) -> Counts:
    return Counts.total(counts.values())


def unit_lines(conn: Connection, batch_id: str) -> list[UnitLine]:
    """The ledger grouped by old district → old commune → new commune, with counts per disposition."""
    return ledger_tally(conn, batch_id).units


class Shared:
    """The aggregates both reports show (:func:`ledger_tally`, :func:`handover.target.counts.chunk_counts`,
    :func:`handover.reports.queries.held.findings_per_check`), read once when the two are written together: ``get(conn, query, batch_id)``
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
