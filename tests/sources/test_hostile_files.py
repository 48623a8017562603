"""Hostile and unlucky files refused early and right, at bounded cost: a quote that swallows the rest of a CSV,
a file whose name lies about its format, bytes that do not decode, pipes and folders, UTF-16 without a BOM,
and the bounded `sources inspect`. Every input is generated here, small, in tmp_path."""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

import pytest

from handover.config import SourceConfig
from handover.errors import ExitCode, SourceError
from handover.sources import open_source
from tests.data.make_corpus import HEADER

DATA = Path(__file__).resolve().parent.parent / "data"


def _cfg(path: Path, kind: str = "csv", **kw: object) -> SourceConfig:
    return SourceConfig(id="src", kind=kind, path=path, **kw)  # type: ignore[arg-type]


def _rows(n: int, note: str = "") -> list[list[str]]:
    return [
        [str(i), f"000.00.53.H48-250601-{i:04d}", "Đăng ký khai sinh", "Nguyễn Thị Hồng", "010203012345",
         "0912345678", "Thôn Khe Mụ xã Sơn Hà", "2025-06-01", "2025-07-03", "Đang xử lý", "0", note]
        for i in range(1, n + 1)
    ]  # fmt: skip


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([HEADER, *rows])
    return buf.getvalue()


def _read_all(cfg: SourceConfig) -> tuple[int, list[str]]:
    reader = open_source(cfg, 50)
    rows = 0
    checks: list[str] = []
    for chunk in reader.chunks():
        rows += len(chunk.frame)
        checks += [f.check for f in chunk.findings]
    return rows, checks


# -- 1. a quote that swallows the rest of the file --------------------------------------------------------------
def _unclosed_quote_file(tmp_path: Path) -> Path:
    """200 dossiers; line 6 (dossier 5) opens a quote in the notes column and never closes it."""
    lines = _csv(_rows(200)).split("\r\n")
    lines[5] = lines[5] + '"Chờ bổ sung giấy tờ, hẹn ngày 15'
    path = tmp_path / "unclosed.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")
    return path


def test_unclosed_quote_is_refused_naming_its_line_and_column(tmp_path: Path) -> None:
    path = _unclosed_quote_file(tmp_path)
    with pytest.raises(SourceError) as err:
        _read_all(_cfg(path))
    exc = err.value
    assert exc.message.startswith("Line 6, column L ('Ghi chú'): a quoted value opens here and runs on over")
    assert "closing quote is probably missing" in exc.message
    assert exc.context["row"] == 6 and exc.context["column"] == "Ghi chú"
    assert "Close the quote in column L on line 6" in (exc.hint or "")
    assert "multiline_fields = true" in (exc.hint or "")
    assert exc.exit_code == ExitCode.INPUT


def test_unclosed_quote_late_in_the_file_is_refused_with_the_column_median(tmp_path: Path) -> None:
    """The quote opens on line 150 of 200: the header is known, the column's typical width too."""
    lines = _csv(_rows(200, note="Hộ nghèo")).split("\r\n")
    lines[150] = lines[150][: -len("Hộ nghèo")] + '"Thiếu bản vẽ'
    path = tmp_path / "late.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        open_source(_cfg(path), 50)
    assert err.value.context["row"] == 151
    assert "typically 8 characters" in err.value.message


def test_unclosed_quote_on_the_last_but_one_line_is_refused(tmp_path: Path) -> None:
    """Two lines swallowed, short: the swallowed line has a separator for every column, so it is a row."""
    lines = _csv(_rows(200)).split("\r\n")
    lines[199] = lines[199] + '"Thiếu'
    path = tmp_path / "last.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        open_source(_cfg(path), 50)
    assert err.value.message.startswith(
        "Line 200, column L ('Ghi chú'): a quoted value opens here and runs on"
    )


def test_quote_closed_by_a_later_quote_is_named_in_the_shifted_row_message(tmp_path: Path) -> None:
    """The quote opened on line 6 closes at the next quoted address: the record is then ragged, and the message
    says where the quote opened."""
    rows = _rows(50)
    for row in rows:
        row[6] = "Thôn Khe Mụ, xã Sơn Hà"  # quoted in the file (it holds a comma)
    lines = _csv(rows).split("\r\n")
    lines[5] = lines[5] + '"Chờ bổ sung'
    path = tmp_path / "ragged.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        open_source(_cfg(path), 50)
    assert err.value.message.startswith("Line 6 has 18 values but the header (row 1) has 12 columns")
    assert "the value in column L ('Ghi chú') opens a quote on line 6 and runs to line 7" in err.value.message


