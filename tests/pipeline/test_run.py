"""The whole pipeline through the CLI, in process: the demo, a re-run, and bad input that must not touch the target."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from handover.cli import app
from handover.models import DISPOSITIONS
from handover.target import schema
from tests.tables import find_row

runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = _invoke("demo", "--out", str(out), "--rows", "150", "--json")
    assert result.exit_code == 0, result.output
    (out / "result.json").write_text(result.stdout, encoding="utf-8")
    return out


def _result(demo_dir: Path) -> dict:
    return json.loads((demo_dir / "result.json").read_text(encoding="utf-8"))


def _db_counts(db: Path, batch_id: str) -> dict[str, dict[str, int]]:
    engine = create_engine(f"sqlite:///{db}")
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        stmt = (
            select(schema.ledger.c.source_id, schema.ledger.c.disposition, func.count())
            .where(schema.ledger.c.batch_id == batch_id)
            .group_by(schema.ledger.c.source_id, schema.ledger.c.disposition)
        )
        for source, disposition, n in conn.execute(stmt):
            out.setdefault(source, dict.fromkeys(DISPOSITIONS, 0))[disposition] = n
    engine.dispose()
    return out


def _target_rows(db: Path) -> tuple[int, int]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        n_d = conn.execute(select(func.count()).select_from(schema.dossiers)).scalar_one()
        n_r = conn.execute(select(func.count()).select_from(schema.records)).scalar_one()
    engine.dispose()
    return n_d, n_r


def test_demo_produces_target_workbook_and_html(demo_dir: Path) -> None:
    result = _result(demo_dir)
    assert (demo_dir / "batch.toml").is_file()
    assert (demo_dir / "target.db").is_file()
    workbook, html = Path(result["reports"]["workbook"]), Path(result["reports"]["html"])
    assert workbook.is_file() and workbook.parent == demo_dir / "reports"
    assert html.is_file() and html.stat().st_size > 1000
    assert result["total"]["extracted"] > 300
    # every disposition occurs in the demo: it carries a realistic share of problems
    for disposition in DISPOSITIONS:
        assert result["total"][disposition] > 0, disposition


def test_balance_holds_in_database_per_source(demo_dir: Path) -> None:
    result = _result(demo_dir)
    from_ledger = _db_counts(demo_dir / "target.db", result["batch_id"])
    assert set(from_ledger) == set(result["per_source"])
    for source, counts in result["per_source"].items():
        assert sum(from_ledger[source].values()) == counts["extracted"]
        for d in DISPOSITIONS:
            assert from_ledger[source][d] == counts[d], (source, d)
    n_d, n_r = _target_rows(demo_dir / "target.db")
    assert n_d + n_r == result["total"]["loaded"] == result["new_rows"]


def test_csv_source_extracts_every_data_row(demo_dir: Path) -> None:
    """Independent count: the CSV export's data lines, read with the csv module."""
    result = _result(demo_dir)
    csv_sources = [s for s in result["sources"] if s["kind"] == "csv"]
    assert csv_sources
    for src in csv_sources:
        with open(src["location"], encoding="utf-8-sig", newline="") as fh:
            data_rows = sum(1 for row in csv.reader(fh) if any(cell.strip() for cell in row)) - 1
        assert result["per_source"][src["source_id"]]["extracted"] == data_rows


def test_workbook_has_a_sheet_per_receiving_commune(demo_dir: Path) -> None:
    result = _result(demo_dir)
    engine = create_engine(f"sqlite:///{demo_dir / 'target.db'}")
    with engine.connect() as conn:
        communes = {
            r[0]
            for t in (schema.dossiers, schema.records)
            for r in conn.execute(select(t.c.new_commune_code).distinct())
        }
    engine.dispose()
    wb = load_workbook(result["reports"]["workbook"], read_only=True)
    names = wb.sheetnames
    assert len(communes) >= 5
    for code in communes:
        assert any(code in name for name in names), code


def test_rerun_adds_nothing(demo_dir: Path) -> None:
    before = _result(demo_dir)
    rows_before = _target_rows(demo_dir / "target.db")
    rerun = _invoke("run", str(demo_dir / "batch.toml"), "--json")
    assert rerun.exit_code == 0, rerun.output
    after = json.loads(rerun.stdout)
    assert after["new_rows"] == 0
    assert _target_rows(demo_dir / "target.db") == rows_before
    assert after["fingerprint"] == before["fingerprint"]
    assert after["per_source"] == before["per_source"]


def _counts_after(out: str, head: str) -> list[int]:
    """The first six numbers after ``head`` as a whole cell: a table row (``│ head  │``) or a block's heading."""
    found = find_row(out, head)
    assert found, (head, out)
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", out[found.end() :])[:6]]


