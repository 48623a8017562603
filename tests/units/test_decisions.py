"""Decision cells and the communes a review row allows (handover.units.decisions)."""

from __future__ import annotations

import pytest

from handover.resources import mappings_dir
from handover.units.decisions import ReviewRow, allowed_communes, commune_code
from handover.units.reference import Reference


@pytest.mark.parametrize(
    ("cell", "code"),
    [
        ("02905", "02905"),
        (2905, "02905"),
        (2905.0, "02905"),
        ("02905 - Xã Bảo Thắng", "02905"),
        (" 8 ", "00008"),
        ("Xã Bảo Thắng", None),
        ("", None),
        (None, None),
        (True, None),
        ("123456", None),
    ],
)
def test_commune_code_of_a_decision_cell(cell: object, code: str | None) -> None:
    assert commune_code(cell) == code


def test_a_row_without_candidates_allows_the_communes_of_its_new_province() -> None:
    ref = Reference.load(mappings_dir() / "units")
    row = ReviewRow("b", "s", 1, "dossier", "k", "not_found", "10", ())
    allowed = allowed_communes(row, ref)
    assert len(allowed) == 99 and "02905" in allowed and "00008" not in allowed  # new Lào Cai, not Hà Nội
    assert {ref.new_communes[c][0] for c in allowed} == {ref.new_communes["02905"][0]}
    split = ReviewRow("b", "s", 1, "dossier", "k", "split", "02", ("00913", "00967"))
    assert allowed_communes(split, ref) == ["00913", "00967"]
