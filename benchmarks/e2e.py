"""End-to-end benchmark: the pipeline against its peers on the same rows, alternated, in the same run.

    python benchmarks/e2e.py --rows 1000000 --db sqlite --peers naive,dlt --json
    python benchmarks/e2e.py --rows 1000000 --db sqlite --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres \
        --peers naive,dlt --table

1. Generates the input with benchmarks/generate.py (cached under benchmarks/out/gen-<format>-<rows>-s<seed>/).
2. Per round (``--repeat``), in turn: ``run_batch`` in a child process into a fresh database (a new SQLite file,
   or a throw-away database created on the server named by --db), then each peer in its own child into its own
   fresh database: the naive script (pandas reads the whole file, maps each row's commune through a dict built
   from mappings/units/ with ``DataFrame.apply(axis=1)``, writes with ``DataFrame.to_sql``) and dlt's arrow
   pipeline (pyarrow reads the CSV, ``dlt.pipeline(...).run(table)`` into the same database kind: dlt's
   ``postgres`` destination, its ``sqlalchemy`` destination for SQLite). Every contender reads the same rows and
   its loaded row count is checked.
3. On PostgreSQL: dumps every table the batch wrote rows into and times a plain psycopg ``COPY`` of exactly those
   rows into empty tables of the same shape (indexes included): the load stage's floor.
4. The write floor (peer ``floor``, run whenever dlt is): a plain program, in its own child like the peers, that
   reads the CSV as dlt does (pyarrow) and writes every row the pipeline wrote into a fresh database of the same
   schema, through the fastest plain path (SQLite: ``executemany`` of bound rows; PostgreSQL: ``COPY``), once in
   one transaction and once in one transaction per chunk, as the pipeline commits (benchmarks/write_floor.py):
   whether a program that writes what the batch writes can reach dlt's rows/s at all.

Prints one JSON object (``--json``) and/or the markdown rows of the target table (``--table``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
CHILD_TIMEOUT = 3600  # seconds: no single run may take longer
PEERS = ("naive", "dlt", "floor")
WRITE_FLOOR_MODES = ("one", "chunked")  # benchmarks/write_floor.py


def log(msg: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and every process below it, from /proc (each process's ``children`` list, so
    that sampling does not walk the whole process table)."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:  # gone meanwhile
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total


def run_child(args: list[str], timeout: int) -> dict:
    """Run one child; samples the resident memory of its whole process tree every 0.5 s (on Linux), so that any
    child process counts (``peak_tree_rss_mb``), and the machine's 1-minute load average (``load_avg``: the
    machine may be shared; CPU seconds are the figure that other jobs do not stretch)."""
    env = dict(
        os.environ,
        GX_ANALYTICS_ENABLED="false",
        RUNTIME__DLTHUB_TELEMETRY="false",
        PYTHONPATH=str(REPO),
    )
    start = time.perf_counter()
    loads: list[float] = []
    with tempfile.TemporaryFile("w+") as out_fh, tempfile.TemporaryFile("w+") as err_fh:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "_child", *args],
            stdout=out_fh,
            stderr=err_fh,
            text=True,
            env=env,
            cwd=str(REPO),
        )
        peak, tick = 0, 0
        while proc.poll() is None:
            if time.perf_counter() - start > timeout:
                proc.kill()
                proc.wait()
                raise SystemExit(f"e2e.py: child {args[0]} ran longer than {timeout} s and was stopped")
            if Path("/proc").is_dir():
                peak = max(peak, _tree_rss_kib(proc.pid))
            if tick % 10 == 0:
                loads.append(os.getloadavg()[0])
            tick += 1
            time.sleep(0.5)
        out_fh.seek(0)
        err_fh.seek(0)
        stdout, stderr = out_fh.read(), err_fh.read()
    if proc.returncode != 0:
        sys.stderr.write(stderr[-4000:])
        raise SystemExit(f"e2e.py: child {args[0]} failed with exit code {proc.returncode}")
    out = json.loads(stdout.strip().splitlines()[-1])
    out["process_seconds"] = round(time.perf_counter() - start, 3)
    out["peak_tree_rss_mb"] = round(peak / 1024, 1) if peak else None
    loads = loads or [os.getloadavg()[0]]
    out["load_avg"] = {"mean": round(sum(loads) / len(loads), 2), "max": round(max(loads), 2)}
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
            for stale in (path, *self.work.glob(f"{label}__*.db")):  # dlt attaches <db>__<dataset>.db
                stale.unlink(missing_ok=True)
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


def copy_floor(url: str, work: Path) -> dict:
    """Plain psycopg COPYs of everything the batch wrote: every table of the (fresh) target that holds rows is
    dumped and its rows copied into an empty same-shaped table (same indexes). ``copy`` is the dossiers alone
    (rows/s of the final rows); ``written`` adds every other table (the ledger, the findings, the chunks...),
    with the dossiers' rows/s over the seconds of all of them."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url).set(drivername="postgresql")
    conninfo = u.render_as_string(hide_password=False)
    sys.path.insert(0, str(HERE))
    from write_floor import written_tables_postgresql

    tables: dict[str, dict] = {}
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for table, rows in written_tables_postgresql(cur).items():
            dump = work / f"{table}.copy"
            with dump.open("wb") as fh, cur.copy(f'COPY "{table}" TO STDOUT') as cp:
                for data in cp:
                    fh.write(data)
            cur.execute(f'CREATE TABLE "{table}_copy_floor" (LIKE "{table}" INCLUDING ALL)')
            conn.commit()
            start = time.perf_counter()
            with dump.open("rb") as fh, cur.copy(f'COPY "{table}_copy_floor" FROM STDIN') as cp:
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


