"""Starting and closing the pool of worker processes a batch validates and prepares its chunks in.

    python benchmarks/pool_bench.py [--workers 2] [--repeat 3]

Each round starts a :class:`~handover.pipeline.workers.Workers` pool, waits until every worker has built its
validators (great-expectations imported: what a batch's workers do first), then closes it, timing both. Two ways,
alternated round by round so that the machine's drift falls on both:

- ``leave_at_once``: the pool as batches run it (a worker ends with ``os._exit`` once its streams are flushed);
- ``interpreter_teardown``: the same pool with the plain worker start-up, whose workers end with the
  interpreter's module-by-module teardown: the way every pool closed before (the same-run baseline).

Prints one JSON object: per way, the start and close seconds of each round.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WAYS = ("leave_at_once", "interpreter_teardown")


def _round(way: str, count: int, barrier: Any) -> dict[str, float]:
    from handover.pipeline import workers
    from handover.processes import start_worker

    fast = workers._start_pool_worker
    if way == "interpreter_teardown":
        workers._start_pool_worker = start_worker  # the initializer the pool is made with
    try:
        started = time.perf_counter()
        pool = workers.Workers(count, ("dossier", "record"))  # each worker first builds its validators
    finally:
        workers._start_pool_worker = fast
    # ready when every worker is past its warm-up: a task each that waits until all are waiting
    for future in [pool.submit(barrier.wait, 120) for _ in range(count)]:
        pool.result(future)
    ready = time.perf_counter()
    pool.close()
    return {"start": round(ready - started, 3), "close": round(time.perf_counter() - ready, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rounds: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    with multiprocessing.Manager() as manager:
        barrier = manager.Barrier(args.workers)
        for i in range(args.repeat):
            for way in WAYS if i % 2 == 0 else WAYS[::-1]:
                rounds[way].append(_round(way, args.workers, barrier))
    print(json.dumps({"workers": args.workers, "rounds": rounds}))


if __name__ == "__main__":
    main()
