"""Province rule files and manual decisions: validated on load, applied with methods rule / decision."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from handover.errors import MapError
from handover.units import UnitResolver

from .conftest import DATA

KIM_MA = "Phường Kim Mã, Quận Ba Đình, Hà Nội"


def test_rule_turns_a_split_into_unique() -> None:
    resolver = UnitResolver.load(rules=[DATA / "rules_kim_ma.csv"])
    res = resolver.resolve(f"Tổ dân phố 05, {KIM_MA}")
    assert res.status == "unique" and res.method == "rule"
    assert [n.commune_code for n in res.new] == ["00008"]
    assert res.old.commune_code == "00028"
    by_village = resolver.resolve(KIM_MA, village="ngo 12 kim ma")
    assert by_village.method == "rule" and by_village.new[0].commune_code == "00025"
    untouched = resolver.resolve(KIM_MA)
    assert untouched.status == "split" and len(untouched.new) == 3
    # "Tổ dân phố 50" must not match the keyword "Tổ dân phố 5"
    assert resolver.resolve(f"Tổ dân phố 50, {KIM_MA}").status == "split"


def test_rule_report_counts_rows_and_shows_unmatched_rules() -> None:
    resolver = UnitResolver.load(rules=[DATA / "rules_kim_ma.csv"])
    df = pd.DataFrame(
        {
            "address": [f"Tổ dân phố 5, {KIM_MA}"] * 3 + [KIM_MA],
            "village": [None, None, None, "Ngõ 12 Kim Mã"],
        }
    )
    out = resolver.resolve_frame(df)
    assert list(out["unit_method"]) == ["rule"] * 4
    assert list(out["new_commune_code"]) == ["00008", "00008", "00008", "00025"]
    report = {r["keyword"]: r for r in resolver.rule_report()}
    assert report["Tổ dân phố 5"]["matches"] == 3
    assert report["Ngõ 12 Kim Mã"]["matches"] == 1
    assert report["Tổ dân phố 99"]["matches"] == 0
    assert report["Tổ dân phố 99"]["line"] == 4


def test_rule_target_outside_the_candidates_is_refused() -> None:
    with pytest.raises(MapError) as info:
        UnitResolver.load(rules=[DATA / "rules_bad_target.csv"])
    err = info.value
    assert err.context["row"] == 3 and err.context["column"] == "new_commune_code"
    assert err.context["file"].endswith("rules_bad_target.csv")
    assert "'02905'" in err.message and "00004, 00008, 00025" in err.message


def test_rule_file_without_its_columns_is_refused() -> None:
    with pytest.raises(MapError, match="lacks the column"):
        UnitResolver.load(rules=[DATA / "rules_missing_column.csv"])


def test_rule_with_unknown_old_code(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("old_commune_code,keyword,new_commune_code\n99999,Thôn 1,00004\n", encoding="utf-8")
    with pytest.raises(MapError) as info:
        UnitResolver.load(rules=[path])
    assert info.value.context["column"] == "old_commune_code" and info.value.context["row"] == 2


def test_decision_applies_to_its_dossier_only() -> None:
    resolver = UnitResolver.load(decisions=[DATA / "decisions.csv"])
    res = resolver.resolve(KIM_MA, source_system="igate-bd", dossier_code="000.00.53.H48-220921-0099")
    assert res.status == "unique" and res.method == "decision"
    assert res.new[0].commune_code == "00025" and res.new[0].relation == "part"
    assert resolver.resolve(KIM_MA, source_system="igate-bd", dossier_code="other").status == "split"
    # a row the resolver cannot place: the person's decision stands
    lost = resolver.resolve("???", source_system="igate-bd", dossier_code="000.00.53.H48-220921-0100")
    assert lost.method == "decision" and lost.new[0].name == "Xã Bảo Thắng"


def test_decision_outside_the_rows_candidates_raises() -> None:
    resolver = UnitResolver.load(decisions=[DATA / "decisions.csv"])
    with pytest.raises(MapError) as info:
        resolver.resolve(KIM_MA, source_system="igate-bd", dossier_code="000.00.53.H48-220921-0100")
    assert info.value.context["row"] == 3 and "00004, 00008, 00025" in info.value.message


def test_decision_with_unknown_commune_is_refused() -> None:
    with pytest.raises(MapError) as info:
        UnitResolver.load(decisions=[DATA / "decisions_bad_code.csv"])
    assert info.value.context["row"] == 2 and "'99999'" in info.value.message


def test_decisions_in_resolve_frame() -> None:
    resolver = UnitResolver.load(decisions=[DATA / "decisions.csv"])
    df = pd.DataFrame(
        {
            "address": [KIM_MA, KIM_MA],
            "source_system": ["igate-bd", "igate-bd"],
            "dossier_code": ["000.00.53.H48-220921-0099", "000.00.53.H48-220921-0098"],
        }
    )
    out = resolver.resolve_frame(df)
    assert list(out["unit_status"]) == ["unique", "split"]
    assert out.loc[0, "unit_method"] == "decision" and out.loc[0, "new_commune_code"] == "00025"


def test_rules_match_the_address_when_codes_place_the_row() -> None:
    """A province's street rules name streets in the address; the old commune code alone placed the row."""
    resolver = UnitResolver.load(rules=[DATA / "rules_kim_ma.csv"])
    res = resolver.resolve("Số 3 ngõ 12 Kim Mã, Phường Kim Mã, Quận Ba Đình", commune_code="00028")
    assert (res.status, res.method, [n.commune_code for n in res.new]) == ("unique", "rule", ["00025"])
    # case and composition do not matter (NFD text, upper case)
    import unicodedata

    shouting = unicodedata.normalize("NFD", "TỔ DÂN PHỐ 5, PHƯỜNG KIM MÃ")
    assert resolver.resolve(shouting, commune_code="00028").new[0].commune_code == "00008"
    # the unit names of the address never match a rule: only the parts before the first unit do
    assert resolver.resolve("Phường Kim Mã, Tổ dân phố 5", commune_code="00028").status == "split"
    # rules stay scoped by the old commune: the same street text in another commune decides nothing
    other = resolver.resolve("Tổ dân phố 5, Phường Phúc Xá", commune_code="00001")
    assert other.method != "rule"
