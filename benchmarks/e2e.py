"""End-to-end benchmark: the pipeline against the script a user would otherwise write, in the same run.

    python benchmarks/e2e.py --rows 100000 --db sqlite --json
    python benchmarks/e2e.py --rows 100000 --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres --json

1. Generates the input with benchmarks/generate.py (cached under benchmarks/out/gen-<format>-<rows>-s<seed>/).
2. Runs ``run_batch`` in a child process into a fresh database (a new SQLite file, or a throw-away database created
   on the server named by --db), so that the peak RSS reported is the pipeline's own.
3. Runs the naive baseline in another child process into another fresh database: pandas reads the whole file,
   maps each row's commune through a dict built from mappings/units/ (``DataFrame.apply(axis=1)``) and writes it
   with ``DataFrame.to_sql``. When it would take more than ~5 minutes it runs on the first rows only and is
   extrapolated (``baseline_sampled_rows`` says so).
4. On PostgreSQL: reads the rows the pipeline loaded into ``dossiers`` back to a file and times a plain psycopg
   ``COPY`` of them into an empty table of the same shape (indexes included): the physical floor.

Prints one JSON object (``--json``) or a short text summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
CHILD_TIMEOUT = 600  # seconds: no single run may take longer
BASELINE_BUDGET = 300  # above this (estimated) the baseline runs on a sample
PILOT_ROWS = 20_000


def log(msg: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def maxrss_mb() -> float:
    """This process's peak resident memory: VmHWM, which starts again at exec (Linux's ``ru_maxrss`` would
    carry the parent's size at the fork over into a child's figure)."""
    with suppress(OSError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (none since a batch works in one process): the
    figure to trust when other jobs share the machine."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return round(total, 3)


# ------------------------------------------------------------------------------------------------------------
# Children: each prints one JSON line on stdout as its last line.
# ------------------------------------------------------------------------------------------------------------


def _skip_reports() -> None:
    """--skip-report: replace the report writer by a stub (benchmark only: measures extract → load)."""
    import types

    import handover.reports

    def write_reports(engine: object, batch_id: str, out_dir: Path, **_: object) -> object:
        return types.SimpleNamespace(
            workbook=Path(out_dir) / "skipped.xlsx",
            html=Path(out_dir) / "skipped.html",
            notices=(),
            records=(),
        )

    handover.reports.write_reports = write_reports  # type: ignore[assignment]


def _analyze_before_reports() -> None:
    """--analyze: run ANALYZE on the target before the report stage (experiment for RESULTS.md item 1)."""
    from sqlalchemy import text

    import handover.reports

    original = handover.reports.write_reports

    def write_reports(engine, batch_id: str, out_dir: Path, **kwargs):  # type: ignore[no-untyped-def]
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE ledger, findings, dossiers"))
        return original(engine, batch_id, out_dir, **kwargs)

    handover.reports.write_reports = write_reports  # type: ignore[assignment]


def child_pipeline(
    config: str,
    url: str,
    report_dir: str,
    profile: str | None,
    dry_run: bool,
    skip_report: bool,
    analyze: bool,
    chunk_size: int | None = None,
) -> dict:
    t0 = time.perf_counter()
    from handover.config import load_config
    from handover.pipeline.run import run_batch

    if skip_report:
        _skip_reports()
    elif analyze:
        _analyze_before_reports()

    cfg = load_config(config)
    cfg.target.url = url
    cfg.report.dir = Path(report_dir)
    if chunk_size:
        cfg.batch.chunk_size = chunk_size
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()
    result = run_batch(cfg, dry_run=dry_run)
    seconds = time.perf_counter() - t0
    if profile:
        profiler.stop()
        Path(profile).write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": _cpu_seconds(),
        "peak_rss_mb": maxrss_mb(),
        "status": result.status,
        "chunk_size": cfg.batch.chunk_size,
        "stages": {t.stage: t.seconds for t in result.timings},
        "counts": result.total.model_dump(),
        "new_rows": result.new_rows,
        "findings": result.findings,
    }


def _fold(name: str) -> str:
    """The normalisation a user would write by hand: lower case, no unit type prefix."""
    n = " ".join(str(name).lower().split())
    for prefix in ("thị trấn ", "tt. ", "tt ", "xã ", "phường "):
        if n.startswith(prefix):
            return n[len(prefix) :]
    return n


def child_baseline(path: str, fmt: str, url: str, nrows: int | None, header_row: int) -> dict:
    """The naive script: whole file into pandas, row-wise mapping through dicts, DataFrame.to_sql. Its
    stages are timed like the pipeline's: ``setup`` (imports, reference dicts), ``extract`` (read_csv /
    read_excel), ``map`` (the row-wise apply), ``load`` (to_sql)."""
    t0 = time.perf_counter()
    stages: dict[str, float] = {}
    lap = t0

    def stage(name: str) -> None:
        nonlocal lap
        now = time.perf_counter()
        stages[name] = round(now - lap, 3)
        lap = now

    import csv

    import pandas as pd
    from sqlalchemy import create_engine

    units = REPO / "mappings" / "units"
    with (units / "new_communes.csv").open(encoding="utf-8") as fh:
        new_names = {(r["province_code"], r["commune_code"]): r["name"] for r in csv.DictReader(fh)}
    district_names = {}
    with (units / "old_units.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            district_names[(r["province_code"], r["district_code"])] = r["district_name"].lower()
    lookup: dict[tuple[str, str], tuple[str, str]] = {}
    with (units / "crosswalk.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            district = district_names.get((r["old_province_code"], r["old_district_code"]), "")
            new = (r["new_commune_code"], new_names.get((r["new_province_code"], r["new_commune_code"]), ""))
            lookup[(district, _fold(r["old_commune_name"]))] = new
    with (REPO / "mappings" / "procedures.csv").open(encoding="utf-8") as fh:
        routes = {r["procedure_code"]: r["handling_level"] for r in csv.DictReader(fh)}
    stage("setup")

    if fmt == "csv":
        df = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=nrows)
    else:
        df = pd.read_excel(path, dtype=str, header=header_row - 1, nrows=nrows)
    df = df.fillna("")
    stage("extract")

    sys.path.insert(0, str(HERE))
    from generate import columns

    header = {field: h for h, field in columns() if field}
    province, district_code = header["old_province_code"], header["old_district_code"]
    commune, procedure_code = header["old_commune_name"], header["procedure_code"]

    def map_row(row: pd.Series) -> tuple[str | None, str | None, str]:
        district = district_names.get((row[province], row[district_code]), "")
        new = lookup.get((district, _fold(row[commune])))
        procedure = row[procedure_code].split(".000.")[0]
        return (new[0] if new else None, new[1] if new else None, routes.get(procedure, "commune_pc"))

    mapped = df.apply(map_row, axis=1)
    df["new_commune_code"], df["new_commune_name"], df["handling_level"] = zip(*mapped, strict=True)
    stage("map")
    engine = create_engine(url)
    df.to_sql("dossiers", engine, if_exists="replace", index=False, chunksize=10_000)
    engine.dispose()
    stage("load")
    seconds = time.perf_counter() - t0
    return {
        "rows": len(df),
        "seconds": round(seconds, 3),
        "stages": stages,
        "cpu_seconds": _cpu_seconds(),
        "peak_rss_mb": maxrss_mb(),
        "mapped": int(df["new_commune_code"].notna().sum()),
    }


def _tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and every process below it (the workbook's sheet writers included), from /proc."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:  # gone meanwhile
            continue
        pid = int(entry.name)
        parent[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        rss[pid] = next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(p for p, pp in parent.items() if pp == pid)
    return total


def run_child(args: list[str], timeout: int) -> dict:
    """Run one child; also samples the resident memory of its whole process tree every 0.2 s (on Linux), so
    that any child process counts: ``peak_tree_rss_mb``."""
    env = dict(os.environ, GX_ANALYTICS_ENABLED="false", PYTHONPATH=str(REPO))
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out_fh, tempfile.TemporaryFile("w+") as err_fh:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "_child", *args],
            stdout=out_fh,
            stderr=err_fh,
            text=True,
            env=env,
            cwd=str(REPO),
        )
        peak = 0
        while proc.poll() is None:
            if time.perf_counter() - start > timeout:
                proc.kill()
                proc.wait()
                raise SystemExit(f"e2e.py: child {args[0]} ran longer than {timeout} s and was stopped")
            if Path("/proc").is_dir():
                peak = max(peak, _tree_rss_kib(proc.pid))
            time.sleep(0.2)
        out_fh.seek(0)
        err_fh.seek(0)
        stdout, stderr = out_fh.read(), err_fh.read()
    if proc.returncode != 0:
        sys.stderr.write(stderr[-4000:])
        raise SystemExit(f"e2e.py: child {args[0]} failed with exit code {proc.returncode}")
    out = json.loads(stdout.strip().splitlines()[-1])
    out["process_seconds"] = round(time.perf_counter() - start, 3)
    out["peak_tree_rss_mb"] = round(peak / 1024, 1) if peak else None
    return out


# ------------------------------------------------------------------------------------------------------------
# Databases
# ------------------------------------------------------------------------------------------------------------


class Databases:
    """Fresh targets: SQLite files in the work folder, or throw-away databases on the server of --db."""

    def __init__(self, db: str, work: Path) -> None:
        self.work = work
        self.created: list[str] = []
        if db == "sqlite" or db.startswith("sqlite"):
            self.kind = "sqlite"
            self.admin = None
        else:
            from sqlalchemy.engine import make_url

            url = make_url(db)
            self.kind = url.get_backend_name()
            admin_db = "postgres" if self.kind == "postgresql" else (url.database or "mysql")
            self.url = url
            self.admin = url.set(database=admin_db)

    def fresh(self, label: str) -> str:
        if self.admin is None:
            path = self.work / f"{label}.db"
            path.unlink(missing_ok=True)
            return f"sqlite:///{path}"
        from sqlalchemy import create_engine, text

        name = f"hobench_{uuid.uuid4().hex[:8]}_{label}"
        engine = create_engine(self.admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        engine.dispose()
        self.created.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.admin is None or not self.created:
            return
        from sqlalchemy import create_engine, text

        engine = create_engine(self.admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for name in self.created:
                if self.kind == "postgresql":
                    conn.execute(
                        text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                        {"n": name},
                    )
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        engine.dispose()


# The tables a load writes rows into, besides its progress rows (the chunks and batches tables).
WRITTEN_TABLES = ("dossiers", "ledger", "findings")


def copy_floor(url: str, work: Path) -> dict:
    """Plain psycopg COPYs of what the pipeline loaded, each table into an empty same-shaped table (same
    indexes): ``copy`` is the dossiers alone (the issue's floor: rows/s of the final rows); ``copy_written``
    adds every table the load writes (the ledger and the findings too), with the dossiers' rows/s over the
    seconds of all of them."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url).set(drivername="postgresql")
    conninfo = u.render_as_string(hide_password=False)
    tables: dict[str, dict] = {}
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for table in WRITTEN_TABLES:
            rows = cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            dump = work / f"{table}.copy"
            with dump.open("wb") as fh, cur.copy(f"COPY {table} TO STDOUT") as cp:
                for data in cp:
                    fh.write(data)
            cur.execute(f"CREATE TABLE {table}_copy_floor (LIKE {table} INCLUDING ALL)")
            conn.commit()
            start = time.perf_counter()
            with dump.open("rb") as fh, cur.copy(f"COPY {table}_copy_floor FROM STDIN") as cp:
                while block := fh.read(1 << 20):
                    cp.write(block)
            conn.commit()
            tables[table] = {"rows": rows, "seconds": round(time.perf_counter() - start, 3)}
            dump.unlink(missing_ok=True)
    rows = tables["dossiers"]["rows"]
    dossiers_s = tables["dossiers"]["seconds"]
    written_s = sum(t["seconds"] for t in tables.values())
    return {
        "rows": rows,
        "seconds": dossiers_s,
        "rows_per_s": round(rows / dossiers_s) if dossiers_s else None,
        "written": {
            "tables": tables,
            "seconds": round(written_s, 3),
            "rows_per_s": round(rows / written_s) if written_s else None,
        },
    }


# ------------------------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------------------------


def ensure_input(rows: int, fmt: str, seed: int, cache: Path = OUT) -> Path:
    """The generated input folder, reused when already complete."""
    sys.path.insert(0, str(HERE))
    from generate import generate, generator_version

    folder = cache / f"gen-{fmt}-{rows}-s{seed}"
    marker = folder / "generated.json"
    if marker.is_file():
        meta = json.loads(marker.read_text())
        wanted = {"rows": rows, "format": fmt, "seed": seed, "generator": generator_version()}
        if all(meta.get(k) == v for k, v in wanted.items()):
            return folder

    log(f"generating {rows} {fmt} rows into {folder}")
    generate(rows, fmt, folder, seed)
    return folder


def machine() -> dict:
    import pandas

    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "mem_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "pandas": pandas.__version__,
    }


