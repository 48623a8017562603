"""What every worker process of handover does first (:func:`start_worker`): leave when the process that started it
is gone, and tune Python's garbage collector for batch work."""

from __future__ import annotations

import gc
import os
import threading
import time

# Python collects its youngest generation after every 700 new container objects. A worker validating or
# preparing a chunk of 20,000 rows makes millions of objects that live until the chunk is done, so most
# collections find nothing to free and walk the same survivors again. Every 50,000: a tenth less time to
# validate and prepare a chunk (benchmarks/RESULTS.md, sixth session), and the workers' memory stays as it was.
# Not in the main process: there the same setting made the peak grow with the batch on PostgreSQL (1M rows:
# 336 → 375 MB; 3M rows: 351 → 485 MB). The older generations keep Python's ratios (10 and 10).
BATCH_GC_THRESHOLD = (50_000, 10, 10)


def start_worker(parent: int) -> None:
    """The first thing a worker process does: :func:`exit_with_parent`, and the batch's garbage-collector
    thresholds (:data:`BATCH_GC_THRESHOLD`) for the rest of its life."""
    exit_with_parent(parent)
    gc.set_threshold(*BATCH_GC_THRESHOLD)


def exit_with_parent(parent: int) -> None:
    """Exit this process as soon as ``parent`` is no longer its parent (checked twice a second, in a daemon
    thread). A main process that is killed (SIGKILL, a crash drill, the OOM killer) cannot stop its workers, and
    an orphaned worker would keep its memory and the caller's output pipes, waiting for work forever. ``parent``
    is passed in rather than read here, so that a parent killed before this runs is noticed too."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="handover-parent-watch", daemon=True).start()
