"""The same dossiers as clean UTF-8 CSV, as a TCVN3 CSV and as a messy Excel export read identically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from handover.config import SourceConfig
from handover.sources import open_source
from tests.data.make_corpus import DOSSIERS

DATA = Path(__file__).resolve().parent.parent / "data"
INHERENT = ["source_row", "extras"]  # where each row sits, and the unmapped columns each form carries


def _frame(name: str, kind: str) -> pd.DataFrame:
    cfg = SourceConfig(
        id="bao-thang", kind=kind, path=DATA / name, old_province_code="10", old_district_code="086"
    )
    reader = open_source(cfg, 2)
    frame = pd.concat([c.frame for c in reader.chunks()], ignore_index=True)
    return frame.drop(columns=INHERENT)


@pytest.mark.parametrize(
    "name,kind",
    [("dossiers_tcvn3.csv", "csv"), ("export_bao_thang.xlsx", "xlsx"), ("export_legacy.xls", "xls"), ("dossiers_cp1258.csv", "csv"),
     ("dossiers_vni.csv", "csv"), ("dossiers_utf16.txt", "csv"), ("dossiers_nfd.csv", "csv")],
)  # fmt: skip
def test_same_dossiers_whatever_the_form(name: str, kind: str) -> None:
    clean = _frame("dossiers_utf8.csv", "csv")
    other = _frame(name, kind)
    pd.testing.assert_frame_equal(clean, other)
    # and the clean form is what was written (independent truth: the generator's records)
    assert clean["dossier_code"].tolist() == [d["code"] for d in DOSSIERS]
    assert clean["applicant_id"].tolist() == [d["id"] for d in DOSSIERS]
    assert clean["due_date"].tolist() == [d["due"].isoformat() for d in DOSSIERS]
    assert clean["notes"].tolist() == [d["note"] or None for d in DOSSIERS]
