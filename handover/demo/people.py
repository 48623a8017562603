"""Invented people, ID numbers, phone numbers, tax codes, dates and villages, drawn from a seeded generator."""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import date, timedelta

from handover.demo.reference import HANDOVER, Commune

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


def random_person(rng: random.Random) -> tuple[str, bool, int]:
    female = rng.random() < 0.5
    middle = rng.choice(MIDDLE_F if female else MIDDLE_M)
    given = rng.choice(GIVEN_F if female else GIVEN_M)
    year = rng.randint(1950, 2006)
    return f"{rng.choice(FAMILY)} {middle} {given}", female, year


def random_cccd(rng: random.Random, female: bool, year: int, prefix: str = "010") -> str:
    century = 0 if year < 2000 else 2
    return f"{prefix}{century + int(female)}{year % 100:02d}{rng.randint(0, 999_999):06d}"


def random_bad_id(rng: random.Random) -> str:
    return rng.choice(
        [
            f"099{rng.randint(0, 99_999_999):09d}"[:12],  # no province 099
            f"0107{rng.randint(10, 99)}{rng.randint(0, 999_999):06d}",  # century digit 7
            f"{rng.randint(10_000_000, 99_999_999)}",  # 8 digits
        ]
    )


def random_phone(rng: random.Random) -> str:
    return rng.choice(["09", "03", "08", "07"]) + f"{rng.randint(0, 99_999_999):08d}"


def random_tax_code(rng: random.Random) -> str:
    from stdnum.vn import mst

    base = f"53{rng.randint(0, 9_999_999):07d}"  # Lào Cai businesses' tax codes start with 53
    return base + mst.calc_check_digit(base)


def random_dates(rng: random.Random) -> tuple[date, date]:
    """Received in the months before the handover; due 3-45 days later: some overdue, some due soon."""
    received = HANDOVER - timedelta(days=1 + min(150, int(rng.expovariate(1 / 20))))
    due = received + timedelta(days=rng.choice([3, 5, 7, 10, 12, 15, 15, 20, 20, 30, 45]))
    return received, due


def random_village(rng: random.Random, commune: Commune) -> str:
    if commune.is_town:
        return f"Tổ dân phố {rng.randint(1, 12)}"
    return f"Thôn {rng.randint(1, 9)}" if rng.random() < 0.6 else rng.choice(HAMLETS)


def short_name(name: str) -> str:
    return re.sub(r"^(Thị trấn|Xã|Phường)\s+", "", name)


def pick(rng: random.Random, n: int, share: float, taken: set[int]) -> set[int]:
    """Exactly round(n*share) row indexes not yet used by another planted problem."""
    free = [i for i in range(n) if i not in taken]
    k = min(len(free), max(1, round(n * share))) if n >= 20 else min(len(free), round(n * share))
    chosen = set(rng.sample(free, k))
    taken |= chosen
    return chosen


def to_nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)
