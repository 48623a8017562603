"""Generate N realistic pending dossiers of the old Lào Cai province (10), districts 086 and 089, for benchmarks.

    python benchmarks/generate.py --rows 1000000 --format csv --out benchmarks/out/gen-csv-1000000

Writes ``dossiers.csv`` (or ``dossiers.xlsx``) and a matching ``batch.toml`` with an explicit
``[sources.columns]`` map. Rows are produced in fixed blocks of :data:`BLOCK` from pools precomputed once and
picked with numpy, so memory stays flat and 1M CSV rows take ~20 s. The same ``--seed`` gives the same values
(for CSV, the same bytes).

Headers and column map are those of the demo's CSV source (``handover.demo.van_ban.VB_HEADERS``, Huyện Văn Bàn), with
the real communes of districts 086 and 089 from ``mappings/units/``. About 15% of the rows carry the problems the
demo plants, at similar shares: finished dossiers (6%, excluded), exact duplicates (1.5%), unreadable received
dates (2%), unknown communes (1%), split communes of neighbouring provinces (1%, review), invalid IDs, NFD names,
unknown procedures and local dossier-code formats (1% each). Dossier codes stay unique (and 4-digit) up to ~5M rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import unicodedata
from datetime import date, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BLOCK = 50_000  # rows per block; fixed, so the output does not depend on anything but rows and seed
PROVINCE_CODE = "10"
PROVINCE_NAME = "Tỉnh Lào Cai"
DISTRICTS = {"086": "Huyện Bảo Thắng", "089": "Huyện Văn Bàn"}
HANDOVER = date(2025, 7, 1)
AGENCIES = 48  # agency codes 000.00.40.H38 … 000.00.87.H38

# The demo's CSV source (Huyện Văn Bàn, ``handover.demo.van_ban.VB_HEADERS`` / ``VB_COLUMNS``): same headers, same map.
# Copied here as a fallback; :func:`columns` prefers the demo's own lists so the two cannot drift apart.
FALLBACK_HEADERS = ("Số hồ sơ", "Mã TTHC", "Tên TTHC", "Lĩnh vực", "Loại đối tượng", "Chủ hồ sơ", "Số CCCD/CMND",
                    "Điện thoại", "Email", "Địa chỉ", "Mã tỉnh", "Mã huyện", "Mã xã", "Xã", "Ngày nhận", "Hạn trả",
                    "Trạng thái", "Hình thức nộp", "Lệ phí", "Ghi chú")  # fmt: skip
FALLBACK_FIELDS = ("dossier_code", "procedure_code", "procedure_name", "sector_name", "applicant_type",
                   "applicant_name", "applicant_id", "phone", "email", "address", "old_province_code",
                   "old_district_code", "old_commune_code", "old_commune_name", "received_date", "due_date",
                   "status_raw", "channel", "fee", "notes")  # fmt: skip
XLSX_TITLE_LINES = ("ỦY BAN NHÂN DÂN TỈNH LÀO CAI", "DANH SÁCH HỒ SƠ THỦ TỤC HÀNH CHÍNH ĐANG GIẢI QUYẾT", "")


def columns() -> list[tuple[str, str | None]]:
    """(header, canonical field or None) in file order: the demo's CSV source when importable."""
    try:
        from handover.demo.van_ban import VB_COLUMNS, VB_HEADERS
    except ImportError:
        return list(zip(FALLBACK_HEADERS, FALLBACK_FIELDS, strict=True))
    return [(h, VB_COLUMNS.get(h)) for h in VB_HEADERS]


