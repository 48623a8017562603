"""``sources inspect`` says loudly when no column maps to the old commune, the applicant or the key, and names
the likeliest column."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from handover.cli import app

runner = CliRunner()


def _write(path: Path, header: str) -> Path:
    row = "000.00.53.H48-250601-0001,Đăng ký khai sinh,Nguyễn Văn An,Xã Sơn Hà,01/06/2025"
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    return path


def test_no_commune_and_no_applicant_column_are_warned_with_the_likeliest_column(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "a.csv", "Mã hồ sơ,Tên thủ tục,Tên người đứng đơn,Xã (cũ) nơi cư trú,Ngày tiếp nhận"
    )
    result = runner.invoke(app, ["sources", "inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    missing = {m["what"]: m for m in json.loads(result.stdout)["missing"]}
    assert set(missing) == {"the old commune", "the applicant"}
    assert missing["the old commune"]["suggestion"]["header"] == "Xã (cũ) nơi cư trú"
    assert missing["the old commune"]["suggestion"]["column"] == "D"
    assert missing["the applicant"]["suggestion"]["header"] == "Tên người đứng đơn"
    assert missing["the applicant"]["suggestion"]["config"] == '"Tên người đứng đơn" = "applicant_name"'
    table = runner.invoke(app, ["sources", "inspect", str(path)])
    assert "No column maps to the old commune" in table.output
    assert "every row will go to review" in table.output
    assert '[sources.columns]: "Xã (cũ) nơi cư trú" = "old_commune_name"' in table.output


def test_a_complete_export_has_no_such_warning(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", "Mã hồ sơ,Tên thủ tục,Họ tên người nộp,Xã/Thị trấn,Ngày tiếp nhận")
    result = runner.invoke(app, ["sources", "inspect", str(path), "--json"])
    assert json.loads(result.stdout)["missing"] == []
    assert "No column maps" not in runner.invoke(app, ["sources", "inspect", str(path)]).output


def test_no_likely_column_says_so(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", "Mã hồ sơ,Tên thủ tục,Cột A,Cột B,Ngày tiếp nhận")
    missing = json.loads(runner.invoke(app, ["sources", "inspect", str(path), "--json"]).stdout)["missing"]
    assert {m["what"] for m in missing} == {"the old commune", "the applicant"}
    assert all("suggestion" not in m for m in missing)
    text = runner.invoke(app, ["sources", "inspect", str(path)]).output
    assert "No column looks like it" in text