@pytest.mark.parametrize("width", [200, 80, 50])
def test_the_summary_shows_every_source_and_count_whole_at_any_width(
    demo_dir: Path, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wide: one table. Narrow (a terminal, or a log: 80 columns): a block per source, never a cut id."""
    from handover import cli

    monkeypatch.setattr(cli.console, "width", width)
    out = _invoke("run", str(demo_dir / "batch.toml")).stdout
    assert max(len(line) for line in out.splitlines()) <= width
    assert ("┏" in out) == (width == 200)
    result = _result(demo_dir)
    keys = ("extracted", "loaded", "review", "quarantined", "excluded", "duplicate")
    assert any(len(source) > 20 for source in result["per_source"])  # too long for a table at 80 columns
    for source, counts in [*result["per_source"].items(), ("TOTAL", result["total"])]:
        assert _counts_after(out, source) == [counts[k] for k in keys], source
    status = _invoke("db", "status", "--db", f"sqlite:///{demo_dir / 'target.db'}").stdout
    assert find_row(status, result["batch_id"]), status
    assert f"{result['fingerprint'][:16]}" in status


# ---------------------------------------------------------------------------------------------------------------
# Bad configuration and bad input: one-screen message, non-zero exit, target untouched
# ---------------------------------------------------------------------------------------------------------------


def _config(tmp_path: Path, sources: str, target: str | None = None) -> Path:
    target = target or f"sqlite:///{tmp_path / 'target.db'}"
    path = tmp_path / "batch.toml"
    path.write_text(f'[batch]\nid = "t1"\n\n[target]\nurl = "{target}"\n\n{sources}\n', encoding="utf-8")
    return path


GOOD_CSV = (
    "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
    "000.00.53.H38-250620-0001,Đăng ký khai sinh,Nguyễn Văn An,Xã Sơn Hà,20/06/2025,30/06/2025,Đang xử lý\n"
)


def test_missing_config_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert "handover init" in result.output


def test_invalid_config_key_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "batch.toml"
    path.write_text('[batch]\nid = "x"\nchunk_size = "big"\n[[sources]]\nid="a"\nkind="csv"\npath="a.csv"\n')
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert "batch.chunk_size" in result.output


def test_missing_source_file_leaves_no_target(tmp_path: Path) -> None:
    cfg = _config(tmp_path, '[[sources]]\nid = "a"\nkind = "csv"\npath = "missing.csv"\n')
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code == 3, result.output
    assert "missing.csv" in result.output
    assert not (tmp_path / "target.db").exists()


def test_missing_required_column_leaves_no_target(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(GOOD_CSV.replace("Mã hồ sơ", "Ghi chú khác"), encoding="utf-8")
    cfg = _config(
        tmp_path, '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_district_code = "086"\n'
    )
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code == 3, result.output
    assert "dossier_code" in result.output
    assert not (tmp_path / "target.db").exists()


def test_unknown_profile(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(GOOD_CSV, encoding="utf-8")
    cfg = _config(
        tmp_path, '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nprofile = "no-such-profile"\n'
    )
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code in (2, 3), result.output
    assert "no-such-profile" in result.output
    assert not (tmp_path / "target.db").exists()


def test_unreachable_database(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(GOOD_CSV, encoding="utf-8")
    cfg = _config(
        tmp_path,
        '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "086"\n',
        target="postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
    )
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code == 5, result.output
    assert "127.0.0.1:1" in result.output


def test_small_csv_batch_loads_and_dry_run_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(GOOD_CSV, encoding="utf-8")
    cfg = _config(
        tmp_path,
        '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "086"\n',
    )
    dry = runner.invoke(app, ["run", str(cfg), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["total"]["extracted"] == 1
    assert Path(json.loads(dry.stdout)["reports"]["findings"]).is_file()
    assert not (tmp_path / "target.db").exists()
    real = runner.invoke(app, ["run", str(cfg), "--json"])
    assert real.exit_code == 0, real.output
    out = json.loads(real.stdout)
    assert out["total"]["loaded"] == 1
    engine = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    with engine.connect() as conn:
        row = conn.execute(select(schema.dossiers)).mappings().one()
    engine.dispose()
    assert row["dossier_code"] == "000.00.53.H38-250620-0001"
    assert row["new_commune_code"] == "02905"  # Xã Sơn Hà (086) → Xã Bảo Thắng
    assert row["new_province_code"] == "15"
    assert str(row["due_date"]) == "2025-06-30"
    assert row["due_flag"] == "overdue"


SPLIT_CSV = (
    "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Địa chỉ,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
    "000.00.01.H26-250620-0001,Đăng ký khai sinh,Trần Thị Bình,"
    '"Số 5, Phường Kim Mã, Quận Ba Đình, Hà Nội",20/06/2025,10/07/2025,Đang xử lý\n'
    "000.00.01.H26-250620-0002,Đăng ký khai tử,Lê Văn Cường,"
    '"Phường Phúc Xá, Quận Ba Đình, Hà Nội",20/06/2025,10/07/2025,Đang xử lý\n'
)


def test_review_decision_then_new_batch_loads_the_decided_row(tmp_path: Path) -> None:
    """An official decides a split-commune row; the same batch id refuses the changed configuration, a new
    batch id loads the decided row and leaves the first batch's row unchanged."""
    (tmp_path / "a.csv").write_text(SPLIT_CSV, encoding="utf-8")
    source = '[[sources]]\nid = "ba-dinh"\nkind = "csv"\npath = "a.csv"\nold_province_code = "01"\n'
    cfg = _config(tmp_path, source)
    first = runner.invoke(app, ["run", str(cfg), "--json"])
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    assert (out["total"]["loaded"], out["total"]["review"]) == (1, 1)

    (tmp_path / "decisions.csv").write_text(
        "source_system,dossier_code,new_commune_code\nba-dinh,000.00.01.H26-250620-0001,00008\n",
        encoding="utf-8",
    )
    text = cfg.read_text(encoding="utf-8").replace(
        "[[sources]]", '[mapping]\ndecisions = ["decisions.csv"]\n\n[[sources]]'
    )
    cfg.write_text(text, encoding="utf-8")
    refused = runner.invoke(app, ["run", str(cfg)])
    assert refused.exit_code == 2, refused.output
    assert "configuration of batch t1 changed" in refused.output and "new id" in refused.output

    cfg.write_text(text.replace('id = "t1"', 'id = "t2"'), encoding="utf-8")
    second = runner.invoke(app, ["run", str(cfg), "--json"])
    assert second.exit_code == 0, second.output
    out2 = json.loads(second.stdout)
    assert (out2["total"]["loaded"], out2["total"]["review"], out2["new_rows"]) == (2, 0, 1)
    engine = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                schema.dossiers.c.dossier_code,
                schema.dossiers.c.new_commune_code,
                schema.dossiers.c.batch_id,
                schema.dossiers.c.unit_method,
            ).order_by(schema.dossiers.c.dossier_code)
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("000.00.01.H26-250620-0001", "00008", "t2", "decision"),  # Phường Ngọc Hà, one of Kim Mã's three
        ("000.00.01.H26-250620-0002", "00097", "t1", "exact_name"),  # Phúc Xá → Phường Hồng Hà (GSO table)
    ]


