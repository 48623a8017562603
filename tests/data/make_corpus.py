"""Build the edge-case corpus in tests/data/ (run: python tests/data/make_corpus.py).

Every file is tiny and made on purpose; README.md beside it says what each one tests and the message it must
produce. The zip bomb is never written here: tests build it in a temporary folder (:func:`write_zip_bomb`).
The legacy-encoded files are written with hand-checked byte strings where the test is about the codec.
"""

from __future__ import annotations

import csv
import io
import random
import re
import sys
import zipfile
from datetime import date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent

HEADER = ["STT", "Mã hồ sơ", "Tên thủ tục", "Chủ hồ sơ", "Số CCCD/CMND", "Số điện thoại", "Địa chỉ",
          "Ngày tiếp nhận", "Ngày hẹn trả", "Trạng thái", "Lệ phí", "Ghi chú"]  # fmt: skip

# The same five dossiers in every form. No name starts with a toned capital: TCVN3 cannot write one.
DOSSIERS = [
    {"code": "000.00.53.H48-250601-0001", "proc": "Đăng ký khai sinh", "name": "Nguyễn Thị Hồng",
     "id": "010203012345", "phone": "0912345678", "addr": "Thôn Khe Mụ, xã Sơn Hà",
     "received": date(2025, 6, 1), "due": date(2025, 7, 3), "status": "Đang xử lý", "fee": 0, "note": ""},
    {"code": "000.00.53.H48-250602-0002", "proc": "Cấp giấy phép xây dựng nhà ở", "name": "Lê Văn Thắng",
     "id": "010087004321", "phone": "0388765432", "addr": "Tổ dân phố 3, thị trấn Phố Lu",
     "received": date(2025, 6, 2), "due": date(2025, 7, 15), "status": "Chờ bổ sung", "fee": 75000,
     "note": "Thiếu bản vẽ"},
    {"code": "000.00.53.H48-250610-0003", "proc": "Đăng ký hộ kinh doanh", "name": "Phạm Thị Bảo",
     "id": "010301005555", "phone": "0977000111", "addr": "Bản Cầm, xã Thái Niên",
     "received": date(2025, 6, 10), "due": date(2025, 6, 20), "status": "Đang xử lý", "fee": 100000,
     "note": ""},
    {"code": "000.00.53.H48-250615-0004", "proc": "Trợ cấp xã hội hằng tháng", "name": "Hoàng Văn Dũng",
     "id": "010060001234", "phone": "0833123456", "addr": "Thôn Nậm Củm, xã Sơn Hải",
     "received": date(2025, 6, 15), "due": date(2025, 7, 25), "status": "Mới tiếp nhận", "fee": 0,
     "note": "Hộ nghèo"},
    {"code": "000.00.53.H48-250620-0005", "proc": "Đăng ký kết hôn", "name": "Trần Thị Lương",
     "id": "010198006789", "phone": "0868555222", "addr": "Thôn Cốc Sâm, xã Phong Niên",
     "received": date(2025, 6, 20), "due": date(2025, 6, 25), "status": "Đang xử lý", "fee": 0, "note": ""},
]  # fmt: skip


def _clean_rows() -> list[list[str]]:
    rows = []
    for i, d in enumerate(DOSSIERS, 1):
        rows.append([str(i), d["code"], d["proc"], d["name"], d["id"], d["phone"], d["addr"],
                     d["received"].isoformat(), d["due"].isoformat(), d["status"], str(d["fee"]), d["note"]])  # fmt: skip
    return rows


