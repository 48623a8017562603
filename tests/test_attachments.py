"""Scanned attachments (handover.attachments, handover.target.attachments): files named by a column or found in
a folder per dossier are copied into the store and recorded with the dossier (path, size, SHA-256 read back from
the target and the store); missing, unreadable and duplicate files are findings, a dossier missing required files
is quarantined; a kill -9 during the copy and a re-run leave one copy of each file; a rollback removes the
batch's files; a file changed after loading makes ``db verify`` exit 8 naming it."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from handover.attachments.files import META
from handover.cli import app
from handover.config import load_config
from handover.demo.scans import write_sample_pdfs
from handover.errors import ConfigError, HandoverError
from handover.pipeline.run import run_batch
from handover.target import schema
from tests.cliproc import run_cli

SOURCE = Path(__file__).parent / "data" / "dossiers_utf8.csv"  # five pending dossiers of Bảo Thắng
HEADER = "Tệp đính kèm"


def _codes() -> list[str]:
    with SOURCE.open(encoding="utf-8") as fh:
        return [row["Mã hồ sơ"] for row in csv.DictReader(fh)]


CODES = _codes()


def _batch(
    tmp: Path,
    cells: dict[int, str] | None = None,
    *,
    spec: str | None = None,
    batch_id: str = "b1",
    url: str | None = None,
    chunk_size: int = 2,
) -> Path:
    """A batch of the five dossiers, the n-th (0-based) naming ``cells[n]`` in the attachments column (or the
    ``spec`` given), into ``tmp/target.db`` unless ``url``."""
    with SOURCE.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if cells is not None:
        rows[0].append(HEADER)
        for n, row in enumerate(rows[1:]):
            row.append(cells.get(n, ""))
    with (tmp / "dossiers.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    if spec is None:
        spec = f'{{ column = "{HEADER}" }}'
    config = tmp / f"{batch_id}.toml"
    config.write_text(
        f"""[batch]
id = "{batch_id}"
chunk_size = {chunk_size}

[thresholds]
max_error_share = 0.9

[target]
url = "{url or "sqlite:///target.db"}"

[[sources]]
id = "s1"
kind = "csv"
path = "dossiers.csv"
old_province_code = "10"
old_district_code = "086"
attachments = {spec}
""",
        encoding="utf-8",
    )
    return config


def _scans(tmp: Path, names: str = "abcde") -> dict[str, str]:
    """Small distinct files scans/<n>.pdf; name → SHA-256."""
    (tmp / "scans").mkdir(exist_ok=True)
    out = {}
    for n in names:
        data = f"%PDF-1.4 scan {n}\n".encode() * 3
        (tmp / "scans" / f"{n}.pdf").write_bytes(data)
        out[n] = hashlib.sha256(data).hexdigest()
    return out


def _manifest(url: str, batch_id: str | None = None) -> list[dict]:
    engine = create_engine(url)
    a = schema.dossier_attachments
    stmt = select(a).order_by(a.c.dossier_code, a.c.original_name)
    if batch_id:
        stmt = stmt.where(a.c.batch_id == batch_id)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    engine.dispose()
    return rows


def _stored(root: Path) -> list[Path]:
    """Every file of the store but its own folder (journals, temporary files)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and META not in p.relative_to(root).parts)


def _ledger(url: str) -> dict[str, tuple[str, str | None]]:
    engine = create_engine(url)
    lg = schema.ledger.c
    with engine.connect() as conn:
        out = {k: (d, r) for k, d, r in conn.execute(select(lg.natural_key, lg.disposition, lg.reason))}
    engine.dispose()
    return out


def _findings(url: str) -> list[tuple[str, str, str, str]]:
    engine = create_engine(url)
    f = schema.findings.c
    with engine.connect() as conn:
        out = [
            tuple(r)
            for r in conn.execute(
                select(f.natural_key, f.check_name, f.severity, f.message_en)
                .where(f.check_name.like("attachment%"))
                .order_by(f.natural_key, f.check_name)
            )
        ]
    engine.dispose()
    return out


