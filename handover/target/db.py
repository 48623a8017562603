"""Opening the target database, and its schema versions.

:func:`open_target` is the one door to a target: it turns a bad URL, a missing driver or an unreachable server
into a :class:`~handover.errors.LoadError` that names the URL (password hidden) and what to check; it creates the
schema of an empty database through the versioned Alembic migrations (:mod:`~handover.target.migrate`) and
refuses a database at an older schema version (``handover db upgrade --db URL`` brings it up). A SQLite target's
connections get the settings of :mod:`~handover.target.sqlite`.

``postgresql://`` and ``mysql://`` / ``mariadb://`` URLs without a driver use the drivers ``handover`` installs
(psycopg 3 and PyMySQL).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from handover.errors import ConfigError, LoadError, TargetNotFoundError
from handover.redact import mask_url
from handover.target import schema
from handover.target.migrate import (
    current_revision,
    handover_tables,
    head_revision,
    known_revisions,
    migrate,
    schema_lock,
)
from handover.target.sqlite import sqlite_pragmas

_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


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
        event.listen(engine, "connect", sqlite_pragmas)
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


def unreachable(engine: Engine, exc: Exception) -> LoadError:
    shown = mask_url(engine.url)
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
    return LoadError(
        f"cannot reach the target database {shown}: {detail}",
        hint="check that the server is running and the URL (host, port, user, database name) is right",
        url=shown,
    )


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
            with schema_lock(engine):
                current = current_revision(engine)
            if current == head:
                return engine
        if current is None:
            existing = handover_tables(engine)
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
            migrate(engine, only_if_empty=True)  # or waits while another process creates it
            current = current_revision(engine)
            if current == head:
                return engine
        if current in known_revisions():
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
        raise unreachable(engine, exc) from exc


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
        migrate(engine)
        return UpgradeResult(
            url=safe_url(url), from_revision=before, to_revision=current_revision(engine) or ""
        )
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from exc
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
        present = handover_tables(engine)
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
        raise unreachable(engine, exc) from exc
    finally:
        engine.dispose()
