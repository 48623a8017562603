"""Worker start-up and the batch's garbage-collector thresholds (handover.processes)."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from handover.pipeline.workers import Workers
from handover.processes import BATCH_GC_THRESHOLD, batch_gc


def test_batch_gc_sets_the_thresholds_inside_and_restores_them_after_an_error() -> None:
    before = gc.get_threshold()
    assert before != BATCH_GC_THRESHOLD
    with pytest.raises(RuntimeError), batch_gc():
        assert gc.get_threshold() == BATCH_GC_THRESHOLD
        raise RuntimeError("stop")
    assert gc.get_threshold() == before

    @batch_gc()
    def inside() -> tuple[int, ...]:
        return gc.get_threshold()

    assert inside() == BATCH_GC_THRESHOLD and gc.get_threshold() == before


def test_pipeline_workers_run_with_the_batch_thresholds() -> None:
    with Workers(1) as workers:
        assert workers.result(workers.submit(gc.get_threshold)) == BATCH_GC_THRESHOLD
        assert workers.result(workers.submit(os.getppid)) == os.getpid()


@pytest.mark.slow
def test_a_batch_runs_with_the_batch_thresholds_and_restores_the_callers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``handover demo``'s main process: the batch's thresholds inside the run (seen as the report stage, the
    last one, starts), the caller's again afterwards."""
    import handover.reports
    from handover.pipeline.run import run_demo

    seen: list[tuple[int, ...]] = []
    original = handover.reports.write_reports

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(gc.get_threshold())
        return original(*args, **kwargs)

    monkeypatch.setattr(handover.reports, "write_reports", spy)
    before = gc.get_threshold()
    gc.set_threshold(900, 11, 12)
    try:
        result = run_demo(tmp_path, rows=60)
        after = gc.get_threshold()
    finally:
        gc.set_threshold(*before)
    assert result.status == "finished" and result.total.extracted > 0
    assert seen == [BATCH_GC_THRESHOLD]
    assert after == (900, 11, 12)
