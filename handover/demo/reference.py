"""The demo's geography: the real old communes of the unit reference (``mappings/units``, or the
statistics-office tables before it is built), the two districts of the old Lào Cai province it writes, and the
communes the crosswalk splits."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from handover.errors import ConfigError

HANDOVER = date(2025, 7, 1)
PROVINCE = "10"
BAO_THANG = "086"
VAN_BAN = "089"


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


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def units_reference() -> tuple[list[Commune], dict[str, set[str]]]:
    """All old communes, and old commune code → new commune codes (from the crosswalk)."""
    from handover.resources import gso_dir, mappings_dir

    units = mappings_dir() / "units"
    old_path, cross_path = units / "old_units.csv", units / "crosswalk.csv"
    communes: list[Commune] = []
    targets: dict[str, set[str]] = {}
    if old_path.is_file() and cross_path.is_file():
        for r in read_rows(old_path):
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
        for r in read_rows(cross_path):
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
    for r in read_rows(old_gso):
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


def district_communes(
    communes: list[Commune], district_code: str, province_code: str = PROVINCE
) -> list[Commune]:
    found = sorted((c for c in communes if c.province_code == province_code and c.district_code == district_code),
                   key=lambda c: c.code)  # fmt: skip
    if not found:
        raise ConfigError(
            f"District {district_code} of province {province_code} is not in the unit reference.",
            hint="Rebuild the reference: handover units build",
        )
    return found


def split_communes(
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
