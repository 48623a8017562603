"""The column-wise conversions of :mod:`handover.target.values` give, value for value, what the per-value
functions give (the stored values, payloads and hashes depend on it), on values chosen to trip them."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from handover.target.values import (
    RawColumns,
    as_date,
    as_datetime,
    as_number,
    as_text,
    column_values,
    convert_column,
    payload_json,
    payloads_json,
    pick,
    printable,
)
from handover.text import visible_controls

TEXTS: list[Any] = [
    "Hoà",  # NFC
    "Hoa\u0300",  # NFD of "Hoà"
    "",
    None,
    "a\x00b",
    "tab\there\nline\r",
    "\x7f\x1b[31m",
    "\ud800",  # a lone surrogate
    "\u00a0nbsp",  # not printable, not a control character
    "x" * 300,
    "plain",
    "plain",
]
NUMBERS: list[Any] = [
    0.0,
    -0.0,
    1e308,
    -1e308,
    5e-324,
    float("inf"),
    float("-inf"),
    float("nan"),
    None,
    1.5,
    1.5,
]
DATES: list[Any] = [
    "0001-01-01",
    "9999-12-31",
    date(1, 1, 1),
    datetime(9999, 12, 31, 23, 59, 59),
    "",
    None,
    "2025-6-1",
]
DATETIMES: list[Any] = [
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59",
    datetime(2025, 1, 1, 0, 0, 1),
    None,
    "",
    "x",
]


def _one_by_one(raw: list[Any], convert: Any, limit: int | None) -> tuple[list[Any], list[int], list[int]]:
    out: list[Any] = []
    failed = []
    for i, value in enumerate(raw):
        try:
            out.append(convert(value))
        except (TypeError, ValueError):
            out.append(None)
            failed.append(i)
    too_long = [i for i, v in enumerate(out) if limit and v is not None and len(v) > limit]
    return out, failed, too_long


def _same(a: list[Any], b: list[Any]) -> bool:
    """Equal value for value, type and sign of zero included (NaN equal to NaN)."""
    return len(a) == len(b) and all(
        type(x) is type(y)
        and (repr(x) == repr(y) or (isinstance(x, float) and math.isnan(x) and math.isnan(y)))
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize(
    ("raw", "convert", "limit"),
    [
        (TEXTS, as_text, None),
        (TEXTS, as_text, 10),
        ([t for t in TEXTS if t != ""], as_text, None),  # no empty text: the values are kept as they are
        (["Hoà", "plain", None], as_text, None),
        (NUMBERS, as_number, None),
        ([0.0, -0.0, None, 2.5], as_number, None),  # floats and None only: no call per value
        ([1, 1.0, True, "1", None, np.float64(-0.0)], as_number, None),  # mixed types
        (DATES, as_date, None),
        (DATETIMES, as_datetime, None),
    ],
)
def test_convert_column_equals_the_per_value_function(
    raw: list[Any], convert: Any, limit: int | None
) -> None:
    out, failed, too_long = convert_column(list(raw), convert, limit)
    want, want_failed, want_too_long = _one_by_one(raw, convert, limit)
    assert _same(out, want)
    assert (failed, too_long) == (want_failed, want_too_long)


@pytest.mark.parametrize("limit", [None, 3, 400])
def test_visible_texts_equal_printable_of_the_texts(limit: int | None) -> None:
    from handover.target.values import as_texts

    for raw in (TEXTS, ["plain", None, "Hoà"], ["a\x00b", "a\x00b", None], [1, "1", None]):
        want = printable([(t[:limit] if t and limit else t) for t in map(as_text, raw)])
        assert _same(as_texts(list(raw), limit, visible=True), want)
        assert all(v is None or v == visible_controls(v) for v in want)


def test_column_values_and_raw_columns() -> None:
    frame = pd.DataFrame(
        {
            "text": ["a", None, "Hoa\u0300"],
            "mixed": ["a", float("nan"), pd.NA],
            "when": pd.to_datetime(["2025-06-01", None, "2025-06-03"]),
            "fee": [0.0, -0.0, float("nan")],
            "count": np.arange(3, dtype=np.int64),
        }
    )
    assert column_values(frame, "text", 3) == ["a", None, "Hoa\u0300"]
    assert column_values(frame, "mixed", 3) == ["a", None, None]
    assert column_values(frame, "when", 3)[1] is None
    assert _same(column_values(frame, "fee", 3), [0.0, -0.0, None])
    assert column_values(frame, "absent", 3) == [None] * 3
    raw = RawColumns(frame)
    assert raw("text") is raw("text")  # read once
    assert _same(raw("fee"), column_values(frame, "fee", 3))


def test_pick() -> None:
    values = list("abcdef")
    assert pick(values, []) == []
    assert pick(values, [4]) == ["e"]
    assert pick(values, [5, 0, 0]) == ["f", "a", "a"]


def test_payloads_of_tricky_values_equal_the_row_wise_json() -> None:
    frame = pd.DataFrame(
        {
            "text": pd.Series(TEXTS[:11], dtype=object),
            "fee": NUMBERS,
            "when": pd.Series(DATES + DATES[:4], dtype=object),
        }
    )
    positions = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10]
    expected = [payload_json(r) for r in frame.iloc[positions].to_dict("records")]
    assert payloads_json(RawColumns(frame), list(frame.columns), positions) == expected


@pytest.mark.parametrize("limit", [None, 10])
def test_text_known_columns_convert_as_the_per_value_function(limit: int | None) -> None:
    """``text_only`` (the caller saw text and None only) gives what the type check would."""
    for raw in (TEXTS, ["Hoà", "plain", None], ["", None, "a"], [None, None]):
        for convert in (as_text, as_number, as_date):
            out, failed, too_long = convert_column(list(raw), convert, limit, text_only=True)
            want, want_failed, want_too_long = _one_by_one(raw, convert, limit)
            assert _same(out, want)
            assert (failed, too_long) == (want_failed, want_too_long)


def test_payloads_of_text_and_zero_columns_equal_the_row_wise_json() -> None:
    """Text columns (JSON strings without the encoder), zeros without a negative zero (per distinct value) and
    with one (value by value), whole numbers with a zero."""
    frame = pd.DataFrame(
        {
            "text": pd.Series([t for t in TEXTS if t != "\ud800"], dtype=object),
            "fee": [0.0, 0.0, 1.5, None, 0.0, 2.0, 1.5, 0.0, 3.0, 0.0, 0.0],
            "signed": [0.0, -0.0, 0.0, 1.0, -0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0],
            "count": pd.Series([0, 1, 0, 2, 0, 0, 0, 3, 0, 0, 0], dtype=object),
        }
    )
    raw = RawColumns(frame)
    raw("text")
    assert raw.text_only("text") and not raw.text_only("fee")
    positions = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10]
    expected = [payload_json(r) for r in frame.iloc[positions].to_dict("records")]
    assert payloads_json(raw, list(frame.columns), positions) == expected