def measured_commit() -> str:
    """The commit of the code measured (``HOBENCH_COMMIT`` overrides: for a copy of a tree outside git);
    ``+modified`` when handover/ differs from it."""
    if os.environ.get("HOBENCH_COMMIT"):
        return os.environ["HOBENCH_COMMIT"]
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "handover"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+modified" if dirty else "")


def run_pipeline(args: argparse.Namespace, folder: Path, dbs: Databases, work: Path) -> dict:
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
    if not args.dry_run:  # every input row accounted for in the ledger, one dossier per new row
        ledger, dossiers = pipe["target_rows"]["ledger"], pipe["target_rows"]["dossiers"]
        if not (ledger == pipe["counts"]["extracted"] == args.rows and dossiers == pipe["new_rows"]):
            raise SystemExit(
                f"e2e.py: the pipeline's counts do not match: {args.rows} rows in, ledger {ledger}, "
                f"extracted {pipe['counts']['extracted']}, dossiers {dossiers}, new rows {pipe['new_rows']}"
            )
    result: dict = {
        "target_url": pipe_url,
        "rows": args.rows,
        "format": args.format,
        "db": dbs.kind,
        "report_stage": "skipped (--skip-report)" if args.skip_report else "included",
        "analyze_before_report": bool(args.analyze),
        "seconds": pipe["seconds"],
        "rows_per_s": _rate(args.rows, pipe["seconds"]),
        "cpu_seconds": pipe["cpu_seconds"],
        # the whole process tree, sampled; the main process alone
        "peak_rss_mb": max(pipe["peak_rss_mb"], pipe["peak_tree_rss_mb"] or 0),
        "peak_rss_main_mb": pipe["peak_rss_mb"],
        "chunk_size": pipe.get("chunk_size"),
        "stages": pipe["stages"],
        "counts": pipe["counts"],
        "new_rows": pipe["new_rows"],
        "target_rows": pipe["target_rows"],
        "process_seconds": pipe["process_seconds"],
        "load_avg": pipe["load_avg"],
    }
    # the batch without its report: the report writer's wall and CPU seconds taken off (measured around it)
    no_report_s = round(pipe["seconds"] - pipe["report_seconds"], 3)
    no_report_cpu = round(pipe["cpu_seconds"] - pipe["report_cpu_seconds"], 3)
    result["without_report"] = {
        "seconds": no_report_s,
        "rows_per_s": _rate(args.rows, no_report_s),
        "cpu_seconds": no_report_cpu,
        "report_seconds": pipe["report_seconds"],
        "report_cpu_seconds": pipe["report_cpu_seconds"],
    }
    load_s = pipe["stages"].get("load")
    if dbs.kind == "postgresql" and not args.dry_run:
        log("copy floor")
        copy = copy_floor(pipe_url, work)
        written = copy.pop("written")
        result["copy"] = copy
        result["copy_written"] = written
        if load_s and copy["rows_per_s"]:
            result["load_rows_per_s"] = _rate(pipe["new_rows"], load_s)
            result["load_vs_copy"] = round(result["load_rows_per_s"] / copy["rows_per_s"], 3)
            result["load_vs_copy_written"] = round(result["load_rows_per_s"] / written["rows_per_s"], 3)
    return result


