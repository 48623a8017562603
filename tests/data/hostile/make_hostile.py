"""Build the hostile-input corpus (run: python tests/data/hostile/make_hostile.py).

Each case is one source file and what must become of it: ``refused`` (with an exit code and words the message
must hold) or ``loaded`` (every physical row of the file accounted for: the data rows in the balance, the other
lines listed with a reason). ``CASES`` is the manifest the suite reads (``tests/test_hostile.py``); README.md
beside this script lists the same cases for people. Small files are committed; the few that must be large to
matter (a NUL byte past the first 256 KB, a 70 KB note, a bloated shared-strings part) are written by
:func:`build` into the test's temporary folder only (``large=True``).
"""

from __future__ import annotations

import csv
import io
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

HEADER = ["STT", "Mã hồ sơ", "Tên thủ tục", "Chủ hồ sơ", "Số CCCD", "Số điện thoại", "Mã xã",
          "Ngày tiếp nhận", "Ngày hẹn trả", "Trạng thái", "Lệ phí", "Ghi chú"]  # fmt: skip
COMMUNES = ["02905", "02911", "02914", "02917", "02920", "02923", "02926", "02929", "02932", "02938"]
NAMES = ["Nguyễn Thị Hồng", "Lê Văn Thắng", "Phạm Thị Bảo", "Hoàng Văn Dũng", "Trần Thị Lương", "Vũ Đức Anh"]
PROCEDURES = ["Đăng ký khai sinh", "Cấp giấy phép xây dựng nhà ở", "Đăng ký hộ kinh doanh"]


@dataclass
class Case:
    """One hostile input and its expected outcome."""

    name: str
    file: str
    what: str
    expect: str  # "loaded" | "refused" | "bounded" (refused or loaded, but at a bounded cost)
    data_rows: int = 0  # data rows the file holds (loaded cases)
    physical_rows: int = 0  # rows/lines a reader meets in the file, header and footer included
    exit_code: int = 0  # refused cases: the exit code of inspect and run
    message: list[str] = field(default_factory=list)  # refused: words the message holds (case-insensitive)
    config: dict[str, Any] = field(default_factory=dict)  # extra [[sources]] keys
    batch: dict[str, dict[str, Any]] = field(default_factory=dict)  # extra batch tables (e.g. thresholds)
    findings: list[str] = field(default_factory=list)  # checks that must appear in the findings
    loaded_keys: list[str] = field(default_factory=list)  # dossier codes that must reach the target
    large: bool = False  # written into the test's temporary folder only
    kind: str | None = None  # the source kind to declare (default: from the extension)


def code(i: int) -> str:
    return f"000.00.53.H48-250601-{i:04d}"


def dossier_row(i: int) -> list[str]:
    received = date(2025, 5, 1) + timedelta(days=i % 50)
    return [
        str(i),
        code(i),
        PROCEDURES[i % len(PROCEDURES)],
        NAMES[i % len(NAMES)],
        f"0102030{i:05d}",
        f"09123{i:05d}",
        COMMUNES[i % len(COMMUNES)],
        received.isoformat(),
        (received + timedelta(days=40)).isoformat(),
        "Đang xử lý",
        str((i % 3) * 50000),
        "",
    ]


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode(encoding)


def plain(n: int) -> list[list[str]]:
    return [list(HEADER), *(dossier_row(i) for i in range(1, n + 1))]


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Danh sách hồ sơ"
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- the cases ----------------------------------------------------------------------------------------------------
CASES: list[Case] = []


def case(**kw: Any) -> Any:
    def register(fn: Any) -> Any:
        CASES.append(Case(**kw))
        WRITERS[kw["name"]] = fn
        return fn

    return register


WRITERS: dict[str, Any] = {}


@case(name="note_lanh_dao", file="note_lanh_dao.csv", expect="loaded", data_rows=300, physical_rows=301,
      what='a row without a dossier code whose note reads "Lãnh đạo đã ký, chờ trả kết quả"',
      loaded_keys=[code(101), code(300)])  # fmt: skip
