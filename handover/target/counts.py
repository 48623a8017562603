"""Per-source counts of a batch, the one home of both balances: as the loader committed them (the sums of its
``chunks`` rows, :func:`chunk_counts`) and as its ledger records them row by row (:func:`ledger_counts`).

Each committed chunk's transaction writes one ``chunks`` row with its row count and its count per disposition
(:data:`handover.models.DISPOSITIONS`), and one ledger row per extracted source row, so the two balance; the
reports (:func:`handover.reports.queries.batch.ledger_tally`, which counts the ledger per source and per unit
line in one query) and ``handover db verify`` (:mod:`handover.target.verify`) check one against the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, Engine, func, select

from handover.models import DISPOSITIONS, Counts
from handover.target.schema import chunks, ledger


def chunk_counts(bind: Engine | Connection, batch_id: str) -> dict[str, Counts]:
    """Per source id (in order): the sums of the batch's committed ``chunks`` rows, as :class:`Counts`
    (``extracted``: the rows). A source without a committed chunk is absent. ``bind``: an engine (a connection
    is opened and closed) or the caller's connection."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return chunk_counts(conn, batch_id)
    c = chunks.c
    stmt = (
        select(c.source_id, func.sum(c.rows), *(func.sum(c[d]) for d in DISPOSITIONS))
        .where(c.batch_id == batch_id)
        .group_by(c.source_id)
        .order_by(c.source_id)
    )
    return {
        source_id: Counts(
            extracted=int(rows or 0), **{d: int(v or 0) for d, v in zip(DISPOSITIONS, parts, strict=True)}
        )
        for source_id, rows, *parts in bind.execute(stmt)
    }


def counts_of(per_disposition: Mapping[str, int]) -> Counts:
    """Ledger rows counted per disposition as :class:`Counts`: ``extracted`` is every row (one ledger row per
    extracted source row)."""
    return Counts(
        extracted=sum(per_disposition.values()), **{d: per_disposition.get(d, 0) for d in DISPOSITIONS}
    )


def tally(rows: Iterable[tuple[str, str, int]]) -> dict[str, Counts]:
    """``(source_id, disposition, rows)`` triples (a source and disposition may come more than once) summed per
    source id, in order."""
    per_source: dict[str, dict[str, int]] = {}
    for source_id, disposition, n in rows:
        parts = per_source.setdefault(source_id, {})
        parts[disposition] = parts.get(disposition, 0) + int(n)
    return {source_id: counts_of(per_source[source_id]) for source_id in sorted(per_source)}


def ledger_counts(bind: Engine | Connection, batch_id: str) -> dict[str, Counts]:
    """Per source id (in order): the batch's ledger recounted, as :class:`Counts`. A source without a ledger row
    is absent. ``bind``: an engine (a connection is opened and closed) or the caller's connection."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return ledger_counts(conn, batch_id)
    lg = ledger.c
    stmt = (
        select(lg.source_id, lg.disposition, func.count())
        .where(lg.batch_id == batch_id)
        .group_by(lg.source_id, lg.disposition)
    )
    return tally(bind.execute(stmt).tuples())