def run_naive(args: argparse.Namespace, data: Path, dbs: Databases) -> dict:
    header_row = 4 if args.format == "xlsx" else 1
    sample = min(args.baseline_rows, args.rows) if args.baseline_rows else None
    log(f"naive script: {sample or args.rows} rows → {dbs.kind}")
    base = run_child(
        ["baseline", str(data), args.format, dbs.fresh("baseline"), str(sample or 0), str(header_row)],
        args.timeout,
    )
    if not base["loaded_rows"] == base["rows"] == (sample or args.rows):
        raise SystemExit(f"e2e.py: the naive script loaded {base['loaded_rows']} of {base['rows']} rows")
    base_rate = _rate(base["rows"], base["seconds"])
    scale = args.rows / base["rows"] if sample else 1  # a sampled baseline's times, scaled to all rows
    baseline = {
        "rows": args.rows,
        "seconds": round(args.rows / base_rate, 3) if sample else base["seconds"],
        "rows_per_s": base_rate,
        "cpu_seconds": round(base["cpu_seconds"] * scale, 3),
        "peak_rss_mb": base["peak_rss_mb"],
        "mapped_rows": base["mapped"],
        "loaded_rows": base["loaded_rows"],
        "stages": {k: round(v * scale, 3) for k, v in base["stages"].items()},
        "load_avg": base["load_avg"],
    }
    if sample:
        baseline["baseline_sampled_rows"] = base["rows"]
        baseline["measured_seconds"] = base["seconds"]
        baseline["measured_cpu_seconds"] = base["cpu_seconds"]
        baseline["measured_stages"] = base["stages"]
    return baseline


def run_dlt(args: argparse.Namespace, data: Path, dbs: Databases, work: Path) -> dict:
    log(f"dlt: {args.rows} rows → {dbs.kind}")
    out = run_child(["dlt", str(data), dbs.fresh("dlt"), str(work)], args.timeout)
    if not out["loaded_rows"] == out["rows"] == args.rows:
        raise SystemExit(f"e2e.py: dlt loaded {out['loaded_rows']} of {out['rows']} rows ({args.rows} in)")
    out["rows_per_s"] = _rate(out["rows"], out["seconds"])
    out["peak_rss_mb"] = max(out["peak_rss_mb"], out.pop("peak_tree_rss_mb") or 0)
    return out


