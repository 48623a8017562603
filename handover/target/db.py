"""Opening the target database, and its schema versions.

:func:`open_target` is the one door to a target: it turns a bad URL, a missing driver or an unreachable server
into a :class:`~handover.errors.LoadError` that names the URL (password hidden) and what to check; it creates the
schema of an empty database through the versioned Alembic migrations in ``handover/target/migrations`` and refuses
a database at an older schema version (``handover db upgrade --db URL`` brings it up). The Alembic configuration
is built in code (no ``alembic.ini``), so it works the same from a checkout and from an installed wheel.

``postgresql://`` and ``mysql://`` / ``mariadb://`` URLs without a driver use the drivers ``handover`` installs
(psycopg 3 and PyMySQL).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, create_engine, event, func, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from handover.errors import ConfigError, LoadError, TargetNotFoundError
from handover.redact import mask_url
from handover.target import schema

log = logging.getLogger("handover.target.db")
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_BUSY_TIMEOUT_MS = 30_000
_SCHEMA_LOCK_WAIT_S = 120.0  # how long a process waits for another's schema creation or upgrade


def safe_url(url: str | URL) -> str:
    """The URL as users may see it: passwords (userinfo and query string) replaced by ``***``
    (:func:`handover.redact.mask_url`)."""
    return mask_url(url)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise LoadError(
            f"'{mask_url(url)}' is not a database URL",
            hint="write it as sqlite:///path/target.db, postgresql://user@host/db or mysql://user@host/db",
        ) from exc
    if parsed.drivername in _DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=_DEFAULT_DRIVERS[parsed.drivername])
    if parsed.get_backend_name() in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


SQLITE_PAGE_SIZE = 16384
_WAL_CHECKPOINT_BYTES = 80 * 1024 * 1024


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # A new file gets 16 KB pages (SQLite's default is 4 KB): the bulk writes of a load touch a quarter as many
    # pages. Only an empty database takes it; a target made with other pages keeps them.
    cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    # Bulk loads: a WAL checkpoint every ~80 MB instead of after every chunk's commit: about 15% off a chunk's
    # load. (A bigger page cache measured no gain and costs memory in every pooled connection.)
    page_size = cur.execute("PRAGMA page_size").fetchone()[0]
    cur.execute(f"PRAGMA wal_autocheckpoint={_WAL_CHECKPOINT_BYTES // page_size}")
    cur.close()


class WalCheckpointer:
    """WAL checkpoints of a SQLite target in a thread of their own, while a batch loads.

    A checkpoint copies the pages a commit appended to the write-ahead log back into the database file, then
    syncs the file. By default the committing connection does it itself once the log holds 80 MB: at 1M rows,
    7.4 s of a 31.5 s load in the profile (benchmarks/RESULTS.md, sixth session). The loader instead switches
    that off on its connection for each chunk (:meth:`deferred`) and calls :meth:`poke` after each commit;
    this thread then runs a ``PASSIVE`` checkpoint on a connection of its own. SQLite's code runs there
    without the GIL, beside the next chunk's work. A ``PASSIVE`` checkpoint never blocks the writer,
    and a crash during one is as safe as during any checkpoint: the log stays authoritative until it is reset.
    A checkpoint that fails is logged and left to the next one (or to the first connection that commits
    afterwards with the default setting). :meth:`close` runs a last one and stops the thread."""

    def __init__(self, database: str, busy_timeout_ms: int = _BUSY_TIMEOUT_MS) -> None:
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


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (no connection made yet); LoadError for a bad URL or a missing driver."""
    parsed = _parse(url)
    shown = mask_url(parsed)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).expanduser().resolve().parent
        if not folder.is_dir():
            raise LoadError(
                f"the folder of the SQLite target does not exist: {folder}",
                hint="create the folder or correct target.url",
                url=shown,
            )
    try:
        connect_args: dict[str, Any] = {}
        if parsed.drivername == "postgresql+psycopg":
            # No server-side prepared statements: key look-ups get plans for their actual arrays.
            connect_args["prepare_threshold"] = None
        engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        raise LoadError(
            f"no database driver for '{parsed.drivername}': {exc}",
            hint="use postgresql+psycopg://, mysql+pymysql:// or sqlite:/// (the drivers handover installs)",
            url=shown,
        ) from exc
    except ArgumentError as exc:
        raise LoadError(f"the database URL is not usable: {exc}", hint="check the URL", url=shown) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite target named by its path; None for a server, an in-memory database or a URI."""
    parsed = make_url(url) if isinstance(url, str) else url
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if "uri" in parsed.query or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def require_existing(url: str) -> None:
    """TargetNotFoundError when ``url`` names a SQLite file that does not exist: every command but ``run`` and
    ``db upgrade`` reads an existing target, and connecting would create an empty file."""
    path = sqlite_file(_parse(url))
    if path is not None and not path.is_file():
        raise TargetNotFoundError(
            f"no such target database: {path}",
            hint="check the --db URL (e.g. sqlite:///handover-demo/target.db); handover run or handover db "
            "upgrade create a target",
            url=safe_url(url),
        )


@contextmanager
def existing_target(url: str) -> Iterator[Engine]:
    """An engine on the existing target named by ``url`` (a ConfigError for a URL that is not valid, a
    TargetNotFoundError for a missing SQLite file, never creating one), disposed of on leaving."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise ConfigError(
            f"The database URL is not valid: {exc}",
            hint="Give a SQLAlchemy URL, e.g. --db sqlite:///handover-demo/target.db",
        ) from exc
    try:
        require_existing(url)  # connecting would create an empty file
        yield engine
    finally:
        engine.dispose()


