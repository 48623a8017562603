"""insert_columns on the three databases: values read back exactly as given (COPY text, executemany)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
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


def _awkward_columns(codes: list[str]) -> dict[str, list]:
    n = len(codes)
    data = _dossier_columns(codes)
    data["applicant_name"] = (["tab\there", "back\\slash", "\\N", "Xã Bảo Thắng", None] * n)[:n]
    data["received_date"] = [date(2025, 6, 1 + i % 28) if i % 4 else None for i in range(n)]
    data["fee"] = [float(i) * 1.5 if i % 3 else None for i in range(n)]
    return data


def test_a_wire_made_without_a_connection_encodes_as_the_connection_does(engine: Engine) -> None:
    """A wire named by database and driver (no connection, its own dialect) gives the same rows."""
    data = _awkward_columns([f"H-{i}" for i in range(12)])
    with engine.connect() as conn:
        here = writers.Wire.of(conn)
    named = writers.Wire(here.name, here.driver)
    assert named == here and named.dialect_object is None
    encoded_here = writers.encode(here, schema.dossiers, data)
    assert encoded_here == writers.encode(named, schema.dossiers, data)
    assert encoded_here.text is (
        engine.dialect.name == "postgresql"
    )  # COPY text there, bound tuples elsewhere


def test_columns_alike_in_every_row_round_trip(engine: Engine) -> None:
    """Columns holding one value (or only NULLs, or a negative zero beside a zero) beside varying ones."""
    data = _dossier_columns(["H-1", "H-2", "H-3"])
    data["applicant_name"] = ["tab\there"] * 3
    data["fee"] = [0.0, -0.0, 0.0]
    data["amount_paid"] = [2.5] * 3
    data["notes"] = [None] * 3
    with engine.begin() as conn:
        assert writers.insert_columns(conn, schema.dossiers, data) == 3
    d = schema.dossiers.c
    with engine.connect() as conn:
        got = conn.execute(
            select(d.dossier_code, d.applicant_name, d.fee, d.amount_paid, d.notes, d.batch_id).order_by(d.id)
        ).all()
    assert [tuple(r) for r in got] == [(f"H-{i}", "tab\there", 0.0, 2.5, None, "b1") for i in (1, 2, 3)]
    if engine.dialect.name == "postgresql":  # SQLite and MariaDB keep no negative zero
        assert [str(r[2]) for r in got] == ["0.0", "-0.0", "0.0"]


def test_refused_rows_are_named(engine: Engine) -> None:
    """The row the database refuses is found (PostgreSQL: the COPY's line), whatever the column order."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    data = _dossier_columns(["H-1", "H-2", "H-3"])
    data["dossier_code"] = ["H-1", "x" * 500, "H-3"]  # longer than the column
    with pytest.raises(writers.RowsRefused) as caught, engine.begin() as conn:
        writers.insert_columns(conn, schema.dossiers, data)
    found = writers.locate_refused(engine, caught.value)
    assert found is not None and found[0] == 1


def test_joined_rows_are_written_as_picked(engine: Engine) -> None:
    """Rows encoded ahead (some picked, in another order) with columns added beside them."""
    codes = [f"H-{i}" for i in range(9)]
    data = _awkward_columns(codes)
    constant = {k: data.pop(k) for k in ("batch_id", "loaded_at")}
    with engine.connect() as conn:
        wire = writers.Wire.of(conn)
    ahead = writers.encode(wire, schema.dossiers, data)
    picked = [7, 2, 5, 0]
    beside = writers.encode(
        wire, schema.dossiers, {k: v[: len(picked)] for k, v in constant.items()}, text=ahead.text
    )
    rows = writers.joined(ahead, picked, beside)
    with engine.begin() as conn:
        assert writers.insert_encoded(conn, schema.dossiers, rows) == len(picked)
    d = schema.dossiers.c
    with engine.connect() as conn:
        got = conn.execute(
            select(d.dossier_code, d.applicant_name, d.received_date, d.fee, d.batch_id).order_by(d.id)
        ).all()
    assert [tuple(r) for r in got] == [
        (codes[i], data["applicant_name"][i], data["received_date"][i], data["fee"][i], "b1") for i in picked
    ]


def test_rows_encoded_two_ways_or_miscounted_are_not_joined(engine: Engine) -> None:
    with engine.connect() as conn:
        wire = writers.Wire.of(conn)
    left = writers.encode(wire, schema.dossiers, _dossier_columns(["H-1", "H-2"]))
    other = writers.Encoded(("batch_id",), [("b2",)] if left.text else ["b2"], not left.text)
    with pytest.raises(ValueError, match="encoded two ways"):
        writers.joined(left, [0], other)
    same = writers.encode(wire, schema.dossiers, {"updated_batch_id": ["b2"]}, text=left.text)
    with pytest.raises(ValueError, match="2 rows picked, 1 rows"):
        writers.joined(left, [0, 1], same)


def test_copy_text_can_be_refused_or_required() -> None:
    """Mixed types in one column: COPY text cannot hold them, tuples (psycopg's row-by-row COPY) can."""
    wire = writers.Wire("postgresql", "psycopg")
    mixed = {"fee": [1, 2.5, None]}
    assert writers.encode(wire, schema.dossiers, mixed).text is False
    assert writers.encode(wire, schema.dossiers, {"fee": [1.0, None]}).rows == ["1.0", "\\N"]
    assert writers.encode(wire, schema.dossiers, {"fee": [1.0, None]}, text=False).rows == [(1.0,), (None,)]
    with pytest.raises(TypeError, match="COPY text does not take"):
        writers.encode(wire, schema.dossiers, mixed, text=True)


def test_copy_text_of_each_kind_of_column() -> None:
    """Field by field what PostgreSQL's COPY text holds: escapes beside NULLs, dates beside NULLs, one value,
    only NULLs, text needing nothing (given as it is), and the same with the columns' value sets given."""
    wire = writers.Wire("postgresql", "psycopg")
    data = {
        "applicant_name": ["tab\there", None, "back\\slash", "tab\there"],
        "received_date": [date(2025, 6, 1), None, date(2025, 6, 2), date(2025, 6, 1)],
        "notes": ["line\nbreak"] * 4,
        "email": [None] * 4,
        "phone": ["1", "2", "3", ""],
        "fee": [0.0, -0.0, None, 2.5],
    }
    want = [
        "tab\\there\t2025-06-01\t1\t0.0\tline\\nbreak\t\\N",
        "\\N\t\\N\t2\t-0.0\tline\\nbreak\t\\N",
        "back\\\\slash\t2025-06-02\t3\t\\N\tline\\nbreak\t\\N",
        "tab\\there\t2025-06-01\t\t2.5\tline\\nbreak\t\\N",
    ]
    for distinct in (None, {name: set(values) for name, values in data.items()}):
        encoded = writers.encode(wire, schema.dossiers, data, distinct=distinct)
        assert encoded.columns == ("applicant_name", "received_date", "phone", "fee", "notes", "email")
        assert encoded.rows == want
    nul = writers.encode(wire, schema.dossiers, {"summary": ["a\x00\\", None, "b\t", "a\x00\\"]})
    assert nul.rows == ["a\x00\\\\", "\\N", "b\\t", "a\x00\\\\"]  # a NUL inside a text: one by one
    equal = writers.encode(wire, schema.dossiers, {"fee": [1.0, 2.0, 3.0, 1]})  # 1 == 1.0: one text
    assert equal.rows == ["1.0", "2.0", "3.0", "1.0"]
