"""open_source over the corpus in tests/data/: every bad input refused with its message, the messy
Excel export read as a person means it, SQL read-only, memory flat on a large CSV."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from handover.config import SourceConfig
from handover.errors import ExitCode, SourceError
from handover.models import DOSSIER_FIELDS, RECORD_FIELDS, TECHNICAL_COLUMNS, Severity
from handover.sources import open_source
from tests.data.make_corpus import DOSSIERS, write_zip_bomb

DATA = Path(__file__).resolve().parent.parent / "data"


def _cfg(name: str | Path, kind: str = "csv", **kw: object) -> SourceConfig:
    path = name if isinstance(name, Path) else DATA / name
    return SourceConfig(id="src", kind=kind, path=path, **kw)  # type: ignore[arg-type]


def _read(cfg: SourceConfig, chunk_size: int = 100):
    reader = open_source(cfg, chunk_size)
    chunks = list(reader.chunks())
    return reader, chunks


# --- the corpus of bad inputs: (file, kind, config, message start, context) ----------------------------------
BAD = [
    ("empty.csv", "csv", {}, "The file is empty: it has no rows to read.", {}),
    ("header_only.csv", "csv", {}, "The file has a header (row 1) but no data rows under it.", {"row": 1}),
    (
        "wrong_delimiter.csv",
        "csv",
        {"delimiter": ","},
        "No header row found: the file seems to use semicolon (';') between values, not comma.",
        {"column": "delimiter"},
    ),
    (
        "ragged_rows.csv",
        "csv",
        {},
        "Line 4 has 13 values but the header (row 1) has 12 columns: the values are shifted.",
        {"row": 4},
    ),
    (
        "duplicated_headers.csv",
        "csv",
        {},
        "The header 'Mã hồ sơ' appears twice (columns B and L), so which one holds dossier_code is unclear.",
        {"row": 1, "column": "Mã hồ sơ"},
    ),
    (
        "missing_required.csv",
        "csv",
        {},
        "The required column for dossier_code is missing (headers found in row 1: 'STT', 'Tên thủ tục',",
        {"row": 1, "column": "dossier_code"},
    ),
    (
        "binary_junk.csv",
        "csv",
        {},
        "The file is not text: it holds binary data (NUL bytes or control characters), so it cannot be read as CSV.",
        {},
    ),
    (
        "truncated.xlsx",
        "xlsx",
        {},
        "The workbook is damaged or incomplete and cannot be read (not a complete zip archive).",
        {},
    ),
    ("corrupt.xlsx", "xlsx", {}, "The workbook is damaged or incomplete and cannot be read (ParseError", {}),
    (
        "encrypted.xlsx",
        "xlsx",
        {},
        "The workbook is password-protected (encrypted), so it cannot be read.",
        {},
    ),
    ("dossiers_utf8.csv", "csv", {"profile": "khong-co"}, "Unknown source profile 'khong-co'.", {}),
    ("khong_co.csv", "csv", {}, "The source file '", {}),
    (
        "export_bao_thang.xlsx",
        "xlsx",
        {"sheet": "Sheet9"},
        "The workbook has no sheet named 'Sheet9'.",
        {"column": "sheet"},
    ),
]


@pytest.mark.parametrize("name,kind,extra,message,context", BAD, ids=[f"{b[0]}-{b[3][:20]}" for b in BAD])
def test_bad_input_is_refused_with_its_message(
    name: str, kind: str, extra: dict, message: str, context: dict
) -> None:
    with pytest.raises(SourceError) as err:
        reader = open_source(_cfg(name, kind, **extra), 100)
        list(reader.chunks())
    exc = err.value
    assert exc.message.startswith(message), exc.message
    assert exc.context["file"] == str(DATA / name)
    for key, value in context.items():
        assert exc.context[key] == value
    assert exc.hint  # every refusal says what to do next
    assert exc.exit_code == ExitCode.INPUT


def test_refusal_happens_at_open_before_any_chunk() -> None:
    """No partial load: the ragged line is near the end, yet open_source refuses before a chunk exists."""
    with pytest.raises(SourceError):
        open_source(_cfg("ragged_rows.csv"), 1)


def test_zip_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    import tracemalloc

    bomb = tmp_path / "bomb.xlsx"
    write_zip_bomb(bomb, size_mb=300)
    assert bomb.stat().st_size < 2 * 1024 * 1024  # 300 MB of XML in under 2 MB
    tracemalloc.start()
    with pytest.raises(SourceError) as err:
        open_source(_cfg(bomb, "xlsx"), 100)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert err.value.message.startswith("The workbook is refused: member xl/worksheets/sheet1.xml expands ")
    assert "zip bomb" in err.value.message
    assert peak < 20 * 1024 * 1024


def test_zip_total_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from handover.sources import excel_reader

    monkeypatch.setattr(excel_reader, "MAX_UNCOMPRESSED", 1000)
    with pytest.raises(SourceError) as err:
        open_source(_cfg("export_bao_thang.xlsx", "xlsx"), 100)
    assert "expand to" in err.value.message and "(limit 0 MB)" in err.value.message


# --- the messy Excel export ---------------------------------------------------------------------------------


def test_messy_excel_export() -> None:
    reader, chunks = _read(
        _cfg("export_bao_thang.xlsx", "xlsx", old_province_code="10", old_district_code="86")
    )
    rep = reader.report
    assert rep["sheet"] == "Hồ sơ" and rep["hidden_sheets"] == ["Tham số"]
    assert rep["header_row"] == 4 and rep["header_rows"] == [4, 5]
    assert rep["numbering_row"] == 6
    assert rep["data_rows"] == 5
    assert [f["row"] for f in rep["footer_lines"]] == [12, 14, 15]
    assert rep["footer_lines"][0]["text"] == "Tổng cộng: 5 hồ sơ"
    assert rep["footer_dropped"] == 3
    assert rep["hidden_rows"] == [8]  # hidden, still data
    by_source = {c["source"]: c["field"] for c in rep["columns"]}
    assert by_source["Ngày Tiếp nhận"] == "received_date" and by_source["Ngày Hẹn trả"] == "due_date"
    assert by_source["Lệ phí (đồng)"] == "fee" and by_source["STT"] is None
    frame = chunks[0].frame
    assert list(frame.columns) == [*TECHNICAL_COLUMNS, *DOSSIER_FIELDS]
    assert frame["source_row"].tolist() == [7, 8, 9, 10, 11]
    assert frame["dossier_code"].tolist() == [d["code"] for d in DOSSIERS]
    assert frame["applicant_id"].tolist() == [d["id"] for d in DOSSIERS]  # leading zeros restored
    assert frame["phone"].tolist() == [d["phone"] for d in DOSSIERS]
    assert frame["received_date"].tolist() == [d["received"].isoformat() for d in DOSSIERS]
    assert frame["due_date"].tolist() == [d["due"].isoformat() for d in DOSSIERS]
    assert frame["fee"].tolist() == [float(d["fee"]) for d in DOSSIERS]  # K8 is a formula: cached 75000
    assert frame["old_province_code"].tolist() == ["10"] * 5
    assert frame["old_district_code"].tolist() == ["086"] * 5
    assert frame["source_system"].tolist() == ["src"] * 5
    assert json.loads(frame["extras"][0]) == {"STT": "1"}
    repairs = [f for f in chunks[0].findings if f.check == "id_leading_zero"]
    assert [f.row for f in repairs] == [7, 8, 9, 10, 11]
    assert all(f.severity is Severity.WARNING and f.field == "applicant_id" for f in repairs)
    assert repairs[0].key == DOSSIERS[0]["code"]
    assert rep["repairs"] == {"id_leading_zero": 5, "phone_leading_zero": 5}


def test_legacy_xls_through_calamine() -> None:
    reader, chunks = _read(_cfg("export_legacy.xls", "xls"))
    rep = reader.report
    assert rep["encoding"] == "Excel 97–2003 (.xls, BIFF)"
    assert rep["sheet"] == "DanhSach" and rep["header_row"] == 3
    assert rep["footer_lines"] == [{"row": 9, "text": "Tổng cộng: 5 hồ sơ"}]
    frame = chunks[0].frame
    assert frame["source_row"].tolist() == [4, 5, 6, 7, 8]
    assert frame["applicant_id"].tolist() == [d["id"] for d in DOSSIERS]
    assert frame["received_date"].tolist() == [d["received"].isoformat() for d in DOSSIERS]


def test_chunks_split_and_keep_row_numbers() -> None:
    reader, chunks = _read(_cfg("dossiers_utf8.csv"), chunk_size=2)
    assert [c.index for c in chunks] == [0, 1, 2]
    assert [c.frame["source_row"].tolist() for c in chunks] == [[2, 3], [4, 5], [6]]
    assert all(c.source_id == "src" and c.entity.value == "dossier" for c in chunks)
    assert reader.report["data_rows"] == 5


def test_fingerprint_is_sha256_of_the_file_bytes() -> None:
    reader = open_source(_cfg("dossiers_tcvn3.csv"), 100)
    raw = (DATA / "dossiers_tcvn3.csv").read_bytes()
    assert reader.fingerprint.sha256 == hashlib.sha256(raw).hexdigest()
    assert reader.fingerprint.size_bytes == len(raw)


def test_tcvn3_file_is_decoded_and_reported() -> None:
    reader, chunks = _read(_cfg("dossiers_tcvn3.csv"))
    rep = reader.report
    assert rep["encoding"] == "TCVN3 (ABC)"
    assert "decode to Vietnamese syllables as TCVN3 (ABC)" in rep["encoding_evidence"]
    assert rep["header_row"] == 3
    assert rep["columns"][1] == {"column": "B", "source": "Mã hồ sơ", "field": "dossier_code"}
    assert chunks[0].frame["applicant_name"].tolist() == [d["name"] for d in DOSSIERS]
    assert rep["footer_lines"] == [{"row": 9, "text": "Tổng cộng: 5 hồ sơ"}]
    file_level = [f for f in chunks[0].findings if f.check == "legacy_encoding_file"]
    assert len(file_level) == 1 and file_level[0].row is None
    assert file_level[0].message_en.startswith("The file was read as TCVN3 (ABC) and converted to Unicode (")


def test_explicit_encoding_overrides_detection() -> None:
    reader, _ = _read(_cfg("dossiers_cp1258.csv", encoding="windows-1258"))
    assert reader.report["encoding"] == "Windows-1258"
    assert reader.report["encoding_evidence"] == "set in the batch configuration (encoding = ...)"
    with pytest.raises(SourceError) as err:  # the wrong one is not silently accepted
        open_source(_cfg("dossiers_tcvn3.csv", encoding="cp1258"), 10)
    assert err.value.message.startswith("No header row found in the first 30 rows")


def test_unknown_encoding_name() -> None:
    with pytest.raises(SourceError) as err:
        open_source(_cfg("dossiers_utf8.csv", encoding="abc-xyz"), 10)
    assert err.value.message == "Unknown encoding 'abc-xyz'."


def test_tcvn3_lookalikes_inside_a_utf8_column(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "Mã hồ sơ,Chủ hồ sơ,Xã\nHS-1,B¶o Th¾ng,Sơn Hà\nHS-2,Nguyễn Thị Hồng,Phè Lu\nHS-3,Lª V¨n Th¾ng,Th¸i Niªn\n",
        encoding="utf-8",
    )
    reader, chunks = _read(_cfg(path))
    frame = chunks[0].frame
    assert frame["applicant_name"].tolist() == ["Bảo Thắng", "Nguyễn Thị Hồng", "Lê Văn Thắng"]
    # "Phè Lu" is a valid spelling on its own; the column's other TCVN3 cell tells it means "Phố Lu"
    assert frame["old_commune_name"].tolist() == ["Sơn Hà", "Phố Lu", "Thái Niên"]
    found = [f for f in chunks[0].findings if f.check == "legacy_encoding_in_column"]
    assert [(f.field, f.row, f.severity) for f in found] == [
        ("applicant_name", None, Severity.WARNING),
        ("old_commune_name", None, Severity.WARNING),
    ]
    assert "B¶o Th¾ng" in found[0].message_vi and "Bảo Thắng" in found[0].message_en
    assert reader.report["column_encodings"]["Chủ hồ sơ"]["cells"] == 2
    assert reader.report["column_encodings"]["Chủ hồ sơ"]["encoding"] == "TCVN3 (ABC)"


@pytest.mark.parametrize(
    "name",
    [
        "dossiers_utf8_bom.csv",
        "dossiers_utf16.txt",
        "dossiers_nfd.csv",
        "dossiers_cp1258.csv",
        "dossiers_vni.csv",
    ],
)
def test_every_encoding_gives_the_same_names(name: str) -> None:
    _, chunks = _read(_cfg(name))
    frame = chunks[0].frame
    assert frame["applicant_name"].tolist() == [d["name"] for d in DOSSIERS]
    assert frame["address"].tolist() == [d["addr"] for d in DOSSIERS]


def test_config_columns_and_record_defaults(tmp_path: Path) -> None:
    path = tmp_path / "births.csv"
    path.write_text(
        "Quyển/Số ĐK,Họ tên,Ngày sinh,Mã xã,Cột riêng\nKS-01/2025,Nguyễn Văn An,1-2-25,2938,x\n",
        encoding="utf-8",
    )
    cfg = SourceConfig(
        id="ks",
        kind="csv",
        path=path,
        entity="record",
        record_type="birth",
        columns={"Quyển/Số ĐK": "record_number"},
        old_province_code="10",
    )
    _, chunks = _read(cfg)
    frame = chunks[0].frame
    assert list(frame.columns) == [*TECHNICAL_COLUMNS, *RECORD_FIELDS]
    row = frame.iloc[0]
    assert row["record_number"] == "KS-01/2025"
    assert row["record_type"] == "birth"
    assert row["subject_name"] == "Nguyễn Văn An"
    assert row["subject_birth_date"] == "2025-02-01"
    assert row["old_commune_code"] == "02938"
    assert row["old_province_code"] == "10"
    assert row["old_district_code"] is None
    assert json.loads(row["extras"]) == {"Cột riêng": "x"}


def test_config_column_to_unknown_field(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        open_source(_cfg("dossiers_utf8.csv", columns={"Mã hồ sơ": "ma_ho_so"}), 10)
    assert (
        err.value.message == "[sources.columns] maps 'Mã hồ sơ' to 'ma_ho_so', which is not a dossier field."
    )


# --- SQL --------------------------------------------------------------------------------------------------


def _district_db(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE ho_so (id INTEGER PRIMARY KEY, MaHoSo TEXT, ChuHoSo TEXT, MaDoiTuong TEXT, "
                "NgayHenTra TEXT, SoDienThoai INTEGER)")  # fmt: skip
    con.executemany(
        "INSERT INTO ho_so VALUES (?,?,?,?,?,?)",
        [(3, "HS-3", "Lê Văn Thắng", "10087004321", "20250715000000", 388765432),
         (1, "HS-1", "Nguyễn Thị Hồng", "010203012345", "1994-10-23T17:00:00.000+0000", 912345678)],
    )  # fmt: skip
    con.commit()
    con.close()


def test_sql_table_read_only_in_key_order(tmp_path: Path) -> None:
    db = tmp_path / "district.db"
    _district_db(db)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    cfg = SourceConfig(id="db", kind="sql", url=f"sqlite:///{db}", table="ho_so", old_district_code="086")
    reader = open_source(cfg, 1)
    chunks = list(reader.chunks())
    assert [c.frame["dossier_code"].iloc[0] for c in chunks] == ["HS-1", "HS-3"]
    assert [c.frame["source_row"].iloc[0] for c in chunks] == [1, 3]  # numbered by the primary key
    assert chunks[0].frame["due_date"].iloc[0] == "1994-10-24"
    assert chunks[1].frame["applicant_id"].iloc[0] == "010087004321"
    assert chunks[1].frame["phone"].iloc[0] == "0388765432"
    assert json.loads(chunks[0].frame["extras"].iloc[0]) == {"id": "1"}
    fp = reader.fingerprint.sha256
    assert open_source(cfg, 10).fingerprint.sha256 == fp  # the same rows give the same fingerprint
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # never written


def test_sql_connection_is_read_only(tmp_path: Path) -> None:
    db = tmp_path / "district.db"
    _district_db(db)
    reader = open_source(SourceConfig(id="db", kind="sql", url=f"sqlite:///{db}", table="ho_so"), 10)
    from sqlalchemy import text

    with reader.engine.connect() as conn, pytest.raises(Exception, match=r"readonly|read-only|read only"):
        conn.execute(text("DELETE FROM ho_so"))


def test_sql_query_and_missing_database(tmp_path: Path) -> None:
    db = tmp_path / "district.db"
    _district_db(db)
    cfg = SourceConfig(
        id="db", kind="sql", url=f"sqlite:///{db}", query="SELECT MaHoSo FROM ho_so WHERE id = 3"
    )
    _, chunks = _read(cfg)
    assert chunks[0].frame["dossier_code"].tolist() == ["HS-3"]
    with pytest.raises(SourceError) as err:
        open_source(SourceConfig(id="db", kind="sql", url=f"sqlite:///{tmp_path}/none.db", table="t"), 10)
    assert err.value.message == f"The SQLite database '{tmp_path}/none.db' does not exist."


# --- memory ---------------------------------------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


@pytest.mark.slow
def test_large_csv_memory_stays_flat(tmp_path: Path) -> None:
    import csv

    path = tmp_path / "big.csv"
    rows = 300_000
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["STT", "Mã hồ sơ", "Chủ hồ sơ", "Số CCCD/CMND", "Ngày tiếp nhận", "Ngày hẹn trả", "Trạng thái"]
        )
        for i in range(rows):
            w.writerow([i + 1, f"000.00.53.H48-250601-{i:06d}", f"Nguyễn Văn {i}", f"0102030{i % 100000:05d}",
                        f"{i % 28 + 1:02d}/06/2025", "2025-07-10", "Đang xử lý"])  # fmt: skip
    import tracemalloc

    reader = open_source(_cfg(path), 20_000)
    rss = []
    held = []  # bytes Python objects hold after each chunk (tracemalloc: not the allocator's arenas)
    total = 0
    tracemalloc.start()
    try:
        for chunk in reader.chunks():
            total += len(chunk.frame)
            del chunk
            rss.append(_rss_mb())
            held.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert total == rows and len(rss) == 15
    # flat: after the last chunk Python holds no more than after the second (a cache filling with every distinct
    # value of 300,000 rows holds tens of MB), and the process's memory has not grown with the chunks either
    # (RSS moves with the allocator's arenas and with what other tests of this worker left: a loose bound)
    assert held[-1] - held[1] < 5e6, held
    assert rss[-1] - rss[1] < 80, rss


def test_ids_stored_as_numbers_get_back_one_or_two_zeros(tmp_path: Path) -> None:
    """A CCCD of Hà Nội (001) loses two zeros in a number cell, one of Lào Cai (010) one; a tax code and
    a number that cannot be a CCCD are left alone, each repair a finding saying how many zeros."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Mã hồ sơ", "Chủ hồ sơ", "Số CCCD"])
    ids = [1203012345, 10203012345, 1200000016, 99203012345, "001203012345"]
    for i, value in enumerate(ids, 1):
        ws.append([f"000.00.53.H48-250601-000{i}", "Nguyễn Văn An", value])
    wb.save(tmp_path / "ids.xlsx")
    _, chunks = _read(_cfg(tmp_path / "ids.xlsx", "xlsx"))
    frame, findings = chunks[0].frame, chunks[0].findings
    assert list(frame["applicant_id"]) == [
        "001203012345",
        "010203012345",
        "1200000016",
        "99203012345",
        "001203012345",
    ]
    repairs = [f for f in findings if f.check == "id_leading_zero"]
    assert [f.row for f in repairs] == [2, 3]
    assert "mất 2 số 0 đầu" in repairs[0].message_vi and "2 leading zeros were added" in repairs[0].message_en
    assert "10 chữ số" in repairs[0].message_vi and "11 chữ số" in repairs[1].message_vi
    assert "a leading 0 was added" in repairs[1].message_en


