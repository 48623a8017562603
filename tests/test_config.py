"""The batch configuration refuses values outside their range at once: exit 2, naming the file, the key, what
it allows and what it found, before any source is opened or the target touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from handover.cli import app

runner = CliRunner()

SOURCE = '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "086"\n'
CSV = (
    "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
    "000.00.53.H38-250620-0001,Đăng ký khai sinh,Nguyễn Văn An,Xã Sơn Hà,20/06/2025,30/06/2025,Đang xử lý\n"
)


def _write(tmp_path: Path, *, batch: str = "", thresholds: str = "", source: str = "") -> Path:
    (tmp_path / "a.csv").write_text(CSV, encoding="utf-8")
    path = tmp_path / "batch.toml"
    path.write_text(
        f'[batch]\nid = "t1"\n{batch}\n[target]\nurl = "sqlite:///{tmp_path / "target.db"}"\n'
        f"[thresholds]\n{thresholds}\n{SOURCE}{source}\n",
        encoding="utf-8",
    )
    return path


# (section, line, key in the message, what the message says it allows)
REFUSED = [
    (
        "source",
        "header_row = 0",
        "sources.0.header_row",
        "allowed: a whole number from 1 to 1,048,576; found: 0",
    ),
    ("source", "header_row = -3", "sources.0.header_row", "from 1 to 1,048,576; found: -3"),
    ("source", "header_row = 2000000", "sources.0.header_row", "from 1 to 1,048,576; found: 2000000"),
    ("source", "header_row = true", "sources.0.header_row", "true is not a number"),
    ("batch", "chunk_size = 0", "batch.chunk_size", "allowed: a whole number from 1 to 1,000,000; found: 0"),
    ("batch", "chunk_size = 5000000", "batch.chunk_size", "from 1 to 1,000,000; found: 5000000"),
    ("batch", "chunk_size = true", "batch.chunk_size", "true is not a number"),
    ("batch", "workers = -1", "batch.workers", 'allowed: "auto" or a whole number from 0 to 64; found: -1'),
    ("batch", "workers = 65", "batch.workers", 'allowed: "auto" or a whole number from 0 to 64; found: 65'),
    ("batch", 'workers = "many"', "batch.workers", "found: 'many'"),
    ("batch", "workers = true", "batch.workers", "found: true"),
    (
        "thresholds",
        "max_error_share = -0.1",
        "thresholds.max_error_share",
        "a number from 0 to 1; found: -0.1",
    ),
    ("thresholds", "max_error_share = 1.5", "thresholds.max_error_share", "a number from 0 to 1; found: 1.5"),
    ("thresholds", "max_error_share = nan", "thresholds.max_error_share", "a number from 0 to 1; found: nan"),
    (
        "thresholds",
        "due_soon_days = -1",
        "thresholds.due_soon_days",
        "a whole number from 0 to 365; found: -1",
    ),
    ("thresholds", "due_soon_days = 1000", "thresholds.due_soon_days", "from 0 to 365; found: 1000"),
    (
        "thresholds",
        'handover_date = "2025-02-30"',
        "thresholds.handover_date",
        "not a date (allowed: a real date",
    ),
    ("thresholds", 'handover_date = "01/07/2025"', "thresholds.handover_date", "found: '01/07/2025'"),
    ("thresholds", 'handover_date = "20250701"', "thresholds.handover_date", "found: '20250701'"),
    ("thresholds", "handover_date = 2025-07-01T08:00:00", "thresholds.handover_date", "give the date only"),
    ("source", 'delimiter = ";;"', "sources.0.delimiter", "give one character"),
    ("source", "delimiter = '\"'", "sources.0.delimiter", "give one character"),
    ("source", 'old_district_code = "0860"', "sources.0.old_district_code", "not a code of up to 3 digits"),
    ("source", 'old_district_code = "8a6"', "sources.0.old_district_code", "not a code of up to 3 digits"),
    ("source", 'old_province_code = "100"', "sources.0.old_province_code", "not a code of up to 2 digits"),
    ("source", 'old_province_code = "１０"', "sources.0.old_province_code", "not a code of up to 2 digits"),
]


@pytest.mark.parametrize(("section", "line", "key", "allowed"), REFUSED, ids=[r[1] for r in REFUSED])
def test_out_of_range_values_are_refused(
    tmp_path: Path, section: str, line: str, key: str, allowed: str
) -> None:
    if section == "source":  # the later key wins over SOURCE's own line
        text = _write(tmp_path).read_text(encoding="utf-8")
        name = line.split(" = ")[0]
        lines = [ln for ln in text.splitlines() if not ln.startswith(f"{name} = ")]
        path = tmp_path / "batch.toml"
        path.write_text("\n".join([*lines, line]) + "\n", encoding="utf-8")
    else:
        path = _write(tmp_path, **{section: line})
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 2, result.output
    assert f"Batch configuration '{path}': {key}: " in result.output
    assert allowed in result.output
    assert not (tmp_path / "target.db").exists() and not (tmp_path / "reports").exists()


def test_batch_id_outside_its_pattern_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace('id = "t1"', 'id = "-t1"'), encoding="utf-8")
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 2, result.output
    assert "batch.id: not a valid id (allowed: 1 to 100 letters, digits" in result.output


@pytest.mark.parametrize(
    ("section", "line"),
    [
        ("batch", 'workers = "auto"'),
        ("batch", "workers = 0"),
        ("batch", "chunk_size = 1"),
        ("thresholds", "max_error_share = 0"),
        ("thresholds", "due_soon_days = 0"),
        ("thresholds", "handover_date = 2025-07-01"),  # an unquoted TOML date
    ],
)
def test_values_at_the_edge_of_their_range_run(tmp_path: Path, section: str, line: str) -> None:
    path = _write(tmp_path, **{section: line})
    result = runner.invoke(app, ["run", str(path), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output


def test_header_row_one_reads_the_first_line(tmp_path: Path) -> None:
    path = _write(tmp_path, source="header_row = 1\n")
    result = runner.invoke(app, ["run", str(path), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert '"extracted": 1' in result.stdout


def _with_parties(tmp_path: Path, parties: str) -> Path:
    path = _write(tmp_path)
    text = path.read_text(encoding="utf-8").replace(
        "[[sources]]", f"[report.parties]\n{parties}\n[[sources]]", 1
    )
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("departments", "message"),
    [
        (
            'departments = { "Sở Công Thương" = { name = "A" }, "Sở Cong Thuong" = { name = "B" } }',
            "report.parties.departments: 'Sở Công Thương' and 'Sở Cong Thuong' name the same department",
        ),
        (
            'departments = { " " = { name = "A" } }',
            "report.parties.departments: a department needs its name, as the routing table writes it",
        ),
        (
            'departments = { "Sở Tài chính" = { title = "A" } }',
            "report.parties.departments.Sở Tài chính.title",
        ),
    ],
)
def test_department_representatives_are_checked(tmp_path: Path, departments: str, message: str) -> None:
    path = _with_parties(tmp_path, departments)
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert not (tmp_path / "target.db").exists()


def test_department_names_are_read_as_the_routing_table_writes_them(tmp_path: Path) -> None:
    from handover.config import load_config

    path = _with_parties(
        tmp_path,
        'departments = { "Sở  Công Thương " = { name = "Trần Văn Bình", position = "Giám đốc Sở" } }',
    )
    parties = load_config(path).report.parties
    assert list(parties.departments) == ["Sở Công Thương"]  # spaces trimmed and collapsed, NFC
    assert parties.departments["Sở Công Thương"].name == "Trần Văn Bình"
