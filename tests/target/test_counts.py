"""Per-source counts from the committed chunks and from the ledger: one home for the run, the reports and
``db verify``."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, delete

from handover.models import Counts
from handover.reports.queries.batch import ledger_tally
from handover.target import schema
from handover.target.counts import chunk_counts, ledger_counts
from tests.reports.factory import BATCH, build_target


def test_chunk_counts_sum_the_committed_chunks_per_source(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    try:
        build_target(engine)
        by_engine = chunk_counts(engine, BATCH)
        with engine.connect() as conn:
            assert chunk_counts(conn, BATCH) == by_engine  # on the caller's connection too
            assert by_engine == ledger_counts(conn, BATCH)  # the factory's chunks balance with its ledger
            assert ledger_tally(conn, BATCH).sources == ledger_counts(
                conn, BATCH
            )  # the reports count the same
        assert ledger_counts(engine, BATCH) == by_engine and list(ledger_counts(engine, BATCH)) == list(
            by_engine
        )
        assert ledger_counts(engine, "no-such-batch") == {}
        assert list(by_engine) == sorted(by_engine) and len(by_engine) > 1
        assert all(isinstance(c, Counts) and c.balanced() for c in by_engine.values())
        assert chunk_counts(engine, "no-such-batch") == {}
        with engine.begin() as conn:
            conn.execute(delete(schema.chunks).where(schema.chunks.c.source_id == "van_ban"))
        assert "van_ban" not in chunk_counts(engine, BATCH)
    finally:
        engine.dispose()
