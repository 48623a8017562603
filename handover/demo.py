"""Synthetic district exports for ``handover demo`` (and for tests and benchmarks).

Two real districts of the old Lào Cai province (10), with their real communes read from ``mappings/units``:

* Huyện Bảo Thắng (086): ``exports/bao_thang_086.xlsx``, a printed-list style Excel export (title lines, merged
  cells, a total line and a signature block, dates as real dates and as dd/mm/yyyy text, CCCD as numbers);
* Huyện Văn Bàn (089): ``exports/van_ban_089.csv``, a system export (UTF-8 with BOM, comma, codes);
* Bảo Thắng's "district system": ``exports/district_system.db`` (SQLite) with civil-status registrations
  (``so_ho_tich``) and business households (``ho_kinh_doanh``).

Every person, number and dossier is invented. A realistic share of problems is planted (bad dates, unknown and
split communes, finished dossiers, exact duplicates, invalid IDs, NFD text, one TCVN3 cell) in exact counts, so
the reports have something to show. Same seed → byte-identical files.
"""

from __future__ import annotations

import csv
import io
import random
import re
import sqlite3
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from handover.errors import ConfigError

HANDOVER = date(2025, 7, 1)
PROVINCE = "10"
BAO_THANG = "086"
VAN_BAN = "089"
DEFAULT_ROWS = 600
FIXED_STAMP = (2025, 7, 1, 8, 0, 0)  # zip entry times and workbook properties: byte-identical output

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô", "Dương", "Lý", "Hà", "Lò",
          "Giàng", "Vàng", "Lù", "Sùng", "Triệu", "Bàn", "Đào", "Lương"]  # fmt: skip
MIDDLE_M = ["Văn", "Đức", "Minh", "Quang", "Hữu", "Công", "Xuân", "A", "Seo", "Tiến"]
MIDDLE_F = ["Thị", "Thị", "Thu", "Ngọc", "Thanh", "Minh", "Thị Thu", "Thị Hồng"]
GIVEN_M = ["An", "Bình", "Cường", "Dũng", "Hùng", "Hải", "Long", "Nam", "Phong", "Quân", "Sơn", "Thắng", "Tuấn",
           "Việt", "Khánh", "Chư", "Páo", "Dế", "Lâm", "Trung"]  # fmt: skip
GIVEN_F = ["Anh", "Chi", "Dung", "Hà", "Hằng", "Hoa", "Hương", "Lan", "Linh", "Mai", "Nga", "Phương", "Thảo",
           "Trang", "Yến", "Mỷ", "Dín", "Vân", "Huyền", "Ly"]  # fmt: skip
HAMLETS = ["Bản Phiệt", "Bản Cầm", "Bản Lầu", "Nậm Hổ", "Khe Mụ", "Làng Bon", "Cốc Sâm", "Bản Vược", "Nậm Tha",
           "Khe Bá", "Làng Chung", "Bản Bay"]  # fmt: skip
# Commune names that exist in neither district (typed wrong, an industrial zone, a resettlement area).
UNKNOWN_COMMUNES = ["Khu công nghiệp Tằng Loỏng", "Khu tái định cư Phố Lu", "Xã Sơn Hạ Mới", "Xã Khánh Yên Tây",
                    "Xã Nậm Vạn"]  # fmt: skip
PENDING = ["Đang xử lý", "Đang xử lý", "Đang xử lý", "Mới tiếp nhận", "Chờ bổ sung", "Đang giải quyết",
           "Yêu cầu bổ sung giấy tờ", "Tạm dừng", "Chờ phê duyệt"]  # fmt: skip
FINISHED = ["Đã trả kết quả", "Đã xử lý xong", "Công dân yêu cầu rút hồ sơ", "Không được tiếp nhận"]
NOTES = ["", "", "", "", "Chờ bổ sung bản sao giấy khai sinh", "Đã liên hệ công dân", "Hồ sơ liên thông",
         "Thiếu chữ ký người yêu cầu", "Gọi điện hẹn lại"]  # fmt: skip
BAD_DATES = ["31/06/2025", "30/02/2025", "15/13/2025", "2025-06-31", "32/5/2025", "ngày 5 tháng 13"]
UNKNOWN_PROCEDURES = [("1.003622", "Cấp giấy phép tổ chức lễ hội", "Văn hóa cơ sở"),
                      ("", "Xác nhận đơn đề nghị (mẫu cũ của huyện)", "Khác")]  # fmt: skip
