"""The content hash depends on stored values only, whatever type a database driver hands back."""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from handover.models import Entity
from handover.target.hashing import (
    canonical_text,
    content_columns,
    content_hash,
    fingerprint_lines,
    hash_columns,
)


def test_driver_types_give_the_same_text() -> None:
    assert canonical_text(date(2025, 7, 1)) == canonical_text(datetime(2025, 7, 1, 0, 0)) == "2025-07-01"
    assert (
        canonical_text(150000.0) == canonical_text(150000) == canonical_text(Decimal("150000.00")) == "150000"
    )
    assert canonical_text(0.1) == "0.1"
    assert canonical_text(None) == canonical_text(float("nan")) == ""
    assert canonical_text(unicodedata.normalize("NFD", "Hoà")) == "Hoà"


def test_technical_columns_are_not_hashed() -> None:
    columns = content_columns(Entity.DOSSIER)
    assert {"id", "batch_id", "updated_batch_id", "loaded_at", "content_hash"}.isdisjoint(columns)
    assert list(columns) == sorted(columns) and "extras" in columns
    row = {"dossier_code": "H-1", "source_system": "bt"}
    assert content_hash(row, "dossier") == content_hash({**row, "id": 7, "batch_id": "x"}, "dossier")


@given(
    code=st.text(min_size=1, max_size=30),
    fee=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    day=st.one_of(st.none(), st.dates()),
)
def test_hash_of_a_row_equals_the_hash_of_its_read_back_form(
    code: str, fee: float | None, day: date | None
) -> None:
    written = {
        "source_system": "bt",
        "dossier_code": unicodedata.normalize("NFC", code),
        "fee": fee,
        "due_date": day,
    }
    # What a driver may return: NFD text, Decimal numbers, datetimes.
    read_back = {
        "source_system": "bt",
        "dossier_code": unicodedata.normalize("NFD", code),
        "fee": None if fee is None else Decimal(repr(fee)),
        "due_date": None if day is None else datetime(day.year, day.month, day.day),
    }
    assert content_hash(written, Entity.DOSSIER) == content_hash(read_back, Entity.DOSSIER)


def test_fingerprint_ignores_order() -> None:
    lines = [("dossier", "bt", "H-2", "b" * 64), ("dossier", "bt", "H-1", "a" * 64)]
    expected = hashlib.sha256(f"dossier|bt|H-1|{'a' * 64}\ndossier|bt|H-2|{'b' * 64}\n".encode()).hexdigest()
    assert fingerprint_lines(lines) == fingerprint_lines(reversed(lines)) == expected


@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "dossier_code": st.text(max_size=20),
                "applicant_name": st.one_of(st.none(), st.text(max_size=20)),
                "fee": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
                "received_date": st.one_of(st.none(), st.dates()),
                "amount_paid": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
                "payment_date": st.one_of(st.none(), st.dates()),
                "receipt_number": st.one_of(st.none(), st.just(""), st.text(max_size=10)),
            }
        ),
        min_size=1,
        max_size=5,
    )
)
def test_column_wise_hashing_equals_row_wise(rows: list[dict]) -> None:
    columns = content_columns(Entity.DOSSIER)
    by_column = {c: [r.get(c) for r in rows] for c in columns}
    assert hash_columns(by_column, columns) == [content_hash(r, Entity.DOSSIER) for r in rows]


def test_column_wise_hashing_equals_row_wise_on_awkward_values() -> None:
    """Memo per distinct value, one-piece encoding of mostly distinct columns, escapes, NFC, -0.0, unhashables."""
    columns = content_columns(Entity.DOSSIER)
    awkward = [
        None,
        "",
        'q"uote',
        "back\\slash",
        "tab\t",
        "Nguye\u0302\u0303n",
        "Nguyễn",
        1,
        1.0,
        True,
        0.0,
        -0.0,
    ]
    awkward += [0.1, Decimal("1.10"), date(2025, 1, 2), datetime(2025, 1, 2, 9, 30), "100%", "%s", {"a": [1]}]
    rows = []
    for i in range(400):
        row = {c: awkward[(i * 7 + j * 3) % len(awkward)] for j, c in enumerate(columns)}
        row["dossier_code"] = f"H48-{i:05d}-Đ" if i % 9 else None  # mostly distinct, with a NULL
        row["phone"] = f"09{i:08d}"  # all distinct, plain ASCII
        rows.append(row)
    by_column = {c: [r[c] for r in rows] for c in columns}
    assert hash_columns(by_column, columns) == [content_hash(r, Entity.DOSSIER) for r in rows]
    assert canonical_text(-0.0) == "-0" and canonical_text(0.0) == "0"


def test_fingerprint_sorts_by_utf8_bytes_of_whole_lines() -> None:
    """A control character after a shared prefix sorts before the newline that ends the shorter line."""
    lines = [("dossier", "bt", "H-1", "a"), ("dossier", "bt", "H-1", "a\x01"), ("record", "bt", "ữ/1", "b")]
    encoded = sorted(("|".join(p) + "\n").encode("utf-8") for p in lines)
    assert fingerprint_lines(lines) == hashlib.sha256(b"".join(encoded)).hexdigest()
    assert encoded[0].endswith(b"a\x01\n")