def _note_lanh_dao(path: Path) -> None:
    rows = plain(300)
    rows[100][1] = ""
    rows[100][11] = "Lãnh đạo đã ký, chờ trả kết quả"
    path.write_bytes(csv_bytes(rows))


@case(name="due_date_words", file="due_date_words.csv", expect="loaded", data_rows=300, physical_rows=301,
      what='a row without a dossier code whose due date reads "ngày 15 tháng 7 năm 2025"',
      loaded_keys=[code(101), code(300)])  # fmt: skip
def _due_date_words(path: Path) -> None:
    rows = plain(300)
    rows[100][1] = ""
    rows[100][8] = "ngày 15 tháng 7 năm 2025"
    path.write_bytes(csv_bytes(rows))


@case(name="name_first_tong", file="name_first_tong.csv", expect="loaded", data_rows=300, physical_rows=301,
      what='a name-first CSV with an applicant called "Tống Công Minh" (folds like "Tổng cộng")',
      loaded_keys=[code(100), code(101), code(300)])  # fmt: skip
def _name_first_tong(path: Path) -> None:
    rows = plain(300)
    order = [3, 1, 2, 0, 4, 5, 6, 7, 8, 9, 10, 11]
    rows = [[r[j] for j in order] for r in rows]
    rows[100][0] = "Tống Công Minh"
    path.write_bytes(csv_bytes(rows))


@case(name="total_mid_file", file="total_mid_file.csv", expect="loaded", data_rows=52, physical_rows=54,
      what='a dossier-code cell "Tổng cộng: 2 hồ sơ" mid-file, three dossiers after it: listed as a subtotal '
      "with a warning, the dossiers after it read", findings=["footer_inside_data"],
      loaded_keys=[code(51), code(52), code(53)])  # fmt: skip
def _total_mid_file(path: Path) -> None:
    rows = plain(53)
    rows[50] = ["", "Tổng cộng: 2 hồ sơ", *[""] * 10]
    path.write_bytes(csv_bytes(rows))


@case(name="real_footer", file="real_footer.xlsx", expect="loaded", data_rows=20, physical_rows=28,
      what="a printed export: two title lines, a blank, the header, 20 dossiers, the total line, a blank, "
      "a signature block of two lines",
      loaded_keys=[code(1), code(20)])  # fmt: skip
def _real_footer(path: Path) -> None:
    rows: list[list[Any]] = [["UBND HUYỆN BẢO THẮNG"], ["DANH SÁCH HỒ SƠ ĐANG GIẢI QUYẾT"], [], *plain(20)]
    rows += [["", "Tổng cộng: 20 hồ sơ"], [], ["Người lập biểu", "", "", "Trưởng bộ phận Một cửa"],
             ["(Ký, ghi rõ họ tên)", "", "", "(Ký, ghi rõ họ tên)"]]  # fmt: skip
    path.write_bytes(xlsx_bytes(rows))


@case(name="total_disagrees", file="total_disagrees.csv", expect="loaded", data_rows=20, physical_rows=22,
      what='a total line "Tổng cộng: 25 hồ sơ" under 20 dossiers', findings=["total"])  # fmt: skip
def _total_disagrees(path: Path) -> None:
    rows = [*plain(20), ["", "Tổng cộng: 25 hồ sơ", *[""] * 10]]
    path.write_bytes(csv_bytes(rows))


@case(name="unclosed_quote", file="unclosed_quote.csv", expect="refused", exit_code=3,
      message=["quote", "line 6"],
      what="one unclosed opening quote on line 6 that would swallow the rest of the file into one cell")  # fmt: skip
def _unclosed_quote(path: Path) -> None:
    text = csv_bytes(plain(200)).decode()
    lines = text.split("\r\n")
    cells = lines[5].split(",")
    cells[-1] = '"Thiếu bản vẽ, chờ bổ sung'
    lines[5] = ",".join(cells)
    path.write_bytes("\r\n".join(lines).encode())


@case(name="key_lookalikes", file="key_lookalikes.csv", expect="loaded", data_rows=6, physical_rows=7,
      what="one dossier code written plain and with a zero-width space, RLO, BOM, non-breaking hyphen and "
      "full-width digits: one dossier", findings=["key"], loaded_keys=[code(1)])  # fmt: skip
