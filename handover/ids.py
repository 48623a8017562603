"""Personal ID numbers (CCCD, 12 digits): their structure, and the leading zeros an Excel number cell loses.

Digits 1–3 are the province (or country) of birth registration (``mappings/id_province_codes.csv``), digit 4
the century and sex (0/1 born in the 1900s, 2/3 in the 2000s; even male, odd female), digits 5–6 the birth
year. A CCCD stored as a
number loses its leading zeros: one for provinces 010–096, two for 001–009 (Hà Nội 001 … Bắc Kạn 006). This is
the one place that decides whether a value is such a number and restores it.
"""

from __future__ import annotations

import csv
from datetime import date
from functools import cache
from pathlib import Path

from handover.errors import ConfigError

# A birth year after this cannot be on a CCCD yet (the 2000s' "26" is fine in 2026, "27" is not).
ID_REFERENCE_YEAR = max(2025, date.today().year)


def province_prefixes() -> frozenset[str]:
    """The 3-digit birth-registration prefixes of ``id_province_codes.csv`` in the mappings in use."""
    from handover.resources import mappings_dir

    return _prefixes_in(mappings_dir() / "id_province_codes.csv")


@cache
def _prefixes_in(path: Path) -> frozenset[str]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return frozenset(row["prefix"].strip() for row in csv.DictReader(fh))
    except (OSError, KeyError) as exc:
        raise ConfigError(
            f"Cannot read the ID province list '{path}': {exc}.",
            file=str(path),
            hint="Restore mappings/id_province_codes.csv (columns prefix, province_code, province_name).",
        ) from exc


def birth_year(cccd: str) -> int | None:
    """The birth year a 12-digit CCCD encodes (century from digit 4), or None when digit 4 is past 3."""
    century = int(cccd[3])
    if century > 3:
        return None
    return 1900 + (century // 2) * 100 + int(cccd[4:6])


def sex(cccd: str) -> str | None:
    """The sex a 12-digit CCCD encodes in digit 4: ``"M"`` (0, 2) or ``"F"`` (1, 3); None when digit 4 is past 3."""
    century = int(cccd[3])
    if century > 3:
        return None
    return "M" if century % 2 == 0 else "F"


# How sources write a person's sex (Giới tính / Nam/Nữ / GioiTinh), folded to lower case → "M" or "F".
SEX_VALUES: dict[str, str] = {
    "nam": "M",
    "male": "M",
    "m": "M",
    "1": "M",
    "nữ": "F",
    "nu": "F",
    "female": "F",
    "f": "F",
    "0": "F",
}


def normalise_sex(value: object) -> str | None:
    """``"M"`` or ``"F"`` for a sex cell (Nam/Nữ, male/female, M/F, 1/0), None when empty or not one of them."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text.endswith(".0"):  # 1/0 read from a number cell
        text = text[:-2]
    return SEX_VALUES.get(text)


def plausible_cccd(value: str) -> bool:
    """12 ASCII digits with a known province prefix, a century digit 0–3 and a birth year not in the future."""
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        return False
    year = birth_year(value)
    return value[:3] in province_prefixes() and year is not None and year <= ID_REFERENCE_YEAR


def _tax_code(value: str) -> bool:
    from stdnum.vn import mst

    return bool(mst.is_valid(value))


def restore_cccd(digits: str) -> tuple[str, int]:
    """``(value, zeros added)`` for a digit string that may be a CCCD whose leading zeros a number cell lost.

    11 digits get one zero, 10 digits two, only when the result is a :func:`plausible_cccd`; a 10-digit value
    that is a valid tax code (MST) is left as it is, since it reads as one. Anything else comes back unchanged
    with 0.
    """
    if not digits.isascii() or not digits.isdigit() or len(digits) not in (10, 11):
        return digits, 0
    zeros = 12 - len(digits)
    candidate = "0" * zeros + digits
    if not plausible_cccd(candidate) or (zeros == 2 and _tax_code(digits)):
        return digits, 0
    return candidate, zeros