BAD_CSV = (
    "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Số CCCD,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
    "000.00.53.H38-250620-0001,Đăng ký khai sinh,Nguyễn Văn An,12345,Xã Sơn Hà,20/06/2025,30/06/2025,Đang xử lý\n"
    "000.00.53.H38-250620-0002,Đăng ký khai tử,Lê Thị Bích,010203012345,Xã Sơn Hà,20/06/2025,30/06/2025,Đang xử lý\n"
)


def test_gate_stops_before_loading_and_leaves_no_trace(tmp_path: Path) -> None:
    """Half the rows have an invalid ID (error): above the 20% gate. Nothing in the target, the findings are
    written row by row, and once the source is fixed the same batch id runs."""
    src = tmp_path / "a.csv"
    src.write_text(BAD_CSV, encoding="utf-8")
    source = '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "086"\n'
    cfg = _config(tmp_path, source)
    stopped = runner.invoke(app, ["run", str(cfg)])
    assert stopped.exit_code == 4, stopped.output
    assert "1 of 2 rows (50%) have errors" in stopped.output and "nothing was loaded" in stopped.output
    findings = tmp_path / "reports" / "t1-findings.csv"
    with findings.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["row"], r["field"], r["severity"]) for r in rows if r["check"] == "id_format"} == {
        ("2", "applicant_id", "error")
    }
    engine = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    with engine.connect() as conn:
        for table in (schema.batches, schema.dossiers, schema.ledger):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
    engine.dispose()

    src.write_text(BAD_CSV.replace(",12345,", ",010203012346,"), encoding="utf-8")
    fixed = runner.invoke(app, ["run", str(cfg), "--json"])
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)["total"]["loaded"] == 2


STATUS_CSV = (
    "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
    "000.00.53.H38-250620-0001,Đăng ký khai sinh,Nguyễn Văn An,Xã Sơn Hà,20/06/2025,30/06/2025,Đang xử lý\n"
    "000.00.53.H38-250620-0002,Đăng ký khai sinh,Lê Thị Bình,Xã Sơn Hà,20/06/2025,30/06/2025,"
    "Người dân xin rút hồ sơ\n"
    "000.00.53.H38-250620-0003,Đăng ký khai sinh,Trần Văn Cường,Xã Sơn Hà,20/06/2025,30/06/2025,ABC-77\n"
)
STATUS_SOURCE = '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "086"\n'