def test_multiline_fields_option_reads_the_long_value(tmp_path: Path) -> None:
    rows = _rows(20)
    rows[3][11] = "\n".join(f"Dòng ghi chú {i}" for i in range(12))  # a real 12-line note
    path = tmp_path / "notes.csv"
    path.write_text(_csv(rows), encoding="utf-8")
    with pytest.raises(SourceError, match="Line 5, column L"):
        _read_all(_cfg(path))
    reader = open_source(_cfg(path, multiline_fields=True), 50)
    frame = next(reader.chunks()).frame
    assert len(frame) == 20
    assert frame.loc[3, "notes"].count("Dòng ghi chú") == 12
    from handover.sources.inspect import inspect_source

    assert inspect_source(path, multiline_fields=True)["data_rows"] == 20


def test_short_multiline_cell_still_reads(tmp_path: Path) -> None:
    rows = _rows(10)
    rows[2][6] = "Thôn Khe Mụ\nxã Sơn Hà"  # an address over two lines
    path = tmp_path / "address.csv"
    path.write_text(_csv(rows), encoding="utf-8")
    assert _read_all(_cfg(path))[0] == 10


# -- 2. the format comes from the bytes, not the name -----------------------------------------------------------
@pytest.mark.parametrize(
    "source,name,kind,label",
    [
        ("export_legacy.xls", "legacy.xlsx", "xlsx", "Excel 97–2003 .xls"),
        ("export_bao_thang.xlsx", "bao_thang.xls", "xls", "Excel .xlsx"),
        ("dossiers_utf8.csv", "dossiers.xlsx", "xlsx", "CSV/text"),
        ("export_bao_thang.xlsx", "bao_thang.csv", "csv", "Excel .xlsx"),
    ],
)
def test_file_is_read_by_its_content_whatever_its_name(
    tmp_path: Path, source: str, name: str, kind: str, label: str
) -> None:
    right = DATA / source
    expected = _read_all(_cfg(right, {".csv": "csv", ".xls": "xls", ".xlsx": "xlsx"}[right.suffix]))[0]
    wrong = tmp_path / name
    shutil.copyfile(right, wrong)
    reader = open_source(_cfg(wrong, kind), 50)
    assert reader.report["kind_warning"] == (
        f"The file is named '{wrong.suffix}' but holds {label} data: it was read as {label}."
    )
    rows, checks = _read_all(_cfg(wrong, kind))
    assert rows == expected > 0
    assert checks.count("file_kind_mismatch") == 1


def test_inspect_reports_the_wrong_extension(tmp_path: Path) -> None:
    from handover.sources.inspect import inspect_source

    wrong = tmp_path / "legacy.xlsx"
    shutil.copyfile(DATA / "export_legacy.xls", wrong)
    rep = inspect_source(wrong)
    assert rep["kind"] == "xls"
    assert "named '.xlsx' but holds Excel 97–2003 .xls data" in rep["kind_warning"]
    assert rep["findings"]["file_kind_mismatch"] == 1


# -- 4. an undecodable byte is named on its own line ------------------------------------------------------------
def test_decoding_error_names_the_physical_line_and_byte_offset(tmp_path: Path) -> None:
    data = _csv(_rows(5000)).encode("utf-8")
    lines = data.split(b"\r\n")
    bad_line = 3217  # 1-based physical line
    lines[bad_line - 1] = lines[bad_line - 1].replace("Hồng".encode(), b"H\xff\xfeng")
    data = b"\r\n".join(lines)
    offset = data.index(b"\xff")
    path = tmp_path / "bad_byte.csv"
    path.write_bytes(data)
    with pytest.raises(SourceError) as err:
        _read_all(_cfg(path, encoding="utf-8"))
    exc = err.value
    assert exc.context["row"] == bad_line
    assert f"line {bad_line} (byte offset {offset:,}: FF)" in exc.message


