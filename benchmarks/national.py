"""National rehearsal: many district batches side by side with ``handover run-many``, into PostgreSQL.

    python benchmarks/national.py --districts 20 --rows-per-district 20000 \\
        --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres --json

1. Generates one synthetic export per district for ``--districts`` real old districts taken in turn from 5
   provinces of the unit reference (:func:`handover.demo.districts.generate_district_exports`: the demo's Văn Bàn CSV shape
   and problem mix, each district's real communes), cached under
   ``benchmarks/out/national-<districts>x<rows>-s<seed>/exports``.
2. Plans them with ``handover plan`` (:func:`handover.plan.make.make_plan`; the run's target given in the exports'
   ``plan.toml``): one batch configuration per district and the plan, for each run one whose batches load into
   that run's fresh database.
3. For each ``--jobs`` value (default 1 and 2): a fresh database on the server named by ``--db``
   (``hobench_<id>_j<jobs>``, dropped afterwards unless ``--keep``), then ``handover run-many PLAN --jobs J --json``
   in a child process: wall time, CPU seconds of the whole process tree (the Dask worker processes included,
   once they have ended), rows/s (source rows extracted per wall second).
4. Checks each target with SQL: every batch finished; per batch and in total ``extracted = loaded + review +
   quarantined + excluded + duplicate`` from the ledger, equal to what run-many reported; the loaded rows are
   the union of the batches' (``dossiers`` rows = the sum of the batches' loaded rows) and no key is loaded twice;
   each batch's fingerprint is the same in every run.

Prints a summary (or one JSON object with ``--json``): per run wall, CPU, rows/s, speed-up against the first
``--jobs`` value, and a projection for 696 districts from the measured per-batch cost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
NATIONAL_DISTRICTS = 696


def log(msg: str) -> None:
    print(f"[national {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def generate(districts: int, rows: int, seed: int) -> tuple[Path, list[Any]]:
    from handover.demo.districts import districts_across_provinces, generate_district_exports

    folder = OUT / f"national-{districts}x{rows}-s{seed}"
    picked = districts_across_provinces(districts)
    start = time.perf_counter()
    exports = generate_district_exports(folder / "exports", picked, rows, seed=seed)
    log(f"{districts} district exports of {rows:,} rows in {time.perf_counter() - start:.1f} s: {folder}")
    return folder, exports


def write_plan(exports_dir: Path, plan_dir: Path, target_url: str) -> Path:
    """``handover plan EXPORTS_DIR --out PLAN_DIR`` (:func:`handover.plan.make.make_plan`), every batch loading into
    ``target_url`` (given in ``EXPORTS_DIR/plan.toml``, what the folder cannot say); nothing may be undecided."""
    from handover.plan.make import make_plan

    (exports_dir / "plan.toml").write_text(
        f'[plan]\ntarget = "{target_url}"\n\n[config]\nthresholds = {{ handover_date = "2025-07-01" }}\n',
        encoding="utf-8",
    )
    start = time.perf_counter()
    result = make_plan(exports_dir, plan_dir)
    if result.plan.undecided:
        raise SystemExit(f"handover plan left things undecided: {result.plan.undecided}")
    log(f"  handover plan: {len(result.plan.batch)} batches in {time.perf_counter() - start:.1f} s")
    return plan_dir


def run_many(plan: Path, jobs: int) -> dict[str, Any]:
    """``handover run-many PLAN --jobs J --json`` in a child process: its outcomes, wall and CPU seconds."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [
        sys.executable,
        "-c",
        "from handover.cli import main; main()",
        "run-many",
        str(plan),
        "--jobs",
        str(jobs),
        "--json",
    ]
    cpu, start = children_cpu(), time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO, timeout=3600)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"run-many --jobs {jobs} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return {"outcomes": json.loads(done.stdout), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def check_target(url: str, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """The balance per batch and in total, from the ledger; the union of the batches; no key loaded twice."""
    from sqlalchemy import create_engine, func, select

    from handover.models import DISPOSITIONS
    from handover.target import schema

    led, d, b = schema.ledger.c, schema.dossiers.c, schema.batches.c
    engine = create_engine(url)
    with engine.connect() as conn:
        per_batch: dict[str, dict[str, int]] = {}
        for batch_id, disposition, n in conn.execute(
            select(led.batch_id, led.disposition, func.count()).group_by(led.batch_id, led.disposition)
        ):
            per_batch.setdefault(batch_id, dict.fromkeys(DISPOSITIONS, 0))[disposition] = int(n)
        statuses = dict(conn.execute(select(b.batch_id, b.status)).all())
        dossiers = conn.execute(select(func.count()).select_from(schema.dossiers)).scalar_one()
        twice = conn.execute(
            select(func.count()).select_from(
                select(d.source_system, d.dossier_code)
                .group_by(d.source_system, d.dossier_code)
                .having(func.count() > 1)
                .subquery()
            )
        ).scalar_one()
        ledger_rows_twice = conn.execute(
            select(func.count()).select_from(
                select(led.batch_id, led.source_id, led.source_row, led.natural_key)
                .group_by(led.batch_id, led.source_id, led.source_row, led.natural_key)
                .having(func.count() > 1)
                .subquery()
            )
        ).scalar_one()
    engine.dispose()
    problems = []
    for o in outcomes:
        ledger = per_batch.get(o["batch_id"], {})
        counts = o["counts"] or {}
        if statuses.get(o["batch_id"]) != "finished":
            problems.append(f"{o['batch_id']}: status {statuses.get(o['batch_id'])}")
        if sum(ledger.values()) != counts.get("extracted"):
            problems.append(
                f"{o['batch_id']}: ledger {sum(ledger.values())} rows, extracted {counts.get('extracted')}"
            )
        if any(ledger.get(k, 0) != counts.get(k) for k in DISPOSITIONS):
            problems.append(f"{o['batch_id']}: ledger {ledger} differs from the run's counts {counts}")
    total = {k: sum(p.get(k, 0) for p in per_batch.values()) for k in DISPOSITIONS}
    extracted = sum(sum(p.values()) for p in per_batch.values())
    loaded_sum = sum((o["counts"] or {}).get("loaded", 0) for o in outcomes)
    if dossiers != loaded_sum:
        problems.append(f"dossiers {dossiers} rows, the batches loaded {loaded_sum}")
    if twice or ledger_rows_twice:
        problems.append(f"keys loaded twice: {twice}; ledger rows twice: {ledger_rows_twice}")
    return {
        "ok": not problems,
        "problems": problems,
        "extracted": extracted,
        "total": total,
        "dossiers": dossiers,
        "sum_of_batches_loaded": loaded_sum,
        "keys_loaded_twice": twice,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--districts", type=int, default=20)
    parser.add_argument("--rows-per-district", type=int, default=20_000)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--db",
        default=os.environ.get(
            "HANDOVER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="Keep the databases (their names are printed).")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from e2e import Databases  # throw-away databases on the server of --db

    folder, exports = generate(args.districts, args.rows_per_district, args.seed)
    databases = Databases(args.db, folder)
    runs = []
    try:
        for jobs in args.jobs:
            url = databases.fresh(f"j{jobs}")
            plan = write_plan(folder / "exports", folder / f"plan-j{jobs}", url)
            log(f"run-many --jobs {jobs} ({len(exports)} batches) into {databases.created[-1]}")
            run = run_many(plan, jobs)
            run["jobs"] = jobs
            run["target"] = check_target(url, run["outcomes"])
            extracted = run["target"]["extracted"]
            run["rows_per_s"] = round(extracted / run["wall_s"], 1)
            batch_seconds = [o["seconds"] for o in run["outcomes"]]
            batch_cpu = [o["cpu_seconds"] for o in run["outcomes"]]
            run["batch_seconds_median"] = round(statistics.median(batch_seconds), 2)
            run["batch_cpu_median"] = round(statistics.median(batch_cpu), 2)
            run["batch_cpu_sum"] = round(sum(batch_cpu), 2)
            log(
                f"  --jobs {jobs}: {run['wall_s']} s wall, {run['cpu_s']} CPU-s, {run['rows_per_s']:,} rows/s, "
                f"target {'ok' if run['target']['ok'] else run['target']['problems']}"
            )
            runs.append(run)
    finally:
        if args.keep:
            log(f"kept: {', '.join(databases.created)}")
        else:
            databases.drop_all()
    base = runs[0]
    fingerprints = [{o["batch_id"]: o["fingerprint"] for o in r["outcomes"]} for r in runs]
    per_batch_wall = base["wall_s"] / len(exports) * base["jobs"]  # one worker's wall seconds per batch
    summary = {
        "command": " ".join(["python", "benchmarks/national.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "districts": len(exports),
        "provinces": len({e.province_code for e in exports}),
        "rows_per_district": args.rows_per_district,
        "source_rows": sum(e.rows for e in exports),
        "runs": [
            {
                "jobs": r["jobs"],
                "wall_s": r["wall_s"],
                "cpu_s": r["cpu_s"],
                "rows_per_s": r["rows_per_s"],
                "speed_up": round(base["wall_s"] / r["wall_s"], 2),
                "batch_seconds_median": r["batch_seconds_median"],
                "batch_cpu_median": r["batch_cpu_median"],
                "batch_cpu_sum": r["batch_cpu_sum"],
                "target": {k: v for k, v in r["target"].items()},
                "finished": sum(o["status"] == "finished" for o in r["outcomes"]),
            }
            for r in runs
        ],
        "same_fingerprints_in_every_run": all(f == fingerprints[0] for f in fingerprints),
        "projection_696": {
            "per_batch_wall_s": round(per_batch_wall, 2),
            "per_batch_cpu_s": round(base["batch_cpu_sum"] / len(exports), 2),
            "hours_by_workers": {
                str(w): round(NATIONAL_DISTRICTS * per_batch_wall / w / 3600, 2)
                for w in (1, 2, 8, 16, 32, 64)
            },
        },
    }
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=1))
        return
    for r in summary["runs"]:
        print(
            f"--jobs {r['jobs']}: {r['wall_s']} s wall, {r['cpu_s']} CPU-s, {r['rows_per_s']:,} rows/s, "
            f"speed-up {r['speed_up']}, target {'ok' if r['target']['ok'] else r['target']['problems']}"
        )
    print(f"same fingerprints in every run: {summary['same_fingerprints_in_every_run']}")
    print(f"696 districts: {summary['projection_696']}")


if __name__ == "__main__":
    main()
