"""Worker start-up (handover.processes): the garbage-collector thresholds of batch work in every worker, and
none in the main process."""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from handover.pipeline.workers import Workers
from handover.processes import BATCH_GC_THRESHOLD


def test_pipeline_workers_run_with_the_batch_thresholds() -> None:
    assert gc.get_threshold() != BATCH_GC_THRESHOLD
    with Workers(1) as workers:
        assert workers.result(workers.submit(gc.get_threshold)) == BATCH_GC_THRESHOLD
        assert workers.result(workers.submit(os.getppid)) == os.getpid()


class _Marker:
    """Writes ``deleted`` into its folder when Python deletes it (at interpreter teardown, for a global)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    # what __del__ uses is bound when the class is made: late in a teardown, module globals may be gone
    def __del__(
        self,
        _open: Callable[..., int] = os.open,
        _close: Callable[[int], None] = os.close,
        _flags: int = os.O_CREAT | os.O_WRONLY,
    ) -> None:
        _close(_open(self.folder + "/deleted", _flags, 0o600))


_kept: list[_Marker] = []


def _leave_markers(folder: str) -> None:
    import atexit

    _kept.append(_Marker(folder))  # lives until the process ends
    atexit.register(Path(folder, "atexit").write_text, "yes", encoding="utf-8")


def test_pipeline_workers_leave_without_tearing_down_the_interpreter(tmp_path: Path) -> None:
    """A pool worker ends at once when the pool closes: what was registered to run at exit still runs (temporary
    files' clean-up is), the module-by-module teardown (a second with great-expectations) does not."""
    with Workers(1) as workers:
        workers.result(workers.submit(_leave_markers, str(tmp_path)))
    assert (tmp_path / "atexit").read_text(encoding="utf-8") == "yes"
    assert not (tmp_path / "deleted").exists()


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
