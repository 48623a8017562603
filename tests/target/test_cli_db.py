"""The db and rollback commands, in process: exit codes, JSON equal to the library's results."""

from __future__ import annotations

import json

from sqlalchemy import Engine
from typer.testing import CliRunner

from handover import cli
from handover.errors import ExitCode
from handover.target.db import open_target
from handover.target.loader import Loader
from handover.target.migrate import head_revision
from handover.target.rollback import rollback_batch
from handover.target.verify import verify_batch
from tests.target import factories as f

runner = CliRunner()


def _loaded(url: str) -> Engine:
    engine = open_target(url)
    loader = Loader(engine, "A")
    loader.begin_batch("A", "c" * 64, [f.source()])
    loader.load_chunk(f.chunk([f.dossier("H-1"), f.dossier("H-2"), f.dossier("H-3", disposition="excluded")]))
    loader.finish_batch({})
    return engine


def test_upgrade_then_status(sqlite_url: str) -> None:
    first = runner.invoke(cli.app, ["db", "upgrade", "--db", sqlite_url])
    assert first.exit_code == 0, first.output
    assert f"{sqlite_url}: schema (empty) → {head_revision()}" in first.output
    again = runner.invoke(cli.app, ["db", "upgrade", "--db", sqlite_url])
    assert f"schema already at {head_revision()}, nothing to do" in again.output
    status = runner.invoke(cli.app, ["db", "status", "--db", sqlite_url, "--json"])
    data = json.loads(status.stdout)
    assert (data["current_revision"], data["up_to_date"], data["batches"]) == (head_revision(), True, [])


def test_verify_json_and_tampering(sqlite_url: str) -> None:
    engine = _loaded(sqlite_url)
    ok = runner.invoke(cli.app, ["db", "verify", "--db", sqlite_url, "--batch", "A", "--json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["ok"] is True
    assert data["recomputed_fingerprint"] == verify_batch(engine, "A").recomputed_fingerprint
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE dossiers SET phone = '0000000000' WHERE dossier_code = 'H-2'")
    bad = runner.invoke(cli.app, ["db", "verify", "--db", sqlite_url, "--batch", "A"])
    assert bad.exit_code == ExitCode.VERIFY
    assert "MISMATCH" in bad.output and "H-2: stored hash differs from the row's content" in bad.output
    engine.dispose()


def test_rollback_dry_run_json_matches_the_library(sqlite_url: str) -> None:
    engine = _loaded(sqlite_url)
    dry = runner.invoke(cli.app, ["rollback", "A", "--db", sqlite_url, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout) == rollback_batch(engine, "A", dry_run=True).model_dump(mode="json")
    real = runner.invoke(cli.app, ["rollback", "A", "--db", sqlite_url])
    assert real.exit_code == 0
    assert "Rollback of batch A" in real.output
    again = runner.invoke(cli.app, ["rollback", "A", "--db", sqlite_url])
    assert again.exit_code == 0, again.output  # a finished rollback run again: nothing to do
    assert "Batch A was already rolled back on 20" in again.output
    assert "nothing to do. Rows deleted then: 1 chunks, 2 dossiers, 3 ledger; restored: none." in again.output
    as_json = json.loads(runner.invoke(cli.app, ["rollback", "A", "--db", sqlite_url, "--json"]).stdout)
    assert (as_json["already_rolled_back"], as_json["rows_deleted"]["dossiers"]) == (True, 2)
    engine.dispose()


def test_rollback_unknown_batch_and_unreachable_server(sqlite_url: str) -> None:
    _loaded(sqlite_url).dispose()
    unknown = runner.invoke(cli.app, ["rollback", "B", "--db", sqlite_url])
    assert unknown.exit_code == ExitCode.NOT_FOUND
    assert "known batches: A" in unknown.output
    down = runner.invoke(cli.app, ["db", "status", "--db", "postgresql://u:pw@127.0.0.1:1/x"])
    assert down.exit_code == ExitCode.LOAD
    assert "pw@" not in down.output and "cannot reach the target database" in down.output
