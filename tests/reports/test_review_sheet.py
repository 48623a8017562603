"""The review sheet as a work surface, on the demo: each decision cell offers exactly the communes the import
accepts for its row (a drop-down whose list lives on a hidden sheet), instructions on top, and two decisions picked
from the drop-downs pass ``handover review import``."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from handover.cli import app
from handover.reports.workbook.review import CHOICES_SHEET, DECISION_HEADER, REVIEW_SHEET
from handover.target import schema
from handover.units.decisions import load_reference, new_provinces_of

runner = CliRunner()
BATCH = "demo-lao-cai-2025-07"
OFFICE = shutil.which("libreoffice") or shutil.which("soffice")
_RANGE = re.compile(
    r"^'?(?P<sheet>[^'!]+)'?!\$?(?P<c1>[A-Z]+)\$?(?P<r1>\d+):\$?(?P<c2>[A-Z]+)\$?(?P<r2>\d+)$"
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo", "--out", str(out), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def _workbook(demo: Path) -> Path:
    return demo / "reports" / f"{BATCH}-doi-soat.xlsx"


def _expected(demo: Path) -> dict[tuple[str, str], list[str]]:
    """(source, key) → the entries a decision may pick, computed from the ledger and the reference directly:
    the split candidates, or every new commune of the new province the old province became."""
    ref = load_reference()
    engine = create_engine(f"sqlite:///{demo / 'target.db'}")
    c = schema.ledger.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.source_id, c.natural_key, c.old_province_code, c.candidates).where(
                c.batch_id == BATCH, c.disposition == "review"
            )
        ).all()
    engine.dispose()
    out = {}
    for source, key, old_province, candidates in rows:
        codes = [item["commune_code"] for item in json.loads(candidates or "[]")]
        if not codes:
            provinces = new_provinces_of(ref, old_province)
            codes = sorted(code for code, (p, _, _) in ref.new_communes.items() if p in provinces)
        out[(source, key)] = [f"{code} - {ref.new_communes[code][1]}" for code in codes]
    return out


def _choices(wb, formula: str) -> list[str]:
    """The entries of a list validation's ``formula1``: inline (``"a,b"``) or a range of another sheet."""
    if formula.startswith('"'):
        return formula.strip('"').split(",")
    match = _RANGE.match(formula)
    assert match, formula
    assert match["c1"] == match["c2"]
    ws = wb[match["sheet"]]
    cells = ws[f"{match['c1']}{match['r1']}:{match['c2']}{match['r2']}"]
    return [row[0].value for row in cells]


def _sheet_rows(ws) -> tuple[int, dict[str, int], dict[tuple[str, str], int]]:
    header = next(r for r in ws.iter_rows() if any(c.value == "new_commune_code" for c in r))
    col = {c.value: c.column for c in header if c.value}
    rows = {
        (ws.cell(r, col["source_system"]).value, ws.cell(r, col["dossier_code"]).value): r
        for r in range(header[0].row + 1, ws.max_row + 1)
    }
    return header[0].row, col, rows


def test_each_decision_cell_offers_exactly_the_allowed_communes(demo: Path) -> None:
    expected = _expected(demo)
    wb = load_workbook(_workbook(demo))
    ws = wb[REVIEW_SHEET]
    header, col, rows = _sheet_rows(ws)
    assert set(rows) == set(expected) and len(rows) == len(expected) > 10
    assert wb[CHOICES_SHEET].sheet_state == "hidden"
    letter = ws.cell(header, col["new_commune_code"]).column_letter
    offered: dict[int, list[str]] = {}
    for dv in ws.data_validations.dataValidation:
        assert dv.type == "list" and dv.showErrorMessage and dv.allow_blank
        choices = _choices(wb, dv.formula1)
        for cell_range in dv.sqref.ranges:
            assert cell_range.min_col == cell_range.max_col == col["new_commune_code"], letter
            for r in range(cell_range.min_row, cell_range.max_row + 1):
                assert r not in offered
                offered[r] = choices
    for ident, r in rows.items():
        assert offered.get(r) == expected[ident], ident
    kinds = {len(choices) for choices in offered.values()}
    assert 99 in kinds  # a not-found row: the 99 communes of the new Lào Cai
    assert any(n <= 5 for n in kinds)  # a split row: its few candidates
    assert any(len(",".join(c)) > 255 for c in offered.values())  # beyond Excel's inline limit