def test_files_are_copied_and_recorded_with_their_dossier(tmp_path: Path) -> None:
    sums = _scans(tmp_path)
    (tmp_path / "scans" / "copy.pdf").write_bytes((tmp_path / "scans" / "a.pdf").read_bytes())
    cells = {
        0: "scans/a.pdf; scans/b.pdf",
        1: r"scans\c.pdf; scans/gone.pdf",
        3: "scans/d.pdf",
        4: "scans/copy.pdf",
    }
    result = run_batch(load_config(_batch(tmp_path, cells)))
    url = f"sqlite:///{tmp_path / 'target.db'}"
    root = tmp_path / "target-attachments"  # the default store beside a SQLite target
    rows = _manifest(url)
    assert [(r["dossier_code"], r["original_name"], r["sha256"], r["size_bytes"]) for r in rows] == [
        (CODES[0], "scans/a.pdf", sums["a"], 48),
        (CODES[0], "scans/b.pdf", sums["b"], 48),
        (CODES[1], r"scans\c.pdf", sums["c"], 48),
        (CODES[3], "scans/d.pdf", sums["d"], 48),
        (CODES[4], "scans/copy.pdf", sums["a"], 48),
    ]
    assert {r["batch_id"] for r in rows} == {"b1"} and all(r["source_system"] == "s1" for r in rows)
    engine = create_engine(url)
    d = schema.dossiers.c
    with engine.connect() as conn:
        units = dict(
            conn.execute(select(d.dossier_code, d.new_province_code + "/" + d.new_commune_code)).all()
        )
        extras = conn.execute(select(d.extras)).scalars().all()
    engine.dispose()
    for r in rows:  # <new province>/<new commune>/<dossier code>/<sha256 prefix>-<name>
        name = r["original_name"].replace("\\", "/").rsplit("/", 1)[-1]
        assert r["stored_path"] == f"{units[r['dossier_code']]}/{r['dossier_code']}/{r['sha256'][:12]}-{name}"
        stored = root / r["stored_path"]
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == r["sha256"]
        assert stored.stat().st_mode & 0o777 == 0o600 and stored.parent.stat().st_mode & 0o777 == 0o700
        assert stored.read_bytes() == (tmp_path / r["original_name"].replace("\\", "/")).read_bytes()
    assert len(_stored(root)) == len(rows) == 5
    # optional files (the default): a missing one is a warning, the dossier loads; the same content under another
    # name or dossier is a warning, both are kept
    assert result.total.loaded == 5
    found = _findings(url)
    assert [f[:3] for f in found] == [
        (CODES[1], "attachment_missing", "warning"),
        (CODES[4], "attachment_duplicate_content", "warning"),
    ]
    assert "'scans/gone.pdf' not found" in found[0][3]
    assert "'scans/copy.pdf'" in found[1][3] and f"'scans/a.pdf' of dossier {CODES[0]}" in found[1][3]
    # the files are not the dossiers' content: the column leaves the rows' extras (their hashes, and the
    # loaded-set fingerprint, are those of the same rows without it)
    assert extras and not any(HEADER in (e or "") for e in extras)
    html = " ".join(Path(result.reports["html"]).read_text(encoding="utf-8").split())
    for label, figure in (("files recorded", 5), ("dossiers with files", 4), ("distinct contents", 4)):
        assert f"{label}</span></th><td>{figure}</td>" in html  # the auditors' report, read from the target
    assert "scans/a.pdf" not in html  # no file names (they may name people) in the shared report


