"""A real ``handover rollback`` process killed with SIGKILL mid-way (``HANDOVER_CRASH_AT=rollback.inside``:
everything undone inside its transaction, nothing committed) changes nothing; the next rollback takes over the
lock the dead one left, says so, and rolls back; one more says it was already done and exits 0. On SQLite,
PostgreSQL and MariaDB."""

from __future__ import annotations

import json
import os
import socket

import pytest
from sqlalchemy import Engine, select, text

from handover.target import schema
from handover.target.db import open_target
from handover.target.loader import Loader
from tests.cliproc import run_cli
from tests.target import factories as f

pytestmark = pytest.mark.slow


def _load(engine: Engine, batch_id: str, rows: list, policy: str = "keep") -> None:
    loader = Loader(engine, batch_id, conflict_policy=policy)  # type: ignore[arg-type]
    loader.begin_batch(batch_id, "c" * 64, [f.source()])
    loader.load_chunk(f.chunk(rows))
    loader.finish_batch({})


def _snapshot(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            name: sorted(tuple(map(str, r)) for r in conn.execute(select(schema.metadata.tables[name])).all())
            for name in ("dossiers", "ledger", "history", "chunks", "batches")
        }


def test_a_killed_rollback_changes_nothing_and_its_lock_is_taken_over(any_db_url: str) -> None:
    engine = open_target(any_db_url)
    try:
        _load(engine, "beta", [f.dossier(f"D-{i}", summary="beta") for i in range(6)])
        _load(engine, "alpha", [f.dossier(f"D-{i}", summary="alpha") for i in range(3)])
        before = _snapshot(engine)
        env = {**os.environ, "HANDOVER_CRASH_AT": "rollback.inside"}

        killed = run_cli(["rollback", "beta", "--db", any_db_url], env=env)
        assert killed.returncode == -9, killed.stderr
        assert _snapshot(engine) == before  # killed before its commit: nothing changed
        with engine.connect() as conn:
            left = conn.execute(select(schema.locks.c.name, schema.locks.c.holder)).all()
        assert [name for name, _holder in left] == ["batch:beta"]  # the dead process's lock row
        dead = json.loads(left[0][1])

        env.pop("HANDOVER_CRASH_AT")
        again = run_cli(["rollback", "beta", "--db", any_db_url], env=env)
        assert again.returncode == 0, again.stderr
        assert (
            f"took over the stale lock of pid {dead['pid']} on host {socket.gethostname()} (batch beta"
            in " ".join(again.stderr.split())
        )
        assert "that process no longer runs" in " ".join(again.stderr.split())
        assert "Rollback of batch beta" in again.stdout
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT dossier_code, summary, batch_id FROM dossiers")).all()
            assert conn.execute(select(schema.locks)).all() == []
        assert sorted(map(tuple, rows)) == [(f"D-{i}", "alpha", "alpha") for i in range(3)]

        third = run_cli(["rollback", "beta", "--db", any_db_url], env=env)
        assert third.returncode == 0, third.stderr
        assert "Batch beta was already rolled back on " in " ".join(third.stdout.split())
    finally:
        engine.dispose()
