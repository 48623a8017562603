"""The statistics office's two raw tables: read, their notes classified, and their defects detected.

``communes_2025-01-04.csv`` is the January list of old units; ``conversion_2025-07-01.csv`` lists each new
commune with the old communes it took in. The raw tables' defects are *detected* here (:func:`raw_defects`);
:mod:`handover.units.build` records them in ``provenance.json`` and ``handover units check`` reports them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from handover.errors import UnitReferenceError
from handover.text import clean as _clean_text
from handover.text import fold

clean = cache(_clean_text)  # the raw cells repeat a lot
JANUARY_FILE = "communes_2025-01-04.csv"
CONVERSION_FILE = "conversion_2025-07-01.csv"

RELATIONS = (
    "whole",
    "part",
    "part_area",
    "part_population",
    "unchanged",
    "renamed",
    "type_changed",
    "other",
)

# Folded note (no diacritics, punctuation → space, spaces collapsed) → relation. Spelling variants of the raw
# notes ("Nhâp", double spaces, trailing newline) fold onto these keys.
_NOTE_RELATIONS = {
    "nhap toan bo": "whole",
    "nhap toan bo dien tich": "whole",
    "nhap mot phan": "part",
    "nhap mot phan dien tich": "part_area",
    "nhap mot phan dien tich toan bo dan so": "part_area",
    "nhap mot phan dan so": "part_population",
    "giu nguyen": "unchanged",
    "doi ten": "renamed",
    "doi loai hinh": "type_changed",
}
# The canonical spelling of each known note, to detect spelling variants.
_CANONICAL_NOTES = {
    "Nhập toàn bộ",
    "Nhập toàn bộ diện tích",
    "Nhập một phần",
    "Nhập một phần diện tích",
    "Nhập một phần diện tích, toàn bộ dân số",
    "Nhập một phần dân số",
    "Giữ nguyên",
    "Đổi tên",
    "Đổi loại hình",
}

_BRACKET_CODE = re.compile(r"^(?P<name>.*?)\s*\((?P<code>\d+)\)\s*$")


def relation_of(note: str) -> str:
    """Normalised relation of a raw ``Ghi chú`` note (spelling variants included)."""
    key = fold(note)
    if key in _NOTE_RELATIONS:
        return _NOTE_RELATIONS[key]
    if "mot phan" in key or key.startswith("phan con lai"):
        return "part"
    if "toan bo" in key:
        return "whole"
    return "other"


@cache
def split_bracket(cell: str) -> tuple[str, str]:
    """``"Tỉnh Lào Cai (15)"`` → ``("Tỉnh Lào Cai", "15")``; no bracket → ``(name, "")``."""
    text = clean(cell)
    match = _BRACKET_CODE.match(text)
    if not match:
        return text, ""
    return match["name"], match["code"]


def unit_type(name: str) -> str:
    """Official unit type from the start of an official name (``"Phường Ba Đình"`` → ``"Phường"``)."""
    for prefix in ("Thị trấn", "Thị xã", "Thành phố", "Đặc khu", "Xã", "Phường", "Huyện", "Quận", "Tỉnh"):
        if name == prefix or name.startswith(prefix + " "):
            return prefix
    return ""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class RawTables:
    """The two raw tables, read once (rows as lists of raw cells, with their 1-based file line)."""

    january_header: list[str]
    january: list[tuple[int, list[str]]]
    conversion_header: list[str]
    conversion: list[tuple[int, list[str]]]  # data rows (with a new code)
    banners: list[tuple[int, list[str]]] = field(default_factory=list)


def _read_csv(path: Path) -> list[tuple[int, list[str]]]:
    if not path.is_file():
        raise UnitReferenceError(
            f"The statistics-office table {path.name} is missing.",
            file=str(path),
            hint="Pass --gso with the folder holding communes_2025-01-04.csv and conversion_2025-07-01.csv.",
        )
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    for row in reader:
        rows.append((reader.line_num, row))
    return rows


def read_raw(gso_dir: Path) -> RawTables:
    """Read both raw tables; structural surprises raise :class:`UnitReferenceError`."""
    january = _read_csv(gso_dir / JANUARY_FILE)
    conversion = _read_csv(gso_dir / CONVERSION_FILE)
    if len(january) < 2 or len(january[0][1]) < 7:
        raise UnitReferenceError(
            "The January list has no header or fewer than 7 columns.", file=str(gso_dir / JANUARY_FILE)
        )
    if len(conversion) < 3 or len(conversion[1][1]) < 8:
        raise UnitReferenceError(
            "The conversion table lacks its banner and header lines or has fewer than 8 columns.",
            file=str(gso_dir / CONVERSION_FILE),
        )
    data, banners = [], []
    for line, row in conversion[2:]:
        row = row + [""] * (8 - len(row))
        (data if row[2].strip() else banners).append((line, row))
    return RawTables(
        january_header=january[0][1],
        january=[(line, row + [""] * (8 - len(row))) for line, row in january[1:]],
        conversion_header=conversion[1][1],
        conversion=data,
        banners=banners,
    )


def _is_padded(cell: str) -> bool:
    return cell != cell.strip()


def raw_defects(raw: RawTables) -> list[dict[str, Any]]:
    """Detect the raw tables' known kinds of defects; each is ``{check, count, message, examples}``."""
    out: list[dict[str, Any]] = []

    def add(check: str, count: int, message: str, examples: list[str]) -> None:
        out.append({"check": check, "count": count, "message": message, "examples": examples[:5]})

    jan_codes = {clean(r[5]) for _, r in raw.january if clean(r[5])}
    jan_district_province = {clean(r[3]): clean(r[1]) for _, r in raw.january if clean(r[3])}
    targets: dict[str, set[str]] = defaultdict(set)
    for _, r in raw.conversion:
        if clean(r[4]):
            targets[clean(r[4])].add(clean(r[2]))
    split = sorted(code for code, new in targets.items() if len(new) > 1)
    add(
        "split_communes",
        len(split),
        "old communes listed under 2 to 5 new communes; the table names no default (rule file or a person decides)",
        [f"{c} → {', '.join(sorted(targets[c]))}" for c in split],
    )
    missing = sorted(jan_codes - set(targets))
    add(
        "january_codes_not_in_conversion",
        len(missing),
        "codes of the January list absent from the conversion table",
        missing,
    )
    extra = sorted(set(targets) - jan_codes)
    add(
        "conversion_codes_not_in_january",
        len(extra),
        "old codes of the conversion table absent from the January list",
        extra,
    )
    newline_cells = [
        f"line {line} col {i + 1}"
        for line, r in raw.conversion + raw.january
        for i, c in enumerate(r)
        if "\n" in c
    ]
    add("newline_cells", len(newline_cells), "cells with an embedded newline", newline_cells)
    padded = [f"line {line}: {r[i]!r}" for line, r in raw.conversion for i in (1, 3) if _is_padded(r[i])]
    add(
        "padded_commune_names",
        len(padded),
        "commune-name cells of the conversion table with padding white space",
        padded,
    )
    inner = [
        f"line {line}: {c!r}"
        for line, r in raw.conversion + raw.january
        for c in r[:8]
        if "  " in c.strip() and "\n" not in c
    ]
    add("double_spaces", len(inner), "cells with repeated inner spaces", inner)
    no_code = [f"line {line}: {clean(r[3])}" for line, r in raw.conversion if clean(r[3]) and not clean(r[4])]
    add(
        "old_unit_without_code",
        len(no_code),
        "old units named without a code (kept in the crosswalk by name)",
        no_code,
    )
    whole_district = [
        f"line {line}: {clean(r[6])} → {clean(r[1])} {clean(r[2])}"
        for line, r in raw.conversion
        if not clean(r[3]) and not clean(r[4])
    ]
    add(
        "district_without_communes",
        len(whole_district),
        "old districts without communes turned into a special zone (old commune code empty)",
        whole_district,
    )
    labels: dict[str, Counter[str]] = defaultdict(Counter)
    for _, r in raw.conversion:
        _, district = split_bracket(r[6])
        labels[district][clean(r[7])] += 1
    double = sorted(d for d, c in labels.items() if len(c) > 1)
    add(
        "district_under_two_provinces",
        len(double),
        "old districts labelled under two old provinces (the January list decides)",
        [f"{d}: " + "; ".join(f"{p} ×{n}" for p, n in sorted(labels[d].items())) for d in double],
    )
    wrong_label = []
    for line, r in raw.conversion:
        _, district = split_bracket(r[6])
        _, province = split_bracket(r[7])
        official = jan_district_province.get(district)
        if official and province != official:
            wrong_label.append(
                f"line {line}: district {district} labelled {clean(r[7])}, January list says {official}"
            )
    add(
        "old_province_label_mismatch",
        len(wrong_label),
        "rows whose old-province label disagrees with the January list",
        wrong_label,
    )
    notes = Counter(r[5] for _, r in raw.conversion)
    variants = sorted(n for n in notes if n not in _CANONICAL_NOTES and fold(n) in _NOTE_RELATIONS)
    add(
        "note_spelling_variants",
        sum(notes[n] for n in variants),
        "notes spelt differently from the canonical wording (folded onto the same relation)",
        [f"{n!r} ×{notes[n]} → {relation_of(n)}" for n in variants],
    )
    free = sorted(n for n in notes if fold(n) not in _NOTE_RELATIONS)
    add(
        "free_text_notes",
        sum(notes[n] for n in free),
        "notes in free text, classified by keywords (relation kept with the raw note)",
        [f"{n!r} → {relation_of(n)}" for n in free],
    )
    names: dict[str, Counter[str]] = defaultdict(Counter)
    for _, r in raw.conversion:
        names[clean(r[2])][clean(r[1])] += 1
    varying = sorted(c for c, n in names.items() if len(n) > 1)
    add(
        "new_commune_name_variants",
        len(varying),
        "new communes spelt in more than one way (the most frequent spelling is kept)",
        [f"{c}: {' / '.join(sorted(names[c]))}" for c in varying],
    )
    bad_codes = [
        f"line {line}: {r[i]!r}"
        for line, r in raw.conversion
        for i, width in ((2, 5), (4, 5))
        if r[i].strip() and not re.fullmatch(rf"\d{{{width}}}", r[i].strip())
    ]
    add("codes_not_zero_padded", len(bad_codes), "codes that are not zero-padded digit strings", bad_codes)
    mistyped = [
        f"line {line}: {clean(r[4])} typed {clean(r[6])!r}"
        for line, r in raw.january
        if clean(r[5]) and unit_type(clean(r[4])) and unit_type(clean(r[4])) != clean(r[6])
    ]
    add(
        "commune_type_mismatch",
        len(mistyped),
        "January-list units whose type column contradicts their name",
        mistyped,
    )
    add("province_banner_rows", len(raw.banners), "province banner rows without codes (skipped)", [])
    return out
