"""The units commands, in-process."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handover.cli import app
from handover.errors import ExitCode, MapError
from handover.resources import mappings_dir
from handover.units import UnitResolver
from tests.tables import find_row

from .conftest import DATA

runner = CliRunner()
SON_HA = "Xã Sơn Hà, Huyện Bảo Thắng, Tỉnh Lào Cai"


def test_lookup_json_is_the_library_result() -> None:
    result = runner.invoke(app, ["units", "lookup", SON_HA, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == UnitResolver.load().resolve(SON_HA).to_json_dict()
    assert data["status"] == "unique" and data["new"][0]["commune_code"] == "02905"
    assert list(data) == ["status", "old", "new", "method", "suggestions"]


def test_lookup_table() -> None:
    result = runner.invoke(app, ["units", "lookup", "Phường Kim Mã, Quận Ba Đình, Hà Nội"])
    assert result.exit_code == 0
    assert "split" in result.stdout
    for name in ("Phường Ba Đình", "Phường Ngọc Hà", "Phường Giảng Võ"):
        assert name in result.stdout


def test_lookup_input_file_keeps_order(tmp_path: Path) -> None:
    lines = [SON_HA, "Phường Kim Mã, Quận Ba Đình, Hà Nội", "", SON_HA, "xa son hoa, bao thang, lao cai"]
    path = tmp_path / "in.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["units", "lookup", "--input", str(path)])
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["status"] for o in out] == ["unique", "split", "not_found", "unique", "not_found"]


def test_lookup_with_rules() -> None:
    result = runner.invoke(
        app,
        [
            "units",
            "lookup",
            "Tổ dân phố 5, Phường Kim Mã, Ba Đình, Hà Nội",
            "--json",
            "--rules",
            str(DATA / "rules_kim_ma.csv"),
        ],
    )
    data = json.loads(result.stdout)
    assert data["method"] == "rule" and data["new"][0]["commune_code"] == "00008"


def test_lookup_bad_rules_is_a_map_error() -> None:
    result = runner.invoke(app, ["units", "lookup", SON_HA, "--rules", str(DATA / "rules_bad_target.csv")])
    assert result.exit_code == MapError.exit_code == ExitCode.USAGE
    assert (
        "MapError" in result.output and "02905" in result.output and "rules_bad_target.csv" in result.output
    )


def test_check_ok_and_json() -> None:
    result = runner.invoke(app, ["units", "check"])
    assert result.exit_code == 0
    assert "Reference usable." in result.stdout
    data = json.loads(runner.invoke(app, ["units", "check", "--json"]).stdout)
    assert data["ok"] is True
    assert {c["check"] for c in data["checks"]} >= {"new_commune_count", "raw:split_communes"}


@pytest.mark.parametrize("width", [80, 500])
def test_check_shows_every_check_whole_at_any_width(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from handover import cli

    monkeypatch.setattr(cli.console, "width", width)
    out = runner.invoke(app, ["units", "check"]).stdout
    assert max(len(line.rstrip()) for line in out.splitlines()) <= width
    assert ("┏" in out) == (width == 500)  # a table needs 422 columns here
    checks = json.loads(runner.invoke(app, ["units", "check", "--json"]).stdout)["checks"]
    starts = []
    for c in checks:  # a whole cell, in the report's order: a table row's first cell, or a block's heading
        found = find_row(out, c["check"], starts[-1] if starts else 0)
        assert found, c["check"]
        starts.append(found.end())
    for c, start, end in zip(checks, starts, [*starts[1:], len(out)], strict=True):
        assert re.search(rf"(?<![\d,]){c['count']:,}(?![\d,])", out[start:end]), c["check"]


def test_check_exits_7_on_a_broken_reference(tmp_path: Path) -> None:
    units = mappings_dir() / "units"
    for path in units.iterdir():
        shutil.copy(path, tmp_path / path.name)
    text = (tmp_path / "crosswalk.csv").read_text(encoding="utf-8")
    (tmp_path / "crosswalk.csv").write_text(
        text.replace(",00004,whole,", ",99999,whole,", 1), encoding="utf-8"
    )
    result = runner.invoke(app, ["units", "check", "--folder", str(tmp_path)])
    assert result.exit_code == ExitCode.REFERENCE
    assert "NOT usable" in result.stdout


def test_build_into_a_folder(tmp_path: Path) -> None:
    """Without --gso, the build reads the tables shipped in data/gso/: same bytes as the shipped reference."""
    result = runner.invoke(app, ["units", "build", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "new_communes.csv: 3,321 rows" in result.stdout
    assert (tmp_path / "crosswalk.csv").read_bytes() == (
        mappings_dir() / "units" / "crosswalk.csv"
    ).read_bytes()


def test_every_units_command_has_help() -> None:
    for command in ("build", "check", "lookup"):
        result = runner.invoke(app, ["units", command, "--help"])
        assert result.exit_code == 0 and len(result.stdout) > 100


@pytest.mark.slow
def test_lookup_input_whole_january_list_in_seconds(tmp_path: Path) -> None:
    import csv
    import time

    with (mappings_dir() / "units" / "old_units.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["in_january_list"] == "1"]
    path = tmp_path / "january.txt"
    path.write_text(
        "".join(f"{r['commune_name']}, {r['district_name']}, {r['province_name']}\n" for r in rows),
        encoding="utf-8",
    )
    started = time.perf_counter()
    result = runner.invoke(app, ["units", "lookup", "--input", str(path)])
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == len(rows)
    with (DATA / "name_misses.csv").open(encoding="utf-8", newline="") as fh:
        collisions = {r["commune_code"] for r in csv.DictReader(fh)}
    wrong = {
        r["commune_code"]
        for o, r in zip(out, rows, strict=True)
        if o["old"] and o["old"]["commune_code"] != r["commune_code"]
    }
    assert wrong <= collisions  # only true name collisions (two "Xã Đông Khê" in one city)
    assert elapsed < 30
