"""A batch leaves its process as it found it (the garbage collector's thresholds); user errors cross processes
(``handover run-many``'s) whole."""

from __future__ import annotations

import gc
import pickle
from pathlib import Path

import pytest

from handover.errors import HandoverError, LoadError


def test_user_errors_keep_hint_and_context_across_processes() -> None:
    """An error raised in another process (a batch of ``handover run-many``) arrives whole."""
    error = LoadError("the target refused chunk 3", hint="run it again", source="s", chunk=3)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is LoadError and isinstance(back, HandoverError)
    assert back.message == error.message and back.hint == "run it again"
    assert back.context == {"source": "s", "chunk": 3, "stage": "load"}
    assert str(back) == str(error) and back.exit_code == error.exit_code


@pytest.mark.slow
def test_a_batch_leaves_the_main_process_thresholds_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process keeps the caller's garbage-collector thresholds through a whole batch."""
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