LAO_CAI_AGENCY = "H38"  # province part of agency codes seen for Lào Cai (domain.md)

BT_HEADERS = ["STT", "Mã hồ sơ", "Tên thủ tục", "Mã thủ tục", "Lĩnh vực", "Chủ hồ sơ", "Số CCCD",
              "Số điện thoại", "Địa chỉ", "Xã/Thị trấn", "Ngày tiếp nhận", "Ngày hẹn trả", "Trạng thái",
              "Hình thức", "Ghi chú"]  # fmt: skip
BT_COLUMNS = {"Mã hồ sơ": "dossier_code", "Tên thủ tục": "procedure_name", "Mã thủ tục": "procedure_code",
              "Lĩnh vực": "sector_name", "Chủ hồ sơ": "applicant_name", "Số CCCD": "applicant_id",
              "Số điện thoại": "phone", "Địa chỉ": "address", "Xã/Thị trấn": "old_commune_name",
              "Ngày tiếp nhận": "received_date", "Ngày hẹn trả": "due_date", "Trạng thái": "status_raw",
              "Hình thức": "channel", "Ghi chú": "notes"}  # fmt: skip
VB_HEADERS = ["Số hồ sơ", "Mã TTHC", "Tên TTHC", "Lĩnh vực", "Loại đối tượng", "Chủ hồ sơ", "Số CCCD/CMND",
              "Điện thoại", "Email", "Địa chỉ", "Mã tỉnh", "Mã huyện", "Mã xã", "Xã", "Ngày nhận", "Hạn trả",
              "Trạng thái", "Hình thức nộp", "Lệ phí", "Ghi chú"]  # fmt: skip
VB_COLUMNS = {"Số hồ sơ": "dossier_code", "Mã TTHC": "procedure_code", "Tên TTHC": "procedure_name",
              "Lĩnh vực": "sector_name", "Loại đối tượng": "applicant_type", "Chủ hồ sơ": "applicant_name",
              "Số CCCD/CMND": "applicant_id", "Điện thoại": "phone", "Email": "email", "Địa chỉ": "address",
              "Mã tỉnh": "old_province_code", "Mã huyện": "old_district_code", "Mã xã": "old_commune_code",
              "Xã": "old_commune_name", "Ngày nhận": "received_date", "Hạn trả": "due_date",
              "Trạng thái": "status_raw", "Hình thức nộp": "channel", "Lệ phí": "fee",
              "Ghi chú": "notes"}  # fmt: skip
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


@dataclass(frozen=True)
class Commune:
    province_code: str
    district_code: str
    code: str
    name: str  # official, with its type: "Xã Gia Phú"
    district_name: str
    province_name: str

    @property
    def is_town(self) -> bool:
        return self.name.startswith(("Thị trấn", "Phường"))


# ---------------------------------------------------------------------------------------------------------
# Reference: the real communes, from mappings/units (or the statistics-office tables before it exists)
# ---------------------------------------------------------------------------------------------------------


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _units_reference() -> tuple[list[Commune], dict[str, set[str]]]:
    """All old communes, and old commune code → new commune codes (from the crosswalk)."""
    from handover.resources import gso_dir, mappings_dir

    units = mappings_dir() / "units"
    old_path, cross_path = units / "old_units.csv", units / "crosswalk.csv"
    communes: list[Commune] = []
    targets: dict[str, set[str]] = {}
    if old_path.is_file() and cross_path.is_file():
        for r in _read_rows(old_path):
            if r.get("in_january_list", "1") != "1":
                continue
            communes.append(
                Commune(
                    r["province_code"],
                    r["district_code"],
                    r["commune_code"],
                    r["commune_name"].strip(),
                    r["district_name"].strip(),
                    r["province_name"].strip(),
                )
            )
        for r in _read_rows(cross_path):
            targets.setdefault(r["old_commune_code"], set()).add(r["new_commune_code"])
        return communes, targets
    gso = gso_dir()
    old_gso, conv_gso = gso / "communes_2025-01-04.csv", gso / "conversion_2025-07-01.csv"
    if not (old_gso.is_file() and conv_gso.is_file()):
        raise ConfigError(
            "The unit reference is missing: neither mappings/units/ nor the statistics-office tables were found.",
            file=str(old_path),
            hint="Build it with: handover units build",
        )
    for r in _read_rows(old_gso):
        communes.append(
            Commune(
                r["Mã TP"],
                r["Mã QH"],
                r["Mã PX"],
                r["Phường Xã"].strip(),
                r["Quận Huyện"].strip(),
                r["Tỉnh Thành Phố"].strip(),
            )
        )
    with conv_gso.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))[2:]
    for r in rows:
        if len(r) > 4 and r[4].strip().isdigit() and r[2].strip().isdigit():
            targets.setdefault(r[4].strip(), set()).add(r[2].strip())
    return communes, targets