def run_write_floor(args: argparse.Namespace, data: Path, dbs: Databases, work: Path, pipe_url: str) -> dict:
    """The write floor in each mode (benchmarks/write_floor.py), each into its own fresh database, after one
    untimed child that creates their schema and dumps the pipeline's rows; every written row counted."""
    urls = {mode: dbs.fresh(f"floor_{mode}") for mode in WRITE_FLOOR_MODES}
    log(f"write floor: dumping the pipeline's rows ({', '.join(WRITE_FLOOR_MODES)})")
    prep = run_child(["floor_prep", pipe_url, str(work), *urls.values()], args.timeout)
    floors: dict[str, dict] = {}
    try:
        for mode, url in urls.items():
            log(f"write floor ({mode}): {args.rows} rows → {dbs.kind}")
            out = run_child(["floor", str(data), url, str(work / "floor-manifest.json"), mode], args.timeout)
            if out["written_rows"] != prep["tables"] or out["rows"] != args.rows:
                raise SystemExit(
                    f"e2e.py: the write floor ({mode}) read {out['rows']} of {args.rows} rows and wrote "
                    f"{out['written_rows']}, the pipeline {prep['tables']}"
                )
            out["rows_per_s"] = _rate(out["rows"], out["seconds"])
            out["peak_rss_mb"] = max(out["peak_rss_mb"], out.pop("peak_tree_rss_mb") or 0)
            floors[mode] = out
    finally:
        if not args.keep:
            shutil.rmtree(work / "floor-dump", ignore_errors=True)
    return floors


def _floor_ratios(result: dict) -> dict[str, dict]:
    """The write floor beside dlt (rows/s and CPU: > 1 when the floor is the faster), the batch without its report
    beside the floor, and the load stage beside the floor's writes (the same rows written)."""
    ratios: dict[str, dict] = {}
    floors, peer, ours = result["write_floor"], result.get("dlt", {}), result["without_report"]
    load_s = result["stages"].get("load")
    for mode, floor in floors.items():
        if peer.get("rows_per_s"):
            ratios.setdefault("write_floor_vs_dlt", {})[mode] = {
                "rows_per_s": round(floor["rows_per_s"] / peer["rows_per_s"], 3),
                "cpu": round(peer["cpu_seconds"] / floor["cpu_seconds"], 2),
            }
        ratios.setdefault("without_report_vs_write_floor", {})[mode] = {
            "rows_per_s": round(ours["rows_per_s"] / floor["rows_per_s"], 3),
            "cpu": round(floor["cpu_seconds"] / ours["cpu_seconds"], 2),
        }
        if load_s:
            ratios.setdefault("load_vs_write_floor", {})[mode] = {
                "rows_per_s": round(floor["stages"]["write"] / load_s, 3)
            }
    return ratios


def one_round(args: argparse.Namespace, db: str, folder: Path, data: Path) -> dict:
    """The pipeline, then each peer, each in its own child into its own fresh database."""
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hobench-"))
    work.mkdir(parents=True, exist_ok=True)
    dbs = Databases(db, work)
    try:
        result = run_pipeline(args, folder, dbs, work)
        peers = [] if args.dry_run else args.peers
        ratios: dict[str, dict] = {}
        if "naive" in peers:
            baseline = run_naive(args, data, dbs)
            # the wall seconds a whole run may take to reach "10x the baseline's rows/s" (the withdrawn target)
            result["ten_x_seconds"] = round(baseline["seconds"] / 10, 3)
            result["baseline"] = baseline
            if "baseline_sampled_rows" in baseline:
                result["baseline_sampled_rows"] = baseline["baseline_sampled_rows"]
            result["ratio"] = (
                round(result["rows_per_s"] / baseline["rows_per_s"], 3) if baseline["rows_per_s"] else None
            )
            result["cpu_ratio"] = round(baseline["cpu_seconds"] / result["cpu_seconds"], 2)
            ratios["batch_vs_naive"] = {"rows_per_s": result["ratio"], "cpu": result["cpu_ratio"]}
        if "dlt" in peers:
            if args.format != "csv":
                result["dlt"] = {"skipped": "the dlt peer reads CSV input only"}
            else:
                peer = run_dlt(args, data, dbs, work)
                result["dlt"] = peer
                ours = result["without_report"]
                ratios["without_report_vs_dlt"] = {
                    "rows_per_s": round(ours["rows_per_s"] / peer["rows_per_s"], 3),
                    "cpu": round(peer["cpu_seconds"] / ours["cpu_seconds"], 2),
                }
        if "floor" in peers:
            if args.format != "csv":
                result["write_floor"] = {"skipped": "the write floor reads CSV input only"}
            else:
                result["write_floor"] = run_write_floor(args, data, dbs, work, result["target_url"])
                ratios.update(_floor_ratios(result))
        if "load_vs_copy_written" in result:
            ratios["load_vs_copy_written"] = {"rows_per_s": result["load_vs_copy_written"]}
        result["ratios"] = ratios
        del result["target_url"]
        return result
    finally:
        if not args.keep:
            dbs.drop_all()
            shutil.rmtree(work, ignore_errors=True)


