"""The target's schema versions: the Alembic migrations in ``handover/target/migrations``, with a configuration
built in code (no ``alembic.ini``, so it works the same from a checkout and from an installed wheel), and the
migration itself, one process at a time (:func:`migrate`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect

from handover.errors import LoadError
from handover.redact import mask_url
from handover.target import schema

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_SCHEMA_LOCK_WAIT_S = 120.0  # how long a process waits for another's schema creation or upgrade


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


def known_revisions() -> set[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return {rev.revision for rev in ScriptDirectory.from_config(cfg).walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def handover_tables(engine: Engine) -> set[str]:
    names = set(inspect(engine).get_table_names())
    return names & set(schema.metadata.tables)


@contextmanager
def schema_lock(engine: Engine) -> Iterator[None]:
    """Held while a process creates or upgrades the schema, so that two first runs on an empty target do not
    race: PostgreSQL, an advisory lock; MariaDB / MySQL, ``GET_LOCK``; each on a connection of its own (released
    when it closes, also when the process dies), waiting up to :data:`_SCHEMA_LOCK_WAIT_S`. SQLite: nothing here,
    :func:`migrate` migrates in one ``BEGIN IMMEDIATE`` transaction instead (the second writer waits for the
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


def migrate(engine: Engine, *, only_if_empty: bool = False) -> None:
    """Bring the schema to the newest version, one process at a time (:func:`schema_lock`). The version is read
    again under the lock: a process that waited for another's migration finds it done and changes nothing.
    ``only_if_empty``: leave a database that has a schema version alone (the caller checks that version).
    LoadError for a database holding handover tables but no schema version."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with schema_lock(engine), engine.connect() as conn:
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
