"""The old districts of the unit reference, as a plan names them: found by a folder's or file's name (its
3-digit code, its name, or both agreeing), within one province when the plan says so."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from handover.errors import ConfigError
from handover.text import fold

DISTRICT_PREFIXES = ("thanh pho", "thi xa", "huyen", "quan", "tp", "tx")


@dataclass
class District:
    """An old district of the reference, as a plan names it."""

    province_code: str
    province_name: str
    code: str
    name: str

    @property
    def slug(self) -> str:
        return slug(strip_prefix(fold(self.name)))


def slug(text: str) -> str:
    """``bao thang`` → ``bao-thang``: letters and digits of the folded text, joined by '-'."""
    return "-".join(re.findall(r"[a-z0-9]+", fold(text)))


def strip_prefix(folded: str) -> str:
    """The district's name without its kind (huyện, quận, thị xã, thành phố), folded."""
    for prefix in DISTRICT_PREFIXES:
        if folded.startswith(prefix + " "):
            return folded[len(prefix) + 1 :]
    return folded


class DistrictIndex:
    """The reference's old districts, found by code or by name (within one province when the plan says so)."""

    def __init__(self, ref: Any, province: str | None) -> None:
        self.ref = ref
        self.province = self._province(province) if province else None
        self.by_name: dict[str, list[str]] = {}
        for code, (name, prov) in sorted(ref.districts.items()):
            if self.province and prov != self.province:
                continue
            key = strip_prefix(fold(name))
            for k in {key, key.replace(" ", "")}:
                self.by_name.setdefault(k, []).append(code)

    def _province(self, text: str) -> str:
        if text.isdigit() and text.zfill(2) in self.ref.provinces:
            return text.zfill(2)
        wanted = fold(text)
        found = [
            c for c, n in self.ref.provinces.items() if wanted in (fold(n), strip_province_prefix(fold(n)))
        ]
        if len(found) != 1:
            raise ConfigError(
                f"plan.toml: province '{text}' is {'no' if not found else 'more than one'} old province "
                "of the reference.",
                column="plan.province",
                hint='Give the old province code, e.g. province = "10" (mappings/units/old_units.csv).',
            )
        return found[0]

    def get(self, code: str) -> District:
        name, prov = self.ref.districts[code]
        return District(prov, self.ref.provinces.get(prov, ""), code, name)

    def known(self, code: str) -> bool:
        return code in self.ref.districts and (
            self.province is None or self.ref.districts[code][1] == self.province
        )

    def _names(self, text: str) -> list[str]:
        """Districts named by the whole text, else by the longest run of two or more of its words that names any
        (Bảo Thắng in ``ho so bao thang``): all of them when that run names several."""
        if not text:
            return []
        exact = self.by_name.get(text) or self.by_name.get(text.replace(" ", ""))
        if exact:
            return list(exact)
        words = text.split()
        for size in range(len(words) - 1, 1, -1):  # a single word ("vinh", "chu") is too common a syllable
            found = sorted(
                {
                    code
                    for i in range(len(words) - size + 1)
                    for code in self.by_name.get(" ".join(words[i : i + size]), [])
                }
            )
            if found:
                return found
        return []

    def resolve(self, label: str) -> tuple[District | None, str]:
        """The district a folder or file name names (by a 3-digit code, by its name, or both agreeing), or
        None and the reason in Vietnamese and English."""
        words = fold(label).replace("_", " ").replace("-", " ").replace(".", " ").split()
        codes = sorted({w for w in words if len(w) == 3 and w.isdigit() and self.known(w)})
        rest = strip_prefix(" ".join(w for w in words if not (len(w) == 3 and w.isdigit())))
        names = self._names(rest)
        scope_vi = f" của tỉnh {self.province}" if self.province else ""
        scope_en = f" of province {self.province}" if self.province else ""
        if len(codes) > 1:
            return None, (
                f"Tên '{label}' chứa nhiều mã huyện ({', '.join(codes)}); đặt district_code trong "
                f'[districts."{label}"] của plan.toml. / The name holds several district codes '
                f'({", ".join(codes)}): set district_code under [districts."{label}"] in plan.toml.'
            )
        if codes and names and codes[0] not in names:
            return None, (
                f"Mã huyện {codes[0]} và tên '{rest}' trong '{label}' chỉ hai huyện khác nhau; đặt district_code "
                f"trong [districts.\"{label}\"] của plan.toml. / The code {codes[0]} and the name '{rest}' in "
                f"'{label}' name different districts: set district_code under [districts.\"{label}\"] in "
                "plan.toml."
            )
        if codes:
            return self.get(codes[0]), ""
        if len(names) == 1:
            return self.get(names[0]), ""
        if not names:
            return None, (
                f"Tên '{label}' không khớp mã hay tên huyện cũ nào{scope_vi}; đổi tên thư mục theo mã huyện "
                f"(ví dụ 086) hoặc đặt district_code trong [districts.\"{label}\"] của plan.toml. / '{label}' "
                f"matches no old district code or name{scope_en}: name the "
                f'folder by the district code (e.g. 086) or set district_code under [districts."{label}"] in '
                "plan.toml."
            )
        listed = ", ".join(f"{c} {self.ref.districts[c][0]} ({self.ref.districts[c][1]})" for c in names)
        return None, (
            f"Tên '{label}' khớp {len(names)} huyện: {listed}; ghi province trong [plan] hoặc district_code "
            f"trong [districts.\"{label}\"] của plan.toml. / '{label}' matches {len(names)} districts: "
            f'{listed}: set province under [plan] or district_code under [districts."{label}"] in plan.toml.'
        )


def strip_province_prefix(folded: str) -> str:
    for prefix in ("tinh", "thanh pho"):
        if folded.startswith(prefix + " "):
            return folded[len(prefix) + 1 :]
    return folded
