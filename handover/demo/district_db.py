"""Bảo Thắng's "district system": a SQLite database with civil-status registrations (``so_ho_tich``) and
business households (``ho_kinh_doanh``), and the queries the demo batch reads them with."""

from __future__ import annotations

import random
import sqlite3
from datetime import date, timedelta
from pathlib import Path

from handover.demo.dossiers import BAD_DATES, UNKNOWN_COMMUNES
from handover.demo.people import pick, random_cccd, random_person, random_tax_code, random_village
from handover.demo.reference import Commune

HT_COLUMNS = {"so_dang_ky": "record_number", "loai_so": "record_type", "ngay_dang_ky": "registered_date",
              "ho_ten": "subject_name", "ngay_sinh": "subject_birth_date", "so_dinh_danh": "subject_id",
              "nguoi_yeu_cau": "related_name", "dinh_danh_nguoi_yeu_cau": "related_id", "dia_chi": "address",
              "thon": "village", "xa": "old_commune_name", "ghi_chu": "notes"}  # fmt: skip
HKD_COLUMNS = {"so_gcn": "record_number", "ten_ho_kinh_doanh": "business_name", "chu_ho": "subject_name",
               "so_dinh_danh": "subject_id", "ngay_cap": "registered_date", "dia_diem_kinh_doanh": "address",
               "xa": "old_commune_name", "von_kinh_doanh": "amount", "trang_thai": "status_raw",
               "ghi_chu": "notes"}  # fmt: skip
HT_QUERY = (
    "SELECT quyen_so || '/' || so AS so_dang_ky, "
    "CASE loai WHEN 'khai_sinh' THEN 'birth' WHEN 'ket_hon' THEN 'marriage' WHEN 'khai_tu' THEN 'death' END "
    "AS loai_so, ngay_dang_ky, ho_ten, ngay_sinh, so_dinh_danh, nguoi_yeu_cau, dinh_danh_nguoi_yeu_cau, "
    "dia_chi, thon, xa, ghi_chu FROM so_ho_tich ORDER BY id"
)
HKD_QUERY = (
    "SELECT so_gcn, ten_ho_kinh_doanh, chu_ho, so_dinh_danh, ngay_cap, dia_diem_kinh_doanh, xa, "
    "von_kinh_doanh, trang_thai, ghi_chu FROM ho_kinh_doanh ORDER BY id"
)


