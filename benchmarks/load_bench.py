"""Load speed on PostgreSQL: the project's loader against a plain COPY of the same rows, in the same run.

    python benchmarks/load_bench.py [--url postgresql://postgres@127.0.0.1:5432/postgres] [--rows 100000]
                                    [--chunk-size 20000] [--out result.json] [--db postgresql|sqlite]

The server URL names an existing database used only to create (and drop) two throw-away databases:
one loaded by :class:`handover.target.loader.Loader` (key look-ups, content hashes, ledger, findings, progress
rows, one transaction per chunk), one filled by a single ``COPY dossiers FROM STDIN`` of the same target rows
(already converted and hashed, outside the timing). Prints JSON; ``ratio`` = loader rows/s ÷ COPY rows/s is
the figure to quote (1.0 would mean the loader costs nothing over the raw COPY).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def synthetic_chunks(rows: int, chunk_size: int, source_id: str = "bt") -> list[Any]:
    """Mapped, validated dossier chunks (90% loaded, the rest held back), built column-wise."""
    import numpy as np
    import pandas as pd

    from handover.models import DOSSIER_FIELDS, MAPPED_COLUMNS, Chunk, Entity

    rng = np.random.default_rng(20250701)
    chunks = []
    for index, start in enumerate(range(0, rows, chunk_size)):
        n = min(chunk_size, rows - start)
        number = np.arange(start, start + n)
        frame = pd.DataFrame(
            {c: [None] * n for c in ("source_id", "source_row", "extras", *DOSSIER_FIELDS, *MAPPED_COLUMNS)}
        )
        frame["source_id"] = source_id
        frame["source_system"] = source_id
        frame["source_row"] = number + 2
        frame["dossier_code"] = [
            f"000.00.53.H48-2506{d % 28 + 1:02d}-{i:07d}" for i, d in zip(number, number, strict=True)
        ]
        frame["procedure_code"] = rng.choice(["1.001612", "1.000894", "2.000528"], n)
        frame["procedure_name"] = "Đăng ký khai sinh"
        frame["applicant_name"] = rng.choice(["Nguyễn Thị Hoà", "Lò Văn Sáng", "Trần Đức Thắng"], n)
        frame["applicant_id"] = [f"0{i % 99:02d}20300{i:05d}"[:12] for i in number]
        frame["phone"] = [f"09{i % 100000000:08d}" for i in number]
        frame["received_date"] = [f"2025-06-{d % 28 + 1:02d}" for d in number]
        frame["due_date"] = "2025-07-10"
        frame["status_raw"] = "Đang xử lý"
        frame["fee"] = rng.choice([0.0, 50000.0, 100000.0], n)
        frame["address"] = "Thôn Cóc, xã Sơn Hà"
        frame["old_district_code"] = "086"
        frame["old_commune_code"] = "02938"
        frame["new_province_code"] = "15"
        frame["new_commune_code"] = "02905"
        frame["new_commune_name"] = "Xã Bảo Thắng"
        frame["unit_status"] = "unique"
        frame["extras"] = '{"Ghi chú": "ưu tiên"}'
        frame["disposition"] = np.where(number % 10 == 9, "review", "loaded")
        frame["reason"] = np.where(number % 10 == 9, "Xã bị chia tách", None)
        chunks.append(Chunk(source_id=source_id, entity=Entity.DOSSIER, index=index, frame=frame))
    return chunks


def _fresh(admin: Any, name: str) -> None:
    from sqlalchemy import text

    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))


def _drop(admin: Any, name: str) -> None:
    from sqlalchemy import text

    with admin.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
        )
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))


def _time_loader(engine: Any, chunks: list[Any]) -> tuple[float, float]:
    """The project's loader over ``chunks`` as one batch: (wall seconds, CPU seconds)."""
    from handover.models import SourceFingerprint
    from handover.target.loader import Loader

    source = SourceFingerprint(
        source_id="bt", kind="csv", location="bench", entity="dossier", sha256="0" * 64
    )
    started = time.perf_counter()
    cpu = time.process_time()
    loader = Loader(engine, "bench")
    loader.begin_batch("benchmark", "0" * 64, [source])
    for chunk in chunks:
        loader.load_chunk(chunk)
    loader.finish_batch({})
    return time.perf_counter() - started, time.process_time() - cpu


