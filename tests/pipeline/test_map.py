"""The map stage's own arithmetic: due flags on working days."""

from __future__ import annotations

from datetime import date

import pandas as pd

from handover.pipeline.map import due_flags


def test_due_flags_working_days() -> None:
    # 2025-07-01 is a Tuesday. Five working days after it end on Tuesday 2025-07-08.
    due = pd.Series(["2025-06-30", "2025-07-01", "2025-07-08", "2025-07-09", None, "not a date"])
    flags = due_flags(due, date(2025, 7, 1), 5).tolist()
    assert flags == ["overdue", "due_soon", "due_soon", "on_time", "no_date", "no_date"]


def test_due_flags_weekend_does_not_count() -> None:
    # Friday 2025-07-04 + the weekend: Monday 07-07 is the 4th working day after Tuesday 07-01.
    flags = due_flags(pd.Series(["2025-07-07", "2025-07-09"]), date(2025, 7, 1), 4).tolist()
    assert flags == ["due_soon", "on_time"]


def test_channel_and_applicant_texts_become_codes() -> None:
    from handover.pipeline.map import load_value_codes, normalise_codes

    frame = pd.DataFrame(
        {
            "channel": ["Trực tuyến", "TRỰC TIẾP", "Bưu chính", "2", "fax", None],
            "applicant_type": ["Công dân", "Doanh nghiệp", "1", None, "?", "Tổ chức"],
        },
        dtype=object,  # as the readers produce it
    )
    normalise_codes(frame, load_value_codes())
    assert frame["channel"].tolist() == ["2", "1", "3", "2", "fax", None]
    assert frame["applicant_type"].tolist() == ["1", "2", "1", None, "?", "2"]


def test_reference_tables_report_file_line_and_column(tmp_path) -> None:
    import pytest

    from handover.errors import MapError
    from handover.pipeline.map import load_value_codes

    bad = tmp_path / "value_codes.csv"
    bad.write_text("field,raw,code\nchannel,truc tuyen,2\nchannel,,3\n", encoding="utf-8")
    with pytest.raises(MapError) as err:
        load_value_codes(bad)
    assert err.value.context["row"] == 3 and err.value.context["file"] == str(bad)
    bad.write_text("field,raw\nchannel,truc tuyen\n", encoding="utf-8")
    with pytest.raises(MapError, match="lacks the column"):
        load_value_codes(bad)


def test_fee_on_a_free_procedure_is_a_warning() -> None:
    from handover.models import DOSSIER_FIELDS, Chunk, Entity
    from handover.pipeline.map import MapSettings, load_record_routes, load_value_codes, map_chunk
    from handover.pipeline.routing import ProcedureRouter, StatusTable
    from handover.units import UnitResolver

    settings = MapSettings(
        resolver=UnitResolver.load(),
        router=ProcedureRouter.load(),
        statuses=StatusTable.load(),
        record_routes=load_record_routes(),
        value_codes=load_value_codes(),
        handover_date=date(2025, 7, 1),
        due_soon_days=5,
    )
    rows = []
    for i, (code, fee) in enumerate(
        [("1.001193", 50000.0), ("1.001193", 0.0), ("1.001193", None), ("1.001612", 100000.0)]
    ):
        row = {f: None for f in DOSSIER_FIELDS}
        row.update(
            source_system="bt", dossier_code=f"X-{i}", procedure_code=code, fee=fee, status_raw="4",
            old_province_code="10", old_district_code="086", old_commune_name="Xã Sơn Hà",
            payment_channel="Chuyển khoản" if i == 3 else None,
        )  # fmt: skip
        rows.append({"source_id": "bt", "source_row": i + 2, "extras": "{}", **row})
    chunk = map_chunk(Chunk("bt", Entity.DOSSIER, 0, pd.DataFrame(rows, dtype=object)), settings)
    found = [(f.row, f.field, f.severity.value) for f in chunk.findings if f.check == "fee_on_free_procedure"]
    # khai sinh with a fee; not with 0 or none; not a procedure that carries fees
    assert found == [(2, "fee", "warning")]
    (finding,) = [f for f in chunk.findings if f.check == "fee_on_free_procedure"]
    assert "lệ phí phải nộp 50.000 đ" in finding.message_vi and "marks free" in finding.message_en
    assert chunk.frame["payment_channel"].tolist() == [None, None, None, "bank_transfer"]
