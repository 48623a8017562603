"""The contenders of benchmarks/e2e.py, each run in its own child process: the pipeline (``run_batch``) and its
peers on the same rows, the naive script and dlt's arrow pipeline. Each returns one dict of figures: wall and CPU
seconds, peak RSS, stages, and the rows it loaded (counted after the timing)."""

from __future__ import annotations

import resource
import shutil
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def maxrss_mb() -> float:
    """This process's peak resident memory: VmHWM, which starts again at exec (Linux's ``ru_maxrss`` would
    carry the parent's size at the fork over into a child's figure)."""
    with suppress(OSError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (none since a batch works in one process): the
    figure to trust when other jobs share the machine."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return round(total, 3)


# ------------------------------------------------------------------------------------------------------------
# The children: e2e.py prints the dict each returns as the last line of its output.
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


def _time_reports(marks: dict[str, float]) -> None:
    """Wrap the report writer to record its wall and CPU seconds: the batch without its report is the rest."""
    import handover.reports

    original = handover.reports.write_reports

    def write_reports(*args, **kwargs):  # type: ignore[no-untyped-def]
        wall, cpu = time.perf_counter(), cpu_seconds()
        try:
            return original(*args, **kwargs)
        finally:
            marks["seconds"] = marks.get("seconds", 0.0) + time.perf_counter() - wall
            marks["cpu_seconds"] = marks.get("cpu_seconds", 0.0) + cpu_seconds() - cpu

    handover.reports.write_reports = write_reports  # type: ignore[assignment]


def count_rows(url: str, tables: tuple[str, ...]) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}
    finally:
        engine.dispose()


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

    report: dict[str, float] = {}
    if skip_report:
        _skip_reports()
    else:
        if analyze:
            _analyze_before_reports()
        _time_reports(report)

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
    cpu = cpu_seconds()
    if profile:
        profiler.stop()
        Path(profile).write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": cpu,
        "peak_rss_mb": maxrss_mb(),
        "report_seconds": round(report.get("seconds", 0.0), 3),
        "report_cpu_seconds": round(report.get("cpu_seconds", 0.0), 3),
        "status": result.status,
        "chunk_size": cfg.batch.chunk_size,
        "stages": {t.stage: t.seconds for t in result.timings},
        "counts": result.total.model_dump(),
        "new_rows": result.new_rows,
        "findings": result.findings,
        # after the timing: one ledger row per input row, one dossier per new row
        "target_rows": {} if dry_run else count_rows(url, ("ledger", "dossiers")),
    }


def _fold(name: str) -> str:
    """The normalisation a user would write by hand: lower case, no unit type prefix."""
    n = " ".join(str(name).lower().split())
    for prefix in ("thị trấn ", "tt. ", "tt ", "xã ", "phường "):
        if n.startswith(prefix):
            return n[len(prefix) :]
    return n


class Laps:
    """Stage timer of a peer's child: ``laps("extract")`` records the seconds since the previous call (since
    construction for the first) under that name in :attr:`stages`."""

    def __init__(self) -> None:
        self.t0 = self._lap = time.perf_counter()
        self.stages: dict[str, float] = {}

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.stages[name] = round(now - self._lap, 3)
        self._lap = now


def child_baseline(path: str, fmt: str, url: str, nrows: int | None, header_row: int) -> dict:
    """The naive script: whole file into pandas, row-wise mapping through dicts, DataFrame.to_sql. Its
    stages are timed like the pipeline's: ``setup`` (imports, reference dicts), ``extract`` (read_csv /
    read_excel), ``map`` (the row-wise apply), ``load`` (to_sql)."""
    stage = Laps()
    t0, stages = stage.t0, stage.stages

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
    cpu = cpu_seconds()
    return {
        "rows": len(df),
        "seconds": round(seconds, 3),
        "stages": stages,
        "cpu_seconds": cpu,
        "peak_rss_mb": maxrss_mb(),
        "mapped": int(df["new_commune_code"].notna().sum()),
        "loaded_rows": count_rows(url, ("dossiers",))["dossiers"],  # after the timing
    }


def read_csv_arrow(path: str) -> pyarrow.Table:
    """The CSV as a pyarrow Table, every column as text (as the naive script reads it): dlt's extract, and the
    write floor's (benchmarks/write_floor.py)."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, encoding="utf-8-sig", newline="") as fh:
        names = next(csv.reader(fh))
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names}, strings_can_be_null=False
        ),
    )


def child_dlt(path: str, url: str, work: str) -> dict:
    """dlt's arrow pipeline: pyarrow reads the CSV (every column as text, as the naive script reads it) and
    ``pipeline.run`` loads the table into a fresh database of the same kind: dlt's ``postgres`` destination
    (``csv`` files, loaded by COPY) or its ``sqlalchemy`` destination for SQLite (``parquet`` files). Stages:
    ``setup`` (imports), ``extract`` (the CSV as an Arrow table), ``load`` (``pipeline.run``: normalise + load)."""
    stage = Laps()
    t0, stages = stage.t0, stage.stages

    import dlt
    import pyarrow  # noqa: F401  (imported in setup, as the write floor's child does)
    from sqlalchemy.engine import make_url

    shutil.rmtree(Path(work) / "dlt", ignore_errors=True)  # no state of an earlier run (--keep)
    stage("setup")
    table = read_csv_arrow(path)
    stage("extract")
    target = make_url(url)
    if target.get_backend_name() == "sqlite":
        destination = dlt.destinations.sqlalchemy(credentials=url)
        file_format = "parquet"
    else:  # dlt's postgres credentials insist on a password; a trust-auth server ignores it
        credentials = target.set(drivername="postgresql", password=target.password or "unused")
        destination = dlt.destinations.postgres(credentials=credentials.render_as_string(hide_password=False))
        file_format = "csv"
    pipeline = dlt.pipeline(
        pipeline_name="hobench",
        destination=destination,
        dataset_name="hobench",
        pipelines_dir=str(Path(work) / "dlt"),
    )
    pipeline.run(table, table_name="dossiers", loader_file_format=file_format, write_disposition="replace")
    stage("load")
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds()
    with pipeline.sql_client() as client:  # after the timing
        loaded = client.execute_sql(f"SELECT count(*) FROM {client.make_qualified_table_name('dossiers')}")
    return {
        "rows": table.num_rows,
        "seconds": round(seconds, 3),
        "stages": stages,
        "cpu_seconds": cpu,
        "peak_rss_mb": maxrss_mb(),
        "loaded_rows": int(loaded[0][0]),
        "file_format": file_format,
        "dlt": dlt.__version__,
    }
