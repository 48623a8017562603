"""The reference build: deterministic, counts, detected defects, and the check's exit status."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from handover.resources import mappings_dir
from handover.units.build import build_reference
from handover.units.check import check_reference
from handover.units.gso import relation_of

from .conftest import GSO

UNITS = mappings_dir() / "units"
GENERATED = (
    "old_units.csv",
    "new_provinces.csv",
    "new_communes.csv",
    "crosswalk.csv",
    "provenance.json",
    "PROVENANCE.md",
)


def test_rebuild_gives_the_committed_bytes(tmp_path: Path) -> None:
    build_reference(GSO, tmp_path)
    for name in GENERATED:
        assert (tmp_path / name).read_bytes() == (UNITS / name).read_bytes(), name


def _rows(name: str) -> list[dict[str, str]]:
    with (UNITS / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_counts_and_zero_padding() -> None:
    provinces, communes, old = _rows("new_provinces.csv"), _rows("new_communes.csv"), _rows("old_units.csv")
    assert len(provinces) == 34
    assert len(communes) == 3321
    assert all(len(r["commune_code"]) == 5 and r["commune_code"].isdigit() for r in communes + old)
    assert {r["province_code"] for r in communes} == {r["province_code"] for r in provinces}
    # Lào Cai is now 15 (old Yên Bái code); the old Lào Cai code was 10
    assert next(r for r in provinces if r["province_code"] == "15")["name"] == "Tỉnh Lào Cai"
    only_conversion = [r for r in old if r["in_january_list"] == "0"]
    assert len(only_conversion) == 10


@pytest.mark.parametrize(
    ("note", "relation"),
    [
        ("Nhập toàn bộ", "whole"),
        ("Nhập một phần\n", "part"),
        ("Nhập một  phần", "part"),
        ("Nhâp một phần diện tích", "part_area"),
        ("Nhập một phần diện tích, toàn bộ dân số", "part_area"),
        ("Nhập một phần dân số", "part_population"),
        ("Giữ nguyên ", "unchanged"),
        ("Đổi tên", "renamed"),
        ("Đổi loại hình", "type_changed"),
        ("Sắp xếp toàn bộ huyện Côn Đảo thành đặc khu Côn Đảo", "whole"),
        ("Đổi tên từ một phần Phường 15", "part"),
        ("something else", "other"),
    ],
)
def test_relation_of_notes(note: str, relation: str) -> None:
    assert relation_of(note) == relation


def test_defects_detected_match_the_raw_provenance() -> None:
    """The counts PROVENANCE.md of the raw tables states, found by code."""
    report = check_reference(UNITS)
    assert report["ok"]
    counts = {c["check"]: c["count"] for c in report["checks"]}
    assert counts["raw:split_communes"] == 441
    assert counts["raw:january_codes_not_in_conversion"] == 28
    assert counts["raw:conversion_codes_not_in_january"] == 10
    assert counts["raw:newline_cells"] == 875
    assert counts["raw:padded_commune_names"] == 1544
    assert counts["raw:old_unit_without_code"] == 1
    assert counts["raw:district_under_two_provinces"] == 2
    examples = next(c for c in report["checks"] if c["check"] == "raw:district_under_two_provinces")[
        "examples"
    ]
    assert any(e.startswith("794:") for e in examples) and any(e.startswith("900:") for e in examples)
    assert counts["raw:note_spelling_variants"] > 0


def test_check_fails_on_a_broken_crosswalk(tmp_path: Path) -> None:
    for name in GENERATED:
        shutil.copy(UNITS / name, tmp_path / name)
    text = (tmp_path / "crosswalk.csv").read_text(encoding="utf-8")
    (tmp_path / "crosswalk.csv").write_text(
        text.replace(",00004,whole,", ",99999,whole,", 1), encoding="utf-8"
    )
    report = check_reference(tmp_path)
    assert not report["ok"]
    failed = {c["check"] for c in report["checks"] if not c["passed"]}
    assert failed == {"crosswalk_targets_are_new_communes"}


def test_check_fails_on_unpadded_codes(tmp_path: Path) -> None:
    for name in GENERATED:
        shutil.copy(UNITS / name, tmp_path / name)
    lines = (tmp_path / "new_communes.csv").read_text(encoding="utf-8").splitlines()
    lines.pop()  # one commune fewer, and one code unpadded
    lines[1] = lines[1].replace(",00004,", ",4,")
    (tmp_path / "new_communes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    failed = {c["check"] for c in check_reference(tmp_path)["checks"] if not c["passed"]}
    assert {"new_commune_count", "codes_zero_padded", "crosswalk_targets_are_new_communes"} <= failed


def test_check_with_raw_tables_confirms_checksums() -> None:
    report = check_reference(UNITS, GSO)
    row = next(c for c in report["checks"] if c["check"] == "inputs_match_provenance")
    assert row["passed"] and row["count"] == 0