# --- the time of day ------------------------------------------------------------------------------------------

# (received as written, its day, its local time of day)
TIMED = [
    ("23/02/2025 14:35:20", "2025-02-23", "2025-02-23T14:35:20"),
    ("2025-02-23T03:00:00Z", "2025-02-23", "2025-02-23T10:00:00"),
    ("1994-10-23T17:00:00.000+0000", "1994-10-24", None),  # vendor UTC stamp of local midnight
    ("23/02/2025", "2025-02-23", None),
    ("31/02/2025 10:00", "31/02/2025 10:00", None),  # left to validation
]


def test_times_of_day_from_csv_text(tmp_path: Path) -> None:
    path = tmp_path / "timed.csv"
    lines = ["Mã hồ sơ,Ngày tiếp nhận,Ngày hẹn trả,Ghi chú"]
    lines += [f"HS-{i},{received},20250310163005,x" for i, (received, _, _) in enumerate(TIMED)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, chunks = _read(_cfg(path))
    frame = chunks[0].frame
    assert list(frame.columns) == [*TECHNICAL_COLUMNS, *DOSSIER_FIELDS]
    assert frame["received_date"].tolist() == [day for _, day, _ in TIMED]
    assert frame["received_at"].tolist() == [at for _, _, at in TIMED]
    assert frame["due_date"].tolist() == ["2025-03-10"] * len(TIMED)
    assert frame["due_at"].tolist() == ["2025-03-10T16:30:05"] * len(TIMED)
    assert frame["returned_at"].tolist() == [None] * len(TIMED)  # no such column


def test_times_of_day_from_excel_date_time_cells(tmp_path: Path) -> None:
    from datetime import date, datetime

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Mã hồ sơ", "Ngày tiếp nhận", "Ngày hẹn trả"])
    cells = [
        ("HS-1", datetime(2025, 2, 23, 14, 35, 20), date(2025, 3, 10)),  # a date-time cell, a date cell
        ("HS-2", datetime(2025, 2, 23, 0, 0), "10/03/2025 07:05"),  # midnight: a date; a text with a time
        ("HS-3", 45711.6078703704, 45726),  # serial numbers (no date style): the fraction is the time
    ]
    for row in cells:
        ws.append(list(row))
    ws["B2"].number_format = "dd/mm/yyyy hh:mm:ss"
    ws["B3"].number_format = "dd/mm/yyyy"
    ws["C2"].number_format = "dd/mm/yyyy"
    path = tmp_path / "timed.xlsx"
    wb.save(path)
    _, chunks = _read(_cfg(path, kind="xlsx"))
    frame = chunks[0].frame
    assert frame["received_date"].tolist() == ["2025-02-23"] * 3
    assert frame["received_at"].tolist() == ["2025-02-23T14:35:20", None, "2025-02-23T14:35:20"]
    assert frame["due_date"].tolist() == ["2025-03-10"] * 3
    assert frame["due_at"].tolist() == [None, "2025-03-10T07:05:00", None]


def test_the_time_fields_are_not_mapped_from_a_column(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        open_source(_cfg("dossiers_utf8.csv", columns={"Ghi chú": "received_at"}), 10)
    assert err.value.message == (
        "[sources.columns] maps 'Ghi chú' to 'received_at', which is not a dossier field."
    )
    assert "received_at" not in (err.value.hint or "") and "received_date" in (err.value.hint or "")