# -- 5. pipes, devices and folders ------------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_fifo_is_refused_by_kind(tmp_path: Path) -> None:
    from handover.sources.inspect import inspect_source

    fifo = tmp_path / "export.csv"
    os.mkfifo(fifo)
    with pytest.raises(SourceError) as err:
        open_source(_cfg(fifo), 10)  # would block forever if it opened the pipe
    assert err.value.message == f"The source '{fifo}' is a named pipe (FIFO), not a file."
    with pytest.raises(SourceError, match="is a named pipe"):
        inspect_source(fifo)


def test_directory_and_device_are_refused_by_kind(tmp_path: Path) -> None:
    folder = tmp_path / "exports.csv"
    folder.mkdir()
    with pytest.raises(SourceError) as err:
        open_source(_cfg(folder, "xlsx"), 10)
    assert err.value.message.endswith("exports.csv' is a folder, not a file.")
    if Path("/dev/null").exists():
        with pytest.raises(SourceError, match="is a character device, not a file"):
            open_source(_cfg(Path("/dev/null")), 10)
    with pytest.raises(SourceError, match="does not exist"):
        open_source(_cfg(tmp_path / "missing.csv"), 10)


# -- 6. UTF-16 without a byte-order mark, declared --------------------------------------------------------------
@pytest.mark.parametrize("codec,label", [("utf-16-le", "UTF-16 LE"), ("utf-16-be", "UTF-16 BE")])
def test_declared_utf16_without_bom_is_read(tmp_path: Path, codec: str, label: str) -> None:
    path = tmp_path / "utf16.txt"
    text = _csv(_rows(30))
    path.write_bytes(text.encode(codec))
    reader = open_source(_cfg(path, encoding="utf-16"), 50)
    assert reader.report["encoding"] == label
    frame = next(reader.chunks()).frame
    assert len(frame) == 30 and frame.loc[0, "applicant_name"] == "Nguyễn Thị Hồng"
    with pytest.raises(SourceError, match="UTF-16 text without a byte-order mark") as err:
        open_source(_cfg(path), 50)  # not declared: refused with the fix
    assert 'encoding = "utf-16"' in (err.value.hint or "")


# -- 3. inspect is bounded ---------------------------------------------------------------------------------------
def test_inspect_caps_values_and_reads_a_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from handover.sources import inspect as inspect_mod

    monkeypatch.setattr(inspect_mod, "SAMPLE_DATA_ROWS", 1_000)
    rows = _rows(3_000, note="x" * 5_000)
    path = tmp_path / "long.csv"
    path.write_text(_csv(rows[:3]) + _csv(rows[3:]).split("\r\n", 1)[1], encoding="utf-8")
    rep = inspect_mod.inspect_source(path)
    assert rep["sample"]["complete"] is False
    assert rep["data_rows"] < 3_000
    assert "a sample: the first" in rep["sample"]["note"]
    note = rep["samples"][0]["notes"]
    assert note == "x" * 200 + "… (5,000 characters)"


