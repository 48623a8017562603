"""``db verify`` both ways (ledger → target, target → ledger), hashes recomputed from the stored rows, its exit
code, and the report's recompute recipe run as an auditor would."""

from __future__ import annotations

import html as htmlmod
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, insert, select, update
from typer.testing import CliRunner

from handover import cli
from handover.errors import BatchNotFoundError, ExitCode
from handover.models import Entity
from handover.target import schema
from handover.target.db import open_target
from handover.target.hashing import RECOMPUTE_SCRIPT
from handover.target.loader import Loader
from handover.target.verify import CHANGED, MISSING, NOT_IN_LEDGER, NOT_LOADED_VERSION, verify_batch
from tests.target import factories as f

runner = CliRunner()


def _load(engine: Engine, batch_id: str = "A") -> str:
    loader = Loader(engine, batch_id)
    loader.begin_batch(batch_id, "c" * 64, [f.source(), f.source("ht", entity=Entity.RECORD)])
    loader.load_chunk(f.chunk([f.dossier("H-1"), f.dossier("H-2"), f.dossier("H-3", disposition="excluded")]))
    loader.load_chunk(f.chunk([f.record("R-1"), f.record("R-2")], source_id="ht", entity=Entity.RECORD))
    return loader.finish_batch({})


def _copy_row(engine: Engine, table, where, **changes) -> None:
    with engine.begin() as conn:
        row = dict(conn.execute(select(table).where(where)).mappings().one())
        row.pop("id")
        row.update(changes)
        conn.execute(insert(table).values(**row))


def _problems(engine: Engine) -> list[tuple[str, str, str]]:
    return sorted((p.natural_key, p.problem, p.entity) for p in verify_batch(engine, "A").problems)


def test_clean_batch_verifies(engine: Engine) -> None:
    stored = _load(engine)
    result = verify_batch(engine, "A")
    assert result.ok, result.problems
    assert (result.rows_checked, result.recomputed_fingerprint) == (4, stored)


def test_row_inserted_with_the_batch_id_fails(engine: Engine) -> None:
    _load(engine)
    d = schema.dossiers
    _copy_row(engine, d, d.c.dossier_code == "H-1", dossier_code="H-EXTRA")
    _copy_row(engine, schema.records, schema.records.c.record_number == "R-1", record_number="R-EXTRA")
    result = verify_batch(engine, "A")
    assert not result.ok and result.fingerprint_ok  # the fingerprint alone cannot see it
    assert _problems(engine) == [
        ("H-EXTRA", NOT_IN_LEDGER, "dossier"),
        ("birth/R-EXTRA", NOT_IN_LEDGER, "record"),
    ]
    assert result.rows_outside_ledger == 2


def test_row_of_another_batch_is_not_ours(engine: Engine) -> None:
    _load(engine)
    d = schema.dossiers
    _copy_row(engine, d, d.c.dossier_code == "H-1", dossier_code="H-OTHER", batch_id="Z")
    assert verify_batch(engine, "A").ok


def test_changed_row_fails_whether_or_not_its_stored_hash_was_rewritten(engine: Engine) -> None:
    _load(engine)
    d = schema.dossiers
    with engine.begin() as conn:
        conn.execute(update(d).where(d.c.dossier_code == "H-2").values(phone="0000000000"))
    assert _problems(engine) == sorted([("H-2", CHANGED, "dossier"), ("H-2", NOT_LOADED_VERSION, "dossier")])
    # a careful forger also rewrites content_hash: the ledger's hash still differs
    from handover.target.hashing import content_hash

    with engine.begin() as conn:
        row = conn.execute(select(d).where(d.c.dossier_code == "H-2")).mappings().one()
        conn.execute(
            update(d).where(d.c.dossier_code == "H-2").values(content_hash=content_hash(row, "dossier"))
        )
    result = verify_batch(engine, "A")
    assert _problems(engine) == [("H-2", NOT_LOADED_VERSION, "dossier")]
    assert not result.fingerprint_ok


def test_deleted_row_fails(engine: Engine) -> None:
    _load(engine)
    with engine.begin() as conn:
        conn.execute(delete(schema.records).where(schema.records.c.record_number == "R-2"))
    result = verify_batch(engine, "A")
    assert _problems(engine) == [("birth/R-2", MISSING, "record")]
    assert not result.fingerprint_ok