def test_missing_required_files_quarantine_the_dossier_and_say_so(tmp_path: Path) -> None:
    _scans(tmp_path, "ab")
    (tmp_path / "scans" / "locked.pdf").mkdir()  # named as a file, but a folder: cannot be read as one
    outside = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    outside.write_text("not a scan", encoding="utf-8")
    spec = f'{{ column = "{HEADER}", required = true }}'
    cells = {
        0: "scans/a.pdf",
        1: "scans/b.pdf; scans/gone.pdf",
        2: "scans/locked.pdf",
        3: f"../{outside.name}",
    }
    config = _batch(tmp_path, cells, spec=spec)
    result = run_batch(load_config(config))
    url = f"sqlite:///{tmp_path / 'target.db'}"
    ledger = _ledger(url)
    assert ledger[CODES[0]] == ("loaded", None)
    for n in (
        1,
        2,
        3,
        4,
    ):  # a file missing, a file unreadable, a file outside the source's folder, none named
        disposition, reason = ledger[CODES[n]]
        assert disposition == "quarantined" and "bắt buộc" in reason, (n, reason)
    assert result.total.quarantined == 4 and result.findings["attachment_missing"] == 2
    found = _findings(url)
    assert (CODES[1], "attachment_missing", "error") == found[0][:3] and "scans/gone.pdf" in found[0][3]
    assert found[1][:3] == (CODES[2], "attachment_unreadable", "error") and "scans/locked.pdf" in found[1][3]
    assert found[2][:3] == (CODES[3], "attachment_unreadable", "error")
    assert "is outside the source's folder" in found[2][3]
    assert found[3][:3] == (CODES[4], "attachment_missing", "error") and "no file named" in found[3][3]
    # only the loaded dossier's file is in the store and the manifest: b.pdf of the quarantined one is not
    assert [r["dossier_code"] for r in _manifest(url)] == [CODES[0]]
    assert len(_stored(tmp_path / "target-attachments")) == 1


def test_folder_per_dossier_with_a_minimum_count(tmp_path: Path) -> None:
    write_sample_pdfs(tmp_path / "scans", CODES[:2], per_dossier=2)
    write_sample_pdfs(tmp_path / "scans", CODES[2:3], per_dossier=1)
    config = _batch(tmp_path, spec='{ folder = "scans/{dossier_code}/", required = 2 }')
    result = run_batch(load_config(config))
    url = f"sqlite:///{tmp_path / 'target.db'}"
    ledger = _ledger(url)
    assert [ledger[c][0] for c in CODES] == ["loaded", "loaded", "quarantined", "quarantined", "quarantined"]
    assert "only 1 file(s), 2 required" in _findings(url)[0][3]
    assert result.findings["attachment_missing"] == 3
    rows = _manifest(url)
    assert [(r["dossier_code"], r["original_name"]) for r in rows] == [
        (c, f"scan-{p}.pdf") for c in CODES[:2] for p in (1, 2)
    ]
    assert all(
        (tmp_path / "target-attachments" / r["stored_path"]).read_bytes().startswith(b"%PDF-1.4")
        for r in rows
    )
    assert "does not exist" in _findings(url)[1][3]  # a dossier without its folder


def _env(crash_at: str | None = None) -> dict[str, str]:
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false"}
    env.pop("HANDOVER_CRASH_AT", None)
    if crash_at:
        env["HANDOVER_CRASH_AT"] = crash_at
    return env


CELLS = {0: "scans/a.pdf; scans/b.pdf", 1: "scans/c.pdf", 3: "scans/d.pdf; scans/e.pdf"}


@pytest.mark.slow
def test_a_kill_during_the_copy_then_a_rerun_leaves_one_copy_of_each_file(tmp_path: Path) -> None:
    sums = _scans(tmp_path)
    config = _batch(tmp_path, CELLS)
    root = tmp_path / "target-attachments"
    # the third file of the first chunk is copied to its temporary name when the process is killed
    killed = run_cli(["run", str(config)], env=_env("attachments.copy:3"))
    assert killed.returncode == -9, killed.stderr
    assert len(list((root / META / "tmp" / "b1").iterdir())) == 1  # the temporary copy
    assert len(_stored(root)) == 2  # a.pdf and b.pdf in place, their chunk not committed
    url = f"sqlite:///{tmp_path / 'target.db'}"
    assert _manifest(url) == []

    again = run_cli(["run", str(config), "--json"], env=_env())
    assert again.returncode == 0, again.stderr
    rows = _manifest(url)
    stored = _stored(root)
    assert len(rows) == len(stored) == 5 and sorted(r["sha256"] for r in rows) == sorted(sums.values())
    assert sorted(root / r["stored_path"] for r in rows) == stored
    assert not list((root / META / "tmp" / "b1").iterdir())  # the temporary file is gone
    engine = create_engine(url)
    with engine.connect() as conn:
        summary = json.loads(conn.execute(select(schema.batches.c.summary_json)).scalar_one())
    engine.dispose()
    assert summary["attachments"] | {"store": ""} == {
        "store": "",
        "files_recorded": 5,
        "copied": 3,
        "found_in_place": 2,  # a.pdf and b.pdf, copied by the killed run: not copied twice
        "orphans_removed": 0,
    }
    verified = CliRunner().invoke(app, ["db", "verify", "--db", url, "--batch", "b1"])
    assert verified.exit_code == 0, verified.output
    assert "attachment files re-hashed 5 ok" in " ".join(verified.output.split())