def benchmark(args: argparse.Namespace) -> list[dict]:
    """Every database of --db in turn, --repeat rounds each: in a round the contenders run one after the other
    (pipeline, peers; then the next round), so that the machine's drift spreads over all of them."""
    folder = ensure_input(args.rows, args.format, args.seed, args.cache)
    data = folder / ("dossiers.csv" if args.format == "csv" else "dossiers.xlsx")
    commit = measured_commit()
    runs = []
    for db in args.db:
        for round_no in range(1, args.repeat + 1):
            result = one_round(args, db, folder, data)
            result.update(round=round_no, commit=commit, command=args.command, machine=machine())
            runs.append(result)
    return runs


# ------------------------------------------------------------------------------------------------------------
# The target table (markdown)
# ------------------------------------------------------------------------------------------------------------


def _fmt_run(rate: float | None, seconds: float, cpu: float | None) -> str:
    cpu_text = f", {cpu:,.1f} CPU-s" if cpu is not None else ""
    return f"{rate or 0:,.0f} rows/s ({seconds:,.1f} s{cpu_text})"


def _load_avg(run: dict) -> str:
    figures = [run["load_avg"]]
    figures += [run[k]["load_avg"] for k in ("baseline", "dlt") if "load_avg" in run.get(k, {})]
    figures += [f["load_avg"] for f in _write_floors(run).values()]
    mean = sum(f["mean"] for f in figures) / len(figures)
    return f"{mean:.1f} (max {max(f['max'] for f in figures):.1f})"


def _write_floors(run: dict) -> dict[str, dict]:
    """The write floor's runs by mode (none when it did not run or was skipped)."""
    floors = run.get("write_floor", {})
    return {mode: f for mode, f in floors.items() if isinstance(f, dict) and "seconds" in f}


FLOOR_MODE_NAMES = {"chunked": "a transaction per chunk", "one": "one transaction"}


def _floor_text(run: dict, versus: str, write_stage: bool = False) -> str:
    """The write floor in each mode, for the floor column: its figures and its ratio in ``run['ratios'][versus]``
    (with ``write_stage``: the write stage's seconds alone)."""
    parts = []
    for mode, floor in sorted(_write_floors(run).items()):  # chunked first: the pipeline commits per chunk
        ratio = run["ratios"][versus][mode]
        if write_stage:
            figures = f"writes {floor['stages']['write']:,.1f} s"
        else:
            figures = _fmt_run(floor["rows_per_s"], floor["seconds"], floor["cpu_seconds"])
        cpu = f" (CPU {ratio['cpu']:.2f}×)" if "cpu" in ratio else ""
        parts.append(f"{FLOOR_MODE_NAMES.get(mode, mode)} {figures} = {ratio['rows_per_s']:.2f}×{cpu}")
    return "; ".join(parts)


