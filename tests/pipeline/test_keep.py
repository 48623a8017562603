"""An official's work is never destroyed: an edited report is kept byte-identical and a new versioned file is
written beside it; a re-run of a finished batch leaves the batch row as it was; the configuration is bound to a
batch by its meaning, not by its bytes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from handover.cli import app
from handover.config import load_config
from handover.config_hash import config_sha256
from handover.target import schema

runner = CliRunner()
BATCH = "demo-lao-cai-2025-07"


@pytest.fixture(scope="module")
def demo_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = runner.invoke(
        app, ["demo", "--out", str(out), "--rows", "150", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def demo(demo_once: Path, tmp_path: Path) -> Path:
    """A copy of the demo folder of one's own (the batch file's paths are relative to it)."""
    return Path(shutil.copytree(demo_once, tmp_path / "demo"))


def _workbook(demo: Path, n: int = 1) -> Path:
    suffix = "" if n == 1 else f" ({n})"
    return demo / "reports" / f"{BATCH}-doi-soat{suffix}.xlsx"


def _decide(path: Path) -> None:
    """What an official does: type a decision into the review sheet and save."""
    wb = load_workbook(path)
    ws = wb["Cần xem xét"]
    ws.cell(row=10, column=12, value="02908")
    wb.save(path)


def _run(demo: Path) -> dict:
    result = runner.invoke(app, ["run", str(demo / "batch.toml"), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _report(demo: Path, *extra: str):
    db = f"sqlite:///{demo / 'target.db'}"
    return runner.invoke(app, ["report", BATCH, "--db", db, "--out", str(demo / "reports"), *extra])


def _batch_row(demo: Path) -> tuple:
    engine = create_engine(f"sqlite:///{demo / 'target.db'}")
    b = schema.batches.c
    with engine.connect() as conn:
        row = conn.execute(
            select(b.status, b.finished_at, b.summary_json, b.fingerprint).where(b.batch_id == BATCH)
        ).one()
    engine.dispose()
    return tuple(row)


def test_edited_workbook_is_kept_and_a_new_version_written(demo: Path) -> None:
    _decide(_workbook(demo))
    edited = _workbook(demo).read_bytes()

    out = _run(demo)
    assert out["new_rows"] == 0
    assert out["reports"]["workbook"] == str(_workbook(demo, 2))
    assert _workbook(demo).read_bytes() == edited
    notice = next(n for n in out["notices"] if "edited since the tool wrote it" in n)
    assert str(_workbook(demo)) in notice and f"the new one is {_workbook(demo, 2)}" in notice
    assert "đã được sửa" in notice
    assert load_workbook(_workbook(demo, 2))["Cần xem xét"].cell(row=10, column=12).value is None

    # handover report: the original still kept; the unedited version 2 is the one rewritten (no version 3)
    result = _report(demo, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["workbook"] == str(_workbook(demo, 2))
    assert any(str(_workbook(demo)) in n for n in data["notices"])
    assert _workbook(demo).read_bytes() == edited
    assert not _workbook(demo, 3).exists()

    # the table output says so too; version 2 edited in turn → version 3
    _decide(_workbook(demo, 2))
    edited2 = _workbook(demo, 2).read_bytes()
    result = _report(demo)
    assert result.exit_code == 0, result.output
    assert "edited since the tool wrote it" in result.output
    assert _workbook(demo, 3).is_file()
    assert (_workbook(demo).read_bytes(), _workbook(demo, 2).read_bytes()) == (edited, edited2)


def test_unedited_reports_are_simply_rewritten(demo: Path) -> None:
    out = _run(demo)
    assert out["reports"]["workbook"] == str(_workbook(demo))
    assert not any("edited" in n for n in out["notices"])
    result = _report(demo, "--json")
    assert json.loads(result.stdout)["notices"] == []
    reports = sorted(p.name for p in (demo / "reports").iterdir() if not p.name.startswith("."))
    assert reports == [
        f"{BATCH}-bien-ban",  # the record files, one per receiver
        f"{BATCH}-doi-soat.xlsx",
        f"{BATCH}-findings.csv",
        f"{BATCH}-transfer-report.html",
    ]
    files = [p.name for p in (demo / "reports" / f"{BATCH}-bien-ban").iterdir() if not p.name.startswith(".")]
    assert files and not any(" (" in name for name in files)  # rewritten in place, no versioned copy


def test_edited_html_and_findings_are_kept(demo: Path) -> None:
    html = demo / "reports" / f"{BATCH}-transfer-report.html"
    findings = demo / "reports" / f"{BATCH}-findings.csv"
    html.write_text(html.read_text(encoding="utf-8") + "<!-- checked: N.V.A. -->", encoding="utf-8")
    with findings.open("a", encoding="utf-8") as fh:
        fh.write("ghi chú của cán bộ\n")
    before = html.read_bytes(), findings.read_bytes()

    out = _run(demo)
    assert out["reports"]["html"] == str(html.with_name(f"{BATCH}-transfer-report (2).html"))
    assert out["reports"]["findings"] == str(findings.with_name(f"{BATCH}-findings (2).csv"))
    assert out["reports"]["workbook"] == str(_workbook(demo))  # not edited: rewritten
    assert (html.read_bytes(), findings.read_bytes()) == before
    assert sum("edited since the tool wrote it" in n for n in out["notices"]) == 2


def test_a_rerun_keeps_the_finished_batch_as_it_was(demo: Path) -> None:
    before = _batch_row(demo)
    assert before[0] == "finished" and before[1] is not None
    out = _run(demo)
    assert out["new_rows"] == 0 and out["fingerprint"] == before[3]
    assert _batch_row(demo) == before


def _reorder_and_comment(text: str) -> str:
    """The same configuration, written differently: a comment added, two sections and two keys swapped."""
    head, rest = text.split("[thresholds]", 1)
    thresholds, rest = rest.split("[report]", 1)
    report, sources = rest.split("[[sources]]", 1)
    lines = thresholds.strip().splitlines()
    thresholds = "\n".join([lines[2], lines[0], lines[1]])
    return (
        "# checked by the province office, 2 July\n"
        + head
        + "[report]"
        + report
        + "[thresholds]   # limits\n"
        + thresholds
        + "\n\n[[sources]]"
        + sources
    )


def test_comments_and_key_order_are_not_a_changed_configuration(demo: Path) -> None:
    cfg = demo / "batch.toml"
    before = config_sha256(load_config(cfg))
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(_reorder_and_comment(text), encoding="utf-8")
    assert cfg.read_text(encoding="utf-8") != text
    assert config_sha256(load_config(cfg)) == before
    out = _run(demo)
    assert out["new_rows"] == 0

    # a real change (a column map) is still refused
    cfg.write_text(text.replace('"Ghi chú" = "notes"\n', "", 1), encoding="utf-8")
    assert config_sha256(load_config(cfg)) != before
    refused = runner.invoke(app, ["run", str(cfg)])
    assert refused.exit_code == 2, refused.output
    assert f"configuration of batch {BATCH} changed" in refused.output


def test_a_batch_recorded_with_the_bytes_hash_is_not_refused(demo: Path) -> None:
    """A batch begun when the hash was of the batch file's bytes: the same file is the same configuration."""
    from handover.config_hash import legacy_config_sha256

    cfg = load_config(demo / "batch.toml")
    engine = create_engine(f"sqlite:///{demo / 'target.db'}")
    b = schema.batches
    with engine.begin() as conn:
        conn.execute(b.update().where(b.c.batch_id == BATCH).values(config_sha256=legacy_config_sha256(cfg)))
    out = _run(demo)
    assert out["new_rows"] == 0
    with engine.connect() as conn:
        recorded = conn.execute(select(b.c.config_sha256).where(b.c.batch_id == BATCH)).scalar_one()
    engine.dispose()
    assert recorded == config_sha256(cfg)