def _district(communes: list[Commune], district_code: str, province_code: str = PROVINCE) -> list[Commune]:
    found = sorted((c for c in communes if c.province_code == province_code and c.district_code == district_code),
                   key=lambda c: c.code)  # fmt: skip
    if not found:
        raise ConfigError(
            f"District {district_code} of province {province_code} is not in the unit reference.",
            hint="Rebuild the reference: handover units build",
        )
    return found


def _split_communes(
    communes: list[Commune], targets: dict[str, set[str]], district_code: str, province_code: str = PROVINCE
) -> list[Commune]:
    """Old communes the crosswalk splits: in the district if any, else in nearby provinces, else anywhere."""
    split = [c for c in communes if len(targets.get(c.code, ())) > 1]
    for scope in (
        [c for c in split if c.province_code == province_code and c.district_code == district_code],
        [c for c in split if c.province_code == province_code],
        # Hà Giang, Tuyên Quang, Yên Bái, Lai Châu: the old neighbours of Lào Cai
        [c for c in split if c.province_code in ("02", "08", "15", "12")],
        split,
    ):
        if scope:
            return sorted(scope, key=lambda c: c.code)[:4]
    return []


# ---------------------------------------------------------------------------------------------------------
# People, numbers, dates
# ---------------------------------------------------------------------------------------------------------


def _person(rng: random.Random) -> tuple[str, bool, int]:
    female = rng.random() < 0.5
    middle = rng.choice(MIDDLE_F if female else MIDDLE_M)
    given = rng.choice(GIVEN_F if female else GIVEN_M)
    year = rng.randint(1950, 2006)
    return f"{rng.choice(FAMILY)} {middle} {given}", female, year


def _cccd(rng: random.Random, female: bool, year: int, prefix: str = "010") -> str:
    century = 0 if year < 2000 else 2
    return f"{prefix}{century + int(female)}{year % 100:02d}{rng.randint(0, 999_999):06d}"


def _bad_id(rng: random.Random) -> str:
    return rng.choice(
        [
            f"099{rng.randint(0, 99_999_999):09d}"[:12],  # no province 099
            f"0107{rng.randint(10, 99)}{rng.randint(0, 999_999):06d}",  # century digit 7
            f"{rng.randint(10_000_000, 99_999_999)}",  # 8 digits
        ]
    )


def _phone(rng: random.Random) -> str:
    return rng.choice(["09", "03", "08", "07"]) + f"{rng.randint(0, 99_999_999):08d}"


def _tax_code(rng: random.Random) -> str:
    from stdnum.vn import mst

    base = f"53{rng.randint(0, 9_999_999):07d}"  # Lào Cai businesses' tax codes start with 53
    return base + mst.calc_check_digit(base)


def _dates(rng: random.Random) -> tuple[date, date]:
    """Received in the months before the handover; due 3-45 days later: some overdue, some due soon."""
    received = HANDOVER - timedelta(days=1 + min(150, int(rng.expovariate(1 / 20))))
    due = received + timedelta(days=rng.choice([3, 5, 7, 10, 12, 15, 15, 20, 20, 30, 45]))
    return received, due


def _village(rng: random.Random, commune: Commune) -> str:
    if commune.is_town:
        return f"Tổ dân phố {rng.randint(1, 12)}"
    return f"Thôn {rng.randint(1, 9)}" if rng.random() < 0.6 else rng.choice(HAMLETS)


def _short(name: str) -> str:
    return re.sub(r"^(Thị trấn|Xã|Phường)\s+", "", name)


def _procedures() -> list[tuple[str, str, str]]:
    from handover.resources import mappings_dir

    rows = _read_rows(mappings_dir() / "procedures.csv")
    return [(r["procedure_code"], r["procedure_name"], r["sector"]) for r in rows]