def test_unknown_batch_is_not_found(engine: Engine) -> None:
    _load(engine)
    with pytest.raises(BatchNotFoundError) as caught:
        verify_batch(engine, "nope")
    assert caught.value.exit_code == ExitCode.NOT_FOUND


def _old_recipe(row: dict) -> str:
    """The content hash as the releases before the date-time columns computed it, by hand: every content column
    the table had, sorted, NULL → "", dates ISO, numbers %.15g, compact JSON, SHA-256."""
    import hashlib
    import unicodedata
    from datetime import date

    skip = {"id", "batch_id", "updated_batch_id", "loaded_at", "content_hash"}
    pairs = []
    for name in sorted(set(row) - skip):
        value = row[name]
        if value is None:
            shown = ""
        elif isinstance(value, date):
            shown = value.isoformat()[:10]
        elif isinstance(value, (int, float)):
            shown = format(float(value), ".15g")
        else:
            shown = unicodedata.normalize("NFC", str(value))
        pairs.append([name, shown])
    return hashlib.sha256(json.dumps(pairs, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def test_rows_loaded_before_the_time_columns_still_verify_beside_rows_with_times(
    any_db_url: str, tmp_path: Path
) -> None:
    """Batch A is loaded, then the target goes back to revision 0004 (no received_at/due_at/returned_at: the
    rows as the earlier release left them, their hashes the earlier recipe's) and is upgraded again; batch B
    loads rows with times of day beside it. Both verify, A's fingerprint unchanged, and the recipe script agrees
    on SQLite."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from handover.target.db import upgrade_target
    from handover.target.migrate import alembic_config

    engine = open_target(any_db_url)
    stored_a = _load(engine)
    engine.dispose()
    plain = create_engine(any_db_url)
    with plain.begin() as conn:
        command.downgrade(alembic_config(conn), "0004")
    with plain.connect() as conn:
        old_rows = [dict(r) for r in conn.execute(text("SELECT * FROM dossiers")).mappings()]
    plain.dispose()
    assert old_rows and "received_at" not in old_rows[0]
    for row in old_rows:  # what the earlier release computed is what is stored
        assert _old_recipe(row) == row["content_hash"], row["dossier_code"]
    upgrade_target(any_db_url)
    engine = open_target(any_db_url)
    try:
        loader = Loader(engine, "B")
        loader.begin_batch("B", "c" * 64, [f.source("vb")])
        loader.load_chunk(
            f.chunk(
                [
                    f.dossier("V-1", received_at="2025-02-23T14:35:20", due_at="2025-03-10T10:00:00"),
                    f.dossier("V-2", returned_at="2025-06-30T07:15:00"),
                    f.dossier("V-3"),
                ],
                source_id="vb",
            )
        )
        stored_b = loader.finish_batch({})
        a, b = verify_batch(engine, "A"), verify_batch(engine, "B")
        assert a.ok and b.ok, (a.problems, b.problems)
        assert (a.recomputed_fingerprint, b.recomputed_fingerprint) == (stored_a, stored_b)
        d = schema.dossiers
        with engine.connect() as conn:
            times = conn.execute(
                select(d.c.dossier_code, d.c.received_at).where(d.c.received_at.is_not(None))
            ).all()
        assert [tuple(t) for t in times] == [("V-1", datetime(2025, 2, 23, 14, 35, 20))]
        if engine.dialect.name == "sqlite":  # the auditor's script reads the stored text the same way
            for batch, stored in (("A", stored_a), ("B", stored_b)):
                ran = _recipe(engine.url.database, batch, tmp_path)
                assert (ran.returncode, ran.stdout.splitlines()) == (0, [stored]), ran.stderr
        # a changed time of day is a changed row
        with engine.begin() as conn:
            conn.execute(
                update(d).where(d.c.dossier_code == "V-1").values(received_at=datetime(2025, 2, 23, 14, 36))
            )
        assert sorted(p.problem for p in verify_batch(engine, "B").problems) == sorted(
            [CHANGED, NOT_LOADED_VERSION]
        )
    finally:
        engine.dispose()


# --- the command and the recipe (SQLite) -------------------------------------------------------------------


@pytest.fixture
def sqlite_target(sqlite_url: str) -> tuple[str, Engine, str]:
    engine = open_target(sqlite_url)
    stored = _load(engine)
    return sqlite_url, engine, stored


def _recipe(db: str, batch: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "recompute.py"
    script.write_text(RECOMPUTE_SCRIPT, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-I", str(script), db, batch], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("insert", f"dossier bt H-EXTRA: {NOT_IN_LEDGER}"),
        ("change", f"dossier bt H-2: {CHANGED}"),
        ("delete", f"record ht birth/R-2: {MISSING}"),
    ],
)
def test_verify_command_exits_8_with_its_own_message(sqlite_target, tamper: str, message: str) -> None:
    url, engine, _ = sqlite_target
    ok = runner.invoke(cli.app, ["db", "verify", "--db", url, "--batch", "A"])
    assert ok.exit_code == 0, ok.output
    d = schema.dossiers
    if tamper == "insert":
        _copy_row(engine, d, d.c.dossier_code == "H-1", dossier_code="H-EXTRA")
    elif tamper == "change":
        with engine.begin() as conn:
            conn.execute(update(d).where(d.c.dossier_code == "H-2").values(applicant_name="Ai đó"))
    else:
        with engine.begin() as conn:
            conn.execute(delete(schema.records).where(schema.records.c.record_number == "R-2"))
    bad = runner.invoke(cli.app, ["db", "verify", "--db", url, "--batch", "A"])
    assert bad.exit_code == ExitCode.VERIFY == 8, bad.output
    assert message in " ".join(bad.output.split())
    assert "VerificationError" in bad.output and "Traceback" not in bad.output
    as_json = runner.invoke(cli.app, ["db", "verify", "--db", url, "--batch", "A", "--json"])
    assert as_json.exit_code == ExitCode.VERIFY
    assert json.loads(as_json.stdout)["ok"] is False
    engine.dispose()


def test_the_reports_recipe_recomputes_from_the_rows_and_detects_a_changed_row(
    sqlite_target, tmp_path: Path
) -> None:
    from handover.reports import write_reports

    _, engine, stored = sqlite_target
    paths = write_reports(engine, "A", tmp_path / "reports")
    page = paths.html.read_text(encoding="utf-8")
    found = re.search(r'<pre id="recompute-script">(.*?)</pre>', page, re.S)
    assert found and htmlmod.unescape(found.group(1)).strip() == RECOMPUTE_SCRIPT.strip()
    assert "each row serialised as a JSON array of its values in column order" in page
    db = engine.url.database
    clean = _recipe(db, "A", tmp_path)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.splitlines() == [stored]

    d = schema.dossiers
    with engine.begin() as conn:
        conn.execute(update(d).where(d.c.dossier_code == "H-1").values(fee=150000.0))
    _copy_row(engine, d, d.c.dossier_code == "H-1", dossier_code="H-EXTRA")
    tampered = _recipe(db, "A", tmp_path)
    assert tampered.returncode == 1
    *problems, fingerprint = tampered.stdout.splitlines()
    assert problems == ["changed: dossier bt H-1", "not in the batch's ledger: dossier bt H-EXTRA"]
    assert fingerprint != stored
    assert (
        fingerprint == verify_batch(engine, "A").recomputed_fingerprint
    )  # the recipe is verify's definition
    engine.dispose()


def test_verify_and_status_on_a_mistyped_sqlite_path_create_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "targte.db"
    url = f"sqlite:///{missing}"
    for args in (
        ["db", "verify", "--db", url, "--batch", "A"],
        ["db", "status", "--db", url],
        ["rollback", "A", "--db", url],
        ["report", "A", "--db", url, "--out", str(tmp_path / "out")],
    ):
        result = runner.invoke(cli.app, args)
        assert result.exit_code == ExitCode.NOT_FOUND, (args, result.output)
        assert f"no such target database: {missing}" in " ".join(result.output.split()), args
        assert not missing.exists(), args
    assert not (tmp_path / "out").exists()


def test_unknown_batch_exits_the_same_from_every_command(sqlite_target) -> None:
    url, engine, _ = sqlite_target
    engine.dispose()
    for args in (
        ["db", "verify", "--db", url, "--batch", "nope"],
        ["rollback", "nope", "--db", url],
        ["report", "nope", "--db", url],
    ):
        result = runner.invoke(cli.app, args)
        assert result.exit_code == ExitCode.NOT_FOUND == 9, (args, result.output)
        assert "nope" in result.output and "BatchNotFoundError" in result.output
