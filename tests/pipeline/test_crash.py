"""Crash safety: a real ``handover run`` process is killed with SIGKILL at several points, run again, and the
target must equal the target of an uninterrupted run: same rows, same content hashes, same ledger, same
fingerprint. On SQLite, PostgreSQL and MariaDB (the any_db_url fixture).

The kill is real: ``HANDOVER_CRASH_AT=point[:n]`` makes the process send itself SIGKILL at that checkpoint
(:mod:`handover.faults`), so no cleanup code runs, exactly as with ``kill -9`` or a power cut. The runs are
forked from a warm process (:mod:`tests.cliproc`); the first-chunk case starts a new interpreter, as a user's
command line does."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from sqlalchemy import create_engine, select

from handover.target import schema
from tests.cliproc import run_cli

pytestmark = pytest.mark.slow

CRASH_POINTS = [
    "extract:2",  # while reading the sources, before anything is written
    "load.inside:2",  # inside the second chunk's transaction, rows written but not committed
    "load.between:2",  # after a chunk committed, before the next one
    "report",  # after the batch finished, while writing the reports
]


def _prepare(tmp: Path, target_url: str) -> Path:
    from handover.demo.batch import generate_demo_inputs, write_demo_config

    generate_demo_inputs(tmp, seed=11, rows=120)
    cfg = write_demo_config(tmp)
    text = cfg.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^chunk_size\s*=.*$", "", text)
    text = text.replace("[batch]\n", "[batch]\nchunk_size = 100\n", 1)
    text = re.sub(
        r'(?m)^url\s*=\s*"sqlite:///target\.db"',
        f'url = "{target_url}"\nattachments = "target-attachments"',  # the scans' store, on every database
        text,
    )
    assert target_url in text
    cfg.write_text(text, encoding="utf-8")
    return cfg


def _run(cfg: Path, crash_at: str | None = None, new_interpreter: bool = False) -> CompletedProcess[str]:
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false"}
    env.pop("HANDOVER_CRASH_AT", None)
    if crash_at:
        env["HANDOVER_CRASH_AT"] = crash_at
    if new_interpreter:
        command = [sys.executable, "-c", "from handover.cli import main; main()", "run", str(cfg)]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    return run_cli(["run", str(cfg)], env=env)


def _findings_file(folder: Path) -> list[list[str]]:
    """The rows of the batch's findings CSV (every finding, row by row), sorted: what IT staff work from."""
    (path,) = (folder / "reports").glob("*-findings.csv")
    with path.open(encoding="utf-8-sig", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header[:2] == ["source_id", "row"]
    return sorted(rows)


def _snapshot(url: str) -> dict[str, object]:
    engine = create_engine(url)
    with engine.connect() as conn:
        dossiers = sorted(
            conn.execute(
                select(
                    schema.dossiers.c.source_system,
                    schema.dossiers.c.dossier_code,
                    schema.dossiers.c.content_hash,
                )
            ).all()
        )
        records = sorted(
            conn.execute(
                select(
                    schema.records.c.source_system,
                    schema.records.c.record_number,
                    schema.records.c.content_hash,
                )
            ).all()
        )
        led = schema.ledger.c
        ledger = sorted(
            conn.execute(
                select(
                    led.source_id,
                    led.source_row,
                    led.disposition,
                    led.natural_key,
                    led.content_hash,
                    led.new_commune_code,
                    led.action,
                )
            ).all(),
            key=lambda r: tuple("" if v is None else str(v) for v in r),
        )
        f = schema.findings.c
        findings = sorted(
            conn.execute(select(f.source_id, f.source_row, f.check_name, f.field, f.severity)).all(),
            key=lambda r: tuple("" if v is None else str(v) for v in r),
        )
        batches = conn.execute(
            select(schema.batches.c.batch_id, schema.batches.c.status, schema.batches.c.fingerprint)
        ).all()
    engine.dispose()
    return {
        "dossiers": dossiers,
        "records": records,
        "ledger": ledger,
        "findings": findings,
        "batches": batches,
    }


@pytest.fixture(scope="module")
def clean_snapshot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("clean")
    url = f"sqlite:///{tmp / 'clean.db'}"
    done = _run(_prepare(tmp, url))
    assert done.returncode == 0, done.stderr
    snap = _snapshot(url)
    assert len(snap["dossiers"]) > 50 and len(snap["ledger"]) > 200
    snap["findings_file"] = _findings_file(tmp)
    assert len(snap["findings_file"]) == len(snap["findings"]) > 20
    return snap


def test_sigkill_at_every_point_then_rerun_equals_clean_run(
    any_db_url: str, tmp_path: Path, clean_snapshot: dict[str, object]
) -> None:
    """One chain per database: each run is killed at the next point, the run after it resumes from there."""
    cfg = _prepare(tmp_path, any_db_url)
    for crash_at in CRASH_POINTS:
        crashed = _run(cfg, crash_at)
        assert crashed.returncode == -signal.SIGKILL, (crash_at, crashed.returncode, crashed.stderr[-2000:])
    resumed = _run(cfg)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # the last run resumed a finished batch: every chunk skipped, their findings listed from the target
    assert {**_snapshot(any_db_url), "findings_file": _findings_file(tmp_path)} == clean_snapshot


def test_sigkill_inside_first_chunk_then_rerun(tmp_path: Path, clean_snapshot: dict[str, object]) -> None:
    """The simplest case on its own: killed inside the very first chunk's transaction, nothing committed."""
    url = f"sqlite:///{tmp_path / 'target.db'}"
    cfg = _prepare(tmp_path, url)
    crashed = _run(cfg, "load.inside:1", new_interpreter=True)
    assert crashed.returncode == -signal.SIGKILL
    assert _snapshot(url)["dossiers"] == []
    resumed = _run(cfg, new_interpreter=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert {**_snapshot(url), "findings_file": _findings_file(tmp_path)} == clean_snapshot