def _pick(rng: random.Random, n: int, share: float, taken: set[int]) -> set[int]:
    """Exactly round(n*share) row indexes not yet used by another planted problem."""
    free = [i for i in range(n) if i not in taken]
    k = min(len(free), max(1, round(n * share))) if n >= 20 else min(len(free), round(n * share))
    chosen = set(rng.sample(free, k))
    taken |= chosen
    return chosen


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


# ---------------------------------------------------------------------------------------------------------
# Dossiers (shared by both districts)
# ---------------------------------------------------------------------------------------------------------


@dataclass
class _Dossier:
    code: str
    procedure_code: str
    procedure_name: str
    sector: str
    applicant: str
    applicant_type: str
    applicant_id: str
    phone: str
    email: str
    village: str
    commune: Commune | None
    commune_text: str
    received: date | str
    due: date | str
    status: str
    channel: str
    fee: int
    note: str
    style: tuple[float, float, float] = (
        0.0,
        0.0,
        0.0,
    )  # how the export writes it (a row exported twice alike)


def _dossiers(rng: random.Random, n: int, district: list[Commune], split: list[Commune], agency: str,
              business: bool) -> list[_Dossier]:  # fmt: skip
    procedures = _procedures()
    taken: set[int] = set()
    bad_date = _pick(rng, n, 0.03, taken)
    unknown = _pick(rng, n, 0.02, taken)
    in_split = _pick(rng, n, 0.015, taken) if split else set()
    finished = _pick(rng, n, 0.08, taken)
    bad_id = _pick(rng, n, 0.01, taken)
    nfd = _pick(rng, n, 0.02, taken)
    unknown_proc = _pick(rng, n, 0.015, taken)
    local_code = _pick(rng, n, 0.01, taken)
    companies = _pick(rng, n, 0.03, taken) if business else set()
    out: list[_Dossier] = []
    seq: dict[date, int] = {}
    for i in range(n):
        name, female, year = _person(rng)
        received, due = _dates(rng)
        seq[received] = seq.get(received, 0) + 1
        code = f"{agency}-{received:%y%m%d}-{seq[received]:04d}"
        if i in local_code:
            code = f"HS{received:%Y}-{rng.randint(1, 9999):05d}"
        pcode, pname, sector = rng.choice(procedures)
        if i in unknown_proc:
            pcode, pname, sector = rng.choice(UNKNOWN_PROCEDURES)
        elif pcode and rng.random() < 0.15:
            pcode = f"{pcode}.000.00.00.{LAO_CAI_AGENCY}"  # with the province's agency suffix
        commune: Commune | None = rng.choice(district)
        commune_text = commune.name
        if i in unknown:
            commune, commune_text = None, rng.choice(UNKNOWN_COMMUNES)
        elif i in in_split:
            commune = rng.choice(split)
            commune_text = commune.name
        applicant_type, applicant_id = "1", _cccd(rng, female, year)
        if rng.random() < 0.04:
            applicant_id = f"063{rng.randint(0, 999_999):06d}"  # old 9-digit CMND
        if i in bad_id:
            applicant_id = _bad_id(rng)
        if i in companies:
            name = f"Công ty TNHH {rng.choice(['Phú Thịnh', 'Hoàng Liên', 'Sao Mai', 'Bảo An'])} Lào Cai"
            applicant_type, applicant_id = "2", _tax_code(rng)
        if i in nfd:
            name = _nfd(name)
        r_out: date | str = received
        if i in bad_date:
            r_out = rng.choice(BAD_DATES)
        out.append(
            _Dossier(
                code=code,
                procedure_code=pcode,
                procedure_name=pname,
                sector=sector,
                applicant=name,
                applicant_type=applicant_type,
                applicant_id=applicant_id,
                phone=_phone(rng),
                email=f"congdan{rng.randint(100, 99999)}@gmail.com" if rng.random() < 0.2 else "",
                village=_village(rng, commune) if commune else f"Thôn {rng.randint(1, 9)}",
                commune=commune,
                commune_text=commune_text,
                received=r_out,
                due=due,
                status=rng.choice(FINISHED) if i in finished else rng.choice(PENDING),
                channel=rng.choice(["1", "1", "1", "2", "2", "3"]),
                fee=rng.choice([0, 0, 0, 8000, 15000, 50000, 100000]),
                note=rng.choice(NOTES),
                style=(rng.random(), rng.random(), rng.random()),
            )
        )
    # ~2% exact duplicates: the same row exported twice
    for i in sorted(_pick(rng, n, 0.02, set())):
        out.insert(min(len(out), i + 1 + rng.randint(0, 5)), out[i])
    return out


