"""The write floor of benchmarks/e2e.py: a plain program that reads the same CSV as dlt does and writes every row
the pipeline wrote, through the fastest plain path, into fresh tables of the same shape (indexes included).

Two child processes of e2e.py:

- :func:`child_prepare` (untimed), after the pipeline's run: creates the schema of each fresh floor database
  through ``handover``'s own migrations (``open_target``: the same tables, keys and indexes as the pipeline's
  target), and dumps every table of the pipeline's target that holds rows (but the migrations' bookkeeping) into
  the work folder, split into as many slices as the pipeline committed chunks (the ``chunks`` table's rows).
  SQLite: a stream of pickled slices, each the rows of every table as tuples of the values the pipeline bound.
  PostgreSQL: each table's ``COPY TO`` text and the byte length of each slice.
- :func:`child_floor` (timed like every contender, from its process's start): ``setup`` (imports), ``extract``
  (pyarrow reads the CSV, every column as text: dlt's read, :func:`contenders.read_csv_arrow`), ``write``: every
  dumped row into the fresh database. SQLite: ``executemany`` of the bound rows of each table slice on the
  target's own connection settings (:func:`handover.target.sqlite.sqlite_pragmas`), the connection closed at the
  end (its last WAL checkpoint included); PostgreSQL: psycopg ``COPY FROM STDIN`` of the dumped text. Mode
  ``one``: everything in one transaction (PostgreSQL: one COPY per table); mode ``chunked``: one transaction
  per slice, as the pipeline commits per chunk (PostgreSQL: one COPY per table and slice). Unpickling the SQLite
  slices is timed apart and left out of its seconds and CPU seconds (``excluded``): the floor holds the rows as
  the pipeline would have built them. The rows written are counted after the timing.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# The target's bookkeeping of migrations, which a batch does not write.
NOT_WRITTEN = ("alembic_version",)


def _sqlite_path(url: str) -> str:
    from sqlalchemy.engine import make_url

    return str(make_url(url).database)


def _conninfo(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _bounds(rows: int, slices: int) -> list[int]:
    """Row counts of ``slices`` near-equal consecutive slices of ``rows`` rows."""
    edges = [rows * i // slices for i in range(slices + 1)]
    return [b - a for a, b in pairwise(edges)]


def child_prepare(source_url: str, floor_urls: list[str], work: str) -> dict:
    """Create the floor databases' schema and dump the pipeline's rows; returns the manifest (also written to
    ``work/floor-manifest.json``) that :func:`child_floor` reads."""
    from sqlalchemy import inspect

    from handover.target.db import open_target

    shapes = []
    for url in floor_urls:
        engine = open_target(url)
        shapes.append(set(inspect(engine).get_table_names()))
        engine.dispose()
    known = set.intersection(*shapes)
    kind = "sqlite" if source_url.startswith("sqlite") else "postgresql"
    folder = Path(work) / "floor-dump"
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        manifest = _dump_sqlite(_sqlite_path(source_url), known, folder)
    else:
        manifest = _dump_postgresql(_conninfo(source_url), known, folder)
    manifest["kind"] = kind
    # each floor database as its child connects to it: a file path, or psycopg's conninfo (no SQLAlchemy there)
    manifest["connect"] = {
        url: _sqlite_path(url) if kind == "sqlite" else _conninfo(url) for url in floor_urls
    }
    (Path(work) / "floor-manifest.json").write_text(json.dumps(manifest))
    return {"tables": {t: m["rows"] for t, m in manifest["tables"].items()}, "slices": manifest["slices"]}


def _dump_sqlite(path: str, known: set[str], folder: Path) -> dict:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        names = [
            n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        counts = {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names if n in known}
        counts = {n: c for n, c in counts.items() if c and n not in NOT_WRITTEN}
        slices = max(1, counts.get("chunks", 1))
        tables: dict[str, dict] = {}
        cursors = {}
        for name in counts:
            cursors[name] = conn.execute(f'SELECT * FROM "{name}"')
            columns = [d[0] for d in cursors[name].description]
            tables[name] = {"rows": counts[name], "columns": columns, "slices": _bounds(counts[name], slices)}
        dump = folder / "rows.pickle"
        with dump.open("wb") as fh:
            for i in range(slices):
                part = [
                    (n, cursors[n].fetchmany(t["slices"][i])) for n, t in tables.items() if t["slices"][i]
                ]
                pickle.dump(part, fh, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        conn.close()
    return {"slices": slices, "tables": tables, "file": str(dump)}


def written_tables_postgresql(cur: Any) -> dict[str, int]:
    """The row count of every table of a PostgreSQL target the batch wrote rows into (by name; psycopg cursor)."""
    names = cur.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    counts = {
        n: cur.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for (n,) in names if n not in NOT_WRITTEN
    }
    return {n: c for n, c in counts.items() if c}


def _dump_postgresql(conninfo: str, known: set[str], folder: Path) -> dict:
    import psycopg

    tables: dict[str, dict] = {}
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        counts = {n: c for n, c in written_tables_postgresql(cur).items() if n in known}
        slices = max(1, counts.get("chunks", 1))
        for name, rows in counts.items():
            dump = folder / f"{name}.copy"
            with dump.open("wb") as fh, cur.copy(f'COPY "{name}" TO STDOUT') as cp:
                for data in cp:
                    fh.write(data)
            # COPY's text format ends each row with a newline (newlines in values are escaped)
            lengths, sizes = [], _bounds(rows, slices)
            with dump.open("rb") as fh:
                for size in sizes:
                    lengths.append(sum(len(line) for _, line in zip(range(size), fh, strict=False)))
            tables[name] = {"rows": rows, "file": str(dump), "slices": sizes, "bytes": lengths}
    return {"slices": slices, "tables": tables}


def child_floor(path: str, url: str, manifest_path: str, mode: str) -> dict:
    """The write floor in one process (see the module's docstring); the figures e2e.py reads."""
    sys.path.insert(0, str(HERE))
    from contenders import Laps, cpu_seconds, maxrss_mb, read_csv_arrow

    stage = Laps()
    t0 = stage.t0
    manifest = json.loads(Path(manifest_path).read_text())
    sqlite, target = manifest["kind"] == "sqlite", manifest["connect"][url]
    if sqlite:
        import sqlite3

        from handover.target.sqlite import sqlite_pragmas
    else:
        import psycopg
    import pyarrow  # noqa: F401  (imported in setup, as dlt's child does)

    stage("setup")
    rows_in = read_csv_arrow(path).num_rows  # the table itself is not used: its read is the floor's extract
    stage("extract")
    excluded = {"seconds": 0.0, "cpu_seconds": 0.0}
    if sqlite:
        conn = sqlite3.connect(target, isolation_level=None)
        sqlite_pragmas(conn, None)
        inserts = {}
        for name, table in manifest["tables"].items():
            columns = ", ".join(f'"{c}"' for c in table["columns"])
            marks = ", ".join("?" * len(table["columns"]))
            inserts[name] = f'INSERT INTO "{name}" ({columns}) VALUES ({marks})'
        transactions = 0
        with open(manifest["file"], "rb") as fh:
            conn.execute("BEGIN")
            for i in range(manifest["slices"]):
                wall, cpu = time.perf_counter(), cpu_seconds()
                part = pickle.load(fh)
                excluded["seconds"] += time.perf_counter() - wall
                excluded["cpu_seconds"] += cpu_seconds() - cpu
                for name, rows in part:
                    conn.executemany(inserts[name], rows)
                del part
                if mode == "chunked" and i + 1 < manifest["slices"]:
                    conn.execute("COMMIT")
                    transactions += 1
                    conn.execute("BEGIN")
            conn.execute("COMMIT")
            transactions += 1
        conn.close()
    else:
        with psycopg.connect(target) as conn, conn.cursor() as cur:
            files = {n: open(t["file"], "rb") for n, t in manifest["tables"].items()}  # noqa: SIM115
            try:
                if mode == "one":
                    for name, fh in files.items():
                        with cur.copy(f'COPY "{name}" FROM STDIN') as cp:
                            while block := fh.read(1 << 20):
                                cp.write(block)
                    conn.commit()
                    transactions = 1
                else:
                    for i in range(manifest["slices"]):
                        for name, fh in files.items():
                            if size := manifest["tables"][name]["bytes"][i]:
                                with cur.copy(f'COPY "{name}" FROM STDIN') as cp:
                                    cp.write(fh.read(size))
                        conn.commit()
                    transactions = manifest["slices"]
            finally:
                for fh in files.values():
                    fh.close()
    stage("write")
    seconds = time.perf_counter() - t0 - excluded["seconds"]
    cpu = cpu_seconds() - excluded["cpu_seconds"]
    stage.stages["write"] = round(stage.stages["write"] - excluded["seconds"], 3)
    return {
        "mode": mode,
        "rows": rows_in,
        "seconds": round(seconds, 3),
        "stages": stage.stages,
        "cpu_seconds": round(cpu, 3),
        "excluded": {k: round(v, 3) for k, v in excluded.items()},
        "peak_rss_mb": maxrss_mb(),
        "transactions": transactions,
        "written_rows": _count(target, sqlite, list(manifest["tables"])),  # after the timing
    }


def _count(target: str, sqlite: bool, tables: list[str]) -> dict[str, int]:
    if sqlite:
        import sqlite3

        conn = sqlite3.connect(target)
        try:
            return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(target) as conn:
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