def write_district_db(path: Path, n: int, district: list[Commune], rng: random.Random) -> None:
    if path.exists():
        path.unlink()
    con = sqlite3.connect(path)
    try:
        con.executescript(
            """
            CREATE TABLE so_ho_tich (
                id INTEGER PRIMARY KEY, loai TEXT NOT NULL, quyen_so TEXT, so INTEGER, ngay_dang_ky TEXT,
                ho_ten TEXT, gioi_tinh TEXT, ngay_sinh TEXT, so_dinh_danh TEXT, nguoi_yeu_cau TEXT,
                dinh_danh_nguoi_yeu_cau TEXT, dia_chi TEXT, thon TEXT, xa TEXT, can_bo_tu_phap TEXT, ghi_chu TEXT);
            CREATE TABLE ho_kinh_doanh (
                id INTEGER PRIMARY KEY, so_gcn TEXT, ten_ho_kinh_doanh TEXT, chu_ho TEXT, so_dinh_danh TEXT,
                ma_so_thue TEXT, ngay_cap TEXT, dia_diem_kinh_doanh TEXT, thon TEXT, xa TEXT, nganh_nghe TEXT,
                von_kinh_doanh INTEGER, so_lao_dong INTEGER, trang_thai TEXT, ghi_chu TEXT);
            """
        )
        n_ht = max(1, round(n * 0.75))
        n_hkd = max(1, n - n_ht)
        counters: dict[tuple[str, str], int] = {}
        taken: set[int] = set()
        bad_date = pick(rng, n_ht, 0.03, taken)
        unknown = pick(rng, n_ht, 0.02, taken)
        ht_rows = []
        for i in range(n_ht):
            kind = rng.choices(["khai_sinh", "ket_hon", "khai_tu"], weights=[6, 3, 2])[0]
            reg = date(2024, 1, 2) + timedelta(days=rng.randint(0, 540))
            book = f"01/{reg.year}"
            counters[(kind, book)] = counters.get((kind, book), 0) + 1
            name, female, year = random_person(rng)
            if kind == "khai_sinh":
                year = reg.year
                birth = reg - timedelta(days=rng.randint(1, 60))
            else:
                birth = date(year, rng.randint(1, 12), rng.randint(1, 28))
            requester, r_female, r_year = random_person(rng)
            commune = rng.choice(district)
            xa = commune.name if i not in unknown else rng.choice(UNKNOWN_COMMUNES)
            village = random_village(rng, commune)
            ht_rows.append(
                (
                    kind,
                    book,
                    counters[(kind, book)],
                    reg.strftime("%d/%m/%Y") if i not in bad_date else rng.choice(BAD_DATES),
                    name,
                    "Nữ" if female else "Nam",
                    birth.strftime("%d/%m/%Y"),
                    "" if kind == "khai_sinh" and rng.random() < 0.5 else random_cccd(rng, female, year),
                    requester,
                    random_cccd(rng, r_female, max(r_year, 1960)),
                    f"{village}, {xa}, Huyện Bảo Thắng, Tỉnh Lào Cai",
                    village,
                    xa,
                    rng.choice(["Hoàng Thị Mai", "Vũ Đức Long", "Lò Văn Sơn"]),
                    rng.choice(["", "", "Đăng ký đúng hạn", "Đăng ký lại"]),
                )
            )
        for i in sorted(pick(rng, n_ht, 0.02, set())):  # exported twice
            ht_rows.insert(min(len(ht_rows), i + 1), ht_rows[i])
        con.executemany(
            "INSERT INTO so_ho_tich (loai, quyen_so, so, ngay_dang_ky, ho_ten, gioi_tinh, ngay_sinh, so_dinh_danh, "
            "nguoi_yeu_cau, dinh_danh_nguoi_yeu_cau, dia_chi, thon, xa, can_bo_tu_phap, ghi_chu) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ht_rows,
        )
        hkd_rows = []
        trades = ["Bán lẻ tạp hóa", "Ăn uống", "Sửa chữa xe máy", "Kinh doanh vật liệu xây dựng", "Cắt tóc",
                  "Chế biến chè", "Nhà nghỉ"]  # fmt: skip
        for i in range(n_hkd):
            name, female, year = random_person(rng)
            commune = rng.choice(district)
            village = random_village(rng, commune)
            issued = date(2018, 1, 1) + timedelta(days=rng.randint(0, 2700))
            hkd_rows.append(
                (
                    f"12A8{i + 1:06d}",
                    f"Hộ kinh doanh {name}",
                    name,
                    random_cccd(rng, female, year),
                    random_tax_code(rng) if rng.random() < 0.6 else "",
                    issued.strftime("%d/%m/%Y"),
                    f"{village}, {commune.name}, Huyện Bảo Thắng, Tỉnh Lào Cai",
                    village,
                    commune.name,
                    rng.choice(trades),
                    rng.choice([30, 50, 100, 200, 500]) * 1_000_000,
                    rng.randint(1, 6),
                    rng.choice(
                        ["Đang hoạt động", "Đang hoạt động", "Đang hoạt động", "Tạm ngừng kinh doanh"]
                    ),
                    "",
                )
            )
        con.executemany(
            "INSERT INTO ho_kinh_doanh (so_gcn, ten_ho_kinh_doanh, chu_ho, so_dinh_danh, ma_so_thue, ngay_cap, "
            "dia_diem_kinh_doanh, thon, xa, nganh_nghe, von_kinh_doanh, so_lao_dong, trang_thai, ghi_chu) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            hkd_rows,
        )
        con.commit()
    finally:
        con.close()
