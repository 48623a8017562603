"""The pending dossiers both district lists share, with a realistic share of planted problems (bad dates,
unknown and split communes, finished dossiers, exact duplicates, invalid IDs, NFD text, unknown procedures) in
exact counts."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from handover.demo.people import (
    pick,
    random_bad_id,
    random_cccd,
    random_dates,
    random_person,
    random_phone,
    random_tax_code,
    random_village,
    to_nfd,
)
from handover.demo.reference import Commune, read_rows

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


def procedure_list() -> list[tuple[str, str, str]]:
    from handover.resources import mappings_dir

    rows = read_rows(mappings_dir() / "procedures.csv")
    return [(r["procedure_code"], r["procedure_name"], r["sector"]) for r in rows]


@dataclass
class Dossier:
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


def make_dossiers(rng: random.Random, n: int, district: list[Commune], split: list[Commune], agency: str,
              business: bool) -> list[Dossier]:  # fmt: skip
    procedures = procedure_list()
    taken: set[int] = set()
    bad_date = pick(rng, n, 0.03, taken)
    unknown = pick(rng, n, 0.02, taken)
    in_split = pick(rng, n, 0.015, taken) if split else set()
    finished = pick(rng, n, 0.08, taken)
    bad_id = pick(rng, n, 0.01, taken)
    nfd = pick(rng, n, 0.02, taken)
    unknown_proc = pick(rng, n, 0.015, taken)
    local_code = pick(rng, n, 0.01, taken)
    companies = pick(rng, n, 0.03, taken) if business else set()
    out: list[Dossier] = []
    seq: dict[date, int] = {}
    for i in range(n):
        name, female, year = random_person(rng)
        received, due = random_dates(rng)
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
        applicant_type, applicant_id = "1", random_cccd(rng, female, year)
        if rng.random() < 0.04:
            applicant_id = f"063{rng.randint(0, 999_999):06d}"  # old 9-digit CMND
        if i in bad_id:
            applicant_id = random_bad_id(rng)
        if i in companies:
            name = f"Công ty TNHH {rng.choice(['Phú Thịnh', 'Hoàng Liên', 'Sao Mai', 'Bảo An'])} Lào Cai"
            applicant_type, applicant_id = "2", random_tax_code(rng)
        if i in nfd:
            name = to_nfd(name)
        r_out: date | str = received
        if i in bad_date:
            r_out = rng.choice(BAD_DATES)
        out.append(
            Dossier(
                code=code,
                procedure_code=pcode,
                procedure_name=pname,
                sector=sector,
                applicant=name,
                applicant_type=applicant_type,
                applicant_id=applicant_id,
                phone=random_phone(rng),
                email=f"congdan{rng.randint(100, 99999)}@gmail.com" if rng.random() < 0.2 else "",
                village=random_village(rng, commune) if commune else f"Thôn {rng.randint(1, 9)}",
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
    for i in sorted(pick(rng, n, 0.02, set())):
        out.insert(min(len(out), i + 1 + rng.randint(0, 5)), out[i])
    return out


def address_of(d: Dossier, district_name: str, province_name: str = "Tỉnh Lào Cai") -> str:
    if d.commune is None:
        return f"{d.village}, {d.commune_text}, {district_name}, {province_name}"
    c = d.commune
    return f"{d.village}, {c.name}, {c.district_name}, {c.province_name}"


def dmy(value: date | str) -> str:
    return value if isinstance(value, str) else value.strftime("%d/%m/%Y")
