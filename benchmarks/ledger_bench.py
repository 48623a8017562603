"""The ledger's write cost on SQLite: insertion order and the indexes, in the same run.

    python benchmarks/ledger_bench.py [--rows 1000000] [--chunk-size 20000]

Writes ``--rows`` ledger rows (dossier-code-like keys in no particular order, as a district export gives them)
into a fresh SQLite target made by :func:`handover.target.db.open_target` (the project's pragmas and schema),
one transaction per chunk through :func:`handover.target.writers.insert_columns`, as the loader does, four ways:

* ``source_order_with_ix_ledger_key``: rows in source order, with the index revision 0002 dropped (the baseline:
  what the loader did before);
* ``key_order_with_ix_ledger_key``: each chunk sorted by key;
* ``source_order``: without ``ix_ledger_key``;
* ``key_order``: both (what the loader does now).

Prints one JSON object: seconds per way (``insert`` = the statements, ``commit``), and each way's total as a
ratio of the baseline's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WAYS = ("source_order_with_ix_ledger_key", "key_order_with_ix_ledger_key", "source_order", "key_order")


def _keys(rows: int) -> list[str]:
    rnd = random.Random(20250701)
    return [
        f"000.00.{rnd.randint(10, 99)}.H23-{rnd.randint(240101, 251231)}-{rnd.randint(0, 9999):04d}"
        for _ in range(rows)
    ]


def run_way(way: str, keys: list[str], chunk_size: int, folder: Path) -> dict[str, object]:
    from handover.target import schema, writers
    from handover.target.db import open_target

    engine = open_target(f"sqlite:///{folder / (way + '.db')}")
    try:
        if way.endswith("_with_ix_ledger_key"):
            with engine.begin() as conn:
                conn.exec_driver_sql("CREATE INDEX ix_ledger_key ON ledger (source_id, natural_key)")
        insert = commit = 0.0
        for start in range(0, len(keys), chunk_size):
            rows = range(start, min(len(keys), start + chunk_size))
            order = sorted(rows, key=keys.__getitem__) if way.startswith("key_order") else list(rows)
            n = len(order)
            data = {
                "batch_id": ["bench"] * n,
                "source_id": ["src-a"] * n,
                "source_row": [i + 2 for i in order],
                "entity": ["dossier"] * n,
                "natural_key": [keys[i] for i in order],
                "content_hash": [hashlib.sha256(keys[i].encode()).hexdigest() for i in order],
                "disposition": ["loaded"] * n,
                "action": ["inserted"] * n,
                "old_commune_code": ["02938"] * n,
                "old_commune_name": ["Xã Sơn Hà"] * n,
                "new_commune_code": ["02905"] * n,
                "new_commune_name": ["Xã Bảo Thắng"] * n,
                "unit_status": ["unique"] * n,
            }
            conn = engine.connect()
            trans = conn.begin()
            t0 = time.perf_counter()
            writers.insert_columns(conn, schema.ledger, data)
            t1 = time.perf_counter()
            trans.commit()
            t2 = time.perf_counter()
            conn.close()
            insert += t1 - t0
            commit += t2 - t1
        with engine.connect() as conn:
            written = conn.exec_driver_sql("SELECT count(*) FROM ledger").scalar_one()
            indexes = sorted(r[1] for r in conn.exec_driver_sql("PRAGMA index_list(ledger)") if r[3] == "c")
        return {
            "insert": round(insert, 2),
            "commit": round(commit, 2),
            "total": round(insert + commit, 4),
            "rows_written": written,
            "indexes": indexes,
        }
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--chunk-size", type=int, default=20_000)
    args = ap.parse_args(argv)
    keys = _keys(args.rows)
    out: dict[str, object] = {"rows": args.rows, "chunk_size": args.chunk_size}
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        for way in WAYS:
            out[way] = run_way(way, keys, args.chunk_size, Path(tmp))
    base = max(out[WAYS[0]]["total"], 1e-4)  # type: ignore[index]
    out["ratio_to_baseline"] = {w: round(out[w]["total"] / base, 3) for w in WAYS}  # type: ignore[index]
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
