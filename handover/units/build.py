"""Build ``mappings/units/`` from the statistics office's two raw tables, deterministically.

Pure code from ``communes_2025-01-04.csv`` (the January list of old units) and ``conversion_2025-07-01.csv``
(new commune ← old communes), read by :mod:`handover.units.gso`: the same inputs give the same bytes. The raw
tables' defects (:func:`~handover.units.gso.raw_defects`) are recorded in ``provenance.json``;
``handover units check`` reports them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from handover.errors import UnitReferenceError
from handover.units.gso import (
    CONVERSION_FILE,
    JANUARY_FILE,
    RELATIONS,
    clean,
    raw_defects,
    read_raw,
    relation_of,
    sha256,
    split_bracket,
    unit_type,
)

OLD_UNITS_COLUMNS = (
    "province_code",
    "province_name",
    "district_code",
    "district_name",
    "commune_code",
    "commune_name",
    "commune_type",
    "in_january_list",
)
NEW_PROVINCES_COLUMNS = ("province_code", "name", "type")
NEW_COMMUNES_COLUMNS = ("province_code", "commune_code", "name", "type")
CROSSWALK_COLUMNS = (
    "old_commune_code",
    "old_province_code",
    "old_district_code",
    "new_province_code",
    "new_commune_code",
    "relation",
    "note_raw",
    "old_commune_name",
)

EXPECTED_NEW_PROVINCES = 34
EXPECTED_NEW_COMMUNES = 3321


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def build_reference(gso_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Write old_units.csv, new_provinces.csv, new_communes.csv, crosswalk.csv, provenance.json, PROVENANCE.md.

    Returns the provenance record (input checksums, counts, detected raw defects).
    """
    gso_dir = Path(gso_dir)
    out_dir = Path(out_dir)
    raw = read_raw(gso_dir)

    # Old units: the January list is official; the conversion table adds the units it alone knows.
    old_rows: dict[str, dict[str, str]] = {}
    district_province: dict[str, str] = {}
    district_names: dict[str, str] = {}
    province_names: dict[str, str] = {}
    for line, r in raw.january:
        province_code, district_code, commune_code = clean(r[1]), clean(r[3]), clean(r[5])
        for code, width, column in ((province_code, 2, "Mã TP"), (district_code, 3, "Mã QH")):
            if not re.fullmatch(rf"\d{{{width}}}", code):
                raise UnitReferenceError(
                    f"Code {code!r} is not a {width}-digit string.",
                    file=str(gso_dir / JANUARY_FILE),
                    row=line,
                    column=column,
                    hint="Check the raw table; codes must keep their leading zeros.",
                )
        district_province[district_code] = province_code
        district_names[district_code] = clean(r[2])
        province_names[province_code] = clean(r[0])
        if not commune_code:
            continue  # a district without communes (island district): in the crosswalk by district
        old_rows[commune_code] = {
            "province_code": province_code,
            "province_name": clean(r[0]),
            "district_code": district_code,
            "district_name": clean(r[2]),
            "commune_code": commune_code,
            "commune_name": clean(r[4]),
            "commune_type": clean(r[6]),
            "in_january_list": "1",
        }

    new_names: dict[str, Counter[str]] = defaultdict(Counter)
    new_province_of: dict[str, str] = {}
    new_province_names: dict[str, str] = {}
    crosswalk: list[dict[str, str]] = []
    for _line, r in raw.conversion:
        new_province_name, new_province_code = split_bracket(r[0])
        new_code = clean(r[2])
        new_names[new_code][clean(r[1])] += 1
        new_province_of[new_code] = new_province_code
        new_province_names.setdefault(new_province_code, new_province_name)
        district_name, district_code = split_bracket(r[6])
        province_name, province_cell_code = split_bracket(r[7])
        old_code = clean(r[4])
        old_name = clean(r[3])
        province_code = district_province.get(district_code, province_cell_code)
        if old_code and old_code in old_rows:
            province_code = old_rows[old_code]["province_code"]
            district_code = old_rows[old_code]["district_code"]
        elif old_code and old_code not in old_rows:
            old_rows[old_code] = {
                "province_code": province_code,
                "province_name": province_names.get(province_code, province_name),
                "district_code": district_code,
                "district_name": district_names.get(district_code, district_name),
                "commune_code": old_code,
                "commune_name": old_name,
                "commune_type": unit_type(old_name),
                "in_january_list": "0",
            }
        crosswalk.append(
            {
                "old_commune_code": old_code,
                "old_province_code": province_code,
                "old_district_code": district_code,
                "new_province_code": new_province_code,
                "new_commune_code": new_code,
                "relation": relation_of(r[5]),
                "note_raw": r[5],
                "old_commune_name": old_name,
            }
        )

    def official(counter: Counter[str]) -> str:
        best = max(counter.values())
        return next(name for name, n in counter.items() if n == best)  # first seen among the most frequent

    new_communes = [
        {
            "province_code": new_province_of[code],
            "commune_code": code,
            "name": official(names),
            "type": unit_type(official(names)),
        }
        for code, names in sorted(new_names.items())
    ]
    new_provinces = [
        {"province_code": code, "name": name, "type": unit_type(name)}
        for code, name in sorted(new_province_names.items())
    ]
    old_units = sorted(
        old_rows.values(), key=lambda row: (row["province_code"], row["district_code"], row["commune_code"])
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(out_dir / "old_units.csv", OLD_UNITS_COLUMNS, old_units)
    _write_csv(out_dir / "new_provinces.csv", NEW_PROVINCES_COLUMNS, new_provinces)
    _write_csv(out_dir / "new_communes.csv", NEW_COMMUNES_COLUMNS, new_communes)
    _write_csv(out_dir / "crosswalk.csv", CROSSWALK_COLUMNS, crosswalk)

    relations = Counter(row["relation"] for row in crosswalk)
    provenance: dict[str, Any] = {
        "built_by": "handover units build",
        "inputs": {
            name: {"sha256": sha256(gso_dir / name), "data_rows": n}
            for name, n in ((JANUARY_FILE, len(raw.january)), (CONVERSION_FILE, len(raw.conversion)))
        },
        "outputs": {
            "old_units.csv": len(old_units),
            "new_provinces.csv": len(new_provinces),
            "new_communes.csv": len(new_communes),
            "crosswalk.csv": len(crosswalk),
        },
        "counts": {
            "old_units_in_january_list": sum(1 for r in old_units if r["in_january_list"] == "1"),
            "old_units_only_in_conversion": sum(1 for r in old_units if r["in_january_list"] == "0"),
            "old_codes_in_crosswalk": len(
                {r["old_commune_code"] for r in crosswalk if r["old_commune_code"]}
            ),
            "new_provinces": len(new_provinces),
            "new_communes": len(new_communes),
            "relations": dict(sorted(relations.items())),
        },
        "raw_defects": raw_defects(raw),
    }
    text = json.dumps(provenance, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
    (out_dir / "provenance.json").write_bytes(text.encode("utf-8"))
    (out_dir / "PROVENANCE.md").write_bytes(_provenance_md(provenance).encode("utf-8"))
    return provenance


def _provenance_md(p: dict[str, Any]) -> str:
    lines = [
        "# Administrative-unit reference (generated)",
        "",
        "Generated by `handover units build` from the statistics office's raw tables (see",
        "`data/gso/PROVENANCE.md` of the repository). Do not edit by hand: rebuild. Same inputs → same bytes.",
        "",
        "| file | what |",
        "|---|---|",
        "| `old_units.csv` | legacy scheme: province (2 digits), district (3), commune (5) codes and official names; "
        "`in_january_list` = 0 for units only the conversion table knows |",
        "| `new_provinces.csv` | 2025 scheme: the provinces |",
        "| `new_communes.csv` | 2025 scheme: the communes |",
        "| `crosswalk.csv` | old commune → new commune, one row per row of the conversion table; `relation` in "
        + ", ".join(RELATIONS)
        + "; `note_raw` keeps the raw note |",
        "",
        "## Inputs",
        "",
        "| file | sha256 | data rows |",
        "|---|---|---|",
    ]
    for name, meta in p["inputs"].items():
        lines.append(f"| `{name}` | `{meta['sha256']}` | {meta['data_rows']:,} |")
    lines += ["", "## Outputs", "", "| file | rows |", "|---|---|"]
    for name, n in p["outputs"].items():
        lines.append(f"| `{name}` | {n:,} |")
    lines += ["", "## Counts", ""]
    for key, value in p["counts"].items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:,}" for k, v in value.items())
        lines.append(f"- {key}: {value}")
    lines += ["", "## Raw-table defects detected", "", "| check | count | what |", "|---|---|---|"]
    for d in p["raw_defects"]:
        lines.append(f"| {d['check']} | {d['count']:,} | {d['message']} |")
    lines.append("")
    return "\n".join(lines)