def _address(d: _Dossier, district_name: str, province_name: str = "Tỉnh Lào Cai") -> str:
    if d.commune is None:
        return f"{d.village}, {d.commune_text}, {district_name}, {province_name}"
    c = d.commune
    return f"{d.village}, {c.name}, {c.district_name}, {c.province_name}"


def _dmy(value: date | str) -> str:
    return value if isinstance(value, str) else value.strftime("%d/%m/%Y")


# ---------------------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------------------


def _normalise_xlsx(path: Path) -> None:
    """Fix the zip entry times and the workbook's modified stamp so equal inputs give equal bytes."""
    with zipfile.ZipFile(path) as zin:
        entries = [(info, zin.read(info.filename)) for info in zin.infolist()]
    stamp = datetime(*FIXED_STAMP).strftime("%Y-%m-%dT%H:%M:%SZ")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + stamp.encode() + rb"\g<2>",
                    data,
                )
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_STAMP)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            zout.writestr(fixed, data)
    path.write_bytes(buffer.getvalue())


def _write_bao_thang(path: Path, rows: list[_Dossier], rng: random.Random) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    wb.properties.creator = "Bộ phận Một cửa huyện Bảo Thắng"
    wb.properties.created = datetime(*FIXED_STAMP)
    ws = wb.active
    ws.title = "Danh sách hồ sơ"
    width = len(BT_HEADERS)
    last = chr(ord("A") + width - 1)
    titles = ["UBND HUYỆN BẢO THẮNG", "DANH SÁCH HỒ SƠ ĐANG GIẢI QUYẾT", "(Tính đến ngày 30/06/2025)"]
    for r, text in enumerate(titles, start=1):
        ws.cell(row=r, column=1, value=text).font = Font(bold=r < 3, size=13 if r == 2 else 11)
        ws.cell(row=r, column=1).alignment = Alignment(horizontal="center")
        ws.merge_cells(f"A{r}:{last}{r}")
    header_row = 5
    for j, h in enumerate(BT_HEADERS, start=1):
        cell = ws.cell(row=header_row, column=j, value=h)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    tcvn3_code = next((d.code for d in rows if d.note), None)
    for k, d in enumerate(rows, start=1):
        r = header_row + k
        as_date = d.style[0] < 0.5
        note = d.note
        if d.code == tcvn3_code:
            note = "Chuyển hồ sơ về xã B¶o Th¾ng"  # one dossier's note left in TCVN3 look-alikes
        values: list[object] = [
            k,
            d.code,
            d.procedure_name,
            d.procedure_code or None,
            d.sector,
            d.applicant,
            # CCCD typed as a number: Excel drops the leading zero; old CMNDs were typed as text
            int(d.applicant_id) if len(d.applicant_id) == 12 and d.applicant_id.isdigit() else d.applicant_id,
            int(d.phone) if d.style[1] < 0.5 else d.phone,
            _address(d, "Huyện Bảo Thắng"),
            d.commune_text if d.style[2] < 0.7 else _short(d.commune_text),
            d.received if as_date and isinstance(d.received, date) else _dmy(d.received),
            d.due if as_date else _dmy(d.due),
            d.status,
            int(d.channel),
            note or None,
        ]
        for j, v in enumerate(values, start=1):
            cell = ws.cell(row=r, column=j, value=v)
            if isinstance(v, date):
                cell.number_format = "dd/mm/yyyy"
    end = header_row + len(rows)
    ws.cell(row=end + 1, column=1, value=f"Tổng cộng: {len(rows)} hồ sơ").font = Font(bold=True)
    ws.merge_cells(f"A{end + 1}:E{end + 1}")
    sign = end + 3
    ws.cell(row=sign, column=10, value="Bảo Thắng, ngày 30 tháng 6 năm 2025")
    for col, title, person in (
        (2, "Người lập biểu", "Phạm Thị Hồng"),
        (10, "Trưởng bộ phận Một cửa", "Lê Văn Thắng"),
    ):
        ws.cell(row=sign + 1, column=col, value=title).font = Font(bold=True)
        ws.cell(row=sign + 2, column=col, value="(Ký, ghi rõ họ tên)").font = Font(italic=True)
        ws.cell(row=sign + 6, column=col, value=person)
    for j, w in enumerate([6, 26, 40, 14, 20, 24, 15, 13, 45, 18, 14, 14, 18, 10, 30], start=1):
        ws.column_dimensions[chr(ord("A") + j - 1)].width = w
    wb.save(path)
    _normalise_xlsx(path)


