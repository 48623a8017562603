"""One process per batch and target: the second holder stops at once, told who holds the batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import datetime

import pytest
from sqlalchemy import Engine, insert, select

from handover.errors import BatchLockedError, ExitCode
from handover.target import schema
from handover.target.db import open_target
from handover.target.locks import batch_lock
from tests.conftest import REPO

HOLDER = """
import sys, time
from handover.target.db import open_target
from handover.target.locks import batch_lock
engine = open_target(sys.argv[1])
with batch_lock(engine, "b1"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_second_holder_in_another_process_is_refused_within_a_second(engine: Engine, target_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, target_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(BatchLockedError) as caught, batch_lock(engine, "b1"):
            pass
        assert time.monotonic() - started < 1.0
        message = caught.value.message
        assert message.startswith("batch b1 is already running against this target: held by ")
        assert f"pid {holder.pid} on host {socket.gethostname()}" in message
        assert caught.value.exit_code == ExitCode.LOCKED
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=20)
    with batch_lock(engine, "b1"):  # released when the holder finished
        pass


def test_second_engine_in_the_same_process_is_refused(engine: Engine, target_url: str) -> None:
    other = open_target(target_url)
    try:
        with batch_lock(engine, "b1") as lock:
            assert lock.holder["pid"] == os.getpid()
            with pytest.raises(BatchLockedError, match=f"pid {os.getpid()}"), batch_lock(other, "b1"):
                pass
            with batch_lock(other, "b2"):  # another batch is not blocked
                pass
    finally:
        other.dispose()


def test_lock_is_released_on_exceptions(engine: Engine) -> None:
    with pytest.raises(RuntimeError), batch_lock(engine, "b1"):
        raise RuntimeError("boom")
    with batch_lock(engine, "b1"):
        pass
    with engine.connect() as conn:
        assert conn.execute(select(schema.locks)).all() == []


def test_sqlite_stale_lock_of_a_dead_process_is_taken_over(sqlite_url: str) -> None:
    engine = open_target(sqlite_url)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    holder = f'{{"host": "{host}", "pid": {dead.pid}, "batch": "b1", "since": "2025-07-01 08:00:00 UTC"}}'
    with engine.begin() as conn:
        conn.execute(
            insert(schema.locks).values(name="batch:b1", holder=holder, acquired_at=datetime(2025, 7, 1))
        )
    try:
        with batch_lock(engine, "b1") as lock:
            assert lock.took_over == (
                f"took over the stale lock of pid {dead.pid} on host {host} (batch b1, since 2025-07-01 08:00:00 UTC): "
                "that process no longer runs"
            )
    finally:
        engine.dispose()


def test_sqlite_lock_of_another_host_is_not_taken_over(sqlite_url: str) -> None:
    engine = open_target(sqlite_url)
    holder = '{"host": "district-server", "pid": 1, "batch": "b1", "since": "2025-07-01 08:00:00 UTC"}'
    with engine.begin() as conn:
        conn.execute(
            insert(schema.locks).values(name="batch:b1", holder=holder, acquired_at=datetime(2025, 7, 1))
        )
    try:
        with pytest.raises(BatchLockedError, match="pid 1 on host district-server"), batch_lock(engine, "b1"):
            pass
    finally:
        engine.dispose()
