"""Exported text is safe: formula-like keys, names, notes and source ids reach the findings CSV and every
workbook sheet as text; terminal text shows control characters as escapes."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from typer.testing import CliRunner

from handover.cli import app
from handover.keys import canonical_key
from handover.safe import FORMULA_TRIGGERS, map_texts, printable, spreadsheet_safe

runner = CliRunner()

HOSTILE = ['=HYPERLINK("http://x","y")', "@SUM(A1)", "-1-2", "+1", "\t=1", "＝2+2", "＠SUM(B2)"]
HEADER = "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái,Ghi chú\n"


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _hostile_csv(path: Path) -> None:
    """One row per hostile value, in the dossier code, the applicant's name and the notes; one plain row."""
    lines = [HEADER]
    for value in HOSTILE:
        v = _quoted(value)
        lines.append(f"{v},Đăng ký khai sinh,{v},Xã Sơn Hà,20/06/2025,30/06/2025,Đang xử lý,{v}\n")
    lines.append(
        "000.00.53.H38-250620-0001,Đăng ký khai sinh,Nguyễn Văn An,Xã Sơn Hà,20/06/2025,30/06/2025,"
        "Đang xử lý,-5\n"
    )
    path.write_text("".join(lines), encoding="utf-8")


def _config(tmp_path: Path, source_id: str = "a") -> Path:
    _hostile_csv(tmp_path / "a.csv")
    path = tmp_path / "batch.toml"
    path.write_text(
        f'[batch]\nid = "t1"\n\n[target]\nurl = "sqlite:///{tmp_path / "target.db"}"\n\n'
        "[thresholds]\nmax_error_share = 1.0\n\n"
        f'[[sources]]\nid = {json.dumps(source_id)}\nkind = "csv"\npath = "a.csv"\n'
        'old_province_code = "10"\nold_district_code = "086"\n',
        encoding="utf-8",
    )
    return path


def test_spreadsheet_safe() -> None:
    assert [spreadsheet_safe(v) for v in HOSTILE] == ["'" + v for v in HOSTILE]
    assert spreadsheet_safe("－1") == "'－1" and spreadsheet_safe("\r=1") == "'\r=1"
    for plain in ["Xã Sơn Hà", "000.00.53.H38-250620-0001", "1-2", " =1", "'=1", ""]:
        assert spreadsheet_safe(plain) == plain
    for other in [None, -5, 2.5, 0]:  # numbers stay numbers
        assert spreadsheet_safe(other) == other


def test_printable() -> None:
    assert printable("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m"
    assert printable("\x1b]0;title\x07x") == "\\x1b]0;title\\x07x"
    assert printable("a\x9bb\x7f") == "a\\x9bb\\x7f"
    assert printable("\u202eabc\u2066\u200b\ufeff") == "\\u202eabc\\u2066\\u200b\\ufeff"
    assert printable("a\nb\tc\r") == "a\\x0ab\\x09c\\x0d"
    assert printable("a\nb", newlines=True) == "a\nb"
    assert printable("\ud800") == "\\ud800"  # a lone surrogate would not even encode
    assert printable("\U000e0041") == "\\U000e0041"  # a tag character
    for kept in ["Xã Sơn Hà", "[red]x[/red]", "Nguyễn\u00a0Văn", "\ue000", ""]:
        assert printable(kept) == kept
    assert printable(12) == "12"


@given(st.text())
def test_spreadsheet_safe_round_trips(text: str) -> None:
    """Never a formula-like start, and the value is the original behind at most one added quote."""
    safe = spreadsheet_safe(text)
    assert not safe.startswith(FORMULA_TRIGGERS)
    assert safe == text or safe == "'" + text


@given(st.text())
def test_printable_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    import unicodedata

    shown = printable(text)
    assert all(unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Zl", "Zp"} for ch in shown)
    shown.encode("utf-8")  # no lone surrogate left: always writable


@given(
    st.recursive(st.text() | st.integers(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner))
)
def test_printable_json_is_the_same_value(data: object) -> None:
    from handover.safe import printable_json

    text = printable_json(json.dumps(data, ensure_ascii=False))
    assert json.loads(text) == data
    assert text == printable(text)  # nothing left to escape


def _csv_cells(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def _assert_workbook_is_text(path: Path, expected: set[str]) -> None:
    """No formula in any sheet (openpyxl's view and the sheet XML), and every expected value shown as text."""
    with zipfile.ZipFile(path) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        assert sheets
        for name in sheets:
            assert not re.search(rb"<f[ >/]", z.read(name)), name
    seen: set[str] = set()
    wb = load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_TRIGGERS):
                    assert cell.data_type == "s" and cell.quotePrefix, (ws.title, cell.coordinate)
                    seen.add(cell.value)
    assert expected <= seen, expected - seen


def test_findings_csv_and_workbook_hold_text_only(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    dry = runner.invoke(app, ["run", str(cfg), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    rows = _csv_cells(Path(json.loads(dry.stdout)["reports"]["findings"]))
    assert rows[0] == ["source_id", "row", "key", "field", "check", "severity", "message_vi", "message_en"]
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(FORMULA_TRIGGERS), (row, cell)
    keys = {r[2] for r in rows[1:] if r[4] == "dossier_code_format"}
    # every key is there (as the reader and the key rules give it: "\t=1" trimmed, full-width folded), behind
    # one quote
    assert keys == {"'" + canonical_key(v.strip()) for v in HOSTILE}

    real = runner.invoke(app, ["run", str(cfg), "--json"])
    assert real.exit_code == 0, real.output
    out = json.loads(real.stdout)
    assert out["total"]["loaded"] == len(HOSTILE) + 1
    _assert_workbook_is_text(Path(out["reports"]["workbook"]), {v.strip() for v in HOSTILE})


def test_a_formula_like_source_id_is_text_everywhere(tmp_path: Path) -> None:
    """Defence in depth: a source id the configuration would refuse, set after loading it, is still written
    as text in the findings CSV and in the workbook."""
    from handover.config import load_config
    from handover.pipeline.run import run_batch

    cfg = load_config(_config(tmp_path))
    for n, evil in enumerate(['=HYPERLINK("http://x","y")', "-1-2"]):
        cfg.sources[0].id = evil
        cfg.batch.id = f"t{n}"
        dry = run_batch(cfg, dry_run=True)
        rows = _csv_cells(Path(dry.reports["findings"]))
        assert {r[0] for r in rows[1:]} == {"'" + evil}
        result = run_batch(cfg)
        _assert_workbook_is_text(Path(result.reports["workbook"]), {evil, "@SUM(A1)", "+1", "=1"})


@pytest.mark.parametrize(
    "source_id", ['=HYPERLINK("http://x","y")', "@SUM(A1)", "+1", "-1-2", "a b", "../x", "a\x1bb", ""]
)
def test_a_source_id_outside_its_pattern_is_refused(tmp_path: Path, source_id: str) -> None:
    result = runner.invoke(app, ["run", str(_config(tmp_path, source_id=source_id))])
    assert result.exit_code == 2, result.output
    assert "sources.0.id: not a valid id (allowed: 1 to 100 letters" in result.output
    assert "batch.toml" in result.output and "\x1b" not in result.output
    assert not (tmp_path / "target.db").exists()


def test_map_texts_reaches_every_string_of_nested_data() -> None:
    data = {"k\x1b": ["a", ("b", 1)], "n": None, "d": {"x": "y"}, 2: 3.5}
    assert map_texts(data, str.upper) == {"K\x1b": ["A", ["B", 1]], "N": None, "D": {"X": "Y"}, 2: 3.5}
