"""The resolver: the issue's acceptance examples, every code of the conversion table, every January name."""

from __future__ import annotations

import csv
import json
import math
import unicodedata
from collections import defaultdict

import pandas as pd
import pytest

from handover.resources import mappings_dir
from handover.text import fold

from .conftest import DATA, GSO

SON_HA_NEW = {"province_code": "15", "commune_code": "02905", "name": "Xã Bảo Thắng", "relation": "whole"}


def test_son_ha_with_diacritics(resolver) -> None:
    res = resolver.resolve("Xã Sơn Hà, Huyện Bảo Thắng, Tỉnh Lào Cai")
    assert res.to_json_dict() == {
        "status": "unique",
        "old": {"province_code": "10", "district_code": "086", "commune_code": "02938", "name": "Xã Sơn Hà"},
        "new": [SON_HA_NEW],
        "method": "exact_name",
        "suggestions": [],
    }


@pytest.mark.parametrize(
    "address",
    [
        "xa son ha, bao thang, lao cai",
        "XÃ SƠN HÀ, HUYỆN BẢO THẮNG, TỈNH LÀO CAI",
        unicodedata.normalize("NFD", "Xã Sơn Hà, Huyện Bảo Thắng, Tỉnh Lào Cai"),
        "X. Sơn Hà ,  H. Bảo Thắng ,T. Lào Cai",
        "Xã Sơn Hà Huyện Bảo Thắng Tỉnh Lào Cai",
        "xa son ha huyen bao thang tinh lao cai",
        "Thôn 3, Xã Sơn Hà, Huyện Bảo Thắng, Tỉnh Lào Cai",
        "Sơn Hà; Bảo Thắng; Lào Cai",
    ],
)
def test_son_ha_as_people_type_it(resolver, address: str) -> None:
    res = resolver.resolve(address)
    assert res.status == "unique", res.reason
    assert res.old.commune_code == "02938"
    assert [n.model_dump() for n in res.new] == [SON_HA_NEW]
    # exact when the commune part is the official name (NFD is only another encoding of it)
    official = address.startswith(("Xã Sơn Hà", "Thôn 3", "Sơn Hà;")) or address != unicodedata.normalize(
        "NFC", address
    )
    assert res.method == ("exact_name" if official else "normalised_name")


def test_kim_ma_is_split_among_three(resolver) -> None:
    res = resolver.resolve("Phường Kim Mã, Quận Ba Đình, Hà Nội")
    assert res.status == "split"
    assert res.method is None
    assert [n.commune_code for n in res.new] == ["00004", "00008", "00025"]
    assert res.old.commune_code == "00028"


def test_unknown_name_gets_suggestions_never_applied(resolver) -> None:
    res = resolver.resolve("Xã Sơn Hòa, Huyện Bảo Thắng, Tỉnh Lào Cai")
    assert res.status == "not_found"
    assert res.old is None and res.new == []
    assert 1 <= len(res.suggestions) <= 3
    assert res.suggestions[0] == "Xã Sơn Hà, Huyện Bảo Thắng, Tỉnh Lào Cai"


def test_name_alone_is_ambiguous_when_not_unique(resolver) -> None:
    res = resolver.resolve("Sơn Hà")
    assert res.status == "ambiguous"
    assert "Xã Sơn Hà, Huyện Bảo Thắng, Tỉnh Lào Cai" in res.suggestions
    assert resolver.resolve("Xã Sơn Hà, Lào Cai").old.commune_code == "02938"  # unique in its province


def test_tone_key_separates_son_ha_from_son_ha_dot(resolver) -> None:
    """Quảng Ngãi: Xã Sơn Hạ (21292) lies in Huyện Sơn Hà; the diacritics decide."""
    assert resolver.resolve("Xã Sơn Hạ, Huyện Sơn Hà, Quảng Ngãi").old.commune_code == "21292"


