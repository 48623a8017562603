"""The SQLite inserts of a load alone: a kept target's rows (``e2e.py --keep DIR``) written again into a fresh
target, chunk by chunk as the batch committed them, each chunk in the loader's transaction (WAL checkpoint
thread included); prints the CPU and wall seconds per table, the commits, and the peak RSS as JSON.

    python benchmarks/sqlite_replay.py DIR/pipeline.db /tmp/replay.db [--cache KIB] [--mmap BYTES]
        [--drop INDEX,...] [--chunks N] [--pragma "name=value"]
"""

import argparse
import json
import os
import resource
import sqlite3
import time

from handover.target.db import open_target
from handover.target.loader import Loader

ap = argparse.ArgumentParser()
ap.add_argument("src")
ap.add_argument("dst")
ap.add_argument("--cache", type=int, default=0)
ap.add_argument("--mmap", type=int, default=0)
ap.add_argument("--drop", default="")
ap.add_argument("--chunks", type=int, default=0)
ap.add_argument("--pragma", action="append", default=[])
a = ap.parse_args()
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(a.dst + suffix):
        os.remove(a.dst + suffix)
src = sqlite3.connect(a.src)
engine = open_target(f"sqlite:///{a.dst}")
with engine.begin() as c:
    for ix in filter(None, a.drop.split(",")):
        c.exec_driver_sql(f"DROP INDEX {ix}")
    bid = src.execute("select batch_id from batches").fetchone()[0]
    c.exec_driver_sql(
        "INSERT INTO batches(batch_id,status,started_at) VALUES (?, 'running', '2026-01-01')", (bid,)
    )
loader = Loader(engine, bid)
cols = {
    t: [r[1] for r in src.execute(f"pragma table_info({t})") if r[1] != "id"]
    for t in ("dossiers", "ledger", "findings")
}
chunks = src.execute(
    "select source_id, chunk_index, rows, inserted from chunks order by chunk_index"
).fetchall()
if a.chunks:
    chunks = chunks[: a.chunks]
t = {"dossiers": 0.0, "ledger": 0.0, "findings": 0.0, "commit": 0.0}
c_ = dict(t)
row0, id0 = 0, 0
wall0, cpu0 = time.perf_counter(), time.process_time()
for _source_id, _index, n, inserted in chunks:
    data = {
        "dossiers": src.execute(
            f"select {','.join(cols['dossiers'])} from dossiers where id > ? and id <= ? order by id",
            (id0, id0 + inserted),
        ).fetchall(),
        "ledger": src.execute(
            f"select {','.join(cols['ledger'])} from ledger where source_row > ? and source_row <= ? order by natural_key, source_row",
            (row0, row0 + n),
        ).fetchall(),
        "findings": src.execute(
            f"select {','.join(cols['findings'])} from findings where source_row > ? and source_row <= ?",
            (row0, row0 + n),
        ).fetchall(),
    }
    row0 += n
    id0 += inserted
    with loader._chunk_transaction() as conn:
        if a.cache:
            conn.exec_driver_sql(f"PRAGMA cache_size=-{a.cache}")
        if a.mmap:
            conn.exec_driver_sql(f"PRAGMA mmap_size={a.mmap}")
        for p in a.pragma:
            conn.exec_driver_sql(f"PRAGMA {p}")
        raw = conn.connection.driver_connection
        for table in ("dossiers", "ledger", "findings"):
            w, p = time.perf_counter(), time.process_time()
            rows = data[table]
            st = f"INSERT INTO {table} ({','.join(cols[table])}) VALUES ({','.join('?' * len(cols[table]))})"
            for s in range(0, len(rows), 20000):
                conn.exec_driver_sql(st, rows[s : s + 20000])
            t[table] += time.perf_counter() - w
            c_[table] += time.process_time() - p
        w, p = time.perf_counter(), time.process_time()
    t["commit"] += time.perf_counter() - w
    c_["commit"] += time.process_time() - p
    del data
w, p = time.perf_counter(), time.process_time()
loader.close()
t["close"] = time.perf_counter() - w
c_["close"] = time.process_time() - p
total_w = sum(t.values())
total_c = sum(c_.values())
print(
    json.dumps(
        {
            "args": vars(a),
            "wall": {k: round(v, 2) for k, v in t.items()},
            "cpu": {k: round(v, 2) for k, v in c_.items()},
            "insert_wall": round(total_w, 2),
            "insert_cpu": round(total_c, 2),
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            "size_mb": os.path.getsize(a.dst) // 2**20,
        }
    )
)