@pytest.mark.slow
def test_a_rollback_after_a_kill_leaves_no_orphan_file(tmp_path: Path) -> None:
    _scans(tmp_path)
    config = _batch(tmp_path, CELLS)
    root = tmp_path / "target-attachments"
    killed = run_cli(["run", str(config)], env=_env("attachments.copy:5"))  # chunk 0 committed, chunk 1 not
    assert killed.returncode == -9, killed.stderr
    url = f"sqlite:///{tmp_path / 'target.db'}"
    assert len(_manifest(url)) == 3 and len(_stored(root)) == 4  # d.pdf copied for the uncommitted chunk
    # the rollback killed after its commit, before it removed the files: rolling back again removes them
    cut = run_cli(["rollback", "b1", "--db", url], env=_env("rollback.files"))
    assert cut.returncode == -9, cut.stderr
    assert _manifest(url) == [] and len(_stored(root)) == 4
    undone = CliRunner().invoke(app, ["rollback", "b1", "--db", url])
    assert undone.exit_code == 0, undone.output
    assert "already rolled back" in undone.output
    assert "4 attachment file(s) removed from the store" in undone.output
    assert _stored(root) == []
    assert not (root / META / "journal" / "b1.txt").exists()


def test_verify_rehashes_the_files_and_rollback_removes_them_unless_another_batch_names_them(
    tmp_path: Path,
) -> None:
    _scans(tmp_path)
    url = f"sqlite:///{tmp_path / 'target.db'}"
    root = tmp_path / "target-attachments"
    run_batch(load_config(_batch(tmp_path, CELLS, batch_id="b1")))
    second = run_batch(load_config(_batch(tmp_path, CELLS, batch_id="b2")))  # the same dossiers again
    assert second.new_rows == 0 and len(_manifest(url, "b2")) == 5 and len(_stored(root)) == 5

    runner = CliRunner()
    undone = runner.invoke(app, ["rollback", "b2", "--db", url])
    assert undone.exit_code == 0, undone.output
    assert "dossier_attachments │ 5" in undone.output and "removed from the store" not in undone.output
    assert len(_stored(root)) == 5  # b1's rows still name them
    verified = runner.invoke(app, ["db", "verify", "--db", url, "--batch", "b1"])
    assert verified.exit_code == 0, verified.output
    assert "attachment files re-hashed 5 ok" in " ".join(verified.output.split())

    # a file changed and one deleted after loading: verify exits 8 naming the dossier and the file
    rows = {r["original_name"]: r for r in _manifest(url)}
    with (root / rows["scans/c.pdf"]["stored_path"]).open("ab") as fh:
        fh.write(b"x")
    (root / rows["scans/e.pdf"]["stored_path"]).unlink()
    out = runner.invoke(app, ["db", "verify", "--db", url, "--batch", "b1"])
    assert out.exit_code == 8, out.output
    shown = " ".join(out.output.split())  # as printed, whatever the terminal's width
    assert "attachment files re-hashed 5 MISMATCH" in shown
    assert f"dossier s1 {CODES[1]}: attachment changed in the store (SHA-256 differs): scans/c.pdf" in shown
    assert f"dossier s1 {CODES[3]}: attachment missing from the store: scans/e.pdf" in shown
    data = json.loads(runner.invoke(app, ["db", "verify", "--db", url, "--batch", "b1", "--json"]).stdout)
    assert data["ok"] is False and data["fingerprint_ok"] is True and data["attachments_checked"] == 5
    assert [(p["natural_key"], p["expected"]) for p in data["problems"]] == [
        (CODES[1], rows["scans/c.pdf"]["sha256"]),
        (CODES[3], rows["scans/e.pdf"]["sha256"]),
    ]
    moved = tmp_path / "moved"  # the store moved: --attachments names where it is now
    root.rename(moved)
    out = runner.invoke(app, ["db", "verify", "--db", url, "--batch", "b1", "--attachments", str(moved)])
    assert out.exit_code == 8 and "scans/c.pdf" in out.output and "scans/a.pdf" not in out.output
    moved.rename(root)

    dry = runner.invoke(app, ["rollback", "b1", "--db", url, "--dry-run"])
    assert "4 attachment file(s) removed from the store (dry run: would be)" in dry.output
    assert len(_stored(root)) == 4
    undone = runner.invoke(app, ["rollback", "b1", "--db", url])
    assert undone.exit_code == 0, undone.output
    assert "4 attachment file(s) removed from the store" in undone.output
    assert _manifest(url) == [] and _stored(root) == []


