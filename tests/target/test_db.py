"""Opening a target: schema through the migrations, version checks, friendly errors."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from handover.errors import LoadError, TargetNotFoundError
from handover.target import migrate, schema, sqlite
from handover.target.db import open_target, upgrade_target

HEAD = migrate.head_revision()
NEXT = f"{int(HEAD) + 1:04d}"
EXTRA_REVISION = f"""
revision = "{NEXT}"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None

from alembic import op


def upgrade():
    op.create_index("ix_test_batches_status", "batches", ["status"])


def downgrade():
    op.drop_index("ix_test_batches_status", table_name="batches")
"""


def test_empty_database_gets_exactly_the_schema(any_db_url: str) -> None:
    engine = open_target(any_db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn)
            assert context.get_current_revision() == HEAD
            # The migration creates what schema.py declares: no table, column, type or index differs.
            assert compare_metadata(context, schema.metadata) == []
        assert set(schema.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_older_schema_version_is_refused_until_upgraded(
    any_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_target(any_db_url).dispose()  # at HEAD
    newer = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, newer, ignore=shutil.ignore_patterns("__pycache__"))
    (newer / "versions" / f"{NEXT}_test.py").write_text(EXTRA_REVISION, encoding="utf-8")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", newer)

    with pytest.raises(LoadError) as caught:
        open_target(any_db_url)
    assert f"schema version {HEAD}; this handover needs {NEXT}" in caught.value.message
    assert caught.value.hint is not None and caught.value.hint.startswith("run: handover db upgrade --db ")

    result = upgrade_target(any_db_url)
    assert (result.from_revision, result.to_revision) == (HEAD, NEXT)
    engine = open_target(any_db_url)
    try:
        indexes = {i["name"] for i in inspect(engine).get_indexes("batches")}
        assert "ix_test_batches_status" in indexes
    finally:
        engine.dispose()


def test_a_0001_target_with_a_batch_upgrades_to_the_head_and_keeps_its_data(any_db_url: str) -> None:
    """0002 drops ix_ledger_key, 0003 adds ix_history_key: a target made by the first release keeps its rows,
    verifies, rolls back."""
    from alembic import command

    from handover.target.loader import Loader
    from handover.target.rollback import rollback_batch
    from handover.target.verify import verify_batch
    from tests.target import factories as f

    plain = create_engine(any_db_url)
    with plain.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0001")
    plain.dispose()
    with pytest.raises(LoadError, match="schema version 0001; this handover needs"):
        open_target(any_db_url)
    assert upgrade_target(any_db_url).from_revision == "0001"
    engine = open_target(any_db_url)
    try:
        assert {i["name"] for i in inspect(engine).get_indexes("ledger")} == {"ix_ledger_batch_key"}
        assert {i["name"] for i in inspect(engine).get_indexes("history")} == {"ix_history_key"}
        for batch, phone in (("A", "0912345678"), ("B", "0987654321")):
            loader = Loader(engine, batch, conflict_policy="update")
            loader.begin_batch(batch, "c" * 64, [f.source()])
            loader.load_chunk(f.chunk([f.dossier("H-1", phone=phone), f.dossier(f"H-{batch}")]))
            loader.finish_batch({})
        assert verify_batch(engine, "B").ok
        # rolling back A hands H-1 (updated by B) to B: rollback's look-up of other batches' keys
        assert rollback_batch(engine, "A").rows_kept_for_other_batches == 1
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT dossier_code, phone, batch_id FROM dossiers ORDER BY dossier_code")
            ).all()
        assert [tuple(r) for r in rows] == [("H-1", "0987654321", "B"), ("H-B", "0912345678", "B")]
    finally:
        engine.dispose()


def test_payment_columns_migrate_down_and_up_and_rows_still_verify(any_db_url: str) -> None:
    """0005 adds the payment columns: a batch with one paid and one unpaid dossier verifies; down to 0004 (the
    paid dossier's payment dropped, so its row now differs) and up again, the unpaid dossier's row, which left
    them empty, still verifies."""
    from alembic import command

    from handover.target.loader import Loader
    from handover.target.verify import verify_batch
    from tests.target import factories as f

    engine = open_target(any_db_url)
    try:
        loader = Loader(engine, "A")
        loader.begin_batch("A", "c" * 64, [f.source()])
        paid = {
            "fee": 50000.0,
            "amount_paid": 50000.0,
            "payment_date": "2025-06-21",
            "receipt_number": "BL-1",
        }
        loader.load_chunk(f.chunk([f.dossier("H-PAID", **paid, payment_channel="cash"), f.dossier("H-DUE")]))
        loader.finish_batch({})
        assert verify_batch(engine, "A").ok
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT amount_paid, payment_date, payment_channel, receipt_number FROM dossiers "
                     "WHERE dossier_code = 'H-PAID'")
            ).one()  # fmt: skip
        assert (stored[0], str(stored[1]), stored[2], stored[3]) == (50000.0, "2025-06-21", "cash", "BL-1")
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "0004")
        assert "amount_paid" not in {c["name"] for c in inspect(engine).get_columns("dossiers")}
        engine.dispose()
        assert upgrade_target(any_db_url).from_revision == "0004"
        engine = open_target(any_db_url)
        report = verify_batch(engine, "A")
        assert not report.ok
        assert {p.natural_key for p in report.problems} == {"H-PAID"}  # its payment is gone: the row changed
    finally:
        engine.dispose()


def test_schema_newer_than_this_handover_is_refused(any_db_url: str) -> None:
    engine = open_target(any_db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(LoadError, match="newer than this handover knows"):
        open_target(any_db_url)


def test_tables_without_a_version_are_not_touched(sqlite_url: str) -> None:
    plain = create_engine(sqlite_url)
    with plain.begin() as conn:
        conn.execute(text("CREATE TABLE dossiers (id INTEGER PRIMARY KEY, note TEXT)"))
        conn.execute(text("INSERT INTO dossiers (note) VALUES ('the province''s own data')"))
    with pytest.raises(LoadError, match="holds handover tables"):
        open_target(sqlite_url)
    with plain.connect() as conn:
        assert conn.execute(text("SELECT note FROM dossiers")).scalar() == "the province's own data"
    plain.dispose()


def test_create_false_on_empty_database_says_how_to_create(sqlite_url: str) -> None:
    import sqlite3

    path = sqlite_url.removeprefix("sqlite:///")
    with pytest.raises(TargetNotFoundError, match="no such target database"):
        open_target(sqlite_url, create=False)
    assert not Path(path).exists()  # nothing but run and db upgrade creates a database
    sqlite3.connect(path).close()  # an empty database
    with pytest.raises(LoadError) as caught:
        open_target(sqlite_url, create=False)
    assert caught.value.hint == f"run: handover db upgrade --db {sqlite_url}"


def test_unreachable_server_names_url_without_password() -> None:
    with pytest.raises(LoadError) as caught:
        open_target("postgresql://officer:s3cret@127.0.0.1:1/target")
    text_shown = str(caught.value)
    assert "s3cret" not in text_shown
    assert (
        "cannot reach the target database postgresql+psycopg://officer:***@127.0.0.1:1/target" in text_shown
    )
    assert "check that the server is running" in (caught.value.hint or "")


def test_bad_url_and_missing_driver() -> None:
    with pytest.raises(LoadError, match="is not a database URL"):
        open_target("target.db")
    with pytest.raises(LoadError, match="no database driver for 'mssql\\+pyodbc'"):
        open_target("mssql+pyodbc://u:p@host/db")


def test_missing_sqlite_folder(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="folder of the SQLite target does not exist"):
        open_target(f"sqlite:///{tmp_path / 'nope' / 'target.db'}")


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    engine = open_target(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    finally:
        engine.dispose()


def test_a_new_sqlite_target_has_16k_pages_and_an_older_one_keeps_its_own(tmp_path: Path) -> None:
    """16 KB pages for a new file (fewer pages to write in a bulk load); a file made with SQLite's default
    4 KB pages keeps them (SQLite cannot change it in WAL mode) and loads as before. The WAL checkpoint
    interval is the same number of bytes either way."""
    import sqlite3

    from handover.target.loader import Loader
    from tests.target import factories as f

    older = tmp_path / "older.db"
    with sqlite3.connect(older) as raw:
        raw.execute("PRAGMA page_size=4096")
        raw.execute("PRAGMA journal_mode=WAL")
    for path, page_size in ((tmp_path / "new.db", sqlite.SQLITE_PAGE_SIZE), (older, 4096)):
        engine = open_target(f"sqlite:///{path}")
        try:
            loader = Loader(engine, "A")
            loader.begin_batch("A", "c" * 64, [f.source()])
            loader.load_chunk(f.chunk([f.dossier("H-1"), f.dossier("H-2")]))
            loader.finish_batch({})
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA page_size").scalar() == page_size
                checkpoint = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
                assert checkpoint * page_size == 80 * 1024 * 1024
                assert conn.execute(text("SELECT COUNT(*) FROM dossiers")).scalar() == 2
        finally:
            engine.dispose()


def _file_rows(path: Path, table: str) -> int:
    """Rows of ``table`` in the database file alone, without its write-ahead log: what checkpoints copied."""
    import sqlite3

    alone = path.with_name(f"alone-{path.name}")
    shutil.copyfile(path, alone)  # no -wal beside the copy: SQLite reads the file only
    with sqlite3.connect(alone) as raw:
        return raw.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_sqlite_chunks_are_checkpointed_by_a_thread_and_the_connection_keeps_its_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk commits with the connection's own WAL checkpoints off; a thread copies the log into the
    database file after each commit, and a last time when the batch ends. The connection's setting is back
    after every chunk, also after one that failed."""
    from handover.target import writers
    from handover.target.loader import Loader
    from tests.target import factories as f

    path = tmp_path / "target.db"
    engine = open_target(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            default = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        loader = Loader(engine, "A")
        loader.begin_batch("A", "c" * 64, [f.source()])
        loader.load_chunk(f.chunk([f.dossier("H-1"), f.dossier("H-2")], index=0))
        seen: list[int] = []
        real = writers.insert_encoded

        def failing(conn, table, rows):  # type: ignore[no-untyped-def]
            seen.append(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar())
            if table is schema.ledger:
                raise RuntimeError("power cut")
            return real(conn, table, rows)

        monkeypatch.setattr(writers, "insert_encoded", failing)
        with pytest.raises(RuntimeError, match="power cut"):
            loader.load_chunk(f.chunk([f.dossier("H-3")], index=1, first_row=4))
        assert seen and set(seen) == {0}  # inside the chunk: the connection does not checkpoint
        monkeypatch.setattr(writers, "insert_encoded", real)
        with engine.connect() as conn:  # the pool's connection, after the failed chunk
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == default
        loader.load_chunk(f.chunk([f.dossier("H-3")], index=1, first_row=4))
        loader.finish_batch({})
        # far below the 80 MB a connection waits for: only the thread can have copied the log into the file
        assert _file_rows(path, "dossiers") == 3 and _file_rows(path, "chunks") == 2
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == default
    finally:
        engine.dispose()


def test_the_last_checkpoint_runs_after_a_checkpoint_that_was_running_when_the_batch_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint still running when the batch ends began before the last commits; the thread must run
    another one before it stops, or the last chunks stay in the log only (CI caught this race, stop 12)."""
    import threading

    from handover.target.loader import Loader
    from tests.target import factories as f

    first_done = threading.Event()
    real = sqlite.WalCheckpointer._checkpoint

    def slow(self: sqlite.WalCheckpointer, conn: Any, last: bool) -> None:
        real(self, conn, last)
        if not first_done.is_set():  # the first checkpoint lasts until the batch has ended
            first_done.set()
            deadline = time.monotonic() + 10
            while not self._stopping and time.monotonic() < deadline:
                time.sleep(0.005)

    monkeypatch.setattr(sqlite.WalCheckpointer, "_checkpoint", slow)
    path = tmp_path / "target.db"
    engine = open_target(f"sqlite:///{path}")
    try:
        loader = Loader(engine, "A")
        loader.begin_batch("A", "c" * 64, [f.source()])
        loader.load_chunk(f.chunk([f.dossier("H-1")], index=0))
        assert first_done.wait(10)
        loader.load_chunk(f.chunk([f.dossier("H-2"), f.dossier("H-3")], index=1))
        loader.finish_batch({})
        assert _file_rows(path, "dossiers") == 3 and _file_rows(path, "chunks") == 2
    finally:
        engine.dispose()


def test_the_last_checkpoint_reports_frames_it_could_not_copy(tmp_path: Path) -> None:
    """A reader that keeps an older snapshot past the busy timeout: the last checkpoint says it is incomplete."""
    import sqlite3

    path = tmp_path / "target.db"
    with sqlite3.connect(path, isolation_level=None) as raw:
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA wal_autocheckpoint=0")
        raw.execute("CREATE TABLE t (x)")
        raw.execute("INSERT INTO t VALUES (1)")
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        assert reader.execute("SELECT COUNT(*) FROM t").fetchone() == (1,)  # holds this snapshot
        raw.execute("INSERT INTO t VALUES (2)")
        checkpointer = sqlite.WalCheckpointer(str(path), busy_timeout_ms=50)
        checkpointer.close()
        reader.close()
    assert checkpointer.runs == 1
    assert len(checkpointer.failures) == 1 and "the last checkpoint copied" in checkpointer.failures[0]


def test_a_checkpoint_thread_that_cannot_open_the_file_fails_quietly(tmp_path: Path) -> None:
    checkpointer = sqlite.WalCheckpointer(str(tmp_path / "missing" / "target.db"))
    checkpointer.poke()
    checkpointer.close()
    assert checkpointer.runs == 0 and checkpointer.failures
    assert sqlite.WalCheckpointer.for_engine(create_engine("sqlite://")) is None
    assert sqlite.WalCheckpointer.for_engine(create_engine("postgresql+psycopg://u@h/d")) is None
    uri = create_engine(f"sqlite:///file:{tmp_path / 't.db'}?mode=rwc&uri=true")
    assert sqlite.WalCheckpointer.for_engine(uri) is None  # sqlite3.connect would take it for a file name
