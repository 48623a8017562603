"""Worker start-up (handover.processes): the garbage-collector thresholds of batch work in every worker of the
report, and none in the main process; user errors cross processes whole."""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from handover.errors import HandoverError, LoadError
from handover.processes import BATCH_GC_THRESHOLD


def test_user_errors_keep_hint_and_context_across_processes() -> None:
    """An error raised in another process (a sheet writer, a batch of ``handover run-many``) arrives whole."""
    error = LoadError("the target refused chunk 3", hint="run it again", source="s", chunk=3)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is LoadError and isinstance(back, HandoverError)
    assert back.message == error.message and back.hint == "run it again"
    assert back.context == {"source": "s", "chunk": 3, "stage": "load"}
    assert str(back) == str(error) and back.exit_code == error.exit_code


def test_report_workers_run_with_the_batch_thresholds(tmp_path: Path) -> None:
    from handover.reports.workbook import _WORKER

    job = tmp_path / "job"
    job.write_bytes(pickle.dumps((gc.get_threshold, ())))
    subprocess.run([sys.executable, "-c", _WORKER, str(job), str(os.getpid())], check=True, timeout=60)
    status, result, _ = pickle.loads((tmp_path / "job.out").read_bytes())
    assert (status, result) == ("ok", BATCH_GC_THRESHOLD)


@pytest.mark.slow
def test_a_batch_leaves_the_main_process_thresholds_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The main process keeps the caller's thresholds through a whole batch (the batch's made its peak memory
    grow with the batch size on PostgreSQL)."""
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
    assert seen == [(900, 11, 12)] and after == (900, 11, 12)
