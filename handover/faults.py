"""Crash and pause points for the crash-safety and concurrency tests.

``checkpoint("load.inside")`` does nothing unless the environment variable ``HANDOVER_CRASH_AT`` names that point
(optionally ``point:N`` for its N-th passage, 1-based); then the process sends itself SIGKILL, exactly as a power
cut or ``kill -9`` would: no ``finally`` block, no rollback, no flush. ``HANDOVER_PAUSE_AT=point`` makes it sleep
there for ``HANDOVER_PAUSE_SECONDS`` (default 30) instead, holding whatever it holds (the batch lock).
Used only by tests and drills.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

_passed: Counter[str] = Counter()


def checkpoint(point: str) -> None:
    """A place where a crash is survivable by design; kill the process here when asked to."""
    if os.environ.get("HANDOVER_PAUSE_AT") == point:
        time.sleep(float(os.environ.get("HANDOVER_PAUSE_SECONDS", "30")))
    wanted = os.environ.get("HANDOVER_CRASH_AT")
    if not wanted:
        return
    name, _, nth = wanted.partition(":")
    if name != point:
        return
    _passed[point] += 1
    if _passed[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str | None) -> None:
    """Set (or, with None, clear) this process's ``HANDOVER_CRASH_AT``, and start counting its passages afresh:
    a crash drill on one worker process of a cluster (``client.run(arm, "load.between:1", workers=[...])``)."""
    if point is None:
        os.environ.pop("HANDOVER_CRASH_AT", None)
    else:
        os.environ["HANDOVER_CRASH_AT"] = point
    _passed.clear()
