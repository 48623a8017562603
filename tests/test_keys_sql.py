"""The natural key in SQL is the key :func:`handover.keys.natural_key` gives, on every database."""

from __future__ import annotations

import itertools

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

from handover.keys import key_parts, natural_key
from handover.keys_sql import key_matches, natural_key_sql
from handover.models import Entity, natural_key_fields

# NULL and empty parts, blanks, "/" inside a part and at its ends, Vietnamese text (NFC and NFD)
PARTS = [
    None,
    "",
    " ",
    "KS",
    "12/2025",
    "/",
    "a/",
    "/b",
    "Giấy khai sinh",
    "Số 01/2025/ĐKKD",
    "Hộ kinh doanh",
    "Ho\u0300a",
]

metadata = MetaData()
probe = Table(
    "key_probe",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("dossier_code", String(100)),
    Column("record_type", String(100)),
    Column("record_number", String(100)),
)
wanted = Table(
    "key_wanted",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("natural_key", String(250)),
)

ROWS = [
    {"id": i, "dossier_code": number, "record_type": kind, "record_number": number}
    for i, (kind, number) in enumerate(itertools.product(PARTS, PARTS))
]


def test_the_sql_key_is_the_natural_key_on_every_database(any_db_url: str) -> None:
    engine = create_engine(any_db_url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(probe), ROWS)
            for entity in Entity:
                got = dict(conn.execute(select(probe.c.id, natural_key_sql(entity, probe))).all())
                assert got == {row["id"]: natural_key(entity, row) for row in ROWS}, entity
    finally:
        engine.dispose()


def test_rows_joined_by_key_are_the_rows_with_that_natural_key(any_db_url: str) -> None:
    """The inverse: a stored key finds exactly the rows whose natural key it is, and a key no row can have (a
    part missing, no ``/`` in a record key) finds none. Keys are canonical (no blank at either end: MariaDB's
    PAD SPACE collations would compare ``KS/`` and ``KS/ `` equal) and a record type holds no ``/``."""
    rows = [
        row
        for row in ROWS
        if "/" not in (row["record_type"] or "") and not any(str(v) != str(v).strip() for v in row.values())
    ]
    keys = {natural_key(entity, row) for entity in Entity for row in rows} - {None}
    keys |= {"", "/", "KS/", "/12", "KS", "Giấy khai sinh", "Giấy khai sinh/"}
    listed = [{"id": i, "natural_key": key} for i, key in enumerate(sorted(keys))]
    engine = create_engine(any_db_url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(probe), rows)
            conn.execute(insert(wanted), listed)
            for entity in Entity:
                joined = select(probe.c.id, wanted.c.natural_key).select_from(
                    probe.join(wanted, key_matches(entity, probe, wanted.c.natural_key))
                )
                expected = {(row["id"], natural_key(entity, row)) for row in rows} - {
                    (row["id"], None) for row in rows
                }
                assert set(conn.execute(joined).tuples()) == expected, entity
    finally:
        engine.dispose()


def test_key_parts_is_the_inverse_of_natural_key() -> None:
    for row, entity in itertools.product(ROWS, Entity):
        key = natural_key(entity, row)
        if key is not None and not (entity is Entity.RECORD and "/" in row["record_type"]):
            assert key_parts(entity, key) == tuple(row[name] for name in natural_key_fields(entity))
    assert key_parts(Entity.RECORD, "KS") is None
    assert key_parts(Entity.RECORD, "KS/12/2025") == ("KS", "12/2025")
    assert key_parts(Entity.DOSSIER, "H-1/2") == ("H-1/2",)