SURNAMES = [
    "Nguyễn",
    "Nguyễn",
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Vũ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Ngô",
    "Dương",
    "Lý",
    "Giàng",
    "Sùng",
    "Lò",
    "Vàng",
    "Hầu",
    "Lù",
    "Ma",
    "Triệu",
    "Hà",
    "Nông",
    "Lương",
    "Đinh",
    "Phan",
    "Mai",
    "Bàn",
    "Đào",
]
MIDDLE = [
    "Văn",
    "Văn",
    "Thị",
    "Thị",
    "Đức",
    "Minh",
    "Thu",
    "Ngọc",
    "Quang",
    "Hữu",
    "Xuân",
    "A",
    "Seo",
    "Thanh",
    "Công",
    "Tiến",
]
GIVEN = [
    "An",
    "Anh",
    "Bình",
    "Chi",
    "Cường",
    "Dũng",
    "Dung",
    "Giang",
    "Hà",
    "Hải",
    "Hằng",
    "Hiền",
    "Hoa",
    "Hòa",
    "Hùng",
    "Hương",
    "Huyền",
    "Khánh",
    "Lâm",
    "Lan",
    "Linh",
    "Long",
    "Ly",
    "Mai",
    "Nam",
    "Nga",
    "Phong",
    "Phương",
    "Quân",
    "Sơn",
    "Thắng",
    "Thảo",
    "Thủy",
    "Trang",
    "Trung",
    "Tuấn",
    "Vân",
    "Việt",
    "Yến",
    "Páo",
    "Chư",
    "Dế",
    "Mỷ",
    "Dín",
]
COMPANIES = ("Phú Thịnh", "Hoàng Liên", "Sao Mai", "Bảo An", "Minh Phát", "Văn Bàn Xanh", "Phố Lu")
HAMLETS = ("Bản Phiệt", "Bản Cầm", "Bản Lầu", "Nậm Hổ", "Khe Mụ", "Làng Bon", "Cốc Sâm", "Bản Vược", "Khe Bá")
UNKNOWN_COMMUNES = ("Khu công nghiệp Tằng Loỏng", "Khu tái định cư Phố Lu", "Xã Sơn Hạ Mới", "Xã Khánh Yên Tây",
                    "Xã Nậm Vạn")  # fmt: skip
UNKNOWN_PROCEDURES = (("1.003622", "Cấp giấy phép tổ chức lễ hội", "Văn hóa cơ sở"),
                      ("", "Xác nhận đơn đề nghị (mẫu cũ của huyện)", "Khác"))  # fmt: skip
PENDING_STATUSES = (
    ("Đang xử lý", 30),
    ("Mới tiếp nhận", 12),
    ("Đang giải quyết", 10),
    ("Chờ bổ sung", 9),
    ("Yêu cầu bổ sung giấy tờ", 6),
    ("Chờ phê duyệt", 6),
    ("Tạm dừng", 3),
    ("4", 8),
    ("2", 4),
)
FINISHED_STATUSES = ("Đã trả kết quả", "Đã xử lý xong", "Công dân yêu cầu rút hồ sơ", "Không được tiếp nhận")
CHANNELS = (("1", 50), ("2", 33), ("3", 17))
FEES = (("0", 43), ("8000", 14), ("15000", 14), ("50000", 14), ("100000", 15))
NOTES = (
    ("", 44),
    ("Chờ bổ sung bản sao giấy khai sinh", 11),
    ("Đã liên hệ công dân", 11),
    ("Hồ sơ liên thông", 11),
    ("Thiếu chữ ký người yêu cầu", 11),
    ("Gọi điện hẹn lại", 12),
)
BAD_DATES = ("31/06/2025", "30/02/2025", "15/13/2025", "2025-06-31", "32/5/2025", "ngày 5 tháng 13")

# Problem shares (of all rows), close to the demo's.
P_FINISHED = 0.06
P_DUPLICATE = 0.015
P_BAD_DATE = 0.02
P_UNKNOWN_COMMUNE = 0.01
P_SPLIT_COMMUNE = 0.01
P_BAD_ID = 0.01
P_NFD = 0.01
P_UNKNOWN_PROC = 0.01
P_LOCAL_CODE = 0.01
P_COMPANY = 0.03
P_CMND = 0.04
P_NO_COMMUNE_CODE = 0.3  # the commune code column left empty (name only)
P_PROC_SUFFIX = 0.15  # procedure code with the province's agency suffix
P_ISO_DATE = 0.2


def _weighted(pairs: tuple[tuple[str, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    values = np.array([v for v, _ in pairs], dtype=object)
    w = np.array([w for _, w in pairs], dtype=float)
    return values, w / w.sum()


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _units() -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str, str]]]:
    """(province, district, commune code, commune name) of the two districts, and up to four split communes
    of Lào Cai's old neighbours (old Lào Cai has none), as the demo plants them."""
    units = REPO / "mappings" / "units"
    if (units / "old_units.csv").is_file() and (units / "crosswalk.csv").is_file():
        old = [
            (r["province_code"], r["district_code"], r["commune_code"], r["commune_name"])
            for r in _read(units / "old_units.csv")
            if r.get("in_january_list", "1") == "1"
        ]
        targets: dict[str, set[str]] = {}
        for r in _read(units / "crosswalk.csv"):
            targets.setdefault(r["old_commune_code"], set()).add(r["new_commune_code"])
    else:  # before mappings/units/ is built: the statistics office's January list, no split communes
        gso = REPO.parent / "shared" / "data" / "gso" / "communes_2025-01-04.csv"
        old = [(r["Mã TP"], r["Mã QH"], r["Mã PX"], r["Phường Xã"]) for r in _read(gso)]
        targets = {}
    own = sorted(u for u in old if u[0] == PROVINCE_CODE and u[1] in DISTRICTS)
    if not own:
        sys.exit("generate.py: no commune of districts 086/089 found in mappings/units/old_units.csv")
    split = sorted(
        (u for u in old if len(targets.get(u[2], ())) > 1 and u[0] in ("02", "08", "15", "12")),
        key=lambda u: u[2],
    )[:4]
    return own, split


