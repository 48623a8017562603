"""Every case of the hostile-input corpus (``tests/data/hostile/``) through ``sources inspect``, ``run --dry-run``
and ``run``: refused with its message and exit code, or loaded with every physical row of the file accounted for.
No case may end with exit 0 and fewer rows accounted for than the file holds."""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from handover.cli import app
from handover.models import DISPOSITIONS
from handover.target import schema
from tests.data.hostile import make_hostile
from tests.data.hostile.make_hostile import CASES, Case

HOSTILE = Path(make_hostile.__file__).resolve().parent
ESCAPES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
runner = CliRunner()


def _source_file(case: Case, tmp_path: Path) -> Path:
    if not case.large:
        return HOSTILE / case.file
    path = tmp_path / case.file
    make_hostile.WRITERS[case.name](path)
    return path


def _toml_value(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, bool) else str(value).lower()


def _config(case: Case, path: Path, folder: Path) -> Path:
    kind = case.kind or path.suffix.lstrip(".")
    extra = "".join(f"{k} = {_toml_value(v)}\n" for k, v in case.config.items())
    text = f"""
[batch]
id = "hostile-{case.name.replace("_", "-")}"
chunk_size = 100
workers = 0

[target]
url = "sqlite:///{folder / "target.db"}"

[thresholds]
max_error_share = 1.0
handover_date = "2025-07-01"

[report]
dir = "{folder / "reports"}"

[[sources]]
id = "hostile"
kind = "{kind}"
path = "{path}"
entity = "dossier"
old_province_code = "10"
old_district_code = "086"
{extra}"""
    config = folder / "batch.toml"
    config.write_text(text, encoding="utf-8")
    return config


def _accounted(per_source: dict) -> int:
    counts = per_source["hostile"]
    return sum(counts[d] for d in DISPOSITIONS)


def _physical(result: dict) -> int:
    """The physical rows the run says the file held, after checking they are its data rows plus the non-data
    rows it listed with their rules."""
    rows = next(s["rows"] for s in result["sources"] if s["source_id"] == "hostile")
    assert rows["physical_rows"] == rows["data_rows"] + sum(rows["non_data"].values())
    return rows["physical_rows"]


def _check_output_clean(output: str) -> None:
    assert not ESCAPES.search(output), f"control characters reached the terminal: {output!r}"


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(case: Case, tmp_path: Path) -> None:
    path = _source_file(case, tmp_path)
    config = _config(case, path, tmp_path)
    started = time.process_time()
    options = [f"--{k}={v}" for k, v in case.config.items() if k in ("encoding", "sheet")]
    inspect = runner.invoke(app, ["sources", "inspect", str(path), "--json", *options])
    dry = runner.invoke(app, ["run", str(config), "--dry-run", "--json"])
    real = runner.invoke(app, ["run", str(config), "--json"])
    cpu = time.process_time() - started
    for result in (inspect, dry, real):
        _check_output_clean(result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception

    if case.expect == "refused":
        for result in (dry, real) if case.exit_code == 2 else (inspect, dry, real):
            assert result.exit_code == case.exit_code, result.output
            for word in case.message:
                assert word.lower() in result.output.lower(), result.output
        assert not (tmp_path / "target.db").exists() or _target_keys(tmp_path) == set()
        return

    if case.expect == "bounded":
        assert cpu < 30, f"{case.name}: {cpu:.1f} CPU-s"
        if real.exit_code != 0:
            assert real.exit_code == 3, real.output
            assert inspect.exit_code == 3, inspect.output
            return

    assert inspect.exit_code == 0, inspect.output
    assert dry.exit_code == 0, dry.output
    assert real.exit_code == 0, real.output
    run = json.loads(real.output)
    trial = json.loads(dry.output)
    # every data row is in the balance, every physical row accounted for, the dry run agrees with the load
    assert _accounted(run["per_source"]) == case.data_rows
    assert _accounted(trial["per_source"]) == case.data_rows
    assert _physical(run) == case.physical_rows
    assert {d: run["per_source"]["hostile"][d] for d in DISPOSITIONS} == {
        d: trial["per_source"]["hostile"][d] for d in DISPOSITIONS
    }
    keys = _target_keys(tmp_path)
    assert set(case.loaded_keys) <= keys
    checks = _finding_checks(tmp_path)
    for word in case.findings:
        assert any(word in c for c in checks), (word, checks)
    again = runner.invoke(app, ["run", str(config), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["new_rows"] == 0


def _target_keys(folder: Path) -> set[str]:
    engine = create_engine(f"sqlite:///{folder / 'target.db'}")
    try:
        with engine.connect() as conn:
            return {r[0] for r in conn.execute(select(schema.dossiers.c.dossier_code))}
    finally:
        engine.dispose()


def _finding_checks(folder: Path) -> set[str]:
    found = list((folder / "reports").glob("*findings.csv"))
    assert found, "the run wrote no findings CSV"
    with found[0].open(encoding="utf-8-sig", newline="") as fh:
        return {row["check"] for row in csv.DictReader(fh)}


@pytest.mark.parametrize("case", [c for c in CASES if not c.large and not c.file.endswith((".xlsx", ".xls"))])
def test_committed_corpus_is_what_the_script_writes(case: Case, tmp_path: Path) -> None:
    """The committed text files are the generator's output (xlsx files carry a save time, so are not compared)."""
    make_hostile.WRITERS[case.name](tmp_path / case.file)
    assert (tmp_path / case.file).read_bytes() == (HOSTILE / case.file).read_bytes()


def test_fifo_is_refused_by_kind(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "export.csv"
    os.mkfifo(fifo)
    result = runner.invoke(app, ["sources", "inspect", str(fifo)])
    assert result.exit_code == 3, result.output
    assert "pipe" in result.output.lower()
    assert "does not exist" not in result.output