def _key_lookalikes(path: Path) -> None:
    base = dossier_row(1)
    variants = [code(1), "\u200b" + code(1), "\u202e" + code(1), "\ufeff" + code(1),
                code(1).replace("-", "\u2011"), code(1).replace("0001", "０００１")]  # fmt: skip
    rows = [list(HEADER)]
    for i, v in enumerate(variants):
        r = list(base)
        r[0], r[1] = str(i + 1), v
        rows.append(r)
    path.write_bytes(csv_bytes(rows))


@case(name="implausible_values", file="implausible_values.csv", expect="loaded", data_rows=10, physical_rows=11,
      what="dates in year 1 and 9999 and a negative fee", findings=["date", "fee"])  # fmt: skip
def _implausible(path: Path) -> None:
    rows = plain(10)
    rows[2][7] = "0001-01-01"
    rows[3][8] = "9999-12-31"
    rows[4][10] = "-50000"
    path.write_bytes(csv_bytes(rows))


@case(name="xlsx_named_xls", file="xlsx_named_xls.xls", expect="loaded", data_rows=10, physical_rows=11,
      what="an .xlsx workbook saved under an .xls name", kind="xls")  # fmt: skip
def _xlsx_named_xls(path: Path) -> None:
    path.write_bytes(xlsx_bytes(plain(10)))


@case(name="xls_named_xlsx", file="xls_named_xlsx.xlsx", expect="loaded", data_rows=5, physical_rows=9,
      what="an Excel 97-2003 (.xls) workbook saved under an .xlsx name (title line, header, 5 dossiers, total)",
      kind="xlsx")  # fmt: skip
def _xls_named_xlsx(path: Path) -> None:
    path.write_bytes((HERE.parent / "export_legacy.xls").read_bytes())


@case(name="csv_named_xlsx", file="csv_named_xlsx.xlsx", expect="loaded", data_rows=10, physical_rows=11,
      what="a CSV export saved under an .xlsx name", kind="xlsx")  # fmt: skip
def _csv_named_xlsx(path: Path) -> None:
    path.write_bytes(csv_bytes(plain(10)))


@case(name="utf16_no_bom", file="utf16_no_bom.csv", expect="loaded", data_rows=10, physical_rows=11,
      what="UTF-16 (little-endian) without a byte-order mark, declared in the configuration",
      config={"encoding": "utf-16"})  # fmt: skip
def _utf16_no_bom(path: Path) -> None:
    path.write_bytes(csv_bytes(plain(10), "utf-16-le"))


@case(name="bad_byte_line_500", file="bad_byte_line_500.csv", expect="refused", exit_code=3,
      message=["line 500"], config={"encoding": "utf-8"},
      what="a byte that is not UTF-8 on line 500 of a file declared UTF-8")  # fmt: skip
def _bad_byte(path: Path) -> None:
    lines = csv_bytes(plain(600)).split(b"\r\n")
    lines[499] = lines[499].replace("Đang".encode(), b"\xc4ang", 1)
    path.write_bytes(b"\r\n".join(lines))


@case(name="terminal_escapes", file="terminal_escapes.csv", expect="loaded", data_rows=5, physical_rows=6,
      what="terminal escape sequences and rich markup in a header and in cells")  # fmt: skip
def _escapes(path: Path) -> None:
    rows = plain(5)
    rows[0][11] = "Ghi chú \x1b[31mđỏ\x1b[0m"
    rows[1][3] = "\x1b]0;pwned\x07Nguyễn Văn A"
    rows[2][11] = "[bold red]markup[/bold red] \x1b[2J"
    path.write_bytes(csv_bytes(rows))


@case(name="formula_cells", file="formula_cells.csv", expect="loaded", data_rows=5, physical_rows=6,
      what="cells an official's Excel would run as formulas: =HYPERLINK, @SUM, -1-2, +1")  # fmt: skip
def _formulas(path: Path) -> None:
    rows = plain(5)
    rows[1][1] = '=HYPERLINK("http://example.invalid","x")'
    rows[2][1] = "@SUM(A1)"
    rows[3][3] = "-1-2"
    rows[4][11] = "+1"
    path.write_bytes(csv_bytes(rows))


