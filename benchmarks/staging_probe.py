"""SQLite: what the loading process's writes would cost if the rows came from a staging file instead of Python.

    python benchmarks/staging_probe.py --db sqlite:///path/pipeline.db [--chunk-size 20000] [--repeat 2]

Takes the ``dossiers`` and ``ledger`` rows of a loaded target (e.g. kept by ``benchmarks/e2e.py --keep DIR``) and
writes them into fresh targets (the project's schema and pragmas), one transaction per chunk, two ways:

* ``executemany``: the rows as Python tuples through ``executemany``, as the loader writes them now (baseline);
* ``insert_select``: each chunk's rows first written (untimed: in the design, by the worker that prepares the
  chunk) into a staging SQLite file without indexes or journal, then copied by the loading process with
  ``INSERT ... SELECT`` from the attached file: no Python object per value on that side.

Prints one JSON object: the seconds of each way per repeat (chunk transactions included) and the ratio of the
best ``insert_select`` to the best ``executemany``. A probe for the next step (benchmarks/RESULTS.md, fifth
session), not what the loader does.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _fresh(folder: Path, name: str) -> sqlite3.Connection:
    from handover.target.db import open_target

    path = folder / f"{name}.db"
    open_target(f"sqlite:///{path}").dispose()  # schema and journal mode as the project makes them
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint=20000")
    return conn


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def executemany(
    folder: Path, name: str, tables: dict[str, tuple[list[str], list[tuple]]], chunk: int
) -> float:
    conn = _fresh(folder, name)
    statements = {
        t: f"INSERT INTO {t} ({', '.join(c)}) VALUES ({_marks(len(c))})" for t, (c, _) in tables.items()
    }
    rows = max(len(r) for _, r in tables.values())
    started = time.perf_counter()
    for start in range(0, rows, chunk):
        conn.execute("BEGIN")
        for table, (_columns, data) in tables.items():
            conn.executemany(statements[table], data[start : start + chunk])
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def insert_select(
    folder: Path, name: str, tables: dict[str, tuple[list[str], list[tuple]]], chunk: int
) -> float:
    rows = max(len(r) for _, r in tables.values())
    staged: list[Path] = []
    for start in range(0, rows, chunk):  # the worker's part, not timed
        path = folder / f"{name}-stage-{start}.db"
        stage = sqlite3.connect(path, isolation_level=None)
        stage.execute("PRAGMA journal_mode=OFF")
        stage.execute("PRAGMA synchronous=OFF")
        stage.execute("BEGIN")
        for table, (columns, data) in tables.items():
            stage.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
            stage.executemany(
                f"INSERT INTO {table} VALUES ({_marks(len(columns))})", data[start : start + chunk]
            )
        stage.execute("COMMIT")
        stage.close()
        staged.append(path)
    conn = _fresh(folder, name)
    started = time.perf_counter()
    for path in staged:
        conn.execute("ATTACH DATABASE ? AS stage", (str(path),))
        conn.execute("BEGIN")
        for table, (columns, _data) in tables.items():
            listed = ", ".join(columns)
            conn.execute(f"INSERT INTO main.{table} ({listed}) SELECT {listed} FROM stage.{table}")
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE stage")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def _check_copied(path: Path, tables: dict[str, tuple[list[str], list[tuple]]]) -> None:
    conn = sqlite3.connect(path)
    try:
        for table, (_columns, data) in tables.items():
            written = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            if written != len(data):
                raise SystemExit(
                    f"staging_probe: {path.name}: {written} rows in {table}, expected {len(data)}"
                )
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="sqlite:///path of a loaded target")
    ap.add_argument("--chunk-size", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    path = args.db.removeprefix("sqlite:///")
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    tables: dict[str, tuple[list[str], list[tuple]]] = {}
    for table in ("dossiers", "ledger"):
        columns = [r[1] for r in source.execute(f"PRAGMA table_info({table})") if r[1] != "id"]
        tables[table] = (columns, source.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall())
    source.close()
    runs: dict[str, list[float]] = {"executemany": [], "insert_select": []}
    with tempfile.TemporaryDirectory(prefix="handover-staging-probe-") as tmp:
        for n in range(args.repeat):
            for way, fn in (("executemany", executemany), ("insert_select", insert_select)):
                runs[way].append(fn(Path(tmp), f"{way}-{n}", tables, args.chunk_size))
                _check_copied(Path(tmp) / f"{way}-{n}.db", tables)
                print(f"[staging_probe] {way}: {runs[way][-1]:.2f} s", file=sys.stderr, flush=True)
    print(
        json.dumps(
            {
                "rows": {t: len(r) for t, (_, r) in tables.items()},
                "chunk_size": args.chunk_size,
                "seconds": {way: [round(x, 3) for x in seconds] for way, seconds in runs.items()},
                "ratio_best": round(min(runs["insert_select"]) / max(min(runs["executemany"]), 1e-9), 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