def _require_writable(engine: Engine) -> None:
    """LoadError when a SQLite target's file, or its folder (which takes the write-ahead log), cannot be written:
    told before a batch reads its sources, not after. A server's rights show when the batch takes its lock."""
    path = sqlite_file(engine.url)
    if path is None:
        return
    folder = path.resolve().parent
    for what, place in (("file", path), ("folder", folder)):
        if place.exists() and not os.access(place, os.W_OK):
            engine.dispose()
            raise LoadError(
                f"the SQLite target's {what} is not writable: {place}",
                hint="give this user write permission on the file and its folder, or correct target.url",
                url=safe_url(engine.url),
            )


def alembic_config(connection: Any) -> Any:
    """Alembic ``Config`` built in code around an open connection (no alembic.ini)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def _known_revisions() -> set[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return {rev.revision for rev in ScriptDirectory.from_config(cfg).walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _unreachable(engine: Engine, exc: Exception) -> LoadError:
    shown = mask_url(engine.url)
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
    return LoadError(
        f"cannot reach the target database {shown}: {detail}",
        hint="check that the server is running and the URL (host, port, user, database name) is right",
        url=shown,
    )


def _handover_tables(engine: Engine) -> set[str]:
    names = set(inspect(engine).get_table_names())
    return names & set(schema.metadata.tables)


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[None]:
    """Held while a process creates or upgrades the schema, so that two first runs on an empty target do not
    race: PostgreSQL, an advisory lock; MariaDB / MySQL, ``GET_LOCK``; each on a connection of its own (released
    when it closes, also when the process dies), waiting up to :data:`_SCHEMA_LOCK_WAIT_S`. SQLite: nothing here,
    :func:`_migrate` migrates in one ``BEGIN IMMEDIATE`` transaction instead (the second writer waits for the
    first's commit, within the busy timeout)."""
    if engine.dialect.name not in ("postgresql", "mysql", "mariadb"):
        yield
        return
    import hashlib
    import time

    from sqlalchemy import text

    digest = hashlib.sha256(f"handover-schema|{engine.url.database}".encode()).hexdigest()
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        if engine.dialect.name == "postgresql":
            key = int.from_bytes(bytes.fromhex(digest[:16]), "big", signed=True)
            deadline = time.monotonic() + _SCHEMA_LOCK_WAIT_S
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                if time.monotonic() > deadline:
                    raise _schema_busy(engine)
                time.sleep(0.2)
            release = text("SELECT pg_advisory_unlock(:k)"), {"k": key}
        else:
            name = f"handover_schema_{digest[:40]}"
            got = conn.execute(
                text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": _SCHEMA_LOCK_WAIT_S}
            ).scalar()
            if not got:
                raise _schema_busy(engine)
            release = text("SELECT RELEASE_LOCK(:n)"), {"n": name}
        try:
            yield
        finally:
            conn.execute(*release)
    finally:
        conn.close()


def _schema_busy(engine: Engine) -> LoadError:
    shown = mask_url(engine.url)
    return LoadError(
        f"another process has been creating or upgrading the schema of {shown} for over "
        f"{_SCHEMA_LOCK_WAIT_S:.0f} s",
        hint="wait for it to finish (handover db status --db URL shows the schema version), then run again",
        url=shown,
    )


def _migrate(engine: Engine, *, only_if_empty: bool = False) -> None:
    """Bring the schema to the newest version, one process at a time (:func:`_schema_lock`). The version is read
    again under the lock: a process that waited for another's migration finds it done and changes nothing.
    ``only_if_empty``: leave a database that has a schema version alone (the caller checks that version).
    LoadError for a database holding handover tables but no schema version."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with _schema_lock(engine), engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # DDL included: all of the migration commits, or none
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head_revision() or (only_if_empty and current is not None):
            conn.rollback()
            return
        if current is None:
            existing = set(inspect(conn).get_table_names()) & set(schema.metadata.tables)
            if existing:
                shown = mask_url(engine.url)
                raise LoadError(
                    f"the database holds handover tables ({', '.join(sorted(existing))}) but no schema version",
                    hint="point the URL at an empty database or at one created by handover",
                    url=shown,
                )
        command.upgrade(alembic_config(conn), "head")
        conn.commit()


def open_target(url: str, *, create: bool = True) -> Engine:
    """Open the target at ``url``, creating its schema when the database is empty (and ``create``).

    Raises LoadError when the database cannot be reached, is at an older schema version (hint: ``handover db
    upgrade``), at a version newer than this handover knows, or holds tables but no schema version; without
    ``create``, TargetNotFoundError for a SQLite file that does not exist (none is created).
    """
    if not create:
        require_existing(url)
    engine = make_engine(url)
    if create:
        _require_writable(engine)
    shown = mask_url(engine.url)
    try:
        current = current_revision(engine)
        head = head_revision()
        if current == head:
            return engine
        if current is not None and engine.dialect.name != "sqlite":
            # another process may be creating the schema right now: MariaDB commits DDL statement by statement,
            # so its version shows mid-way (0003 of 0007). Read it again once no migration is under way.
            with _schema_lock(engine):
                current = current_revision(engine)
            if current == head:
                return engine
        if current is None:
            existing = _handover_tables(engine)
            if existing and not create:
                raise LoadError(
                    f"the database holds handover tables ({', '.join(sorted(existing))}) but no schema version",
                    hint="point target.url at an empty database or at one created by handover",
                    url=shown,
                )
            if not create:
                raise LoadError(
                    "the target database has no handover schema yet",
                    hint=f"run: handover db upgrade --db {shown}",
                    url=shown,
                )
            _migrate(engine, only_if_empty=True)  # or waits while another process creates it
            current = current_revision(engine)
            if current == head:
                return engine
        if current in _known_revisions():
            raise LoadError(
                f"the target database is at schema version {current}; this handover needs {head}",
                hint=f"run: handover db upgrade --db {shown}",
                url=shown,
            )
        raise LoadError(
            f"the target database is at schema version {current}, newer than this handover knows ({head})",
            hint="upgrade handover (pip install -U handover) before using this database",
            url=shown,
        )
    except LoadError:
        engine.dispose()
        raise
    except SQLAlchemyError as exc:
        engine.dispose()
        raise _unreachable(engine, exc) from exc


class UpgradeResult(BaseModel):
    url: str = Field(description="Target URL, password hidden.")
    from_revision: str | None = Field(description="Schema version before (None: empty database).")
    to_revision: str = Field(description="Schema version now.")

    @property
    def changed(self) -> bool:
        return self.from_revision != self.to_revision


def upgrade_target(url: str) -> UpgradeResult:
    """Create or upgrade the target's schema to the newest version (``handover db upgrade``)."""
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        _migrate(engine)
        return UpgradeResult(
            url=safe_url(url), from_revision=before, to_revision=current_revision(engine) or ""
        )
    except SQLAlchemyError as exc:
        raise _unreachable(engine, exc) from exc
    finally:
        engine.dispose()


class BatchInfo(BaseModel):
    batch_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    fingerprint: str | None = None
    rows_in_ledger: int = 0


class DbStatus(BaseModel):
    url: str
    dialect: str
    current_revision: str | None
    head_revision: str
    up_to_date: bool
    table_rows: dict[str, int] = Field(default_factory=dict, description="rows per handover table")
    batches: list[BatchInfo] = Field(default_factory=list)


def target_status(url: str) -> DbStatus:
    """Schema version, row counts and batches of a target (``handover db status``); changes nothing."""
    require_existing(url)
    engine = make_engine(url)
    try:
        current = current_revision(engine)
        head = head_revision()
        status = DbStatus(
            url=safe_url(url),
            dialect=engine.dialect.name,
            current_revision=current,
            head_revision=head,
            up_to_date=current == head,
        )
        present = _handover_tables(engine)
        with engine.connect() as conn:
            for name in sorted(present):
                status.table_rows[name] = conn.execute(
                    select(func.count()).select_from(schema.metadata.tables[name])
                ).scalar_one()
            if {"batches", "ledger"} <= present:
                per_batch = dict(
                    conn.execute(
                        select(schema.ledger.c.batch_id, func.count()).group_by(schema.ledger.c.batch_id)
                    ).all()
                )
                b = schema.batches.c
                for row in conn.execute(
                    select(b.batch_id, b.status, b.started_at, b.finished_at, b.fingerprint).order_by(
                        b.started_at, b.batch_id
                    )
                ).mappings():
                    status.batches.append(BatchInfo(**row, rows_in_ledger=per_batch.get(row["batch_id"], 0)))
        return status
    except SQLAlchemyError as exc:
        raise _unreachable(engine, exc) from exc
    finally:
        engine.dispose()
