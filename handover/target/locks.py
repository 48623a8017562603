"""One process per batch and target: ``with batch_lock(engine, batch_id): ...``.

* PostgreSQL: ``pg_try_advisory_lock`` on a dedicated connection (released when it closes, also when the
  process dies); the key is derived from the batch id.
* MariaDB / MySQL: ``GET_LOCK(name, 0)`` on a dedicated connection (the name includes the database, since these
  locks are server-wide).
  A ``locks`` row found when the server lock is got was left by a holder that died (kill -9, power cut: the
  server released its lock with its connection): it is replaced, and :attr:`BatchLock.took_over` says so.
* SQLite: a row in ``locks``, inserted in its own transaction. A row left by a process that no longer runs on
  this host is stale: it is taken over, and :attr:`BatchLock.took_over` says so.

Every holder also writes who it is (host, pid, batch, since) to ``locks``, so the second process can be told
whom it waits for. The lock is released on exit from the ``with`` block, also on exceptions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, text
from sqlalchemy.exc import IntegrityError

from handover.errors import BatchLockedError
from handover.target import schema

log = logging.getLogger("handover.target.locks")
_SQLITE_LOCK_TIMEOUT_MS = 800
_DEAD_HOLDER_WAIT_S = (
    10.0  # PostgreSQL / MariaDB: how long the server may take to see a dead holder's connection end
)


@dataclass
class BatchLock:
    """The lock this process holds."""

    name: str
    holder: dict[str, Any]
    took_over: str | None = None  # message when a stale lock of a dead process was taken over


def lock_name(batch_id: str) -> str:
    return f"batch:{batch_id}"


def _holder(batch_id: str) -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "batch": batch_id,
        "since": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another process"
    return (
        f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} "
        f"(batch {holder.get('batch', '?')}, since {holder.get('since', '?')})"
    )


def _parse_holder(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return {"host": value}
    return data if isinstance(data, dict) else None


def _locked_error(batch_id: str, holder: dict[str, Any] | None) -> BatchLockedError:
    return BatchLockedError(
        f"batch {batch_id} is already running against this target: held by {_describe(holder)}",
        hint="wait for that run to finish or stop it, then run again (committed chunks are kept)",
        batch=batch_id,
        holder=_describe(holder),
    )


def _read_holder(conn: Connection, name: str) -> dict[str, Any] | None:
    value = conn.execute(select(schema.locks.c.holder).where(schema.locks.c.name == name)).scalar()
    return _parse_holder(value)


def _write_holder(engine: Engine, name: str, holder: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(delete(schema.locks).where(schema.locks.c.name == name))
        conn.execute(
            insert(schema.locks).values(
                name=name, holder=json.dumps(holder)[:300], acquired_at=datetime.now(UTC).replace(tzinfo=None)
            )
        )


def _remove_holder(engine: Engine, name: str, holder: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(
            delete(schema.locks).where(
                schema.locks.c.name == name, schema.locks.c.holder == json.dumps(holder)[:300]
            )
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _why_stale(holder: dict[str, Any]) -> str:
    """Why a lock row whose holder no longer holds the server lock is stale, as far as this host can tell."""
    pid = holder.get("pid")
    if holder.get("host") == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
        return "that process no longer runs"
    return "its connection to the database has ended (the process was stopped or lost the server)"


def _retry_after_dead_holder(engine: Engine, conn: Connection, name: str, acquire: tuple[Any, Any]) -> bool:
    """The server lock is taken, and the ``locks`` row names a process of this host that no longer runs: the
    server has not noticed yet that its connection ended (it frees the lock then, within moments). Try again for
    up to :data:`_DEAD_HOLDER_WAIT_S`; False if the lock stays taken (or the holder is alive, or elsewhere)."""
    with engine.connect() as reader:
        holder = _read_holder(reader, name)
    pid = holder.get("pid") if holder else None
    if (
        not holder
        or holder.get("host") != socket.gethostname()
        or not isinstance(pid, int)
        or _pid_alive(pid)
    ):
        return False
    deadline = time.monotonic() + _DEAD_HOLDER_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if conn.execute(*acquire).scalar():
            return True
    return False


def _server_key(engine: Engine, batch_id: str) -> str:
    return hashlib.sha256(f"handover|{engine.url.database}|{batch_id}".encode()).hexdigest()


@contextmanager
def _server_lock(engine: Engine, batch_id: str) -> Iterator[BatchLock]:
    name = lock_name(batch_id)
    digest = _server_key(engine, batch_id)
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        if engine.dialect.name == "postgresql":
            key = int.from_bytes(bytes.fromhex(digest[:16]), "big", signed=True)
            acquire = text("SELECT pg_try_advisory_lock(:k)"), {"k": key}
            release = text("SELECT pg_advisory_unlock(:k)"), {"k": key}
        else:
            server_name = f"handover_{digest[:40]}"
            acquire = text("SELECT GET_LOCK(:n, 0)"), {"n": server_name}
            release = text("SELECT RELEASE_LOCK(:n)"), {"n": server_name}
        got = conn.execute(*acquire).scalar()
        if not got:
            got = _retry_after_dead_holder(engine, conn, name, acquire)
        if not got:
            with engine.connect() as reader:
                holder = _read_holder(reader, name)
            raise _locked_error(batch_id, holder)
        holder = _holder(batch_id)
        with engine.connect() as reader:
            left = _read_holder(reader, name)
        took_over = None
        if left is not None:  # the server lock is ours: whoever wrote that row holds nothing any more
            took_over = f"took over the stale lock of {_describe(left)}: {_why_stale(left)}"
            log.warning("batch %s: %s", batch_id, took_over)
        try:
            _write_holder(engine, name, holder)
            yield BatchLock(name=name, holder=holder, took_over=took_over)
        finally:
            try:
                _remove_holder(engine, name, holder)
            finally:
                conn.execute(*release)
    finally:
        conn.close()


@contextmanager
def _row_lock(engine: Engine, batch_id: str) -> Iterator[BatchLock]:
    name = lock_name(batch_id)
    holder = _holder(batch_id)
    encoded = json.dumps(holder)[:300]
    took_over = None
    with engine.connect() as conn:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={_SQLITE_LOCK_TIMEOUT_MS}")
        conn.commit()
        try:
            row = {"name": name, "holder": encoded, "acquired_at": datetime.now(UTC).replace(tzinfo=None)}
            try:
                with conn.begin():
                    conn.execute(insert(schema.locks).values(**row))
            except IntegrityError:
                existing = conn.execute(
                    select(schema.locks.c.holder).where(schema.locks.c.name == name)
                ).scalar()
                conn.rollback()
                other = _parse_holder(existing)
                stale = (
                    other is not None
                    and other.get("host") == holder["host"]
                    and isinstance(other.get("pid"), int)
                    and other["pid"] != os.getpid()
                    and not _pid_alive(other["pid"])
                )
                if not stale:
                    raise _locked_error(batch_id, other) from None
                try:
                    with conn.begin():
                        gone = conn.execute(
                            delete(schema.locks).where(
                                schema.locks.c.name == name, schema.locks.c.holder == existing
                            )
                        ).rowcount
                        if gone != 1:
                            raise _locked_error(batch_id, _read_holder(conn, name))
                        conn.execute(insert(schema.locks).values(**row))
                except IntegrityError:
                    raise _locked_error(batch_id, _read_holder(conn, name)) from None
                took_over = f"took over the stale lock of {_describe(other)}: that process no longer runs"
                log.warning("batch %s: %s", batch_id, took_over)
        finally:
            conn.rollback()
            conn.exec_driver_sql("PRAGMA busy_timeout=30000")
            conn.commit()
    try:
        yield BatchLock(name=name, holder=holder, took_over=took_over)
    finally:
        with engine.begin() as conn:
            conn.execute(
                delete(schema.locks).where(schema.locks.c.name == name, schema.locks.c.holder == encoded)
            )


@contextmanager
def batch_lock(engine: Engine, batch_id: str) -> Iterator[BatchLock]:
    """Hold the batch's lock for the block; BatchLockedError at once (well under 1 s) if someone else holds it."""
    if engine.dialect.name in ("postgresql", "mysql", "mariadb"):
        with _server_lock(engine, batch_id) as lock:
            yield lock
    else:
        with _row_lock(engine, batch_id) as lock:
            yield lock