def _write_van_ban(
    path: Path,
    rows: list[_Dossier],
    rng: random.Random,
    district: tuple[str, str, str, str] = (PROVINCE, VAN_BAN, "Huyện Văn Bàn", "Tỉnh Lào Cai"),
) -> None:
    """The system-export CSV (Văn Bàn's shape) of ``rows``, dossiers of ``district`` (province code, district
    code, district name, province name)."""
    province_code, district_code, district_name, province_name = district
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(VB_HEADERS)
        for d in rows:
            c = d.commune
            with_code = c is not None and (c.district_code != district_code or d.style[2] < 0.7)
            received = d.received
            received_text = (
                received
                if isinstance(received, str)
                else (received.isoformat() if rng.random() < 0.2 else _dmy(received))
            )
            w.writerow(
                [
                    d.code,
                    d.procedure_code,
                    d.procedure_name,
                    d.sector,
                    d.applicant_type,
                    d.applicant,
                    d.applicant_id,
                    d.phone,
                    d.email,
                    _address(d, district_name, province_name),
                    c.province_code if c is not None else province_code,
                    c.district_code if c is not None else district_code,
                    c.code if with_code and c is not None else "",
                    d.commune_text,
                    received_text,
                    _dmy(d.due),
                    d.status,
                    d.channel,
                    d.fee,
                    d.note,
                ]
            )