def table_rows(runs: list[dict]) -> list[str]:
    """The issue's target table, one row per target per run: the measured ratio (wall and CPU), our figure, the
    floor measured in the same run, the machine's load average over the run, the commit measured."""
    lines = [
        "| target | db | rows | round | measured (wall) | measured (CPU) | ours | floor, same run | "
        "load avg | commit |",
        "|---|---|---:|---:|---:|---:|---|---|---|---|",
    ]
    for run in runs:
        head = f"| {{}} | {run['db']} | {run['rows']:,} | {run.get('round', 1)} |"
        tail = f" {_load_avg(run)} | `{run.get('commit', '?')}` |"
        ratios = run.get("ratios", {})
        if "batch_vs_naive" in ratios:
            base, r = run["baseline"], ratios["batch_vs_naive"]
            sampled = (
                f" (sampled {base['baseline_sampled_rows']:,} rows)"
                if "baseline_sampled_rows" in base
                else ""
            )
            lines.append(
                head.format("full batch ≥ 1.0× naive script rows/s")
                + f" **{r['rows_per_s']:.2f}×** | {r['cpu']:.2f}× |"
                f" {_fmt_run(run['rows_per_s'], run['seconds'], run['cpu_seconds'])} |"
                f" naive script {_fmt_run(base['rows_per_s'], base['seconds'], base['cpu_seconds'])}{sampled} |"
                + tail
            )
        if "without_report_vs_dlt" in ratios:
            ours, peer, r = run["without_report"], run["dlt"], ratios["without_report_vs_dlt"]
            lines.append(
                head.format("batch without report ≥ 1.0× dlt rows/s")
                + f" **{r['rows_per_s']:.2f}×** | {r['cpu']:.2f}× |"
                f" {_fmt_run(ours['rows_per_s'], ours['seconds'], ours['cpu_seconds'])} |"
                f" dlt {peer.get('dlt', '')} ({peer.get('file_format', '')})"
                f" {_fmt_run(peer['rows_per_s'], peer['seconds'], peer['cpu_seconds'])}"
                + (
                    f"; write floor (CSV read + every row the batch wrote), × dlt's rows/s:"
                    f" {_floor_text(run, 'write_floor_vs_dlt')}"
                    if "write_floor_vs_dlt" in ratios
                    else ""
                )
                + " |"
                + tail
            )
        if "load_vs_copy_written" in ratios:
            written = run["copy_written"]
            rows = sum(t["rows"] for t in written["tables"].values())
            lines.append(
                head.format("PostgreSQL load stage ≥ 0.8× a plain COPY of all it writes")
                + f" **{ratios['load_vs_copy_written']['rows_per_s']:.2f}×** | – |"
                f" load stage {run['stages']['load']:,.1f} s |"
                f" COPY of {rows:,} rows in {len(written['tables'])} tables: {written['seconds']:,.1f} s |"
                + tail
            )
        if run["db"] == "sqlite" and "load_vs_write_floor" in ratios:
            by_mode = ratios["load_vs_write_floor"]  # in bold: per chunk, as the pipeline commits
            shown = by_mode.get("chunked") or next(iter(by_mode.values()))
            lines.append(
                head.format("SQLite load stage vs the write floor's writes (informative, no target)")
                + f" **{shown['rows_per_s']:.2f}×** | – |"
                f" load stage {run['stages']['load']:,.1f} s |"
                f" executemany of the same rows: {_floor_text(run, 'load_vs_write_floor', write_stage=True)} |"
                + tail
            )
        peers = ", ".join(
            f"{name} {run[key]['peak_rss_mb']:,.0f} MB"
            for key, name in (("baseline", "naive"), ("dlt", "dlt"))
            if "peak_rss_mb" in run.get(key, {})
        )
        floors = _write_floors(run)
        if floors:
            floor_mb = max(f["peak_rss_mb"] for f in floors.values())
            peers = f"{peers}, write floor {floor_mb:,.0f} MB" if peers else f"write floor {floor_mb:,.0f} MB"
        lines.append(
            head.format("peak RSS ≤ 1 GB")
            + f" **{run['peak_rss_mb']:,.0f} MB** | – | report {run['report_stage']} | {peers or '–'} |"
            + tail
        )
    commands = sorted({run.get("command", "") for run in runs})
    return [*lines, "", *(f"Command: `{c}`" for c in commands if c)]


