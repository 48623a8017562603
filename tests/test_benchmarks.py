"""Smoke tests of the benchmark harness (benchmarks/generate.py, e2e.py and the smaller benches)."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from handover.config import load_config
from handover.demo.van_ban import VB_COLUMNS, VB_HEADERS

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
CODE = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}-\d{6}-\d{4}$")


def _generate_module():
    spec = importlib.util.spec_from_file_location("bench_generate", BENCH / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    return header, rows


def test_generator_is_deterministic_and_matches_the_demo_csv(tmp_path: Path) -> None:
    gen = _generate_module()
    a = gen.generate(600, "csv", tmp_path / "a", seed=3)
    b = gen.generate(600, "csv", tmp_path / "b", seed=3)
    c = gen.generate(600, "csv", tmp_path / "c", seed=4)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()

    header, rows = _rows(a)
    assert header == VB_HEADERS  # the demo's CSV source, column for column
    assert len(rows) == 600
    col = {h: i for i, h in enumerate(header)}
    codes = [r[col["Số hồ sơ"]] for r in rows]
    assert sum(bool(CODE.match(x)) for x in codes) > 0.95 * len(rows)
    # Apart from planted exact duplicates, dossier codes are unique.
    distinct_rows = {tuple(r) for r in rows}
    assert len({r[col["Số hồ sơ"]] for r in distinct_rows}) == len(distinct_rows)
    assert len(distinct_rows) < len(rows)  # some exact duplicates were planted
    assert {r[col["Mã huyện"]] for r in rows} >= {"086", "089"}
    assert any(r[col["Trạng thái"]] == "Đã trả kết quả" for r in rows)

    # Communes of the two districts are real: their codes are in the unit reference.
    with (REPO / "mappings" / "units" / "old_units.csv").open(encoding="utf-8") as fh:
        known = {(r["district_code"], r["commune_code"]) for r in csv.DictReader(fh)}
    own = [r for r in rows if r[col["Mã huyện"]] in ("086", "089") and r[col["Mã xã"]]]
    assert own and all((r[col["Mã huyện"]], r[col["Mã xã"]]) in known for r in own)

    cfg = load_config(tmp_path / "a" / "batch.toml")
    (source,) = cfg.sources
    assert source.kind == "csv" and source.path == a
    assert source.columns == VB_COLUMNS


def _bench(script: str, *args: str, timeout: float = 120) -> dict:
    """The JSON object ``benchmarks/SCRIPT ARGS`` prints; its error output when it fails."""
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _e2e(tmp_path: Path, db: str, *extra: str) -> dict:
    args = ("--rows", "300", "--db", db, "--json", "--cache", str(tmp_path), *extra)
    return _bench("e2e.py", *args, timeout=600)


@pytest.mark.slow
def test_e2e_prints_one_json_object_with_the_figures(tmp_path: Path) -> None:
    result = _e2e(tmp_path, "sqlite")
    for key in ("rows", "seconds", "rows_per_s", "peak_rss_mb", "stages", "baseline", "ratio"):
        assert key in result
    assert result["rows"] == 300
    assert result["counts"]["extracted"] == 300
    counts = result["counts"]
    assert counts["extracted"] == sum(
        counts[k] for k in ("loaded", "review", "quarantined", "excluded", "duplicate")
    )
    assert {"extract", "map", "validate", "load", "report"} <= set(result["stages"])
    # the sampled process tree (main + any sheet writers) weighs at least what the main process alone does
    assert result["peak_rss_mb"] >= result["peak_rss_main_mb"] > 0
    assert result["rows_per_s"] == pytest.approx(300 / result["seconds"], rel=0.01)
    baseline = result["baseline"]
    assert baseline["rows"] == 300 and baseline["seconds"] > 0 and baseline["peak_rss_mb"] > 0
    # the baseline's stages, timed like the pipeline's, cover its whole run (imports and reference data in setup)
    assert list(baseline["stages"]) == ["setup", "extract", "map", "load"]
    assert all(v >= 0 for v in baseline["stages"].values())
    assert sum(baseline["stages"].values()) == pytest.approx(baseline["seconds"], abs=0.01)
    assert result["ten_x_seconds"] == pytest.approx(baseline["seconds"] / 10, abs=0.001)
    assert "copy" not in result  # PostgreSQL only
    # ratio is rounded to 3 decimals, from rates that are themselves rounded in the JSON
    assert result["ratio"] == pytest.approx(
        result["rows_per_s"] / baseline["rows_per_s"], rel=0.05, abs=0.002
    )


@pytest.mark.slow
def test_e2e_on_postgresql_times_plain_copies_of_what_the_load_wrote(
    tmp_path: Path, pg_server_url: str
) -> None:
    from sqlalchemy import create_engine, text

    url = pg_server_url
    admin = create_engine(url)

    def databases() -> set[str]:
        # only the bench's own names: tests on other workers create and drop theirs meanwhile
        with admin.connect() as conn:
            query = text("SELECT datname FROM pg_database WHERE datname LIKE 'hobench\\_%'")
            return set(conn.execute(query).scalars())

    try:
        before = databases()
        result = _e2e(tmp_path, url, "--peers", "floor", "--skip-report", "--chunk-size", "100")
        after = databases()
    finally:
        admin.dispose()
    assert after <= before  # its throw-away databases are gone
    counts = result["counts"]
    copy, written = result["copy"], result["copy_written"]
    tables = written["tables"]
    # the floor copies exactly the rows the pipeline wrote: a dossier per new row, a ledger row per input row
    assert copy["rows"] == tables["dossiers"]["rows"] == result["new_rows"] == counts["loaded"] > 0
    assert tables["ledger"]["rows"] == counts["extracted"] == 300
    assert tables["findings"]["rows"] > 0
    assert copy["seconds"] == tables["dossiers"]["seconds"] > 0
    assert written["seconds"] == pytest.approx(sum(t["seconds"] for t in tables.values()), abs=0.002)
    assert written["rows_per_s"] < copy["rows_per_s"]
    load_rate = result["new_rows"] / result["stages"]["load"]
    assert result["load_vs_copy"] == pytest.approx(load_rate / copy["rows_per_s"], rel=0.02, abs=0.002)
    assert result["load_vs_copy_written"] == pytest.approx(
        load_rate / written["rows_per_s"], rel=0.02, abs=0.002
    )
    # the write floor wrote the same rows as the COPY floor copies, into fresh databases: 3 chunks of 100 rows
    floors = result["write_floor"]
    assert set(floors) == {"one", "chunked"}
    for floor in floors.values():
        assert floor["rows"] == 300
        assert floor["written_rows"] == {t: v["rows"] for t, v in tables.items()}
    assert (floors["one"]["transactions"], floors["chunked"]["transactions"]) == (1, 3)


@pytest.mark.slow
def test_e2e_write_floor_writes_every_row_the_pipeline_wrote(tmp_path: Path) -> None:
    """The write floor on SQLite (benchmarks/write_floor.py): reads the CSV, writes every row of every table the
    pipeline wrote (one transaction, or one per chunk) into a fresh database; its figures and ratios, and its
    rows in the rendered target table."""
    result = _e2e(tmp_path, "sqlite", "--peers", "floor", "--skip-report", "--chunk-size", "100")
    counts, floors = result["counts"], result["write_floor"]
    assert set(floors) == {"one", "chunked"}
    for mode, transactions in (("one", 1), ("chunked", 3)):
        floor = floors[mode]
        assert floor["rows"] == 300 and floor["transactions"] == transactions
        written = floor["written_rows"]
        assert written["ledger"] == result["target_rows"]["ledger"] == counts["extracted"] == 300
        assert written["dossiers"] == result["target_rows"]["dossiers"] == result["new_rows"] > 0
        assert written["chunks"] == 3 and written["batches"] == 1 and written["findings"] > 0
        assert "alembic_version" not in written
        assert list(floor["stages"]) == ["setup", "extract", "write"]
        # the unpickling of the dumped rows is left out of the floor's figures
        assert sum(floor["stages"].values()) == pytest.approx(floor["seconds"], abs=0.01)
        assert floor["excluded"]["seconds"] >= 0 and floor["cpu_seconds"] > 0
        assert floor["rows_per_s"] == pytest.approx(300 / floor["seconds"], rel=0.01)
        ratios = result["ratios"]
        assert ratios["without_report_vs_write_floor"][mode]["rows_per_s"] == pytest.approx(
            result["without_report"]["rows_per_s"] / floor["rows_per_s"], rel=0.05, abs=0.002
        )
        assert ratios["load_vs_write_floor"][mode]["rows_per_s"] == pytest.approx(
            floor["stages"]["write"] / result["stages"]["load"], rel=0.05, abs=0.002
        )
    assert "write_floor_vs_dlt" not in result["ratios"]  # no dlt in this run
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(result), encoding="utf-8")
    table = subprocess.run(
        [sys.executable, str(BENCH / "e2e.py"), "--render", str(saved)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert table.returncode == 0, table.stderr[-2000:]
    rows = [line for line in table.stdout.splitlines() if "sqlite | 300" in line]
    (load_row,) = [r for r in rows if r.startswith("| SQLite load stage vs the write floor's writes")]
    assert "a transaction per chunk writes" in load_row and "one transaction writes" in load_row
    assert "write floor" in next(r for r in rows if r.startswith("| peak RSS ≤ 1 GB |"))


def test_ledger_bench_writes_every_row_each_way() -> None:
    data = _bench("ledger_bench.py", "--rows", "300", "--chunk-size", "120")
    ways = ("source_order_with_ix_ledger_key", "key_order_with_ix_ledger_key", "source_order", "key_order")
    assert [data[w]["rows_written"] for w in ways] == [300] * 4
    assert data["source_order_with_ix_ledger_key"]["indexes"] == ["ix_ledger_batch_key", "ix_ledger_key"]
    assert data["key_order"]["indexes"] == ["ix_ledger_batch_key"]  # what revision 0002 leaves
    assert data["ratio_to_baseline"]["source_order_with_ix_ledger_key"] == 1.0


def test_rollback_bench_restores_and_deletes_every_row_both_ways() -> None:
    runs = _bench("rollback_bench.py", "--rows", "50", "120", "--baseline-max-rows", "50")[
        "runs"
    ]  # the script itself stops unless every row was restored and deleted
    assert set(runs["50"]) == {"with_index", "without_index"} and set(runs["120"]) == {"with_index"}
    figures = runs["120"]["with_index"]
    assert figures["rollback_updating_batch_s"] > 0 and figures["rollback_inserting_batch_s"] > 0
    assert figures["seconds_per_1000_rows"] == pytest.approx(
        figures["rollback_updating_batch_s"] * 1000 / 120, rel=0.05, abs=0.002
    )
    assert figures["rollback_updating_peak_rss_mb"] > 0 and figures["rollback_inserting_peak_rss_mb"] > 0


def test_staging_probe_copies_every_row_both_ways(tmp_path: Path) -> None:
    from handover.target.db import open_target
    from handover.target.loader import Loader
    from tests.target import factories as f

    engine = open_target(f"sqlite:///{tmp_path / 'loaded.db'}")
    loader = Loader(engine, "A")
    loader.begin_batch("A", "c" * 64, [f.source()])
    loader.load_chunk(
        f.chunk([f.dossier(f"H-{i}") for i in range(30)] + [f.dossier("X", disposition="review")])
    )
    loader.finish_batch({})
    engine.dispose()
    url = f"sqlite:///{tmp_path / 'loaded.db'}"
    data = _bench("staging_probe.py", "--db", url, "--chunk-size", "7", "--repeat", "1")
    assert data["rows"] == {"dossiers": 30, "ledger": 31}
    assert all(len(seconds) == 1 and seconds[0] >= 0 for seconds in data["seconds"].values())


@pytest.mark.slow
def test_e2e_target_table_from_one_run_and_from_its_saved_json(tmp_path: Path) -> None:
    """The issue's target table: ratios from the same run's figures, every contender loading every row, and
    ``--render`` rebuilding the same table from the saved JSON. dlt is a bench-only extra: without it, the
    naive script alone."""
    import importlib.util

    peers = "naive,dlt" if importlib.util.find_spec("dlt") else "naive"
    args = [
        "--rows",
        "300",
        "--db",
        "sqlite",
        "--json",
        "--table",
        "--peers",
        peers,
        "--cache",
        str(tmp_path),
    ]
    proc = subprocess.run(
        [sys.executable, str(BENCH / "e2e.py"), *args], capture_output=True, text=True, timeout=600, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["baseline"]["loaded_rows"] == result["counts"]["extracted"] == 300
    ratios = result["ratios"]["batch_vs_naive"]
    assert ratios["rows_per_s"] == pytest.approx(
        result["rows_per_s"] / result["baseline"]["rows_per_s"], rel=0.05, abs=0.002
    )
    assert ratios["cpu"] == pytest.approx(
        result["baseline"]["cpu_seconds"] / result["cpu_seconds"], rel=0.05, abs=0.01
    )
    rows = [line for line in proc.stderr.splitlines() if line.startswith("| ") and "sqlite | 300" in line]
    assert rows[0].startswith("| full batch ≥ 1.0× naive script rows/s |")
    assert any(r.startswith("| peak RSS ≤ 1 GB |") for r in rows)
    if "dlt" in peers:
        assert result["dlt"]["loaded_rows"] == 300
        # dlt brings the write floor along: its ratio to dlt in the dlt target's floor column
        assert result["write_floor"]["chunked"]["written_rows"]["ledger"] == 300
        floor = result["ratios"]["write_floor_vs_dlt"]["chunked"]
        assert floor["rows_per_s"] == pytest.approx(
            result["write_floor"]["chunked"]["rows_per_s"] / result["dlt"]["rows_per_s"], rel=0.05, abs=0.002
        )
        (dlt_row,) = [r for r in rows if r.startswith("| batch without report ≥ 1.0× dlt rows/s |")]
        assert "a transaction per chunk" in dlt_row and f"= {floor['rows_per_s']:.2f}×" in dlt_row
    saved = tmp_path / "run.json"
    saved.write_text(proc.stdout, encoding="utf-8")
    again = subprocess.run(
        [sys.executable, str(BENCH / "e2e.py"), "--render", str(saved)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert [line for line in again.stdout.splitlines() if "sqlite | 300" in line] == rows
