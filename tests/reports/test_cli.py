"""``handover report``: regenerate both reports from the target, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handover import cli
from handover.cli import app
from handover.errors import BatchNotFoundError, ExitCode
from tests.reports.factory import BATCH, build_target
from tests.tables import column_texts

runner = CliRunner()


def test_report_command_json(engine, tmp_path: Path) -> None:
    build_target(engine)
    out = tmp_path / "out"
    result = runner.invoke(app, ["report", BATCH, "--db", str(engine.url), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {
        "batch_id": BATCH,
        "workbook": str(out / f"{BATCH}-doi-soat.xlsx"),
        "html": str(out / f"{BATCH}-transfer-report.html"),
        "records": [  # one handover record file per receiving commune
            str(out / f"{BATCH}-bien-ban" / name)
            for name in ("02905-xa-bao-thang.xlsx", "02935-xa-phong-hai.xlsx", "03232-xa-van-ban.xlsx")
        ],
        "notices": [],
    }
    assert all(Path(p).is_file() for p in data["records"])
    assert Path(data["workbook"]).stat().st_size > 5000
    assert "Báo cáo chuyển giao" in Path(data["html"]).read_text(encoding="utf-8")


def test_report_command_table(engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_target(engine)
    out = tmp_path / "a folder with a long name, as on an office machine" / "báo cáo"
    monkeypatch.setattr(cli.console, "width", 80)
    result = runner.invoke(app, ["report", BATCH, "--db", str(engine.url), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Workbook (officials)" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    files = column_texts(result.stdout)[1]  # the paths, folded over lines but never cut
    for name in (f"{BATCH}-doi-soat.xlsx", f"{BATCH}-transfer-report.html"):
        assert (out / name).is_file() and "".join(str(out / name).split()) in files


def test_report_command_prints_the_parties_of_the_batch_file(engine, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    build_target(engine)
    config = tmp_path / "batch.toml"
    config.write_text(
        f'[batch]\nid = "{BATCH}"\n[report.parties]\nplace = "Lào Cai"\n'
        'giving = { name = "Nguyễn Văn Hùng", position = "Chánh Văn phòng" }\n'
        '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["report", BATCH, "--db", str(engine.url), "--out", str(out), "--config", str(config), "--json"]
    )
    assert result.exit_code == 0, result.output
    for path in json.loads(result.stdout)["records"]:
        texts = [v for row in load_workbook(path).active.iter_rows(values_only=True) for v in row if v]
        assert "Đại diện: Ông/Bà Nguyễn Văn Hùng     Chức vụ: Chánh Văn phòng" in texts
        assert any(str(t).startswith("Lào Cai, ngày ") for t in texts)


def test_unknown_batch_is_one_message_and_no_file(engine, tmp_path: Path) -> None:
    build_target(engine)
    out = tmp_path / "out"
    result = runner.invoke(app, ["report", "nope", "--db", str(engine.url), "--out", str(out)])
    assert result.exit_code == ExitCode.NOT_FOUND == BatchNotFoundError.exit_code
    assert "Batch 'nope' is not in the target database" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_help_is_documented() -> None:
    result = runner.invoke(app, ["report", "--help"])
    assert result.exit_code == 0
    assert "Regenerate a batch's Excel workbook and HTML transfer report" in result.stdout
    assert "--db" in result.stdout and "--out" in result.stdout and "--config" in result.stdout


def test_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    result = runner.invoke(app, ["report", "b", "--db", f"sqlite:///{missing}", "--out", str(tmp_path / "o")])
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "no such target database" in result.output
    assert not missing.exists()


def test_bad_url_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "b", "--db", "nosuchdb://x", "--out", str(tmp_path)])
    assert result.exit_code == ExitCode.USAGE
    assert "The database URL is not valid" in result.output
