"""insert_columns on the three databases: values read back exactly as given (COPY text, executemany)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine, select

from handover.target import schema, writers


def _dossier_columns(codes: list[str]) -> dict[str, list]:
    n = len(codes)
    return {
        "source_system": ["bt"] * n,
        "dossier_code": codes,
        "content_hash": ["a" * 64] * n,
        "batch_id": ["b1"] * n,
        "loaded_at": [datetime(2025, 7, 1, 8, 30, 15)] * n,
    }


def test_awkward_text_dates_and_numbers_round_trip(engine: Engine) -> None:
    texts = ["tab\there", "line\nbreak", "cr\rhere", "back\\slash", "\\N", 'q"uote', "Xã Bảo Thắng", "", None]
    n = len(texts)
    data = _dossier_columns([f"H-{i}" for i in range(n)])
    data["applicant_name"] = texts
    data["received_date"] = [date(2025, 6, i + 1) if i % 3 else None for i in range(n)]
    data["fee"] = [0.1, 150000.0, None, 1e16, 2.5, 0.0, None, 3.0, 7.25]
    with engine.begin() as conn:
        assert writers.insert_columns(conn, schema.dossiers, data) == n
    d = schema.dossiers.c
    with engine.connect() as conn:
        got = conn.execute(
            select(d.dossier_code, d.applicant_name, d.received_date, d.fee, d.loaded_at).order_by(d.id)
        ).all()
    assert [r[0] for r in got] == data["dossier_code"]
    assert [r[1] for r in got] == texts
    assert [r[2] for r in got] == data["received_date"]
    assert [r[3] for r in got] == data["fee"]
    assert {r[4] for r in got} == {datetime(2025, 7, 1, 8, 30, 15)}


def test_mixed_python_types_in_one_column_still_load(engine: Engine) -> None:
    """Ints and floats in one numeric column (PostgreSQL: the row-by-row COPY path)."""
    data = _dossier_columns(["H-1", "H-2", "H-3"])
    data["fee"] = [1, 2.5, None]
    with engine.begin() as conn:
        writers.insert_columns(conn, schema.dossiers, data)
    with engine.connect() as conn:
        fees = conn.execute(select(schema.dossiers.c.fee).order_by(schema.dossiers.c.id)).scalars().all()
    assert fees == [1.0, 2.5, None]


def test_insert_rows_of_dicts_and_empty_input(engine: Engine) -> None:
    with engine.begin() as conn:
        assert writers.insert_columns(conn, schema.dossiers, {}) == 0
        assert writers.insert_rows(conn, schema.dossiers, []) == 0
        rows = [
            dict(zip(_dossier_columns(["H-9"]), values, strict=True))
            for values in zip(*_dossier_columns(["H-9"]).values(), strict=True)
        ]
        assert writers.insert_rows(conn, schema.dossiers, rows) == 1
    with engine.connect() as conn:
        assert conn.execute(select(schema.dossiers.c.dossier_code)).scalars().all() == ["H-9"]
