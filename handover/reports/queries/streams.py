"""The loaded dossiers and records of the batch, streamed: one receiving commune's as dicts
(:func:`iter_dossiers`, :func:`iter_records`), or every commune's from one ordered query, a commune at a time,
as tuples (:class:`CommuneRows`, :class:`OwnDossiers`, :class:`DepartmentRows`, :func:`commune_streams`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, or_, select

from handover.reports.queries.loaded import (
    Commune,
    Department,
    dossier_join,
    loaded_where,
    newly_handed_over,
    record_join,
)
from handover.target.schema import dossiers, records

YIELD_PER = 1000
STREAM_PER = 500  # rows fetched at a time by the tuple streams of the large sheets


def stream_dicts(conn: Connection, stmt) -> Iterator[dict[str, Any]]:
    """Rows as dicts, fetched :data:`YIELD_PER` at a time; the result is closed when the caller stops."""
    result = conn.execute(stmt.execution_options(yield_per=YIELD_PER))
    try:
        for row in result.mappings():
            yield dict(row)
    finally:
        result.close()


def stream_rows(conn: Connection, stmt) -> Iterator[Sequence[Any]]:
    """Rows as tuples (no mapping per row), fetched :data:`STREAM_PER` at a time."""
    result = conn.execute(stmt.execution_options(yield_per=STREAM_PER))
    try:
        for rows in result.partitions():
            yield from rows
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
        .select_from(dossier_join())
        .where(loaded_where("dossier", batch_id))
    )


def _dossier_order():
    d = dossiers.c
    return (d.old_district_code, d.old_commune_code, d.received_date, d.dossier_code, d.source_system)


def _record_select(batch_id: str, *lead):
    r = records.c
    return (
        select(*lead, *(getattr(r, f) for f in RECORD_FIELDS))
        .select_from(record_join())
        .where(loaded_where("record", batch_id))
    )


def _record_order():
    r = records.c
    return (r.old_district_code, r.old_commune_code, r.record_type, r.record_number, r.source_system)


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
    return stream_dicts(conn, stmt)


def iter_records(conn: Connection, batch_id: str, commune_code: str | None) -> Iterator[dict[str, Any]]:
    """Loaded records of the batch going to one new commune."""
    stmt = (
        _record_select(batch_id)
        .where(_commune_is(records.c.new_commune_code, commune_code))
        .order_by(*_record_order())
    )
    return stream_dicts(conn, stmt)


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
        self._stream = stream_rows(self._conn, stmt.order_by(_nulls_last(code), code, *order))
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
        yield from stream_rows(self._conn, stmt.where(_commune_is(column, code)).order_by(*order))

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

    routed: dict[tuple[Any, Any], bool] = {}  # (level, agency) → routed; the pairs repeat
    for row in rows:
        key = (row[_LEVEL_AT], row[_AGENCY_AT])
        found = routed.get(key)
        if found is None:
            found = routed[key] = routed_to_province({"handling_level": key[0], "handling_agency": key[1]})
        if not found:
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
    yields tuples ``(new_commune_code, *DOSSIER_FIELDS)`` in the order of :func:`iter_dossiers`.
    ``new_only``: as for :class:`CommuneRows`.

    Every department's rows come from ONE query ordered by department (in the order of ``departments``), then
    as :func:`iter_dossiers`: each query walks the whole batch's ledger. Ask for departments in that order; a
    department asked for after a later one is read by its own query (the same rows, only slower)."""

    def __init__(
        self, conn: Connection, batch_id: str, departments: Sequence[Department], *, new_only: bool = False
    ) -> None:
        self._conn, self._batch_id, self._new_only = conn, batch_id, new_only
        self._departments = list(departments)
        self._index = {d.code: i for i, d in enumerate(self._departments)}
        self._stream: Iterator[Sequence[Any]] | None = None
        self._head: Sequence[Any] | None = None
        self._last = -1  # the index of the department last asked for
        self._routed: dict[tuple[Any, Any], bool] = {}  # (level, agency) → routed; the pairs repeat

    def _select(self, *lead):
        d = dossiers.c
        if self._new_only:
            return _new_select("dossier", self._batch_id, *lead, d.new_commune_code)
        return _dossier_select(self._batch_id, *lead, d.new_commune_code), _dossier_order()

    @staticmethod
    def _receives(dept: Department):
        d = dossiers.c
        return and_(
            _commune_is(d.new_province_code, dept.province_code), d.handling_agency.in_(dept.agencies)
        )

    def _is_routed(self, row: Sequence[Any]) -> bool:
        from handover.exports.portal import routed_to_province

        key = (row[_LEVEL_AT], row[_AGENCY_AT])
        found = self._routed.get(key)
        if found is None:
            found = self._routed[key] = routed_to_province(
                {"handling_level": key[0], "handling_agency": key[1]}
            )
        return found

    def _open(self) -> None:
        which = case(*((self._receives(dept), i) for i, dept in enumerate(self._departments)))
        stmt, order = self._select(which)
        stmt = stmt.where(or_(*(self._receives(dept) for dept in self._departments)))
        self._stream = stream_rows(self._conn, stmt.order_by(which, *order))
        self._head = next(self._stream, None)

    def rows(self, code: str | None) -> Iterator[Sequence[Any]]:
        index = self._index[code or ""]
        if index <= self._last:  # asked for out of order: its own query
            yield from self._own(self._departments[index])
            return
        self._last = index
        if self._stream is None:
            self._open()
        stream = self._stream
        assert stream is not None
        while self._head is not None and self._head[0] < index:
            self._head = next(stream, None)
        while self._head is not None and self._head[0] == index:
            row = self._head[1:]
            self._head = next(stream, None)
            if self._is_routed(row):
                yield row

    def _own(self, dept: Department) -> Iterator[Sequence[Any]]:
        stmt, order = self._select()
        for row in stream_rows(self._conn, stmt.where(self._receives(dept)).order_by(*order)):
            if self._is_routed(row):
                yield row

    def close(self) -> None:
        """Release the query (rows not read are dropped)."""
        if self._stream is not None:
            self._stream.close()  # type: ignore[attr-defined]
            self._stream, self._head = None, None


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