def _dispositions(db: Path) -> dict[str, tuple[str, str]]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(
            select(schema.ledger.c.natural_key, schema.ledger.c.disposition, schema.ledger.c.reason)
        )
        out = {key.rsplit("0", 1)[-1]: (disp, reason or "") for key, disp, reason in rows}
    engine.dispose()
    return out


def test_unplaced_status_goes_to_review_and_a_batch_status_file_places_it(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(STATUS_CSV, encoding="utf-8")
    cfg = _config(tmp_path, STATUS_SOURCE)
    result = _invoke("run", str(cfg), "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)["per_source"]["a"]
    assert (counts["loaded"], counts["excluded"], counts["review"]) == (1, 1, 1)
    disp = _dispositions(tmp_path / "target.db")
    assert disp["2"][0] == "excluded"  # the withdrawn dossier is not handed over
    assert disp["3"][0] == "review" and "'ABC-77'" in disp["3"][1] and "[mapping] statuses" in disp["3"][1]

    (tmp_path / "vendor.csv").write_text("raw,code,pending,note\nABC-77,4,yes,\n", encoding="utf-8")
    text = cfg.read_text(encoding="utf-8").replace('id = "t1"', 'id = "t2"')
    cfg.write_text(
        text.replace("[[sources]]", '[mapping]\nstatuses = ["vendor.csv"]\n\n[[sources]]'), encoding="utf-8"
    )
    result = _invoke("run", str(cfg), "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)["per_source"]["a"]
    assert (counts["loaded"], counts["excluded"], counts["review"]) == (2, 1, 0)


def test_dry_run_shows_the_rows_each_split_rule_decided(tmp_path: Path) -> None:
    rules = Path(__file__).resolve().parents[1] / "units" / "data" / "rules_kim_ma.csv"
    (tmp_path / "rules.csv").write_bytes(rules.read_bytes())
    (tmp_path / "a.csv").write_text(
        "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Mã xã,Địa chỉ,Ngày tiếp nhận,Trạng thái\n"
        '000.00.01.H26-250620-0001,Đăng ký khai sinh,Nguyễn Văn An,00028,"Số 3 ngõ 12 Kim Mã, Phường Kim Mã",20/06/2025,1\n'
        '000.00.01.H26-250620-0002,Đăng ký khai sinh,Lê Thị Bình,00028,"Tổ dân phố 5, Phường Kim Mã",20/06/2025,1\n'
        '000.00.01.H26-250620-0003,Đăng ký khai sinh,Trần Văn Cường,00028,"Tổ dân phố 5",20/06/2025,1\n',
        encoding="utf-8",
    )
    source = '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "01"\nold_district_code = "001"\n'
    cfg = _config(tmp_path, '[mapping]\nrules = ["rules.csv"]\n\n' + source)
    result = _invoke("run", str(cfg), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {r["keyword"]: r["matches"] for r in data["rules"]} == {
        "Tổ dân phố 5": 2,
        "Ngõ 12 Kim Mã": 1,
        "Tổ dân phố 99": 0,
    }
    assert data["per_source"]["a"]["review"] == 0
    text = _invoke("run", str(cfg), "--dry-run").output
    assert "Split rule rules.csv:2 00028 'Tổ dân phố 5' → 00008: 2 rows" in text
    assert "rules.csv:4 00028 'Tổ dân phố 99' → 00004: 0 rows  (never matched: check the keyword)" in text


def test_empty_id_and_a_commune_of_another_district_are_findings(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Số CCCD,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
        "000.00.53.H38-250620-0001,Đăng ký khai sinh,Nguyễn Văn An,,Xã Sơn Hà,20/06/2025,30/06/2025,1\n"
        "000.00.53.H38-250620-0002,Đăng ký khai sinh,Lê Thị Bình,010203012345,Xã Sơn Hà,20/06/2025,30/06/2025,1\n",
        encoding="utf-8",
    )
    # the source says Huyện Văn Bàn (089); Xã Sơn Hà is a commune of Huyện Bảo Thắng (086)
    source = '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "089"\n'
    cfg = _config(tmp_path, source)
    assert _invoke("run", str(cfg), "--dry-run").exit_code == 0
    with (tmp_path / "reports" / "t1-findings.csv").open(encoding="utf-8-sig") as fh:
        found = [(r["row"], r["check"], r["message_vi"], r["message_en"]) for r in csv.DictReader(fh)]
    assert [row for row, check, *_ in found if check == "applicant_id_missing"] == ["2"]
    other = [(row, vi, en) for row, check, vi, en in found if check == "unit_other_district"]
    assert [row for row, *_ in other] == ["2", "3"]
    assert all("Huyện Bảo Thắng" in vi and "Huyện Bảo Thắng" in en and "02938" in en for _, vi, en in other)
    assert not [check for _, check, *_ in found if check == "unit_not_found"]