@case(name="header_row_zero", file="header_row_zero.csv", expect="refused", exit_code=2,
      message=["header_row"], config={"header_row": 0},
      what="header_row = 0 in the configuration (rows count from 1)")  # fmt: skip
def _header_row_zero(path: Path) -> None:
    path.write_bytes(csv_bytes(plain(5)))


@case(name="xfd_column", file="xfd_column.xlsx", expect="bounded", data_rows=200, physical_rows=201,
      what="one cell at column XFD (the last of 16,384) in every row")  # fmt: skip
def _xfd(path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for i, row in enumerate(plain(200), 1):
        ws.append(row)
        ws.cell(row=i, column=16384, value="x")
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(buf.getvalue())


@case(name="nul_after_256k", file="nul_after_256k.csv", expect="loaded", data_rows=3000, physical_rows=3001,
      what="a NUL byte in a note past the first 256 KB", large=True, findings=["nul"])  # fmt: skip
def _nul(path: Path) -> None:
    rows = plain(3000)
    for r in rows[1:]:
        r[11] = "Hồ sơ đang chờ thẩm định, đã gửi phòng chuyên môn xem xét."
    rows[2900][11] = "chờ\x00bổ sung"
    data = csv_bytes(rows)
    assert data.find(b"\x00") > 256 * 1024
    path.write_bytes(data)


@case(name="long_note", file="long_note.csv", expect="loaded", data_rows=10, physical_rows=11,
      what="a 70 KB note and an 84 KB applicant name (over MariaDB's TEXT limit)", large=True,
      findings=["long"])  # fmt: skip
def _long(path: Path) -> None:
    rows = plain(10)
    rows[3][11] = "Ghi chú dài " * 6000
    rows[6][3] = "Nguyễn " * 12000
    path.write_bytes(csv_bytes(rows))


@case(name="shared_strings_bloat", file="shared_strings_bloat.xlsx", expect="bounded", data_rows=5,
      physical_rows=6, large=True,
      what="5 rows whose shared-strings part carries 40 MB of strings no cell uses")  # fmt: skip
def _bloat(path: Path) -> None:
    good = xlsx_bytes(plain(5))
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/sharedStrings.xml":
                text = data.decode()
                junk = "".join(f"<si><t>{i:08d}{'y' * 390}</t></si>" for i in range(100_000))
                text = text.replace("</sst>", junk + "</sst>")
                data = text.encode()
            out.writestr(item, data)


def build(out: Path = HERE, *, large: bool = False) -> list[Path]:
    """Write the corpus into ``out``: the small cases, and with ``large`` the large ones too."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for c in CASES:
        if c.large and not large:
            continue
        path = out / c.file
        WRITERS[c.name](path)
        written.append(path)
    if out == HERE:
        (out / "README.md").write_text(readme(), encoding="utf-8")
    return written


def readme() -> str:
    """The manifest for people: one line per case with its expected outcome."""
    lines = [
        "# tests/data/hostile: inputs that must never lose a row silently",
        "",
        "Written by `make_hostile.py` (`python tests/data/hostile/make_hostile.py`; this file too). Each case runs",
        "through `sources inspect`, `run --dry-run` and `run` in `tests/test_hostile.py`. *loaded*: exit 0 and every",
        "physical row accounted for (data rows in the balance, other lines listed with their reason); *refused*:",
        "the exit code and words of the message; *bounded*: refused (exit 3) or loaded, within 30 CPU-seconds.",
        "Cases marked *large* are written into the test's temporary folder only.",
        "",
        "| case | file | what | expected |",
        "| --- | --- | --- | --- |",
    ]
    for c in CASES:
        if c.expect == "refused":
            outcome = f"refused, exit {c.exit_code}, message holds: {', '.join(repr(m) for m in c.message)}"
        else:
            outcome = f"{c.expect}: {c.data_rows} data rows of {c.physical_rows} physical rows"
            if c.findings:
                outcome += f"; findings: {', '.join(c.findings)}"
        large = " (large)" if c.large else ""
        lines.append(f"| {c.name} | `{c.file}`{large} | {c.what} | {outcome} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
