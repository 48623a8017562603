"""Time the report stage alone: ``handover.reports.write_reports`` on an existing target database.

Produce a target once (e.g. ``handover run`` on ``benchmarks/generate.py`` output), then::

    /tmp/venv/bin/python benchmarks/report_bench.py --db sqlite:///path/target.db [--batch ID] [--repeat 3]

Prints one JSON object: ``rows`` (loaded ledger rows of the batch), ``seconds`` (best of the repeats),
``rows_per_s``, ``cpu_seconds`` (user + system of the best repeat, this process), ``worker_cpu_seconds``
(the same for child processes: none, the workbook is written in one process), ``peak_rss_mb`` (this process, imports
included), ``worker_peak_rss_mb`` (the largest worker process), ``runs`` (every repeat's wall seconds),
``workbook_mb``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path


def _cpu(who: int = resource.RUSAGE_SELF) -> float:
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


def _maxrss_mb(who: int = resource.RUSAGE_SELF) -> float:
    kb = resource.getrusage(who).ru_maxrss
    return round(kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="SQLAlchemy URL of the target database")
    ap.add_argument("--batch", help="batch id (default: the latest batch in the target)")
    ap.add_argument("--out", type=Path, help="folder for the reports (default: a temporary folder)")
    ap.add_argument("--repeat", type=int, default=1, help="runs; the best is reported")
    ap.add_argument("--profile", metavar="FILE", help="pyinstrument text profile of the first run")
    args = ap.parse_args(argv)

    from sqlalchemy import create_engine, func, select

    from handover.reports import write_reports
    from handover.target.schema import batches, ledger

    engine = create_engine(args.db)
    with engine.connect() as conn:
        batch = (
            args.batch
            or conn.execute(
                select(batches.c.batch_id).order_by(batches.c.started_at.desc()).limit(1)
            ).scalar_one()
        )
        rows = conn.execute(
            select(func.count()).where(ledger.c.batch_id == batch, ledger.c.disposition == "loaded")
        ).scalar_one()

    runs: list[tuple[float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        for i in range(max(1, args.repeat)):
            profiler = None
            if args.profile and i == 0:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.005)
                profiler.start()
            c0, w0, t0 = _cpu(), _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
            paths = write_reports(engine, batch, out)
            runs.append((time.perf_counter() - t0, _cpu() - c0, _cpu(resource.RUSAGE_CHILDREN) - w0))
            if profiler is not None:
                profiler.stop()
                Path(args.profile).write_text(profiler.output_text(unicode=True, color=False))
        workbook_mb = round(paths.workbook.stat().st_size / 1e6, 2)
    engine.dispose()
    seconds, cpu, worker_cpu = min(runs)
    print(
        json.dumps(
            {
                "batch": batch,
                "rows": rows,
                "seconds": round(seconds, 3),
                "rows_per_s": round(rows / seconds) if seconds else None,
                "cpu_seconds": round(cpu, 3),
                "worker_cpu_seconds": round(worker_cpu, 3),
                "peak_rss_mb": _maxrss_mb(),
                "worker_peak_rss_mb": _maxrss_mb(resource.RUSAGE_CHILDREN),
                "runs": [round(s, 3) for s, _, _ in runs],
                "workbook_mb": workbook_mb,
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