def test_inspect_cli_prints_little_for_long_cells(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from handover.cli import app

    rows = _rows(20, note="ghi-chú-" * 20_000)
    path = tmp_path / "long.csv"
    path.write_text(_csv(rows), encoding="utf-8")
    result = CliRunner().invoke(app, ["sources", "inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert len(result.output) < 40_000
    assert "… (160,000" in result.output and "characters)" in result.output


# -- 3. bounded cost of a workbook -------------------------------------------------------------------------------
def _inline_row(r: int, values: list[str], tail: str = "") -> str:
    from openpyxl.utils import get_column_letter

    cells = "".join(
        f'<c r="{get_column_letter(j + 1)}{r}" t="inlineStr"><is><t>{v}</t></is></c>'
        for j, v in enumerate(values)
        if v
    )
    return f'<row r="{r}">{cells}{tail.format(r=r)}</row>'


def _workbook(path: Path, rows: int, tail: str = "", extra_strings: int = 0) -> None:
    """A one-sheet workbook of inline-string rows (each ending with ``tail``), with ``extra_strings`` bytes of
    random unused text in its shared strings."""
    import random

    from tests.sources.test_xlsx_fast import MAIN, STYLES, _package

    lines = [_inline_row(1, HEADER, tail)] + [
        _inline_row(i + 1, r, tail) for i, r in enumerate(_rows(rows), 1)
    ]
    rnd = random.Random(7)
    junk = []
    size = 0
    while size < extra_strings:
        junk.append("".join(rnd.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=2000)))
        size += 2000
    strings = (
        f'<sst xmlns="{MAIN}"><si><t>x</t></si>' + "".join(f"<si><t>{t}</t></si>" for t in junk) + "</sst>"
    )
    _package(path, [("Hồ sơ", "visible", f"<sheetData>{''.join(lines)}</sheetData>")], STYLES, strings, False)


def test_styled_empty_cell_at_xfd_costs_nothing(tmp_path: Path) -> None:
    import time

    path = tmp_path / "wide_empty.xlsx"
    _workbook(path, 2_000, tail='<c r="XFD{r}" s="0"/>')
    started = time.perf_counter()
    rows, _ = _read_all(_cfg(path, "xlsx"))
    assert rows == 2_000
    assert time.perf_counter() - started < 10  # 16,384 columns per row would take minutes and GBs
    reader = open_source(_cfg(path, "xlsx"), 50)
    assert len(reader.field_of) == len(HEADER)


def test_value_at_xfd_is_refused_at_its_row(tmp_path: Path) -> None:
    path = tmp_path / "wide.xlsx"
    _workbook(path, 1_000, tail='<c r="XFD{r}"><v>1</v></c>')
    assert path.stat().st_size < 200_000
    with pytest.raises(SourceError) as err:
        open_source(_cfg(path, "xlsx"), 50)
    exc = err.value
    assert exc.message.startswith(
        "Row 1 of sheet 'Hồ sơ' has a value in column XFD (column 16,384): no export uses more than 512 columns"
    )
    assert exc.context["row"] == 1 and exc.context["column"] == "XFD"
    assert "delete the stray cells" in (exc.hint or "")


def test_shared_strings_out_of_proportion_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handover.sources import excel_reader

    monkeypatch.setattr(excel_reader, "SHARED_STRINGS_FLOOR", 1_000_000)
    ok = tmp_path / "ok.xlsx"
    _workbook(ok, 5, extra_strings=200_000)  # below the floor: read
    assert _read_all(_cfg(ok, "xlsx"))[0] == 5
    path = tmp_path / "strings.xlsx"
    _workbook(path, 5, extra_strings=3_000_000)
    with pytest.raises(SourceError) as err:
        open_source(_cfg(path, "xlsx"), 50)
    message = err.value.message
    assert message.startswith(
        "The workbook is refused: its shared-strings part (xl/sharedStrings.xml) expands"
    )
    assert "MB of text for worksheets of 0.00" in message and "a real export stays under 20×" in message


def test_csv_trailing_empty_columns_past_512_are_left_out(tmp_path: Path) -> None:
    lines = [",".join(HEADER) + "," * 3_000] + [",".join(r) + "," * 3_000 for r in _rows(100)]
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    reader = open_source(_cfg(path), 50)
    assert len(reader.field_of) == len(HEADER)
    assert reader.report["trailing_empty_columns"] == 3_000
    assert sum(len(c.frame) for c in reader.chunks()) == 100
    lines[40] += "x"  # a value far right of the header: refused, not dropped
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        open_source(_cfg(path), 50)
    assert err.value.message.startswith("Line 41 has 3012 values but the header (row 1) has 12 columns")
    assert err.value.message.endswith("The first value past the header is in column DKV: 'x'.")


def test_csv_with_more_than_512_named_columns_is_refused(tmp_path: Path) -> None:
    header = HEADER + [f"Cột {i}" for i in range(600)]
    path = tmp_path / "many.csv"
    path.write_text(",".join(header) + "\n" + ",".join(_rows(1)[0]) + "\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        open_source(_cfg(path), 50)
    assert err.value.message.startswith("The header (row 1) has 612 columns: no export uses more than 512")


@pytest.mark.parametrize(
    "content,what",
    [
        (
            '<html><head><meta charset="utf-8"></head><body><table><tr><td>Mã hồ sơ</td></tr></table>',
            "an HTML page",
        ),
        (
            '<?xml version="1.0"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet/>',
            "an XML spreadsheet (Excel 2003 XML)",
        ),
    ],
)
def test_web_excel_export_is_refused_as_what_it_is(tmp_path: Path, content: str, what: str) -> None:
    path = tmp_path / "export.xls"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SourceError) as err:
        open_source(_cfg(path, "xls"), 50)
    assert err.value.message.startswith(f"The file is {what}, not CSV text or an Excel workbook")
    assert "save it as Excel Workbook (.xlsx)" in (err.value.hint or "")
