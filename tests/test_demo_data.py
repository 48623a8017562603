"""Demo inputs: deterministic, realistic, with the planted problems in the intended shares; config loads.

Truths are read back from the written files and checked against the statistics office's raw tables
(``data/gso/``), not against the generator's own lists.
"""

from __future__ import annotations

import csv
import sqlite3
import unicodedata
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from handover.config import load_config
from handover.demo import generate_demo_inputs, write_demo_config
from handover.resources import gso_dir
from handover.text import fold

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


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate_demo_inputs(tmp_path / name, seed=seed, rows=80)
    for f in FILES:
        a = (tmp_path / "a" / "exports" / f).read_bytes()
        assert a == (tmp_path / "b" / "exports" / f).read_bytes(), f
        assert a != (tmp_path / "c" / "exports" / f).read_bytes(), f


def test_bao_thang_excel_layout(demo: Path) -> None:
    path = demo / "exports" / "bao_thang_086.xlsx"
    ws = openpyxl.load_workbook(path).active
    assert ws["A1"].value == "UBND HUYỆN BẢO THẮNG"
    assert ws["A2"].value == "DANH SÁCH HỒ SƠ ĐANG GIẢI QUYẾT"
    assert "30/06/2025" in ws["A3"].value
    assert "A1:O1" in {str(r) for r in ws.merged_cells.ranges}
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
