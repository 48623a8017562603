"""``handover units check``: the reference's own data-quality report.

Two kinds of lines: *reference* checks on ``mappings/units/`` (severity ``error`` when the reference is not
usable: counts, zero-padding, every crosswalk target a new commune ...) and the raw tables' *defects* recorded
at build time in ``provenance.json`` (severity ``info``/``warning``; recomputed when the raw tables are given).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from handover.units.build import EXPECTED_NEW_COMMUNES, EXPECTED_NEW_PROVINCES
from handover.units.gso import RELATIONS, raw_defects, read_raw, sha256
from handover.units.reference import REFERENCE_FILES

_WARN = {"split_communes", "january_codes_not_in_conversion", "conversion_codes_not_in_january",
         "district_under_two_provinces", "old_province_label_mismatch", "old_unit_without_code",
         "new_commune_name_variants", "codes_not_zero_padded"}  # fmt: skip


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))


def check_reference(folder: Path, gso_dir: Path | None = None) -> dict[str, Any]:
    """Run every check; ``{"ok": bool, "checks": [{check, severity, passed, count, message, examples}]}``."""
    folder = Path(folder)
    checks: list[dict[str, Any]] = []

    def add(check: str, passed: bool, count: int, message: str, examples: list[str] | None = None,
            severity: str = "error") -> None:  # fmt: skip
        checks.append(
            {
                "check": check,
                "severity": severity,
                "passed": passed,
                "count": count,
                "message": message,
                "examples": (examples or [])[:5],
            }
        )

    missing = [name for name in (*REFERENCE_FILES, "provenance.json") if not (folder / name).is_file()]
    add("files_present", not missing, len(missing), "reference files missing: " + ", ".join(missing) if missing
        else "all reference files present", missing)  # fmt: skip
    if missing:
        return {"ok": False, "folder": str(folder), "checks": checks}
    old = _rows(folder / "old_units.csv")
    provinces = _rows(folder / "new_provinces.csv")
    communes = _rows(folder / "new_communes.csv")
    crosswalk = _rows(folder / "crosswalk.csv")
    provenance = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))

    add("new_province_count", len(provinces) == EXPECTED_NEW_PROVINCES, len(provinces),
        f"new provinces: {len(provinces)} (expected {EXPECTED_NEW_PROVINCES})")  # fmt: skip
    add("new_commune_count", len(communes) == EXPECTED_NEW_COMMUNES, len(communes),
        f"new communes: {len(communes)} (expected {EXPECTED_NEW_COMMUNES:,})")  # fmt: skip

    widths = {"province_code": 2, "district_code": 3, "commune_code": 5, "old_commune_code": 5,
              "old_province_code": 2, "old_district_code": 3, "new_province_code": 2, "new_commune_code": 5}  # fmt: skip
    bad: list[str] = []
    for file_name, rows in (("old_units.csv", old), ("new_provinces.csv", provinces),
                            ("new_communes.csv", communes), ("crosswalk.csv", crosswalk)):  # fmt: skip
        for i, row in enumerate(rows, start=2):
            for column, width in widths.items():
                value = row.get(column)
                if value is None or (value == "" and column in ("old_commune_code",)):
                    continue
                if not re.fullmatch(rf"\d{{{width}}}", value):
                    bad.append(f"{file_name} line {i} {column}={value!r}")
    add(
        "codes_zero_padded",
        not bad,
        len(bad),
        "codes that are not zero-padded digit strings of their width",
        bad,
    )

    new_codes = {r["commune_code"] for r in communes}
    province_codes = {r["province_code"] for r in provinces}
    not_new = [
        f"line {i}: {r['new_commune_code']}"
        for i, r in enumerate(crosswalk, 2)
        if r["new_commune_code"] not in new_codes
    ]
    add(
        "crosswalk_targets_are_new_communes",
        not not_new,
        len(not_new),
        "crosswalk targets that are not new communes",
        not_new,
    )
    old_codes = {r["commune_code"] for r in old}
    unknown_old = [f"line {i}: {r['old_commune_code']}" for i, r in enumerate(crosswalk, 2)
                   if r["old_commune_code"] and r["old_commune_code"] not in old_codes]  # fmt: skip
    add(
        "crosswalk_sources_are_old_units",
        not unknown_old,
        len(unknown_old),
        "crosswalk old codes missing from old_units.csv",
        unknown_old,
    )
    bad_rel = [
        f"line {i}: {r['relation']!r}" for i, r in enumerate(crosswalk, 2) if r["relation"] not in RELATIONS
    ]
    add("relations_in_enum", not bad_rel, len(bad_rel), "relations outside " + "/".join(RELATIONS), bad_rel)
    fed = {r["new_commune_code"] for r in crosswalk}
    orphans = sorted(new_codes - fed)
    add(
        "every_new_commune_has_sources",
        not orphans,
        len(orphans),
        "new communes no old unit went to",
        orphans,
    )
    wrong_province = [r["commune_code"] for r in communes if r["province_code"] not in province_codes]
    add(
        "new_communes_in_new_provinces",
        not wrong_province,
        len(wrong_province),
        "new communes of an unknown province",
        wrong_province,
    )
    dup = len(old_codes) != len(old)
    add(
        "old_codes_unique",
        not dup,
        len(old) - len(old_codes),
        "old commune codes listed twice in old_units.csv",
    )
    other = [f"line {i}: {r['note_raw']!r}" for i, r in enumerate(crosswalk, 2) if r["relation"] == "other"]
    add(
        "relation_other",
        True,
        len(other),
        "crosswalk rows whose note fits no relation (kept as 'other')",
        other,
        "info",
    )

    from handover.units.reference import Reference
    from handover.units.resolver import UnitResolver

    ref = Reference.load(folder)
    index = UnitResolver(ref).index
    spellings = [f"{code} {name}" for code, names in ref.aliases.items() for name, _ in names]
    add(
        "unit_aliases",
        True,
        len(spellings),
        "old communes the conversion table (crosswalk.csv) spells otherwise than the January list: both "
        "spellings are indexed",
        spellings,
        "info",
    )
    conflicts = [f"{c['code']} '{c['alias']}' = {', '.join(c['also_names'])}" for c in index.alias_conflicts]
    add(
        "alias_names_two_units",
        True,
        len(conflicts),
        "spellings of the conversion table (crosswalk.csv) that would name another old commune of the same "
        "district too: not used",
        conflicts,
        "warning",
    )

    defects = provenance.get("raw_defects", [])
    source = "provenance.json"
    if gso_dir is not None and Path(gso_dir).is_dir():
        gso_dir = Path(gso_dir)
        defects = raw_defects(read_raw(gso_dir))
        source = str(gso_dir)
        stale = [
            name for name, meta in provenance.get("inputs", {}).items()
            if not (gso_dir / name).is_file() or sha256(gso_dir / name) != meta.get("sha256")
        ]  # fmt: skip
        add("inputs_match_provenance", not stale, len(stale),
            "raw tables differ from the ones the reference was built from (run: handover units build)"
            if stale else "raw tables match the recorded SHA-256", stale, "warning")  # fmt: skip
    for d in defects:
        add(
            f"raw:{d['check']}",
            True,
            d["count"],
            f"{d['message']} (from {source})",
            d.get("examples", []),
            "warning" if d["check"] in _WARN and d["count"] else "info",
        )
    ok = all(c["passed"] for c in checks if c["severity"] == "error")
    return {"ok": ok, "folder": str(folder), "checks": checks}
