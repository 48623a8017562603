"""Per-source counts of a batch as the loader committed them: the sums of its ``chunks`` rows.

Each committed chunk's transaction writes one ``chunks`` row with its row count and its count per disposition
(:data:`handover.models.DISPOSITIONS`), so these sums are the balance the loader recorded; the ledger recounted
row by row (:mod:`handover.reports.queries.batch`, :mod:`handover.target.verify`) is checked against them.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, select

from handover.models import DISPOSITIONS, Counts
from handover.target.schema import chunks


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
