"""`handover sources inspect` through the CLI, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handover.cli import app
from handover.sources.inspect import inspect_source
from tests.tables import column_texts

DATA = Path(__file__).resolve().parent.parent / "data"
runner = CliRunner()


def test_inspect_tcvn3_csv_json() -> None:
    result = runner.invoke(app, ["sources", "inspect", str(DATA / "dossiers_tcvn3.csv"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["encoding"] == "TCVN3 (ABC)"
    assert "accented words decode to Vietnamese syllables as TCVN3 (ABC)" in data["encoding_evidence"]
    assert data["header_row"] == 3
    assert {"source": "Mã hồ sơ", "field": "dossier_code"}.items() <= data["columns"][1].items()
    assert data["data_rows"] == 5
    assert data["footer_dropped"] == 1
    assert len(data["samples"]) == 5
    assert data["samples"][0]["applicant_id"] == "010******345"  # masked
    assert data == json.loads(json.dumps(inspect_source(DATA / "dossiers_tcvn3.csv"), default=str))


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich fixes its width when cli is first imported: set it here so tables are not cut."""
    from handover import cli

    monkeypatch.setattr(cli.console, "width", 200)


def test_inspect_tcvn3_csv_table() -> None:
    result = runner.invoke(app, ["sources", "inspect", str(DATA / "dossiers_tcvn3.csv")])
    assert result.exit_code == 0, result.output
    assert "TCVN3 (ABC)" in result.output
    assert "Mã hồ sơ" in result.output and "dossier_code" in result.output
    assert "010******345" in result.output and "010203012345" not in result.output


def test_inspect_at_80_columns_shows_fewer_samples_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """A narrow terminal gets the sample rows that fit, each value whole (folded, never cut with "…"), and is
    told how to see the others."""
    from handover import cli

    monkeypatch.setattr(cli.console, "width", 80)
    path = str(DATA / "dossiers_tcvn3.csv")
    data = json.loads(runner.invoke(app, ["sources", "inspect", path, "--json"]).stdout)
    out = runner.invoke(app, ["sources", "inspect", path]).output
    assert max(len(line) for line in out.splitlines()) <= 80
    out = out[out.index("Sample rows") :]
    assert "…" not in out
    assert "3 of 5, a wider terminal or --json shows all" in " ".join(out.split())
    columns = column_texts(out)
    assert len(columns) == 1 + 3  # the field names and three samples
    for sample, column in zip(data["samples"], columns[1:], strict=False):
        assert f"row {sample['source_row']}" in out
        for value in (sample["dossier_code"], sample["received_date"], sample["applicant_id"]):
            assert "".join(str(value).split()) in column
    assert f"row {data['samples'][3]['source_row']}" not in out


def test_inspect_excel_export_finds_header_and_drops_footer() -> None:
    result = runner.invoke(app, ["sources", "inspect", str(DATA / "export_bao_thang.xlsx"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["sheet"] == "Hồ sơ"
    assert data["header_row"] == 4 and data["header_rows"] == [4, 5]
    assert data["data_rows"] == 5
    assert [line["text"] for line in data["footer_lines"]] == [
        "Tổng cộng: 5 hồ sơ",
        "NGƯỜI LẬP BIỂU | THỦ TRƯỞNG ĐƠN VỊ",
        "(Ký, ghi rõ họ tên) | (Ký tên, đóng dấu)",
    ]
    assert {"source": "Ngày Hẹn trả", "field": "due_date"}.items() <= data["columns"][8].items()
    table = runner.invoke(app, ["sources", "inspect", str(DATA / "export_bao_thang.xlsx")])
    assert table.exit_code == 0
    assert "dropped row 12: Tổng cộng: 5 hồ sơ" in table.output
    assert "Hidden rows (read as data)" in table.output


def test_inspect_record_file_falls_back_to_record_profile(tmp_path: Path) -> None:
    path = tmp_path / "ks.csv"
    path.write_text("Số đăng ký,Họ và tên,Ngày đăng ký\nKS-1,Nguyễn Văn An,01/02/2025\n", encoding="utf-8")
    data = json.loads(runner.invoke(app, ["sources", "inspect", str(path), "--json"]).stdout)
    assert data["entity"] == "record" and data["profile"] == "record-vi"
    assert data["samples"][0]["registered_date"] == "2025-02-01"


def test_inspect_bad_file_exits_with_input_code() -> None:
    result = runner.invoke(app, ["sources", "inspect", str(DATA / "encrypted.xlsx")])
    assert result.exit_code == 3
    assert "password-protected" in result.output


def test_inspect_options_are_passed(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "sources",
            "inspect",
            str(DATA / "dossiers_vni.csv"),
            "--json",
            "--encoding",
            "vni",
            "--profile",
            "dossier-vi",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["encoding"] == "VNI Windows" and data["encoding_evidence"].startswith("set in the batch")
    bad = runner.invoke(
        app, ["sources", "inspect", str(DATA / "export_bao_thang.xlsx"), "--sheet", "Tham số"]
    )
    assert bad.exit_code == 3  # the hidden parameter sheet has no header


def test_help_texts() -> None:
    result = runner.invoke(app, ["sources", "inspect", "--help"])
    assert result.exit_code == 0
    for option in ("--json", "--sheet", "--encoding", "--profile"):
        assert option in result.output