def _rate(rows: int, seconds: float) -> float | None:
    return round(rows / seconds, 1) if seconds else None


def benchmark(args: argparse.Namespace) -> dict:
    folder = ensure_input(args.rows, args.format, args.seed, args.cache)
    data = folder / ("dossiers.csv" if args.format == "csv" else "dossiers.xlsx")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hobench-"))
    work.mkdir(parents=True, exist_ok=True)
    dbs = Databases(args.db, work)
    try:
        pipe_url = dbs.fresh("pipeline")
        log(f"pipeline: {args.rows} rows → {dbs.kind}")
        child = ["pipeline", str(folder / "batch.toml"), pipe_url, str(work / "reports")]
        child += [
            str(Path(args.profile).resolve()) if args.profile else "",
            "1" if args.dry_run else "",
            "1" if args.skip_report else "",
            "1" if args.analyze else "",
            str(args.chunk_size or ""),
        ]
        pipe = run_child(child, args.timeout)
        result: dict = {
            "rows": args.rows,
            "format": args.format,
            "db": dbs.kind,
            "report_stage": "skipped (--skip-report)" if args.skip_report else "included",
            "analyze_before_report": bool(args.analyze),
            "seconds": pipe["seconds"],
            "rows_per_s": _rate(args.rows, pipe["seconds"]),
            "cpu_seconds": pipe["cpu_seconds"],
            # the whole process tree (main + the workbook's sheet writers), sampled; the main process alone
            "peak_rss_mb": max(pipe["peak_rss_mb"], pipe["peak_tree_rss_mb"] or 0),
            "peak_rss_main_mb": pipe["peak_rss_mb"],
            "chunk_size": pipe.get("chunk_size"),
            "stages": pipe["stages"],
            "counts": pipe["counts"],
            "new_rows": pipe["new_rows"],
            "process_seconds": pipe["process_seconds"],
            "machine": machine(),
        }
        load_s = pipe["stages"].get("load")
        if dbs.kind == "postgresql":
            log("copy floor")
            copy = copy_floor(pipe_url, work)
            written = copy.pop("written")
            result["copy"] = copy
            result["copy_written"] = written
            if load_s and copy["rows_per_s"]:
                result["load_rows_per_s"] = _rate(pipe["new_rows"], load_s)
                result["load_vs_copy"] = round(result["load_rows_per_s"] / copy["rows_per_s"], 3)
                result["load_vs_copy_written"] = round(result["load_rows_per_s"] / written["rows_per_s"], 3)
        if args.no_baseline or args.dry_run:
            return result

        header_row = 4 if args.format == "xlsx" else 1
        sample = None
        if args.baseline_rows:
            sample = min(args.baseline_rows, args.rows)
        elif args.rows > PILOT_ROWS * 2:
            log(f"baseline pilot: {PILOT_ROWS} rows")
            pilot = run_child(
                ["baseline", str(data), args.format, dbs.fresh("pilot"), str(PILOT_ROWS), str(header_row)],
                args.timeout,
            )
            estimate = args.rows / PILOT_ROWS * pilot["seconds"]
            if estimate > BASELINE_BUDGET:
                sample = int(PILOT_ROWS * (BASELINE_BUDGET * 0.8) / pilot["seconds"]) // 1000 * 1000
                log(f"baseline estimated at {estimate:.0f} s: running it on the first {sample} rows")
        log("baseline")
        base = run_child(
            ["baseline", str(data), args.format, dbs.fresh("baseline"), str(sample or 0), str(header_row)],
            args.timeout,
        )
        base_rate = _rate(base["rows"], base["seconds"])
        scale = args.rows / base["rows"] if sample else 1  # a sampled baseline's times, scaled to all rows
        baseline = {
            "rows": args.rows,
            "seconds": round(args.rows / base_rate, 3) if sample else base["seconds"],
            "rows_per_s": base_rate,
            "cpu_seconds": base["cpu_seconds"],
            "peak_rss_mb": base["peak_rss_mb"],
            "mapped_rows": base["mapped"],
            "stages": {k: round(v * scale, 3) for k, v in base["stages"].items()},
        }
        if sample:
            baseline["baseline_sampled_rows"] = base["rows"]
            baseline["measured_seconds"] = base["seconds"]
            baseline["measured_stages"] = base["stages"]
        # the wall seconds a whole run may take to reach the "10x the baseline's rows/s"
        result["ten_x_seconds"] = round(baseline["seconds"] / 10, 3)
        result["baseline"] = baseline
        if sample:
            result["baseline_sampled_rows"] = base["rows"]
        result["ratio"] = round(result["rows_per_s"] / base_rate, 3) if base_rate else None
        if sample:  # CPU seconds of the sample, scaled to all rows like the wall time
            result["cpu_ratio"] = round(
                base["cpu_seconds"] * args.rows / base["rows"] / pipe["cpu_seconds"], 2
            )
        else:
            result["cpu_ratio"] = round(base["cpu_seconds"] / pipe["cpu_seconds"], 2)
        return result
    finally:
        if not args.keep:
            dbs.drop_all()
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        kind, rest = argv[1], argv[2:]
        if kind == "pipeline":
            out = child_pipeline(
                rest[0],
                rest[1],
                rest[2],
                rest[3] or None,
                bool(rest[4]),
                bool(rest[5]),
                bool(rest[6]),
                int(rest[7]) if rest[7] else None,
            )
        else:
            out = child_baseline(rest[0], rest[1], rest[2], int(rest[3]) or None, int(rest[4]))
        print(json.dumps(out, ensure_ascii=False))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, required=True, help="dossier rows to generate and run")
    ap.add_argument(
        "--db", default="sqlite", help="'sqlite', or a server URL whose server gets throw-away databases"
    )
    ap.add_argument("--format", choices=("csv", "xlsx"), default="csv", help="input format")
    ap.add_argument("--seed", type=int, default=1, help="generator seed")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--cache", type=Path, default=OUT, help="folder of generated inputs (reused)")
    ap.add_argument("--keep", metavar="DIR", help="keep databases, reports and work files in DIR")
    ap.add_argument("--timeout", type=int, default=CHILD_TIMEOUT, help="seconds allowed per child run")
    ap.add_argument("--baseline-rows", type=int, help="run the baseline on the first N rows only")
    ap.add_argument("--no-baseline", action="store_true", help="skip the baseline")
    ap.add_argument(
        "--chunk-size",
        type=int,
        help="batch.chunk_size for the pipeline (default: the generated batch file's, the project's default)",
    )
    ap.add_argument("--profile", metavar="FILE", help="pyinstrument text profile of the pipeline child")
    ap.add_argument(
        "--skip-report",
        action="store_true",
        help="stub out the report stage (workbook + HTML) to time extract → load alone",
    )
    ap.add_argument(
        "--analyze",
        action="store_true",
        help="PostgreSQL: ANALYZE the target tables before the report stage (experiment, see RESULTS.md)",
    )
    ap.add_argument(
        "--dry-run",
        action="store_true",
        help="pipeline in dry-run mode (extract, map, validate; no load/report)",
    )
    args = ap.parse_args(argv)
    result = benchmark(args)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        for key in ("rows", "db", "seconds", "rows_per_s", "peak_rss_mb", "stages", "baseline", "ratio"):
            print(f"{key:>14}: {result.get(key)}")
        for key in ("ten_x_seconds", "copy", "load_vs_copy", "copy_written", "load_vs_copy_written"):
            if key in result:
                print(f"{key:>14}: {result[key]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