def _procedures() -> list[tuple[str, str, str]]:
    return [
        (r["procedure_code"], r["procedure_name"], r["sector"])
        for r in _read(REPO / "mappings" / "procedures.csv")
    ]


class Pools:
    """Everything picked per row, precomputed once."""

    def __init__(self) -> None:
        own, split = _units()
        self.own = np.array([list(u) for u in own], dtype=object)  # province, district, code, name
        self.split = np.array([list(u) for u in split], dtype=object) if split else self.own[:0]
        procs = _procedures()
        self.proc = np.array([list(p) for p in procs], dtype=object)
        self.unknown_proc = np.array([list(p) for p in UNKNOWN_PROCEDURES], dtype=object)
        self.person = np.array(
            [f"{s} {m} {g}" for s in dict.fromkeys(SURNAMES) for m in dict.fromkeys(MIDDLE) for g in GIVEN],
            dtype=object,
        )
        self.person_nfd = np.array([unicodedata.normalize("NFD", p) for p in self.person], dtype=object)
        self.company = np.array([f"Công ty TNHH {c} Lào Cai" for c in COMPANIES], dtype=object)
        self.village = np.array(
            [f"Thôn {i}" for i in range(1, 10)] + [f"Tổ dân phố {i}" for i in range(1, 13)] + list(HAMLETS),
            dtype=object,
        )
        self.unknown_communes = np.array(UNKNOWN_COMMUNES, dtype=object)
        self.pending, self.pending_p = _weighted(PENDING_STATUSES)
        self.finished = np.array(FINISHED_STATUSES, dtype=object)
        self.channel, self.channel_p = _weighted(CHANNELS)
        self.fee, self.fee_p = _weighted(FEES)
        self.notes, self.notes_p = _weighted(NOTES)
        self.agency = np.array([f"000.00.{40 + a:02d}.H38" for a in range(AGENCIES)], dtype=object)
        self.district_name = {c: n for c, n in DISTRICTS.items()}
        # Received dates: slot → days before the handover, skewed to the last weeks like the demo's
        # (1 + exponential with a 20-day mean, at most 150). A dossier code is (agency, day, sequence):
        # the sequence counts the slot's rank within its day, so codes are unique by construction.
        slot_rng = np.random.default_rng(20250701)
        back = np.sort(1 + np.minimum(150, slot_rng.exponential(20, SLOTS).astype(np.int64)))
        self.slot_back = back
        rank = np.zeros(SLOTS, dtype=np.int64)
        for i in range(1, SLOTS):
            rank[i] = rank[i - 1] + 1 if back[i] == back[i - 1] else 0
        self.slot_rank = rank
        self.slots_per_day = int(rank.max()) + 1
        self.handover_ordinal = HANDOVER.toordinal()


SLOTS = 1000


def _dates(ordinals: np.ndarray, iso: np.ndarray | None = None) -> list[str]:
    """Ordinals → dd/mm/yyyy text, or ISO where ``iso`` is set (as the demo's CSV writes received dates)."""
    cache: dict[int, tuple[str, str]] = {}
    flags = iso.tolist() if iso is not None else [False] * len(ordinals)
    out = []
    for o, f in zip(ordinals.tolist(), flags, strict=True):
        forms = cache.get(o)
        if forms is None:
            d = date.fromordinal(o)
            forms = cache[o] = (d.strftime("%d/%m/%Y"), d.isoformat())
        out.append(forms[1] if f else forms[0])
    return out