def _runs_of(data: dict) -> list[dict]:
    return data.get("runs", [data])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        sys.path.insert(0, str(HERE))
        import contenders
        import write_floor

        kind, rest = argv[1], argv[2:]
        if kind == "pipeline":
            out = contenders.child_pipeline(
                rest[0],
                rest[1],
                rest[2],
                rest[3] or None,
                bool(rest[4]),
                bool(rest[5]),
                bool(rest[6]),
                int(rest[7]) if rest[7] else None,
            )
        elif kind == "dlt":
            out = contenders.child_dlt(rest[0], rest[1], rest[2])
        elif kind == "floor_prep":
            out = write_floor.child_prepare(rest[0], rest[2:], rest[1])
        elif kind == "floor":
            out = write_floor.child_floor(rest[0], rest[1], rest[2], rest[3])
        else:
            out = contenders.child_baseline(rest[0], rest[1], rest[2], int(rest[3]) or None, int(rest[4]))
        print(json.dumps(out, ensure_ascii=False))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, help="dossier rows to generate and run")
    ap.add_argument(
        "--db",
        action="append",
        help="'sqlite', or a server URL whose server gets throw-away databases; repeat it to run several in turn",
    )
    ap.add_argument(
        "--peers",
        default="naive",
        help=f"comma-separated peers run beside the pipeline on the same rows, from {', '.join(PEERS)} "
        "(default: naive; 'none' for none; dlt brings the write floor, 'floor', along)",
    )
    ap.add_argument("--repeat", type=int, default=1, help="rounds per database, contenders alternated")
    ap.add_argument("--format", choices=("csv", "xlsx"), default="csv", help="input format")
    ap.add_argument("--seed", type=int, default=1, help="generator seed")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument(
        "--table",
        action="store_true",
        help="print the markdown rows of the target table (on stderr when --json takes stdout)",
    )
    ap.add_argument(
        "--render", nargs="+", type=Path, metavar="JSON", help="only print the table of saved --json outputs"
    )
    ap.add_argument("--cache", type=Path, default=OUT, help="folder of generated inputs (reused)")
    ap.add_argument("--keep", metavar="DIR", help="keep databases, reports and work files in DIR")
    ap.add_argument("--timeout", type=int, default=CHILD_TIMEOUT, help="seconds allowed per child run")
    ap.add_argument("--baseline-rows", type=int, help="run the naive script on the first N rows only")
    ap.add_argument("--no-baseline", action="store_true", help="no peers (the same as --peers none)")
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
    if args.render:
        runs = [run for path in args.render for run in _runs_of(json.loads(path.read_text()))]
        print("\n".join(table_rows(runs)))
        return 0
    if not args.rows:
        ap.error("--rows is required")
    args.db = args.db or ["sqlite"]
    peers = [p.strip() for p in args.peers.split(",") if p.strip() and p.strip() != "none"]
    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        ap.error(f"unknown peers: {', '.join(unknown)} (known: {', '.join(PEERS)})")
    if "dlt" in peers and "floor" not in peers:  # the dlt target's floor, measured in the same run
        peers.append("floor")
    args.peers = [] if args.no_baseline else peers
    args.command = "python benchmarks/e2e.py " + " ".join(argv)
    runs = benchmark(args)
    result = runs[0] if len(runs) == 1 else {"runs": runs}
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    if args.table:
        print("\n".join(table_rows(runs)), file=sys.stderr if args.json else sys.stdout)
    if not (args.json or args.table):
        for run in runs:
            for key in (
                "rows",
                "db",
                "seconds",
                "rows_per_s",
                "cpu_seconds",
                "peak_rss_mb",
                "stages",
                "ratios",
            ):
                print(f"{key:>14}: {run.get(key)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
