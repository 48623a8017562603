"""Where a report goes when the file of its name was edited (:mod:`handover.reports.keep`), and the workbook
written by ``write_reports`` next to an official's edited copy."""

from __future__ import annotations

import subprocess
from pathlib import Path

from openpyxl import load_workbook

from handover.reports import report_paths, write_reports
from handover.reports.keep import place, record, record_path
from tests.reports.factory import BATCH, build_target


def _written(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    record(path)
    return path


def test_missing_or_unedited_file_is_written_in_place(tmp_path: Path) -> None:
    target = tmp_path / "b-doi-soat.xlsx"
    assert place(target) == (target, ())
    _written(target, "as written")
    assert place(target) == (target, ())


def test_edited_file_is_kept_and_the_next_version_used(tmp_path: Path) -> None:
    target = _written(tmp_path / "b-doi-soat.xlsx", "as written")
    target.write_text("with a decision", encoding="utf-8")
    second = tmp_path / "b-doi-soat (2).xlsx"
    assert place(target) == (second, (target,))
    _written(second, "as written")
    assert place(target) == (second, (target,))  # an unedited version is reused, no pile of copies
    second.write_text("edited too", encoding="utf-8")
    assert place(target) == (tmp_path / "b-doi-soat (3).xlsx", (target, second))


def test_a_file_the_tool_has_no_record_of_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "b-transfer-report.html"
    target.write_text("someone's own file", encoding="utf-8")
    assert place(target).path == tmp_path / "b-transfer-report (2).html"


def test_the_record_is_hidden_and_sha256sum_checks_it(tmp_path: Path) -> None:
    target = _written(tmp_path / "b-findings.csv", "source_id,row\n")
    assert record_path(target).name == ".b-findings.csv.sha256"
    check = subprocess.run(
        ["sha256sum", "-c", record_path(target).name], cwd=tmp_path, capture_output=True, text=True
    )
    assert check.returncode == 0 and "OK" in check.stdout


def test_write_reports_keeps_an_edited_workbook(engine, tmp_path: Path) -> None:
    build_target(engine)
    out = tmp_path / "out"
    first = write_reports(engine, BATCH, out)
    assert first.notices == () and first.workbook == report_paths(BATCH, out).workbook
    wb = load_workbook(first.workbook)
    wb.worksheets[0]["A1"] = "Đã duyệt"
    wb.save(first.workbook)
    edited = first.workbook.read_bytes()

    again = write_reports(engine, BATCH, out)
    assert first.workbook.read_bytes() == edited
    assert again.workbook == first.workbook.with_name(f"{first.workbook.stem} (2).xlsx")
    assert again.html == first.html  # not edited: rewritten in place
    assert len(again.notices) == 1 and str(again.workbook) in again.notices[0]
    assert load_workbook(again.workbook).worksheets[0]["A1"].value != "Đã duyệt"
