"""Rolling back a batch that updated rows another batch loaded: how the cost grows with the rows.

    python benchmarks/rollback_bench.py [--rows 16000 64000] [--db sqlite | URL]

For each N: batch A loads N dossiers; batch B delivers the same N with another phone number under the ``update``
policy (N rows updated, N history entries); then ``rollback_batch(B)`` (N versions restored) and, after it,
``rollback_batch(A)`` (N rows deleted), each timed. The same rollbacks run a second time on a target without
``ix_history_key`` (revision 0003), the way every target was before it: that is the same-run baseline.

Each rollback runs in a child process of its own, so that its peak resident memory (``VmHWM``) is the
rollback's alone. Prints one JSON object: per N and per way (``with_index``, ``without_index``) the seconds and
the peak RSS (MB) of each rollback, and ``seconds_per_1000_rows`` of the updating batch's rollback (flat when the
cost grows in proportion to N; the peak RSS stays flat when a rollback streams its batch).
Rows come from the tests' chunk factory (``tests/target/factories.py``), as the loader receives them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHUNK = 5000


def _load(engine, batch_id: str, phones: list[str], policy: str) -> None:
    from handover.target.loader import Loader
    from tests.target import factories as f

    loader = Loader(engine, batch_id, conflict_policy=policy)
    loader.begin_batch(batch_id, "c" * 64, [f.source()])
    for index, start in enumerate(range(0, len(phones), CHUNK)):
        rows = [
            f.dossier(f"H-{i:07d}", phone=phones[i]) for i in range(start, min(len(phones), start + CHUNK))
        ]
        loader.load_chunk(f.chunk(rows, index=index, first_row=start + 2))
    loader.finish_batch({})


def run(url: str, rows: int, index: bool) -> dict[str, float]:
    from sqlalchemy import text

    from handover.target.db import open_target

    engine = open_target(url)
    try:
        if not index:
            with engine.begin() as conn:
                conn.execute(text("DROP INDEX ix_history_key" + (" ON history" if "mysql" in url else "")))
        _load(engine, "A", [f"09{i:08d}" for i in range(rows)], "keep")
        _load(engine, "B", ["0999999999"] * rows, "update")
    finally:
        engine.dispose()
    updating = _rollback_in_child(url, "B")
    inserting = _rollback_in_child(url, "A")
    restored, deleted = (
        updating["rows_restored"].get("dossiers", 0),
        inserting["rows_deleted"].get("dossiers", 0),
    )
    if (restored, deleted) != (rows, rows):
        raise SystemExit(
            f"rollback_bench: expected {rows} rows restored and deleted, got {restored}, {deleted}"
        )
    return {
        "rollback_updating_batch_s": updating["seconds"],
        "rollback_inserting_batch_s": inserting["seconds"],
        "seconds_per_1000_rows": round(updating["seconds"] * 1000 / rows, 3),
        "rollback_updating_peak_rss_mb": updating["peak_rss_mb"],
        "rollback_inserting_peak_rss_mb": inserting["peak_rss_mb"],
    }


def _rollback_in_child(url: str, batch_id: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "_child", url, batch_id], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"rollback_bench: the rollback of {batch_id} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def child(url: str, batch_id: str) -> dict:
    """One rollback, timed, with this process's peak RSS."""
    from contenders import maxrss_mb

    from handover.target.db import open_target
    from handover.target.rollback import rollback_batch

    engine = open_target(url)
    try:
        started = time.perf_counter()
        result = rollback_batch(engine, batch_id)
        seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return {
        "seconds": round(seconds, 3),
        "rows_restored": result.rows_restored,
        "rows_deleted": result.rows_deleted,
        "peak_rss_mb": maxrss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        print(json.dumps(child(argv[1], argv[2])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[16000, 64000], help="rows per run")
    ap.add_argument("--db", default="sqlite", help="'sqlite', or a server URL that gets throw-away databases")
    ap.add_argument(
        "--baseline-max-rows", type=int, default=64000, help="run the way without the index up to this N only"
    )
    args = ap.parse_args(argv)
    from e2e import Databases  # fresh SQLite files, or throw-away databases on the server

    out: dict[str, object] = {"db": args.db.split(":", 1)[0], "runs": {}}
    with tempfile.TemporaryDirectory(prefix="handover-rollback-bench-") as tmp:
        dbs = Databases(args.db, Path(tmp))
        try:
            for rows in args.rows:
                result: dict[str, object] = {}
                for way, index in (("with_index", True), ("without_index", False)):
                    if not index and rows > args.baseline_max_rows:
                        continue
                    result[way] = run(dbs.fresh(f"{way}_{rows}"), rows, index)
                out["runs"][str(rows)] = result  # type: ignore[index]
                print(f"[rollback_bench] {rows} rows: {json.dumps(result)}", file=sys.stderr, flush=True)
        finally:
            dbs.drop_all()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