def test_instructions_frozen_headers_and_print_titles(demo: Path) -> None:
    ws = load_workbook(_workbook(demo))[REVIEW_SHEET]
    header, _, _ = _sheet_rows(ws)
    top = " ".join(str(ws.cell(r, 1).value or "") for r in range(1, header - 1))
    assert "Hướng dẫn" in top and "danh sách thả xuống" in top
    assert "Chỉ các dòng đã có quyết định được đọc" in top
    assert "handover review import" in top
    assert ws.cell(header - 1, 12).value == DECISION_HEADER
    assert ws.freeze_panes == f"D{header + 1}"
    assert ws.print_title_rows == f"${header - 1}:${header}"
    assert ws.auto_filter.ref is None  # rows are never filtered away


def test_two_decisions_picked_from_the_drop_downs_are_imported(demo: Path, tmp_path: Path) -> None:
    expected = _expected(demo)
    wb = load_workbook(_workbook(demo))
    ws = wb[REVIEW_SHEET]
    _, col, rows = _sheet_rows(ws)
    split = next(ident for ident, choices in expected.items() if 1 < len(choices) < 10)
    lost = next(ident for ident, choices in expected.items() if len(choices) > 50)
    picks = {split: expected[split][-1], lost: expected[lost][3]}
    for ident, value in picks.items():
        ws.cell(rows[ident], col["new_commune_code"]).value = value
    filled = tmp_path / "filled.xlsx"
    wb.save(filled)
    out = tmp_path / "decisions.csv"
    db = f"sqlite:///{demo / 'target.db'}"
    result = runner.invoke(
        app, ["review", "import", str(filled), "--db", db, "--out", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "2 decision(s)" in result.output
    with out.open(encoding="utf-8", newline="") as f:
        got = {(r["source_system"], r["dossier_code"]): r["new_commune_code"] for r in csv.DictReader(f)}
    assert got == {ident: value[:5] for ident, value in picks.items()}


@pytest.mark.slow
@pytest.mark.skipif(
    OFFICE is None, reason="LibreOffice is not installed (apt-get install libreoffice-calc-nogui)"
)
def test_libreoffice_opens_the_review_sheet_and_keeps_its_drop_downs(demo: Path, tmp_path: Path) -> None:
    wb = load_workbook(_workbook(demo))
    for name in wb.sheetnames:
        if name not in (REVIEW_SHEET, CHOICES_SHEET):
            del wb[name]
    small = tmp_path / "review.xlsx"
    wb.save(small)
    profile = tmp_path / "profile"  # own profile: no clash with another running LibreOffice
    for fmt in ("pdf", "xlsx"):
        outdir = tmp_path / fmt
        result = subprocess.run(
            [OFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", fmt,
             "--outdir", str(outdir), str(small)],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert (outdir / f"review.{fmt}").exists(), result.stdout + result.stderr
    pdf = tmp_path / "pdf" / "review.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "HỒ SƠ CẦN XEM XÉT" in text and "Hướng dẫn" in text
    again = load_workbook(tmp_path / "xlsx" / "review.xlsx")  # as LibreOffice saved it
    lists = [dv for dv in again[REVIEW_SHEET].data_validations.dataValidation if dv.type == "list"]
    assert lists and all(CHOICES_SHEET in dv.formula1 for dv in lists)
    assert {len(_choices(again, dv.formula1)) for dv in lists} >= {99}