def test_a_time_of_day_is_hashed_only_when_the_row_has_one() -> None:
    """received_at / due_at / returned_at: "YYYY-MM-DD HH:MM:SS" whatever form the driver returns; a row without
    them hashes exactly as before they existed (the pairs are left out, not written as "")."""
    from handover.target.hashing import DATETIME_COLUMNS, OPTIONAL_COLUMNS, column_text, hash_values

    assert {"received_at", "due_at", "returned_at"} <= DATETIME_COLUMNS & OPTIONAL_COLUMNS
    stamp = datetime(2025, 2, 23, 14, 35, 20)
    for form in (stamp, "2025-02-23 14:35:20.000000", "2025-02-23T14:35:20", "2025-02-23 14:35:20"):
        assert column_text("received_at", form) == "2025-02-23 14:35:20"
    assert column_text("received_date", stamp) == "2025-02-23"  # a DATE column read back as a date-time
    base = {"source_system": "bt", "dossier_code": "H-1", "received_date": date(2025, 2, 23)}
    columns = content_columns(Entity.DOSSIER)
    before = tuple(c for c in columns if c not in OPTIONAL_COLUMNS)  # the columns of the earlier schema
    old = hash_values([base.get(c) for c in before], before)
    assert content_hash(base, Entity.DOSSIER) == old
    assert content_hash({**base, "received_at": None, "due_at": ""}, Entity.DOSSIER) == old
    timed = content_hash({**base, "received_at": stamp}, Entity.DOSSIER)
    assert timed != old
    assert timed == content_hash({**base, "received_at": "2025-02-23 14:35:20.000000"}, Entity.DOSSIER)
    assert timed != content_hash({**base, "due_at": stamp}, Entity.DOSSIER)  # which column counts


def test_column_wise_hashing_equals_row_wise_with_some_times_of_day() -> None:
    columns = content_columns(Entity.DOSSIER)
    times = [None, datetime(2025, 2, 23, 14, 35, 20), "2025-02-23 10:00:00.000000", None, ""]
    rows = [
        {
            "source_system": "bt",
            "dossier_code": f"H-{i}",
            "received_date": date(2025, 2, 23),
            "received_at": times[i % 5],
            "due_at": times[(i * 3) % 5],
            "returned_at": times[(i * 7 + 1) % 5] if i % 4 else None,
        }
        for i in range(60)
    ]
    by_column = {c: [r.get(c) for r in rows] for c in columns}
    assert hash_columns(by_column, columns) == [content_hash(r, Entity.DOSSIER) for r in rows]
    plain = [{**r, "received_at": None, "due_at": None, "returned_at": None} for r in rows]
    by_column = {c: [r.get(c) for r in plain] for c in columns}
    assert hash_columns(by_column, columns) == [content_hash(r, Entity.DOSSIER) for r in plain]


def test_payment_columns_enter_the_hash_only_when_filled() -> None:
    """A row that leaves the columns of revision 0005 empty hashes as it did before they existed (the recipe over
    the older columns alone, written out here), so rows loaded before the upgrade still verify."""
    import json

    from handover.target.hashing import OPTIONAL_COLUMNS

    assert {"amount_paid", "payment_date", "payment_channel", "receipt_number"} <= OPTIONAL_COLUMNS
    older = [c for c in content_columns(Entity.DOSSIER) if c not in OPTIONAL_COLUMNS]
    row = {"dossier_code": "H-1", "source_system": "bt", "fee": 50000.0, "received_date": date(2025, 6, 20)}
    pairs = [[c, canonical_text(row.get(c))] for c in older]
    before = hashlib.sha256(json.dumps(pairs, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
    assert content_hash(row, "dossier") == before
    assert content_hash({**row, "receipt_number": "", "amount_paid": None}, "dossier") == before
    paid = content_hash({**row, "amount_paid": 50000.0}, "dossier")
    assert paid != before
    assert paid != content_hash({**row, "amount_paid": 50000.0, "payment_channel": "cash"}, "dossier")
    # a zero amount paid is a value: hashed
    assert content_hash({**row, "amount_paid": 0.0}, "dossier") != before


def test_column_wise_hashing_with_one_valued_and_known_columns() -> None:
    """Columns holding one value in every row (an optional one among them: it enters every row's hash), and the
    columns' value sets given by the caller, hash as row by row."""
    columns = content_columns(Entity.DOSSIER)
    rows = [
        {
            "dossier_code": f"H-{i}",
            "source_system": "bt",
            "amount_paid": 2.5,
            "notes": 'q"',
            "fee": float(i % 2),
        }
        for i in range(6)
    ]
    by_column = {c: [r.get(c) for r in rows] for c in columns}
    want = [content_hash(r, Entity.DOSSIER) for r in rows]
    assert hash_columns(by_column, columns) == want
    known = {c: set(v) for c, v in by_column.items()}
    assert hash_columns(by_column, columns, distinct=known) == want
    assert hash_columns({c: [] for c in columns}, columns) == []
    for paid in (None, 1.0):  # "%" in the texts, alike and varying, without and with an optional column
        rows = [
            {"dossier_code": f"H-{i}%s", "applicant_name": "50%s %%", "address": "%s%%" if i % 2 else "x"}
            | {"amount_paid": paid, "source_system": "bt"}
            for i in range(5)
        ]
        by_column = {c: [r.get(c) for r in rows] for c in columns}
        assert hash_columns(by_column, columns) == [content_hash(r, Entity.DOSSIER) for r in rows]