def _mst(rng: np.random.Generator, n: int) -> list[str]:
    """Valid 10-digit tax codes (python-stdnum's check digit) starting 53, Lào Cai's tax office."""
    weights = np.array([31, 29, 23, 19, 17, 13, 7, 5, 3])
    body = rng.integers(0, 10, size=(n, 9))
    body[:, 0], body[:, 1] = 5, 3
    for _ in range(10):  # 10 - total % 11 == 10 has no check digit: nudge the last digit until it has one
        bad = (10 - (body @ weights) % 11) == 10
        if not bad.any():
            break
        body[bad, 8] = (body[bad, 8] + 1) % 10
    check = 10 - (body @ weights) % 11
    return ["".join(map(str, b)) + str(c) for b, c in zip(body.tolist(), check.tolist(), strict=True)]


def _bad_ids(rng: np.random.Generator, n: int) -> list[str]:
    kind = rng.integers(0, 3, n)
    a, b = rng.integers(0, 99_999_999, n), rng.integers(0, 999_999, n)
    forms = (
        lambda x, y: f"099{x:09d}"[:12],  # no province 099
        lambda x, y: f"0107{x % 90 + 10}{y:06d}",  # century digit 7
        lambda x, y: f"{x % 90_000_000 + 10_000_000}",  # 8 digits
    )
    return [forms[k](x, y) for k, x, y in zip(kind.tolist(), a.tolist(), b.tolist(), strict=True)]


