"""The balance starts at the physical source: `run`'s summary, `--json`, the findings CSV, the target's
batch_sources, the HTML report and the workbook all show the rows read, the non-data rows with their rule, and
a total line whose count disagrees (issue 15)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, select, update
from typer.testing import CliRunner

from handover.cli import app
from handover.models import Counts, RowAccount
from handover.reports.workbook.audit import NON_DATA_SHEET
from handover.target import schema

runner = CliRunner()
ROWS = 1000
HEADER = [
    "Mã hồ sơ",
    "Tên thủ tục",
    "Chủ hồ sơ",
    "Xã/Phường",
    "Ngày tiếp nhận",
    "Ngày hẹn trả",
    "Trạng thái",
    "Ghi chú",
]
TAIL = [
    [],
    ["Tổng cộng: 612 hồ sơ"],
    [],
    ["", "Người lập biểu", "", "", "Thủ trưởng đơn vị"],
    ["", "Phạm Thị Hồng"],
]
PHYSICAL = 1 + ROWS + len(TAIL)
TOTAL_ROW = 1 + ROWS + 2


def _batch(tmp_path: Path) -> Path:
    rows = []
    for i in range(1, ROWS + 1):
        code = f"000.00.53.H38-250620-{i:04d}"
        rows.append(
            [
                code,
                "Đăng ký khai sinh",
                f"Nguyễn Văn {i}",
                "Xã Sơn Hà",
                "20/06/2025",
                "30/07/2025",
                "Đang xử lý",
                "",
            ]
        )
    rows[299][0] = (
        ""  # no dossier code, and a footer phrase in its note: the old reader dropped 701 rows here
    )
    rows[299][-1] = "Lãnh đạo đã ký, chờ trả kết quả"
    with (tmp_path / "a.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerows([HEADER, *rows, *TAIL])
    path = tmp_path / "batch.toml"
    path.write_text(
        f'[batch]\nid = "b1"\n\n[target]\nurl = "sqlite:///{tmp_path / "target.db"}"\n\n'
        '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "086"\n',
        encoding="utf-8",
    )
    return path


def _json(*args: str) -> dict:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    tmp = tmp_path_factory.mktemp("physical")
    cfg = _batch(tmp)
    dry = _json("run", str(cfg), "--dry-run", "--json")
    real = _json("run", str(cfg), "--json")
    return tmp, dry, real


def test_json_shows_every_physical_row_and_the_listed_lines(ran) -> None:
    _, dry, real = ran
    for out in (dry, real):
        (source,) = out["sources"]
        account = RowAccount.model_validate(source["rows"])
        assert account.physical_rows == PHYSICAL and account.data_rows == ROWS
        assert account.non_data == {"header": 1, "blank": 2, "total": 1, "signature": 2}
        assert account.balances(Counts.model_validate(out["per_source"]["a"]))
        assert out["per_source"]["a"]["extracted"] == ROWS  # the row without a code is held back, not lost
        assert out["per_source"]["a"]["quarantined"] == 1
        lines = [
            (line.row, line.rule, line.text) for line in account.lines if line.rule in ("total", "signature")
        ]
        assert lines == [
            (TOTAL_ROW, "total", "Tổng cộng: 612 hồ sơ"),
            (TOTAL_ROW + 2, "signature", "Người lập biểu | Thủ trưởng đơn vị"),
            (TOTAL_ROW + 3, "signature", "Phạm Thị Hồng"),
        ]
        assert account.total_stated == 612
        assert out["findings"]["total_line_count"] == 1


def test_the_disagreeing_total_is_in_the_findings_csv(ran) -> None:
    _, dry, _ = ran
    with open(dry["reports"]["findings"], encoding="utf-8-sig", newline="") as fh:
        found = [r for r in csv.DictReader(fh) if r["check"] == "total_line_count"]
    assert len(found) == 1
    assert (found[0]["row"], found[0]["severity"]) == (str(TOTAL_ROW), "warning")
    assert found[0]["message_vi"].startswith(
        f"Dòng tổng cộng (dòng {TOTAL_ROW}) ghi 612 hồ sơ nhưng tệp có 1000"
    )
    assert found[0]["message_en"].startswith(f"The total line (row {TOTAL_ROW}) states 612 dossiers")


def test_the_target_the_html_and_the_workbook_show_the_physical_count(ran) -> None:
    tmp, _, real = ran
    engine = create_engine(f"sqlite:///{tmp / 'target.db'}")
    with engine.connect() as conn:
        stored = conn.execute(select(schema.batch_sources)).mappings().one()
    engine.dispose()
    assert stored["physical_rows"] == PHYSICAL
    assert RowAccount.model_validate_json(stored["non_data_json"]).non_data["total"] == 1

    html = Path(real["reports"]["html"]).read_text(encoding="utf-8")
    physical = html[html.index('id="physical"') : html.index('id="non-data-lines"')]
    assert f'data-count="physical">{PHYSICAL}<' in physical and f'data-count="data">{ROWS}<' in physical
    assert '<td class="ok">✔</td>' in physical
    assert re.search(
        rf'data-rule="total"><td>a</td><td class="num">{TOTAL_ROW}</td><td>total</td><td>Tổng cộng: 612', html
    )
    assert 'id="verdict"' in html and 'class="verdict ok"' in html
    assert "total_line_count" in html

    wb = load_workbook(real["reports"]["workbook"], read_only=True)
    rows = [r for r in wb[NON_DATA_SHEET].iter_rows(values_only=True)]
    assert ("a", PHYSICAL, ROWS, len(TAIL) + 1) == rows[5][:4] and rows[5][-1] == "✔"
    assert ("a", TOTAL_ROW, "total", "Dòng tổng cộng", "Tổng cộng: 612 hồ sơ") in [r[:5] for r in rows]


def test_the_summary_shows_read_and_non_data_and_lists_the_footer(
    ran, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handover import cli

    tmp, _, _ = ran
    monkeypatch.setattr(cli.console, "width", 200)
    out = runner.invoke(app, ["run", str(tmp / "batch.toml")], catch_exceptions=False).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("│ a "))
    numbers = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", line)]
    assert (
        numbers[0] == ROWS and numbers[-2:] == [len(TAIL) + 1, PHYSICAL] and line.rstrip("│ ").endswith("✔")
    )
    assert f"a: {PHYSICAL:,} read = {ROWS:,} data + {len(TAIL) + 1} non-data" in out
    assert f"row {TOTAL_ROW} total: Tổng cộng: 612 hồ sơ" in out


def test_a_batch_begun_before_rows_were_accounted_gets_its_account_on_the_next_run(ran) -> None:
    """A target upgraded from an older schema holds batch_sources without the account: the report says so (not a
    failure), and running the batch again records it."""
    tmp, _, _ = ran
    engine = create_engine(f"sqlite:///{tmp / 'target.db'}")
    with engine.begin() as conn:
        conn.execute(update(schema.batch_sources).values(physical_rows=None, non_data_json=None))
    engine.dispose()
    out = tmp / "again"
    result = runner.invoke(app, ["report", "b1", "--db", f"sqlite:///{tmp / 'target.db'}", "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = next(out.glob("*.html")).read_text(encoding="utf-8")
    assert "not recorded for this batch" in html and 'class="verdict ok"' in html
    _json("run", str(tmp / "batch.toml"), "--json")
    engine = create_engine(f"sqlite:///{tmp / 'target.db'}")
    with engine.connect() as conn:
        assert conn.execute(select(schema.batch_sources.c.physical_rows)).scalar_one() == PHYSICAL
    engine.dispose()


def test_the_balance_fails_when_a_row_is_unaccounted() -> None:
    counts = Counts(extracted=10, loaded=10)
    assert RowAccount(physical_rows=12, data_rows=10, non_data={"header": 2}).balances(counts)
    assert not RowAccount(physical_rows=13, data_rows=10, non_data={"header": 2}).balances(counts)  # one lost
    assert not RowAccount(physical_rows=12, data_rows=11, non_data={"header": 1}).balances(
        counts
    )  # ≠ extracted