def _csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def write_text_corpus(out: Path) -> None:
    from handover.sources.encodings import encode_cp1258, encode_tcvn3, encode_vni

    out.mkdir(parents=True, exist_ok=True)
    text = _csv_text([HEADER, *_clean_rows()])
    (out / "dossiers_utf8.csv").write_text(text, encoding="utf-8", newline="")
    (out / "dossiers_utf8_bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (out / "dossiers_utf16.txt").write_bytes(_csv_text([HEADER, *_clean_rows()], "\t").encode("utf-16"))
    import unicodedata

    (out / "dossiers_nfd.csv").write_bytes(unicodedata.normalize("NFD", text).encode("utf-8"))
    (out / "dossiers_cp1258.csv").write_bytes(encode_cp1258(text))
    (out / "dossiers_vni.csv").write_bytes(encode_vni(text))
    # TCVN3 with two title lines and a total line, as old Windows exports look
    tcvn = _csv_text([["UBND HUYỆN BẢO THẮNG".lower().title()], ["Danh sách hồ sơ đang giải quyết"],
                      HEADER, *_clean_rows(), ["", "Tổng cộng: 5 hồ sơ"]])  # fmt: skip
    (out / "dossiers_tcvn3.csv").write_bytes(encode_tcvn3(tcvn))
    # --- bad inputs ---
    (out / "empty.csv").write_bytes(b"")
    (out / "header_only.csv").write_text(_csv_text([HEADER]), encoding="utf-8", newline="")
    (out / "wrong_delimiter.csv").write_text(
        _csv_text([HEADER, *_clean_rows()], ";"), encoding="utf-8", newline=""
    )
    ragged = _csv_text([HEADER, *_clean_rows()[:2]])
    ragged += "3,000.00.53.H48-250610-0003,Đăng ký hộ kinh doanh,Phạm Thị Bảo,010301005555,0977000111,Bản Cầm, xã Thái Niên,2025-06-10,2025-06-20,Đang xử lý,100000,Hộ nghèo\r\n"
    (out / "ragged_rows.csv").write_text(ragged, encoding="utf-8", newline="")
    dup = [h if h != "Ghi chú" else "Mã hồ sơ" for h in HEADER]
    (out / "duplicated_headers.csv").write_text(
        _csv_text([dup, *_clean_rows()]), encoding="utf-8", newline=""
    )
    (out / "missing_required.csv").write_text(
        _csv_text([[h for h in HEADER if h != "Mã hồ sơ"], *[r[:1] + r[2:] for r in _clean_rows()]]),
        encoding="utf-8",
        newline="",
    )
    rnd = random.Random(5)
    junk = bytes(rnd.randrange(256) for _ in range(4096))
    (out / "binary_junk.csv").write_bytes(b"\x7fELF\x02\x01\x01\x00" + junk)


# ---------------------------------------------------------------------------------------------------------
# Excel
# ---------------------------------------------------------------------------------------------------------


def _serial(d: date) -> int:
    return (d - date(1899, 12, 30)).days


def write_messy_xlsx(path: Path) -> None:
    """The Bảo Thắng export as a person makes it for printing.

    A hidden sheet first; then three title lines, a two-row header with merged cells ("Ngày" over
    "Tiếp nhận" | "Hẹn trả"), a row of column numbers, the data (IDs and phones as numbers, dates as real
    dates, serials, dd/mm/yyyy text and 'ngày … tháng … năm …', one hidden row, one fee as a formula with
    its cached value), a total line and a signature block.
    """
    from openpyxl import Workbook

    wb = Workbook()
    hidden = wb.active
    hidden.title = "Tham số"
    hidden["A1"] = "bảng phụ"
    hidden.sheet_state = "hidden"
    ws = wb.create_sheet("Hồ sơ")
    ws["A1"] = "UBND HUYỆN BẢO THẮNG"
    ws["A2"] = "DANH SÁCH HỒ SƠ ĐANG GIẢI QUYẾT"
    ws["A3"] = "(Kèm theo Biên bản bàn giao ngày 30/6/2025)"
    top = ["STT", "Mã hồ sơ", "Tên thủ tục", "Chủ hồ sơ", "Số CCCD/CMND", "Số điện thoại", "Địa chỉ",
           "Ngày", None, "Trạng thái", "Lệ phí (đồng)", "Ghi chú"]  # fmt: skip
    bottom = [None] * 7 + ["Tiếp nhận", "Hẹn trả"] + [None] * 3
    for j, v in enumerate(top, 1):
        ws.cell(row=4, column=j, value=v)
    for j, v in enumerate(bottom, 1):
        ws.cell(row=5, column=j, value=v)
    for j in range(1, 13):
        if j not in (8, 9):
            ws.merge_cells(start_row=4, start_column=j, end_row=5, end_column=j)
    ws.merge_cells("H4:I4")
    for j in range(1, 13):
        ws.cell(row=6, column=j, value=f"({j})")
    received_forms = [
        lambda d: datetime(d.year, d.month, d.day),
        lambda d: _serial(d),
        lambda d: d.strftime("%d/%m/%Y"),
        lambda d: f"ngày {d.day:02d} tháng {d.month} năm {d.year}",
        lambda d: f"{d.day}-{d.month}-{d.year % 100:02d}",
    ]
    r = 7
    for i, d in enumerate(DOSSIERS):
        values = [i + 1, d["code"], d["proc"], d["name"], int(d["id"]), int(d["phone"]), d["addr"],
                  received_forms[i](d["received"]), received_forms[(i + 2) % 5](d["due"]), d["status"],
                  f"{d['fee']:,}".replace(",", ".") if i == 2 else d["fee"], d["note"] or None]  # fmt: skip
        for j, v in enumerate(values, 1):
            ws.cell(row=r, column=j, value=v)
        r += 1
    ws.row_dimensions[8].hidden = True
    ws.cell(row=r, column=1, value="Tổng cộng: 5 hồ sơ")
    ws.cell(row=r + 2, column=2, value="NGƯỜI LẬP BIỂU")
    ws.cell(row=r + 2, column=8, value="THỦ TRƯỞNG ĐƠN VỊ")
    ws.cell(row=r + 3, column=2, value="(Ký, ghi rõ họ tên)")
    ws.cell(row=r + 3, column=8, value="(Ký tên, đóng dấu)")
    # the second dossier's fee as a formula: written below with its cached value
    ws.cell(row=8, column=11, value="=25000*3")
    buf = io.BytesIO()
    wb.save(buf)
    _set_cached_values(buf.getvalue(), path, {"K8": "75000"})


def _set_cached_values(data: bytes, path: Path, cached: dict[str, str]) -> None:
    """openpyxl writes formulas without a cached value; Excel always stores one. Add it."""
    src = zipfile.ZipFile(io.BytesIO(data))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename.startswith("xl/worksheets/sheet"):
                text = body.decode("utf-8")
                for ref, value in cached.items():
                    text = re.sub(
                        rf'(<c r="{ref}"[^>]*>)<f>([^<]*)</f><v\s*/?>(</v>)?',
                        rf"\1<f>\2</f><v>{value}</v>",
                        text,
                    )
                body = text.encode("utf-8")
            dst.writestr(info, body)


def write_bad_xlsx(out: Path) -> None:
    good = io.BytesIO()
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for row in _clean_rows():
        ws.append(row)
    wb.save(good)
    data = good.getvalue()
    (out / "truncated.xlsx").write_bytes(data[: len(data) // 2])
    with zipfile.ZipFile(out / "corrupt.xlsx", "w") as zf, zipfile.ZipFile(io.BytesIO(data)) as src:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename.startswith("xl/worksheets/sheet"):
                body = b"<worksheet><sheetData><row r='1'><c r='A1' t='s'><v>0</v></c>" + b"\x00\xff garbage"
            zf.writestr(info, body)
    # An encrypted OOXML workbook is an OLE compound file holding EncryptionInfo / EncryptedPackage streams.
    # This stand-in has the OLE signature and the stream names in a directory sector (what the reader checks).
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    directory = b"".join(
        n.encode("utf-16-le").ljust(128, b"\x00")
        for n in ("Root Entry", "EncryptionInfo", "EncryptedPackage")
    )
    (out / "encrypted.xlsx").write_bytes(header + directory.ljust(512, b"\x00") + b"\x00" * 1024)


def write_zip_bomb(path: Path, size_mb: int = 300) -> None:
    """A valid-looking .xlsx whose one sheet expands to ``size_mb`` MB of XML (kept small on disk)."""
    block = b"<row>" + b" " * (1024 * 1024 - 11) + b"</row>"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            for _ in range(size_mb):
                fh.write(block)


def write_legacy_xls(path: Path) -> bool:
    """Excel 97–2003 (.xls): a title line, the header, the dossiers (IDs as numbers, dates as real dates).

    Needs the writer library xlwt (only to rebuild this file; the tests read the committed copy).
    """
    try:
        import xlwt  # type: ignore[import-untyped]
    except ImportError:
        return False
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("DanhSach")
    date_style = xlwt.easyxf(num_format_str="DD/MM/YYYY")
    ws.write(0, 0, "DANH SÁCH HỒ SƠ ĐANG GIẢI QUYẾT")
    for j, h in enumerate(HEADER):
        ws.write(2, j, h)
    for i, d in enumerate(DOSSIERS):
        r = 3 + i
        values = [i + 1, d["code"], d["proc"], d["name"], int(d["id"]), int(d["phone"]), d["addr"]]
        for j, v in enumerate(values):
            ws.write(r, j, v)
        ws.write(r, 7, datetime(d["received"].year, d["received"].month, d["received"].day), date_style)
        ws.write(r, 8, d["due"].strftime("%d/%m/%Y"))
        ws.write(r, 9, d["status"])
        ws.write(r, 10, d["fee"])
        if d["note"]:
            ws.write(r, 11, d["note"])
    ws.write(3 + len(DOSSIERS), 0, "Tổng cộng: 5 hồ sơ")
    wb.save(str(path))
    return True


def build(out: Path = HERE) -> None:
    write_text_corpus(out)
    write_messy_xlsx(out / "export_bao_thang.xlsx")
    write_bad_xlsx(out)
    write_legacy_xls(out / "export_legacy.xls")


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
