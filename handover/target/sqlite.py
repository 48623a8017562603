"""A SQLite target's connection settings (:func:`sqlite_pragmas`) and its WAL checkpoints during a load
(:class:`WalCheckpointer`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger("handover.target.sqlite")
BUSY_TIMEOUT_MS = 30_000
SQLITE_PAGE_SIZE = 16384
_WAL_CHECKPOINT_BYTES = 80 * 1024 * 1024


def sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # A new file gets 16 KB pages (SQLite's default is 4 KB): the bulk writes of a load touch a quarter as many
    # pages. Only an empty database takes it; a target made with other pages keeps them.
    cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # Bulk loads: a WAL checkpoint every ~80 MB instead of after every chunk's commit (benchmarks/RESULTS.md).
    # The page cache keeps its default size: it costs memory in every pooled connection.
    page_size = cur.execute("PRAGMA page_size").fetchone()[0]
    cur.execute(f"PRAGMA wal_autocheckpoint={_WAL_CHECKPOINT_BYTES // page_size}")
    cur.close()


class WalCheckpointer:
    """WAL checkpoints of a SQLite target in a thread of their own, while a batch loads.

    A checkpoint copies the pages a commit appended to the write-ahead log back into the database file, then
    syncs the file. By default the committing connection does it itself once the log holds 80 MB, a large share
    of a bulk load's time (benchmarks/RESULTS.md). The loader instead switches
    that off on its connection for each chunk (:meth:`deferred`) and calls :meth:`poke` after each commit;
    this thread then runs a ``PASSIVE`` checkpoint on a connection of its own. SQLite's code runs there
    without the GIL, beside the next chunk's work. A ``PASSIVE`` checkpoint never blocks the writer,
    and a crash during one is as safe as during any checkpoint: the log stays authoritative until it is reset.
    A checkpoint that fails is logged and left to the next one (or to the first connection that commits
    afterwards with the default setting). :meth:`close` runs a last one and stops the thread."""

    def __init__(self, database: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        import threading

        self.database = database
        self.busy_timeout_ms = busy_timeout_ms
        self.runs = 0
        self.failures: list[str] = []
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="handover-wal-checkpoint", daemon=True)
        self._thread.start()

    @classmethod
    def for_engine(cls, engine: Engine) -> WalCheckpointer | None:
        """A checkpointer for a SQLite file target named by its path; None for any other target (a server, an
        in-memory database, a ``file:`` URI)."""
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return None
        if "uri" in engine.url.query or database.startswith("file:"):
            return None
        return cls(database)

    def _run(self) -> None:
        import sqlite3

        try:
            conn = sqlite3.connect(self.database, check_same_thread=False, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        except sqlite3.Error as exc:
            self.failures.append(str(exc))
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                # Read before the checkpoint, never after: a checkpoint that was already running when close()
                # was called may have missed the last commits, and the loop must then run one more.
                last = self._stopping
                try:
                    self._checkpoint(conn, last)
                    self.runs += 1
                except sqlite3.Error as exc:  # the next checkpoint copies what this one did not
                    self.failures.append(str(exc))
                    log.warning("WAL checkpoint of %s failed: %s", self.database, exc)
                if last:
                    return
        finally:
            conn.close()

    def _checkpoint(self, conn: Any, last: bool) -> None:
        """One checkpoint. While the batch loads it is ``PASSIVE`` (it never holds up the writer, and copies what
        no reader still needs). The last one is ``FULL``: it waits, within the busy timeout, for readers of an
        older snapshot, so that the file then holds every commit; one that still could not copy everything is
        recorded (the log keeps the rest, safely, until a later checkpoint)."""
        mode = "FULL" if last else "PASSIVE"
        busy, frames, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        if last and (busy or copied < frames):
            message = f"the last checkpoint copied {copied} of {frames} log frames (busy={busy})"
            self.failures.append(message)
            log.warning("WAL checkpoint of %s: %s", self.database, message)

    @contextmanager
    def deferred(self, conn: Connection) -> Iterator[Connection]:
        """``conn`` (SQLite, no transaction begun) with its own WAL checkpoints off; the setting is restored
        afterwards, also when the block fails. Begin the transaction inside."""
        before = int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() or 0)
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
        conn.commit()  # ends SQLAlchemy's autobegun transaction (pysqlite begins none for a PRAGMA)
        try:
            yield conn
        finally:
            try:
                conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={before}")
                conn.commit()
            except SQLAlchemyError:  # a broken connection: the pool must not hand it out without checkpoints
                conn.invalidate()

    def poke(self) -> None:
        """A commit happened: checkpoint (now, or after the running checkpoint)."""
        self._wake.set()

    def close(self) -> None:
        """Run a last checkpoint (the database file then holds every commit made before this call), and stop."""
        self._stopping = True
        self._wake.set()
        self._thread.join()