def test_files_recorded_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    sums = _scans(tmp_path)
    store = tmp_path / "store"
    config = _batch(tmp_path, CELLS, url=pg_url)
    config.write_text(
        config.read_text(encoding="utf-8").replace("[target]\n", '[target]\nattachments = "store"\n'),
        encoding="utf-8",
    )
    run_batch(load_config(config))
    rows = _manifest(pg_url)
    assert sorted(r["sha256"] for r in rows) == sorted(sums.values())
    assert sorted(store / r["stored_path"] for r in rows) == _stored(store)
    from handover.target.db import open_target
    from handover.target.rollback import rollback_batch
    from handover.target.verify import verify_batch

    engine = open_target(pg_url, create=False)
    try:
        assert verify_batch(engine, "b1").attachments_checked == 5
        assert rollback_batch(engine, "b1").attachment_files_removed == 5
    finally:
        engine.dispose()
    assert _stored(store) == []


def test_configuration_errors(tmp_path: Path) -> None:
    _scans(tmp_path)
    config = _batch(tmp_path, {0: "scans/a.pdf"}, spec='{ column = "Tệp scan" }')
    with pytest.raises(HandoverError, match="the attachments column 'Tệp scan' is not among"):
        run_batch(load_config(config))
    for spec, message in (
        ('{ column = "x", folder = "s/{dossier_code}" }', "give either column"),
        ('{ folder = "scans/" }', "must contain {dossier_code}"),
        ('{ column = "x", required = -1 }', "required"),
    ):
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config(_batch(tmp_path, {}, spec=spec))
    text = _batch(tmp_path, {}).read_text(encoding="utf-8")
    (tmp_path / "r.toml").write_text(
        text.replace('kind = "csv"', 'kind = "csv"\nentity = "record"'), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="attachments belong to dossier sources only"):
        load_config(tmp_path / "r.toml")
    pg = _batch(tmp_path, {0: "scans/a.pdf", 1: "scans/b.pdf"}, url="postgresql+psycopg://u@127.0.0.1/x")
    from handover.attachments.files import require_store

    with pytest.raises(ConfigError, match="no attachment store"):
        require_store(load_config(pg))
    # a dry run copies nothing and needs no store: the files are checked all the same
    pg.write_text(
        pg.read_text(encoding="utf-8").replace(f'column = "{HEADER}"', f'column = "{HEADER}", required = 1'),
        encoding="utf-8",
    )
    dry = run_batch(load_config(pg), dry_run=True)
    assert dry.status == "dry_run" and dry.findings["attachment_missing"] == 3 and dry.total.quarantined == 3


def test_sample_pdfs_are_small_distinct_pdf_files(tmp_path: Path) -> None:
    made = write_sample_pdfs(tmp_path, ["H48-1", "H48-2"], per_dossier=2)
    files = [p for paths in made.values() for p in paths]
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        "H48-1/scan-1.pdf",
        "H48-1/scan-2.pdf",
        "H48-2/scan-1.pdf",
        "H48-2/scan-2.pdf",
    ]
    data = [p.read_bytes() for p in files]
    assert all(d.startswith(b"%PDF-1.4") and d.rstrip().endswith(b"%%EOF") and len(d) < 1000 for d in data)
    assert len({hashlib.sha256(d).hexdigest() for d in data}) == 4
