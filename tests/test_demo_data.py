"""Demo inputs: deterministic, realistic, with the planted problems in the intended shares; config loads.

Truths are read back from the written files and checked against the statistics office's raw tables
(``data/gso/``), not against the generator's own lists.
"""

from __future__ import annotations

import csv
import hashlib
import sqlite3
import unicodedata
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from handover.config import load_config
from handover.demo.batch import generate_demo_inputs, write_demo_config
from handover.demo.scans import BT_SCANS, VB_SCANS
from handover.resources import gso_dir, mappings_dir
from handover.text import fold

pdfplumber = pytest.importorskip("pdfplumber")

FILES = ("bao_thang_086.xlsx", "van_ban_089.csv", "district_system.db")
FINISHED = {"đã trả kết quả", "đã xử lý xong", "công dân yêu cầu rút hồ sơ", "không được tiếp nhận"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_demo_inputs(out, seed=7)
    return out


def gso_communes(district: str) -> set[str]:
    with (gso_dir() / "communes_2025-01-04.csv").open(encoding="utf-8") as fh:
        return {
            fold(r["Phường Xã"]) for r in csv.DictReader(fh) if r["Mã TP"] == "10" and r["Mã QH"] == district
        }


def gso_split_codes() -> set[str]:
    with (gso_dir() / "conversion_2025-07-01.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[2:]
    targets: dict[str, set[str]] = {}
    for r in rows:
        if len(r) > 4 and r[4].strip().isdigit():
            targets.setdefault(r[4].strip(), set()).add(r[2].strip())
    return {code for code, new in targets.items() if len(new) > 1}


def known(name: str, official: set[str]) -> bool:
    key = fold(name)
    return key in official or any(o.split(" ", 1)[-1] == key or o.endswith(" " + key) for o in official)


def xlsx_rows(path: Path) -> tuple[list[tuple], list[list]]:
    ws = openpyxl.load_workbook(path).active
    all_rows = list(ws.iter_rows(values_only=True))
    header = all_rows[4]
    data = []
    for r in all_rows[5:]:
        if isinstance(r[0], str) and r[0].startswith("Tổng cộng"):
            break
        data.append(list(r))
    return [header, *all_rows[:4]], data


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate_demo_inputs(tmp_path / name, seed=seed, rows=80)
    for f in FILES:
        a = (tmp_path / "a" / "exports" / f).read_bytes()
        assert a == (tmp_path / "b" / "exports" / f).read_bytes(), f
        assert a != (tmp_path / "c" / "exports" / f).read_bytes(), f
    scans = tree(tmp_path / "a" / "exports")
    assert len(scans) > 60 and scans == tree(tmp_path / "b" / "exports")
    assert scans != tree(tmp_path / "c" / "exports")
    generate_demo_inputs(tmp_path / "c", seed=3, rows=80)  # over another seed's files: none of them stays
    assert tree(tmp_path / "c" / "exports") == scans


# The columns of the demo's first version, as generate_demo_inputs(seed=7, rows=80) wrote them, phones and
# e-mails left out (a few applicants lost theirs): the payment columns and the scans came from a second random
# generator, so that every value drawn before stays as it was. Changes when mappings/units or procedures.csv do.
FIRST_COLUMNS_SHA256 = "58389ea76b829812cf513248140ff4b12f9ec4ff5611a4341d5adea7e135a20e"
FIRST_BT = ["STT", "Mã hồ sơ", "Tên thủ tục", "Mã thủ tục", "Lĩnh vực", "Chủ hồ sơ", "Số CCCD", "Địa chỉ",
            "Xã/Thị trấn", "Ngày tiếp nhận", "Ngày hẹn trả", "Trạng thái", "Hình thức", "Ghi chú"]  # fmt: skip
FIRST_VB = ["Số hồ sơ", "Mã TTHC", "Tên TTHC", "Lĩnh vực", "Loại đối tượng", "Chủ hồ sơ", "Số CCCD/CMND",
            "Địa chỉ", "Mã tỉnh", "Mã huyện", "Mã xã", "Xã", "Ngày nhận", "Hạn trả", "Trạng thái",
            "Hình thức nộp", "Lệ phí", "Ghi chú"]  # fmt: skip


def test_first_columns_keep_their_values(tmp_path: Path) -> None:
    exports = generate_demo_inputs(tmp_path, seed=7, rows=80)
    digest = hashlib.sha256()
    for r in vb_rows(exports):
        digest.update(repr([r[c] for c in FIRST_VB]).encode())
    (header, *_), data = xlsx_rows(exports / "bao_thang_086.xlsx")
    for r in data:
        row = dict(zip(header, r, strict=True))
        digest.update(repr([row[c] for c in FIRST_BT]).encode())
    assert digest.hexdigest() == FIRST_COLUMNS_SHA256


def test_bao_thang_excel_layout(demo: Path) -> None:
    path = demo / "exports" / "bao_thang_086.xlsx"
    ws = openpyxl.load_workbook(path).active
    assert ws["A1"].value == "UBND HUYỆN BẢO THẮNG"
    assert ws["A2"].value == "DANH SÁCH HỒ SƠ ĐANG GIẢI QUYẾT"
    assert "30/06/2025" in ws["A3"].value
    assert "A1:U1" in {str(r) for r in ws.merged_cells.ranges}
    (header, *_), data = xlsx_rows(path)
    assert header[:7] == ("STT", "Mã hồ sơ", "Tên thủ tục", "Mã thủ tục", "Lĩnh vực", "Chủ hồ sơ", "Số CCCD")
    assert header[-1] == "Ghi chú"
    values = [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]
    assert f"Tổng cộng: {len(data)} hồ sơ" in values
    assert "Người lập biểu" in values and "(Ký, ghi rõ họ tên)" in values
    received = [r[10] for r in data]
    assert any(isinstance(v, datetime) for v in received) and any(isinstance(v, str) for v in received)
    ids = [r[6] for r in data]
    assert sum(isinstance(v, int) and len(str(v)) == 11 for v in ids) > len(ids) * 0.5  # zero lost
    assert 600 <= len(data) <= 625


def test_bao_thang_problem_shares(demo: Path) -> None:
    _, data = xlsx_rows(demo / "exports" / "bao_thang_086.xlsx")
    n = len(data)

    def bad_date(v: object) -> bool:
        if isinstance(v, datetime):
            return False
        try:
            datetime.strptime(str(v), "%d/%m/%Y")
        except ValueError:
            return True
        return False

    official = gso_communes("086")
    shares = {
        "bad_date": sum(bad_date(r[10]) for r in data) / n,
        "unknown_commune": sum(not known(unicodedata.normalize("NFC", r[9]), official) for r in data) / n,
        "finished": sum(fold(r[12]) in {fold(s) for s in FINISHED} for r in data) / n,
        "duplicate": (n - len({tuple(r[1:]) for r in data})) / n,
    }
    assert 0.02 <= shares["bad_date"] <= 0.04, shares
    assert 0.01 <= shares["unknown_commune"] <= 0.03, shares
    assert 0.06 <= shares["finished"] <= 0.10, shares
    assert 0.01 <= shares["duplicate"] <= 0.03, shares
    families = {r[5].split()[0] for r in data if not r[5].startswith("Công ty")}
    assert {"Nguyễn", "Trần", "Lê"} <= {unicodedata.normalize("NFC", f) for f in families}
    assert any(unicodedata.normalize("NFC", r[5]) != r[5] for r in data)  # some NFD text
    statuses = {r[12] for r in data}
    assert "Đang xử lý" in statuses and "Chờ bổ sung" in statuses


def vb_rows(exports: Path) -> list[dict[str, str]]:
    with (exports / "van_ban_089.csv").open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def bt_dicts(exports: Path) -> list[dict[str, object]]:
    (header, *_), data = xlsx_rows(exports / "bao_thang_086.xlsx")
    return [dict(zip(header, r, strict=True)) for r in data]


def once(rows: list[dict], code: str) -> list[dict]:
    """Each dossier once (the exports repeat a few rows exactly)."""
    return list({r[code]: r for r in rows}.values())


CHANNELS = {"Tiền mặt", "Chuyển khoản", "Cổng DVCQG"}


def test_fees_paid_and_unpaid_with_one_problem_each(demo: Path) -> None:
    exports = demo / "exports"
    vb = once(vb_rows(exports), "Số hồ sơ")
    due = [r for r in vb if int(r["Lệ phí"]) > 0]
    paid = [r for r in due if r["Số tiền đã nộp"]]
    assert 0.7 <= len(paid) / len(due) <= 0.95, (len(paid), len(due))  # most paid, some not yet
    assert all(not r["Số tiền đã nộp"] and not r["Số biên lai"] for r in vb if int(r["Lệ phí"]) == 0)
    assert all(r["Hình thức thanh toán"] in CHANNELS and r["Số biên lai"] for r in paid)
    assert {r["Hình thức thanh toán"] for r in paid} == CHANNELS
    assert all(datetime.strptime(r["Ngày thanh toán"], "%d/%m/%Y") < datetime(2025, 7, 1) for r in paid)
    over = [r for r in paid if int(r["Số tiền đã nộp"]) > int(r["Lệ phí"])]
    assert len(over) == 1 and int(over[0]["Số tiền đã nộp"]) == 10 * int(over[0]["Lệ phí"])

    with (mappings_dir() / "procedures.csv").open(encoding="utf-8") as fh:
        free = {r["procedure_code"] for r in csv.DictReader(fh) if r.get("free") == "yes"}
    bt = once(bt_dicts(exports), "Mã hồ sơ")
    assert all(r["Lệ phí (đồng)"] == 0 for r in bt if str(r["Mã thủ tục"]).split(".000.")[0] in free)
    bt_due = [r for r in bt if r["Lệ phí (đồng)"]]
    bt_paid = [r for r in bt_due if r["Số tiền đã thu"]]
    assert 0.7 <= len(bt_paid) / len(bt_due) <= 0.95
    assert all(
        r["Số tiền đã thu"] == r["Lệ phí (đồng)"] and isinstance(r["Ngày thu phí"], datetime) for r in bt_paid
    )
    assert all(r["Hình thức thu phí"] in CHANNELS for r in bt_paid)
    assert len([r for r in bt_paid if not r["Số biên lai"]]) == 1  # paid, no receipt number


def test_a_few_applicants_without_contact(demo: Path) -> None:
    vb = once(vb_rows(demo / "exports"), "Số hồ sơ")
    assert len([r for r in vb if not r["Điện thoại"] and not r["Email"]]) == 3
    bt = once(bt_dicts(demo / "exports"), "Mã hồ sơ")
    assert len([r for r in bt if r["Số điện thoại"] is None]) == 2


def test_scans_a_folder_per_dossier_and_a_column(demo: Path) -> None:
    exports = demo / "exports"
    codes = {r["Số hồ sơ"] for r in vb_rows(exports)}
    folders = {p.name for p in (exports / VB_SCANS).iterdir()}
    assert folders <= codes and len(codes - folders) == 3  # three dossiers' scans are missing
    scans = sorted((exports / VB_SCANS).rglob("*.pdf"))
    contents = [p.read_bytes() for p in scans]
    assert len(contents) - len(set(contents)) == 1  # one scan filed with a second dossier
    with pdfplumber.open(scans[0]) as pdf:  # a real one-page PDF naming its dossier
        assert len(pdf.pages) == 1 and scans[0].parent.name in pdf.pages[0].extract_text()

    bt = once(bt_dicts(exports), "Mã hồ sơ")
    named = [r for r in bt if r["Tệp đính kèm"]]
    assert named and all(r["Hình thức"] == 2 for r in named)  # the dossiers filed online
    files = [f.strip() for r in named for f in str(r["Tệp đính kèm"]).split(";")]
    assert all(f.startswith(f"{BT_SCANS}/") and f.endswith(".pdf") for f in files)
    assert len([f for f in files if not (exports / f).is_file()]) == 2  # two were never saved
    assert len({(exports / f).read_bytes() for f in files if (exports / f).is_file()}) == len(files) - 2


def test_van_ban_csv(demo: Path) -> None:
    raw = (demo / "exports" / "van_ban_089.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0].keys() >= {
        "Số hồ sơ",
        "Mã TTHC",
        "Tên TTHC",
        "Chủ hồ sơ",
        "Mã xã",
        "Xã",
        "Ngày nhận",
        "Hạn trả",
    }
    official = gso_communes("089")
    split = gso_split_codes()
    in_split = [r for r in rows if r["Mã xã"] in split]
    assert 1 <= len(in_split) <= 0.03 * len(rows)
    assert all(r["Mã tỉnh"] != "10" for r in in_split)  # neither district has a split commune
    unknown = [r for r in rows if r["Mã xã"] == "" and not known(r["Xã"], official) and r["Mã tỉnh"] == "10"]
    assert 0.01 <= len(unknown) / len(rows) <= 0.03
    local = [r for r in rows if r["Mã tỉnh"] == "10"]
    assert all(r["Mã huyện"] == "089" for r in local)
    coded = [r for r in local if r["Mã xã"]]
    assert coded and all(known(r["Xã"], official) for r in coded)
    assert any(r["Loại đối tượng"] == "2" for r in rows)
    assert any(r["Mã TTHC"].endswith(".H38") for r in rows)  # code with the province agency suffix


def test_district_system_db(demo: Path) -> None:
    con = sqlite3.connect(demo / "exports" / "district_system.db")
    try:
        kinds = dict(con.execute("SELECT loai, count(*) FROM so_ho_tich GROUP BY loai").fetchall())
        n_hkd = con.execute("SELECT count(*) FROM ho_kinh_doanh").fetchone()[0]
        xa = [r[0] for r in con.execute("SELECT xa FROM so_ho_tich")]
        cols = [r[1] for r in con.execute("PRAGMA table_info(so_ho_tich)")]
    finally:
        con.close()
    assert set(kinds) == {"khai_sinh", "ket_hon", "khai_tu"}
    assert 280 <= sum(kinds.values()) + n_hkd <= 320
    assert {"so", "quyen_so", "loai", "ngay_dang_ky", "ho_ten", "so_dinh_danh", "dia_chi", "xa"} <= set(cols)
    official = gso_communes("086")
    assert 0.005 <= sum(not known(x, official) for x in xa) / len(xa) <= 0.04


def test_config_loads_and_matches_files(demo: Path) -> None:
    cfg = load_config(write_demo_config(demo))
    assert [s.id for s in cfg.sources] == [
        "bao-thang",
        "van-ban",
        "bao-thang-ho-tich",
        "bao-thang-ho-kinh-doanh",
    ]
    assert {s.old_province_code for s in cfg.sources} == {"10"}
    assert [s.old_district_code for s in cfg.sources] == ["086", "089", "086", "086"]
    bt, vb, ht, hkd = cfg.sources
    assert bt.path == demo / "exports" / "bao_thang_086.xlsx" and bt.path.is_file()
    assert vb.path.is_file()
    (header, *_), _ = xlsx_rows(bt.path)
    assert set(bt.columns) <= set(header)
    with vb.path.open(encoding="utf-8-sig") as fh:
        assert set(vb.columns) <= set(next(csv.reader(fh)))
    for src in (ht, hkd):
        assert src.kind == "sql" and src.entity.value == "record"
        assert src.url == f"sqlite:///{(demo / 'exports' / 'district_system.db').resolve()}"
        con = sqlite3.connect(demo / "exports" / "district_system.db")
        try:
            cur = con.execute(src.query)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        finally:
            con.close()
        assert set(src.columns) == set(names)  # every column of the query is mapped
        assert rows
    con = sqlite3.connect(demo / "exports" / "district_system.db")
    try:
        cur = con.execute(ht.query)
        at = [d[0] for d in cur.description].index("loai_so")
        types = {r[at] for r in cur.fetchall()}
    finally:
        con.close()
    assert types == {"birth", "marriage", "death"}
    assert hkd.record_type == "business_household"


def test_rows_argument(tmp_path: Path) -> None:
    generate_demo_inputs(tmp_path, seed=1, rows=40)
    _, data = xlsx_rows(tmp_path / "exports" / "bao_thang_086.xlsx")
    assert 40 <= len(data) <= 42