def _flag(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    return rng.random(n) < share


def make_block(pools: Pools, start: int, n: int, seed: int) -> dict[str, list[str]]:
    """Rows start … start+n-1 as canonical field → list of cell texts (before the header map)."""
    rng = np.random.default_rng([seed, start])
    idx = np.arange(start, start + n, dtype=np.int64)

    # Dossier codes, unique by construction: row → (agency, slot, round).
    agency = idx % AGENCIES
    rest = idx // AGENCIES
    slot = rest % SLOTS
    rounds = rest // SLOTS
    received = pools.handover_ordinal - pools.slot_back[slot]
    seq = rounds * pools.slots_per_day + pools.slot_rank[slot] + 1
    yymmdd = _dates(received)  # dd/mm/yyyy
    codes = [
        f"{a}-{d[8:10]}{d[3:5]}{d[0:2]}-{s:04d}"
        for a, d, s in zip(pools.agency[agency].tolist(), yymmdd, seq.tolist(), strict=True)
    ]
    for i in np.flatnonzero(_flag(rng, n, P_LOCAL_CODE)).tolist():
        codes[i] = f"HS{yymmdd[i][6:10]}-{(start + i) % 99991:05d}"

    # Units: own communes; some unknown names; some split communes of neighbouring provinces.
    unit = pools.own[rng.integers(0, len(pools.own), n)]
    province, district, code, commune = (unit[:, k].copy() for k in range(4))
    code[_flag(rng, n, P_NO_COMMUNE_CODE)] = ""
    if len(pools.split):
        split = np.flatnonzero(_flag(rng, n, P_SPLIT_COMMUNE))
        chosen = pools.split[rng.integers(0, len(pools.split), len(split))]
        for k, arr in enumerate((province, district, code, commune)):
            arr[split] = chosen[:, k]
    unknown = np.flatnonzero(_flag(rng, n, P_UNKNOWN_COMMUNE))
    code[unknown] = ""
    commune[unknown] = pools.unknown_communes[rng.integers(0, len(pools.unknown_communes), len(unknown))]
    village = pools.village[rng.integers(0, len(pools.village), n)]
    own_district = np.where(np.isin(district, list(DISTRICTS)), district, "089")
    address = [
        f"{v}, {c}, {DISTRICTS[d]}, {PROVINCE_NAME}"
        for v, c, d in zip(village.tolist(), commune.tolist(), own_district.tolist(), strict=True)
    ]

    proc = pools.proc[rng.integers(0, len(pools.proc), n)]
    unknown_proc = np.flatnonzero(_flag(rng, n, P_UNKNOWN_PROC))
    proc[unknown_proc] = pools.unknown_proc[rng.integers(0, len(pools.unknown_proc), len(unknown_proc))]
    proc_code = proc[:, 0].tolist()
    for i in np.flatnonzero(_flag(rng, n, P_PROC_SUFFIX)).tolist():
        if proc_code[i]:
            proc_code[i] = f"{proc_code[i]}.000.00.00.H38"

    # Applicants: CCCD 010 + century/sex + year + 6 digits; some 9-digit CMND; companies with a tax code.
    names = pools.person[rng.integers(0, len(pools.person), n)]
    nfd = _flag(rng, n, P_NFD)
    names[nfd] = np.array([unicodedata.normalize("NFD", x) for x in names[nfd]], dtype=object)
    year = rng.integers(1950, 2007, n)
    sex = rng.integers(0, 2, n) + np.where(year >= 2000, 2, 0)
    tail = rng.integers(0, 1_000_000, n)
    ids = [
        f"010{c}{y % 100:02d}{t:06d}"
        for c, y, t in zip(sex.tolist(), year.tolist(), tail.tolist(), strict=True)
    ]
    cmnd_tail = rng.integers(0, 1_000_000, n)
    for i in np.flatnonzero(_flag(rng, n, P_CMND)).tolist():
        ids[i] = f"063{cmnd_tail[i]:06d}"
    bad = np.flatnonzero(_flag(rng, n, P_BAD_ID))
    for i, v in zip(bad.tolist(), _bad_ids(rng, len(bad)), strict=True):
        ids[i] = v
    applicant_type = np.full(n, "1", dtype=object)
    company = np.flatnonzero(_flag(rng, n, P_COMPANY))
    names[company] = pools.company[rng.integers(0, len(pools.company), len(company))]
    applicant_type[company] = "2"
    for i, v in zip(company.tolist(), _mst(rng, len(company)), strict=True):
        ids[i] = v

    prefix = np.array(["09", "03", "08", "07"], dtype=object)[rng.integers(0, 4, n)]
    phones = [
        f"{p}{b:08d}" for p, b in zip(prefix.tolist(), rng.integers(0, 100_000_000, n).tolist(), strict=True)
    ]
    emails = [""] * n
    mail = rng.integers(100, 100_000, n)
    for i in np.flatnonzero(_flag(rng, n, 0.2)).tolist():
        emails[i] = f"congdan{mail[i]}@gmail.com"

    due = received + rng.choice(np.array([3, 5, 7, 10, 12, 15, 15, 20, 20, 30, 45]), size=n)
    received_s = _dates(received, _flag(rng, n, P_ISO_DATE))
    due_s = _dates(due)
    bad_date = np.flatnonzero(_flag(rng, n, P_BAD_DATE))
    bad_text = rng.integers(0, len(BAD_DATES), len(bad_date))
    for i, k in zip(bad_date.tolist(), bad_text.tolist(), strict=True):
        received_s[i] = BAD_DATES[k]

    status = pools.pending[rng.choice(len(pools.pending), size=n, p=pools.pending_p)]
    finished = _flag(rng, n, P_FINISHED)
    status[finished] = pools.finished[rng.integers(0, len(pools.finished), int(finished.sum()))]

    cols: dict[str, list[str]] = {
        "dossier_code": codes,
        "procedure_code": proc_code,
        "procedure_name": proc[:, 1].tolist(),
        "sector_name": proc[:, 2].tolist(),
        "applicant_type": applicant_type.tolist(),
        "applicant_name": names.tolist(),
        "applicant_id": ids,
        "phone": phones,
        "email": emails,
        "address": address,
        "old_province_code": province.tolist(),
        "old_district_code": district.tolist(),
        "old_commune_code": code.tolist(),
        "old_commune_name": commune.tolist(),
        "received_date": received_s,
        "due_date": due_s,
        "status_raw": status.tolist(),
        "channel": pools.channel[rng.choice(len(pools.channel), size=n, p=pools.channel_p)].tolist(),
        "fee": pools.fee[rng.choice(len(pools.fee), size=n, p=pools.fee_p)].tolist(),
        "notes": pools.notes[rng.choice(len(pools.notes), size=n, p=pools.notes_p)].tolist(),
    }
    # Exact duplicates: a row exported twice (a copy of an earlier row of the same block).
    dup = np.flatnonzero(_flag(rng, n, P_DUPLICATE))
    dup = dup[dup > 0]
    src = (rng.random(len(dup)) * dup).astype(np.int64)
    for values in cols.values():
        for i, j in zip(dup.tolist(), src.tolist(), strict=True):
            values[i] = values[j]
    return cols


def write_toml(out: Path, fmt: str, rows: int, seed: int) -> Path:
    """The batch config the benchmark runs: one source, explicit column map (no detection, no profile)."""
    path = "dossiers.csv" if fmt == "csv" else "dossiers.xlsx"
    source = [
        "[[sources]]",
        'id = "lao-cai-086-089"',
        f'kind = "{fmt}"',
        f'path = "{path}"',
        'entity = "dossier"',
        f'old_province_code = "{PROVINCE_CODE}"',
    ]
    if fmt == "csv":
        source += ['encoding = "utf-8"', 'delimiter = ","']
    else:
        source += [f"header_row = {len(XLSX_TITLE_LINES) + 1}"]
    mapped = ["", "[sources.columns]"] + [f'"{h}" = "{f}"' for h, f in columns() if f is not None]
    text = "\n".join(
        [
            f"# Generated by benchmarks/generate.py --rows {rows} --format {fmt} --seed {seed}",
            "[batch]",
            f'id = "bench-{fmt}-{rows}-s{seed}"',
            'description = "Benchmark: hồ sơ tổng hợp Huyện Bảo Thắng và Huyện Văn Bàn"',
            "# chunk_size: the project's default (20,000 rows); benchmarks/e2e.py --chunk-size overrides it",
            "",
            "[target]",
            'url = "sqlite:///target.db"  # benchmarks/e2e.py replaces it with a fresh database',
            "",
            "[thresholds]",
            "max_error_share = 0.5",
            'handover_date = "2025-07-01"',
            "",
            "[report]",
            'dir = "reports"',
            "",
            *source,
            *mapped,
            "",
        ]
    )
    toml = out / "batch.toml"
    toml.write_text(text, encoding="utf-8")
    return toml


def _rows(pools: Pools, rows: int, seed: int, cols: list[tuple[str, str | None]]):
    """Blocks of rows (lists of cell texts) in header order."""
    for start in range(0, rows, BLOCK):
        block = make_block(pools, start, min(BLOCK, rows - start), seed)
        n = min(BLOCK, rows - start)
        empty = [""] * n
        yield zip(*(block.get(f, empty) if f else empty for _, f in cols), strict=True)


def _to_date(text: str) -> object:
    """xlsx: dd/mm/yyyy as a real Excel date (as district exports mostly hold them); other text as typed."""
    if len(text) == 10 and text[2] == "/":
        try:
            return datetime.strptime(text, "%d/%m/%Y")
        except ValueError:
            return text
    return text


def generator_version() -> str:
    """SHA-256 (first 16 hex) of this file: a cached input made by another version is not reused."""
    import hashlib

    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def generate(rows: int, fmt: str, out: Path, seed: int = 1) -> Path:
    """Write ``rows`` dossiers and ``batch.toml`` to ``out``; returns the data file's path."""
    out.mkdir(parents=True, exist_ok=True)
    pools = Pools()
    cols = columns()
    headers = [h for h, _ in cols]
    if fmt == "csv":
        path = out / "dossiers.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as fh:  # UTF-8 with BOM, like the demo's
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow(headers)
            for block in _rows(pools, rows, seed, cols):
                writer.writerows(block)
    elif fmt == "xlsx":
        from openpyxl import Workbook

        if rows + len(XLSX_TITLE_LINES) + 1 > 1_048_576:
            sys.exit("generate.py: an xlsx sheet holds at most 1,048,576 rows")
        path = out / "dossiers.xlsx"
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("Hồ sơ")
        for line in XLSX_TITLE_LINES:
            ws.append([line] if line else [])
        ws.append(headers)
        date_cols = [k for k, (_, f) in enumerate(cols) if f in ("received_date", "due_date")]
        for block in _rows(pools, rows, seed, cols):
            for row in block:
                cells: list[object] = [v if v != "" else None for v in row]
                for k in date_cols:
                    if cells[k] is not None:
                        cells[k] = _to_date(cells[k])  # type: ignore[arg-type]
                ws.append(cells)
        wb.save(path)
    else:
        sys.exit(f"generate.py: unknown format '{fmt}' (csv or xlsx)")
    write_toml(out, fmt, rows, seed)
    meta = {
        "rows": rows,
        "format": fmt,
        "seed": seed,
        "file": path.name,
        "bytes": path.stat().st_size,
        "generator": generator_version(),
    }
    (out / "generated.json").write_text(json.dumps(meta), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, required=True, help="number of dossier rows to write")
    ap.add_argument("--format", choices=("csv", "xlsx"), default="csv", help="output format")
    ap.add_argument("--out", type=Path, required=True, help="output folder (created)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (same seed, same bytes)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    path = generate(args.rows, args.format, args.out, args.seed)
    print(f"wrote {args.rows} rows to {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