def run_sqlite(rows: int, chunk_size: int) -> dict[str, Any]:
    """The loader into a fresh SQLite file, against one plain ``executemany`` of the same final rows."""
    import tempfile
    from datetime import date, datetime

    from sqlalchemy import func, select

    from handover.target import schema
    from handover.target.db import open_target

    chunks = synthetic_chunks(rows, chunk_size)
    with tempfile.TemporaryDirectory() as folder:
        engine = open_target(f"sqlite:///{folder}/bench.db")
        seconds, cpu = _time_loader(engine, chunks)
        with engine.connect() as conn:
            loaded = conn.execute(select(func.count()).select_from(schema.dossiers)).scalar_one()
            target_rows = [
                {k: v for k, v in r.items() if k != "id"}
                for r in conn.execute(select(schema.dossiers).order_by(schema.dossiers.c.id)).mappings()
            ]
        engine.dispose()
        # The floor: one plain executemany of the same final rows (tuples, prepared outside the timing).
        import sqlite3

        floor_engine = open_target(f"sqlite:///{folder}/floor.db")
        floor_engine.dispose()
        columns = list(target_rows[0])
        tuples = [
            tuple(str(v) if isinstance(v, (date, datetime)) else v for v in r.values()) for r in target_rows
        ]
        raw = sqlite3.connect(f"{folder}/floor.db", isolation_level=None)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")
        floor_started = time.perf_counter()
        raw.execute("BEGIN")
        raw.executemany(
            f"INSERT INTO dossiers ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", tuples
        )
        raw.execute("COMMIT")
        floor_seconds = time.perf_counter() - floor_started
        raw.close()
    return {
        "rows": rows,
        "chunk_size": chunk_size,
        "chunks": len(chunks),
        "loaded_rows": loaded,
        "loader_seconds": round(seconds, 3),
        "loader_cpu_seconds": round(cpu, 3),
        "loader_rows_per_s": round(rows / seconds, 1),
        "executemany_seconds": round(floor_seconds, 3),
        "executemany_rows_per_s": round(loaded / floor_seconds, 1),
        "ratio": round((rows / seconds) / (loaded / floor_seconds), 3),
        "note": "executemany = one plain sqlite3 executemany of the final dossier rows (the floor); loader rows/s "
        "counts every extracted row (ledger for all)",
        "server": "SQLite",
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


def run(url: str, rows: int, chunk_size: int) -> dict[str, Any]:
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.engine import make_url

    from handover.target import schema, writers
    from handover.target.db import open_target

    base = make_url(url)
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    tag = uuid.uuid4().hex[:8]
    names = {"loader": f"ho_bench_loader_{tag}", "copy": f"ho_bench_copy_{tag}"}
    chunks = synthetic_chunks(rows, chunk_size)
    result: dict[str, Any] = {"rows": rows, "chunk_size": chunk_size, "chunks": len(chunks)}
    try:
        for name in names.values():
            _fresh(admin, name)
        # 1. The project's loader.
        engine = open_target(base.set(database=names["loader"]).render_as_string(hide_password=False))
        loader_seconds, cpu = _time_loader(engine, chunks)
        with engine.connect() as conn:
            target_rows = [
                dict(r)
                for r in conn.execute(select(schema.dossiers).order_by(schema.dossiers.c.id)).mappings()
            ]
            server = conn.exec_driver_sql("SHOW server_version").scalar()
        engine.dispose()
        # 2. A plain COPY of the same target rows (prepared beforehand, outside the timing).
        copy_engine = open_target(base.set(database=names["copy"]).render_as_string(hide_password=False))
        prepared = [{k: v for k, v in r.items() if k != "id"} for r in target_rows]
        started = time.perf_counter()
        with copy_engine.begin() as conn:
            writers.insert_rows(conn, schema.dossiers, prepared)  # COPY on PostgreSQL
        copy_seconds = time.perf_counter() - started
        with copy_engine.connect() as conn:
            copied = conn.execute(select(func.count()).select_from(schema.dossiers)).scalar_one()
        copy_engine.dispose()
        loaded = len(target_rows)
        assert copied == loaded, (copied, loaded)
        result.update(
            loaded_rows=loaded,
            loader_seconds=round(loader_seconds, 3),
            loader_cpu_seconds=round(cpu, 3),
            loader_rows_per_s=round(rows / loader_seconds, 1),
            copy_seconds=round(copy_seconds, 3),
            copy_rows_per_s=round(loaded / copy_seconds, 1),
            ratio=round((rows / loader_seconds) / (loaded / copy_seconds), 3),
            note="loader rows/s counts every extracted row (ledger for all); COPY rows/s counts the loaded rows",
            server=f"PostgreSQL {server}",
            python=platform.python_version(),
            cpu_count=os.cpu_count(),
        )
        return result
    finally:
        for name in names.values():
            _drop(admin, name)
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "HANDOVER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="PostgreSQL server (an existing database, used to create and drop the benchmark databases)",
    )
    parser.add_argument(
        "--db", choices=("postgresql", "sqlite"), default="postgresql", help="target kind (sqlite: no COPY)"
    )
    parser.add_argument("--rows", type=int, default=100_000, help="extracted rows to load")
    parser.add_argument("--chunk-size", type=int, default=20_000, help="rows per chunk")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    if args.db == "sqlite":
        result = run_sqlite(args.rows, args.chunk_size)
    else:
        result = run(args.url, args.rows, args.chunk_size)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