def _old_units() -> list[dict[str, str]]:
    with (mappings_dir() / "units" / "old_units.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_tone_aware_key_breaks_folded_ties(resolver) -> None:
    """Every pair of one district whose names fold alike but differ in tone resolves with diacritics."""
    groups = defaultdict(list)
    for row in _old_units():
        groups[(row["district_code"], fold(row["commune_name"]))].append(row)
    pairs = [g for g in groups.values() if len(g) == 2 and g[0]["commune_name"] != g[1]["commune_name"]]
    assert pairs, "the reference has no such pair"
    for pair in pairs:
        for row in pair:
            res = resolver.resolve(f"{row['commune_name']}, {row['district_name']}, {row['province_name']}")
            assert res.old and res.old.commune_code == row["commune_code"], row
        unmarked = resolver.resolve(f"{fold(pair[0]['commune_name'])}, {pair[0]['district_name']}")
        assert unmarked.status == "ambiguous"  # without diacritics, no silent pick


@pytest.mark.parametrize("ward", ["Phường 5", "P5", "P.05", "phuong 05", "P. 5", "F5"])
def test_numbered_wards(resolver, ward: str) -> None:
    expected = next(
        r["commune_code"]
        for r in _old_units()
        if r["commune_name"] == "Phường 5" and r["district_name"] == "Quận 3"
    )
    res = resolver.resolve(f"{ward}, Q.3, Thành phố Hồ Chí Minh")
    assert res.old and res.old.commune_code == expected


def test_tone_placement_and_prefixes(resolver) -> None:
    a = resolver.resolve("P. Hoà Khánh Bắc, Q. Liên Chiểu, TP. Đà Nẵng")
    b = resolver.resolve("Phường Hòa Khánh Bắc, Quận Liên Chiểu, Thành phố Đà Nẵng")
    assert a.status == b.status == "unique" and a.old == b.old
    c = resolver.resolve("TT. Phố Lu, H. Bảo Thắng, Lào Cai")
    assert c.old.name == "Thị trấn Phố Lu"


@pytest.mark.parametrize(
    ("address", "name"),
    [
        ("Xã Tân Xã, Huyện Thạch Thất, Hà Nội", "Xã Tân Xã"),  # a name ending in a unit word
        ("xa tam xa huyen dong anh ha noi", "Xã Tàm Xá"),  # no commas, no diacritics
        ("P.5 Q.3 TP HCM", "Phường 5"),  # initials of a long province name
        ("Phường 5, Quận Phú Nhuận, TP.HCM", "Phường 5"),  # typed 'Xã' in the January list
        ("Xã Sơn Hà, Huyện Quan Sơn, Thanh Hoá", "Xã Sơn Hà"),  # "Quan" is a name here, not "Quận"
    ],
)
def test_harder_forms(resolver, address: str, name: str) -> None:
    res = resolver.resolve(address)
    assert res.old is not None and res.old.name == name, (res.status, res.reason)


def test_new_province_name_widens_to_its_old_provinces(resolver) -> None:
    """An old Yên Bái commune written with today's province name (Lào Cai, 15) still resolves."""
    units = _old_units()
    counts = defaultdict(int)
    for row in units:
        if row["province_code"] in ("10", "15"):
            counts[fold(row["commune_name"])] += 1
    row = next(
        r
        for r in units
        if r["province_code"] == "15" and counts[fold(r["commune_name"])] == 1 and r["in_january_list"] == "1"
    )
    res = resolver.resolve(f"{row['commune_name']}, Tỉnh Lào Cai")
    assert res.old and res.old.commune_code == row["commune_code"]


def test_codes_win_and_contradictions_are_reported(resolver) -> None:
    assert resolver.resolve(commune_code="02938").method == "code"
    assert resolver.resolve(commune_code=2938).old.commune_code == "02938"  # lost leading zero repaired
    assert resolver.resolve(commune_code=2938.0, commune="Xã Foo").old.commune_code == "02938"
    bad = resolver.resolve(commune_code="02938", district_code="087")
    assert bad.status == "not_found" and "district 086" in bad.reason
    narrowed = resolver.resolve(commune="Sơn Hà", district_code="86")
    assert narrowed.old.commune_code == "02938" and narrowed.method == "exact_name"
    assert resolver.resolve(commune_code="99999").status == "not_found"


def test_island_district_without_communes(resolver) -> None:
    res = resolver.resolve(district_code="755")
    assert res.status == "unique" and res.new[0].name == "Đặc khu Côn Đảo"


def test_every_old_code_of_the_conversion_table_resolves_to_its_official_targets(resolver) -> None:
    """Truth computed here from the raw GSO csv, independently of the build."""
    expected: dict[str, set[str]] = defaultdict(set)
    with (GSO / "conversion_2025-07-01.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))[2:]
    for row in rows:
        if row[2].strip() and row[4].strip():
            expected[row[4].strip()].add(row[2].strip())
    assert len(expected) == 10033
    wrong = []
    for code, targets in expected.items():
        res = resolver.resolve(commune_code=code)
        got = {n.commune_code for n in res.new}
        want_status = "unique" if len(targets) == 1 else "split"
        if got != targets or res.status != want_status or res.old.commune_code != code:
            wrong.append((code, sorted(targets), sorted(got), res.status))
    assert wrong == []


def test_every_january_name_without_diacritics_resolves_to_its_code(resolver) -> None:
    with (GSO / "communes_2025-01-04.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in list(csv.reader(fh))[1:] if r[5]]
    with (DATA / "name_misses.csv").open(encoding="utf-8", newline="") as fh:
        listed = {r["commune_code"]: r for r in csv.DictReader(fh)}
    folded = defaultdict(list)
    for r in rows:
        folded[(r[3], fold(r[4]))].append(r[5])
    misses = {}
    for r in rows:
        res = resolver.resolve(f"{fold(r[4])}, {fold(r[2])}, {fold(r[0])}")
        if not res.old or res.old.commune_code != r[5]:
            misses[r[5]] = r
    assert 1 - len(misses) / len(rows) >= 0.995
    assert set(misses) == set(listed)
    for code, r in misses.items():  # each miss is a true collision of the raw list, and said so
        assert len(folded[(r[3], fold(r[4]))]) > 1, code
        assert listed[code]["reason"].startswith("true name collision")


def test_resolve_frame_matches_resolve(resolver) -> None:
    df = pd.DataFrame(
        {
            "address": [
                "Xã Sơn Hà, Huyện Bảo Thắng, Tỉnh Lào Cai",
                None,
                "Phường Kim Mã, Quận Ba Đình, Hà Nội",
                "xa son ha, bao thang, lao cai",
                None,
                "Xã Sơn Hòa, Huyện Bảo Thắng, Tỉnh Lào Cai",
            ],
            "old_commune_code": [None, 2938.0, None, None, "02938", math.nan],
            "old_district_code": [None, None, None, None, "087", None],
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    out = resolver.resolve_frame(df)
    assert list(out.index) == [10, 11, 12, 13, 14, 15]
    assert list(out["unit_status"]) == ["unique", "unique", "split", "unique", "not_found", "not_found"]
    assert list(out["unit_method"]) == ["exact_name", "code", None, "normalised_name", None, None]
    assert out.loc[10, "new_commune_code"] == "02905" and out.loc[10, "new_commune_name"] == "Xã Bảo Thắng"
    assert out.loc[10, "old_commune_name"] == "Xã Sơn Hà" and out.loc[10, "unit_relation"] == "whole"
    assert out.loc[12, "new_commune_code"] is None and out.loc[12, "old_commune_code"] == "00028"
    import json

    assert [c["commune_code"] for c in json.loads(out.loc[12, "unit_candidates"])] == [
        "00004",
        "00008",
        "00025",
    ]
    assert json.loads(out.loc[14, "unit_candidates"]) == []
    assert json.loads(out.loc[15, "unit_suggestions"])[0] == "Xã Sơn Hà, Huyện Bảo Thắng, Tỉnh Lào Cai"
    for i, row in df.iterrows():
        single = resolver.resolve(
            row["address"] if isinstance(row["address"], str) else None,
            commune_code=row["old_commune_code"],
            district_code=row["old_district_code"],
        )
        assert single.status == out.loc[i, "unit_status"]


def test_resolve_frame_with_string_dtype_and_na(resolver) -> None:
    df = pd.DataFrame(
        {
            "old_commune_name": pd.Series(["Sơn Hà", pd.NA, "Xã Sơn Hà"], dtype="string"),
            "old_district_code": pd.Series(["086", "086", pd.NA], dtype="string"),
            "old_province_name": pd.Series([pd.NA, pd.NA, "Lào Cai"], dtype="string"),
        }
    )
    out = resolver.resolve_frame(df)
    assert list(out["unit_status"]) == ["unique", "not_found", "unique"]
    assert list(out["old_commune_code"]) == ["02938", None, "02938"]
    assert json.loads(out.loc[1, "unit_suggestions"]) == []


def test_resolve_frame_empty(resolver) -> None:
    out = resolver.resolve_frame(pd.DataFrame({"address": pd.Series([], dtype=object)}))
    assert len(out) == 0 and "unit_status" in out.columns


def test_a_commune_of_another_district_names_where_it_belongs(resolver) -> None:
    by_name = resolver.resolve(commune="Xã Sơn Hà", province_code="10", district_code="089")
    assert by_name.status == "not_found" and by_name.new == []  # never applied: a person must look
    assert by_name.elsewhere and "Huyện Bảo Thắng" in by_name.elsewhere and "02938" in by_name.elsewhere
    assert "district 086" in by_name.reason and "(089)" in by_name.reason
    by_code = resolver.resolve(commune_code="02938", district_code="089")
    assert by_code.elsewhere and "Huyện Bảo Thắng" in by_code.elsewhere
    # a name found nowhere says nothing about another district
    assert resolver.resolve(commune="Xã Không Có", province_code="10", district_code="089").elsewhere is None


def test_the_conversion_tables_spellings_name_their_unit(resolver) -> None:
    """Both official tables' spellings are indexed: "N.T" in the January list is "Nông trường" in the
    conversion table, "Xà Phìn" there is "Sà Phìn"; each alias keeps where it is written."""
    cases = {
        "Thị trấn Nông trường Phong Hải, Huyện Bảo Thắng, Lào Cai": "02902",
        "Thị trấn N.T Phong Hải, Huyện Bảo Thắng, Lào Cai": "02902",
        "Xã Sà Phìn, Huyện Đồng Văn, Tỉnh Hà Giang": "00736",
        "Xã Xà Phìn, Huyện Đồng Văn, Tỉnh Hà Giang": "00736",
    }
    for address, code in cases.items():
        res = resolver.resolve(address)
        assert (res.status, res.old.commune_code if res.old else None) == ("unique", code), address
    assert any("conversion table" in source for _, source in resolver.ref.aliases["02902"])


def test_an_alias_that_would_name_two_units_is_never_used(resolver) -> None:
    """The conversion table spells 00553 (Xã Cổ Bi) as "Xã Đặng Xá", the name of 00556 in the same district:
    the spelling is listed as a conflict and "Đặng Xá" still means 00556 alone."""
    conflict = [c for c in resolver.index.alias_conflicts if c["code"] == "00553"]
    assert conflict and conflict[0]["also_names"] == ["00556"]
    res = resolver.resolve("Xã Đặng Xá, Huyện Gia Lâm, Hà Nội")
    assert (res.status, res.old.commune_code) == ("unique", "00556")
    from handover.units.check import check_reference

    checks = {c["check"]: c for c in check_reference(resolver.ref.folder)["checks"]}
    assert checks["alias_names_two_units"]["count"] == len(resolver.index.alias_conflicts) > 0
    assert any("00553 'Xã Đặng Xá'" in e for e in checks["alias_names_two_units"]["examples"])
    assert checks["unit_aliases"]["count"] == sum(len(v) for v in resolver.ref.aliases.values())
