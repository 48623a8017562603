"""Rounds: the batches of the same sources, each handing over what is new (a decisions round, a re-exported
source), and what each newly handed over to each receiving unit."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from handover.reports.queries.loaded import province_names, routed_department
from handover.target.schema import batch_sources, batches, dossiers, records
from handover.text import clean


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
                provinces = province_names() if provinces is None else provinces
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