def _write_district_db(path: Path, n: int, district: list[Commune], rng: random.Random) -> None:
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
        bad_date = _pick(rng, n_ht, 0.03, taken)
        unknown = _pick(rng, n_ht, 0.02, taken)
        ht_rows = []
        for i in range(n_ht):
            kind = rng.choices(["khai_sinh", "ket_hon", "khai_tu"], weights=[6, 3, 2])[0]
            reg = date(2024, 1, 2) + timedelta(days=rng.randint(0, 540))
            book = f"01/{reg.year}"
            counters[(kind, book)] = counters.get((kind, book), 0) + 1
            name, female, year = _person(rng)
            if kind == "khai_sinh":
                year = reg.year
                birth = reg - timedelta(days=rng.randint(1, 60))
            else:
                birth = date(year, rng.randint(1, 12), rng.randint(1, 28))
            requester, r_female, r_year = _person(rng)
            commune = rng.choice(district)
            xa = commune.name if i not in unknown else rng.choice(UNKNOWN_COMMUNES)
            village = _village(rng, commune)
            ht_rows.append(
                (
                    kind,
                    book,
                    counters[(kind, book)],
                    reg.strftime("%d/%m/%Y") if i not in bad_date else rng.choice(BAD_DATES),
                    name,
                    "Nữ" if female else "Nam",
                    birth.strftime("%d/%m/%Y"),
                    "" if kind == "khai_sinh" and rng.random() < 0.5 else _cccd(rng, female, year),
                    requester,
                    _cccd(rng, r_female, max(r_year, 1960)),
                    f"{village}, {xa}, Huyện Bảo Thắng, Tỉnh Lào Cai",
                    village,
                    xa,
                    rng.choice(["Hoàng Thị Mai", "Vũ Đức Long", "Lò Văn Sơn"]),
                    rng.choice(["", "", "Đăng ký đúng hạn", "Đăng ký lại"]),
                )
            )
        for i in sorted(_pick(rng, n_ht, 0.02, set())):  # exported twice
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
            name, female, year = _person(rng)
            commune = rng.choice(district)
            village = _village(rng, commune)
            issued = date(2018, 1, 1) + timedelta(days=rng.randint(0, 2700))
            hkd_rows.append(
                (
                    f"12A8{i + 1:06d}",
                    f"Hộ kinh doanh {name}",
                    name,
                    _cccd(rng, female, year),
                    _tax_code(rng) if rng.random() < 0.6 else "",
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


def generate_demo_inputs(out_dir: Path, seed: int = 7, rows: int | None = None) -> Path:
    """Write the three synthetic exports under ``out_dir/exports``; returns that folder.

    ``rows`` dossiers per district (default 600) and half as many records; same seed → same bytes.
    """
    n = DEFAULT_ROWS if rows is None else int(rows)
    if n < 1:
        raise ConfigError(f"rows must be at least 1 (got {n}).", hint="Use --rows 600 or leave it out.")
    exports = Path(out_dir) / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    communes, targets = _units_reference()
    bao_thang, van_ban = _district(communes, BAO_THANG), _district(communes, VAN_BAN)
    rng = random.Random(seed)
    # The Excel export carries no unit codes: a split commune elsewhere could not be told from a typo there,
    # so split communes are planted in the CSV, which carries province/district/commune codes.
    bt_rows = _dossiers(rng, n, bao_thang, [], "000.00.86.H38", False)
    _write_bao_thang(exports / "bao_thang_086.xlsx", bt_rows, rng)
    vb_rows = _dossiers(rng, n, van_ban, _split_communes(communes, targets, VAN_BAN), "000.00.89.H38", True)
    _write_van_ban(exports / "van_ban_089.csv", vb_rows, rng)
    _write_district_db(exports / "district_system.db", max(2, n // 2), bao_thang, rng)
    return exports


@dataclass(frozen=True)
class DistrictExport:
    """One synthetic district export written by :func:`generate_district_exports`."""

    province_code: str
    province_name: str
    district_code: str
    district_name: str
    path: Path  # the CSV
    rows: int  # data rows written (planted exact duplicates included)


def districts_across_provinces(count: int, provinces: int = 5) -> list[tuple[str, str]]:
    """``count`` real old districts (province code, district code) of the unit reference, taken in turn from the
    first ``provinces`` provinces (by code) that have districts left: the same districts every time."""
    communes, _ = _units_reference()
    by_province: dict[str, list[str]] = {}
    for c in communes:
        codes = by_province.setdefault(c.province_code, [])
        if c.district_code not in codes:
            codes.append(c.district_code)
    order = sorted(by_province)
    queues = {p: sorted(by_province[p]) for p in order}
    picked: list[tuple[str, str]] = []
    while len(picked) < count:
        active = [p for p in order if queues[p]][:provinces]
        if not active:
            raise ConfigError(f"The unit reference has {len(picked)} districts, fewer than {count}.")
        for province in active[: count - len(picked)]:
            picked.append((province, queues[province].pop(0)))
    return picked


def generate_district_exports(
    out_dir: Path, districts: list[tuple[str, str]], rows: int, seed: int = 7
) -> list[DistrictExport]:
    """Write a synthetic system export (the CSV shape of Văn Bàn's, :data:`VB_COLUMNS`) of ``rows`` pending
    dossiers for each (province code, district code) in ``districts``, with that district's real communes and
    the same share of planted problems as the demo, under ``out_dir/<district code>/ho-so-<district code>.csv``.
    Each district has its own random stream (``seed`` and its codes): the same arguments give the same bytes."""
    if rows < 1:
        raise ConfigError(f"rows must be at least 1 (got {rows}).")
    communes, targets = _units_reference()
    written: list[DistrictExport] = []
    for province_code, district_code in districts:
        district = _district(communes, district_code, province_code)
        split = _split_communes(communes, targets, district_code, province_code)
        rng = random.Random(f"{seed}:{province_code}:{district_code}")
        agency = f"000.00.{district_code[-2:]}.H{province_code}"
        dossiers = _dossiers(rng, rows, district, split, agency, True)
        first = district[0]
        folder = Path(out_dir) / district_code
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"ho-so-{district_code}.csv"
        names = (province_code, district_code, first.district_name, first.province_name)
        _write_van_ban(path, dossiers, rng, names)
        written.append(
            DistrictExport(
                province_code, first.province_name, district_code, first.district_name, path, len(dossiers)
            )
        )
    return written


def write_district_config(
    path: Path,
    export: DistrictExport,
    *,
    batch_id: str,
    target_url: str,
    chunk_size: int = 20_000,
    workers: int | str = "auto",
) -> Path:
    """Write the batch configuration of one district export of :func:`generate_district_exports` to ``path``
    (its source id ``ho-so-<district code>``, the export's path relative to the configuration's folder when
    it lies under it), reports under ``reports/`` beside it."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = Path(os.path.relpath(export.path, path.parent)).as_posix()
    workers_value = f'"{workers}"' if isinstance(workers, str) else str(workers)
    text = f"""\
# {export.district_name} ({export.district_code}), {export.province_name} ({export.province_code})

[batch]
id = "{batch_id}"
description = "{export.district_name} ({export.district_code}), {export.province_name}"
chunk_size = {chunk_size}
workers = {workers_value}

[target]
url = "{target_url}"
conflict_policy = "keep"

[thresholds]
max_error_share = 0.2
due_soon_days = 5
handover_date = "2025-07-01"

[report]
dir = "reports"

[[sources]]
id = "ho-so-{export.district_code}"
kind = "csv"
path = "{source}"
entity = "dossier"
delimiter = ","
profile = "dossier-vi"
old_province_code = "{export.province_code}"
old_district_code = "{export.district_code}"

[sources.columns]
{_toml_table(VB_COLUMNS)}
"""
    path.write_text(text, encoding="utf-8")
    return path


def _toml_table(mapping: dict[str, str]) -> str:
    return "\n".join(f'"{k}" = "{v}"' for k, v in mapping.items())


def write_demo_config(out_dir: Path) -> Path:
    """Write ``out_dir/batch.toml`` for the demo exports (loads with :func:`handover.config.load_config`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = f"""\
# handover demo batch: synthetic exports of two districts of the old Lào Cai province (10).
# Written by `handover demo`; run it again with: handover run {out_dir.name}/batch.toml

[batch]
id = "demo-lao-cai-2025-07"
description = "Demo: Huyện Bảo Thắng (086) và Huyện Văn Bàn (089), tỉnh Lào Cai cũ"
chunk_size = 1000

[target]
url = "sqlite:///target.db"
conflict_policy = "keep"

[mapping]
rules = []          # province rule files for split communes (old_commune_code, keyword, new_commune_code)
decisions = []      # officials' decisions from the workbook's "Cần xem xét" sheet (source_system, dossier_code,
                    # new_commune_code); a changed mapping needs a new batch id: rows already loaded stay

[thresholds]
max_error_share = 0.2
due_soon_days = 5
handover_date = "2025-07-01"

[report]
dir = "reports"

[report.parties]    # printed on each handover record (biên bản bàn giao); what is left out is a blank to fill
place = "Lào Cai"
giving = {{ name = "Nguyễn Văn Hùng", position = "Chánh Văn phòng HĐND và UBND huyện" }}
receiving = {{ position = "Chủ tịch Ủy ban nhân dân" }}
communes = {{ "02905" = {{ name = "Lò Thị Hạnh", position = "Chủ tịch Ủy ban nhân dân xã Bảo Thắng" }} }}

[[sources]]
id = "bao-thang"
kind = "xlsx"
path = "exports/bao_thang_086.xlsx"
entity = "dossier"
header_row = 5
profile = "dossier-vi"
old_province_code = "10"
old_district_code = "086"

[sources.columns]
{_toml_table(BT_COLUMNS)}

[[sources]]
id = "van-ban"
kind = "csv"
path = "exports/van_ban_089.csv"
entity = "dossier"
delimiter = ","
profile = "dossier-vi"
old_province_code = "10"
old_district_code = "089"

[sources.columns]
{_toml_table(VB_COLUMNS)}

[[sources]]
id = "bao-thang-ho-tich"
kind = "sql"
url = "sqlite:///exports/district_system.db"
query = "{HT_QUERY}"
entity = "record"
profile = "record-vi"
old_province_code = "10"
old_district_code = "086"

[sources.columns]
{_toml_table(HT_COLUMNS)}

[[sources]]
id = "bao-thang-ho-kinh-doanh"
kind = "sql"
url = "sqlite:///exports/district_system.db"
query = "{HKD_QUERY}"
entity = "record"
record_type = "business_household"
profile = "record-vi"
old_province_code = "10"
old_district_code = "086"

[sources.columns]
{_toml_table(HKD_COLUMNS)}
"""
    path = out_dir / "batch.toml"
    path.write_text(text, encoding="utf-8")
    return path
