"""The validate stage's text frame: every column a check reads, as text (object dtype) with None for missing or
empty cells, and the date helpers the rules share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def as_text(frame: pd.DataFrame, column: str) -> pd.Series:
    """Column as strings (object dtype), missing or empty → None. Dates become ISO text."""
    import numpy as np
    import pandas as pd

    if column not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype="object")
    s = frame[column]
    if pd.api.types.is_datetime64_any_dtype(s):
        s = s.dt.strftime("%Y-%m-%d")
    # Text arrives cleaned (NFC, trimmed) from the extract stage: only missing and empty cells are normalised,
    # vectorised in numpy (the pandas string methods cost ~1 µs a cell).
    values = s.to_numpy(dtype=object, na_value=None)
    if s.dtype != object and not pd.api.types.is_string_dtype(s):
        values = np.array([None if v is None else str(v) for v in values], dtype=object)
    values = values.copy()
    values[np.equal(values, "")] = None
    return pd.Series(values, index=frame.index, dtype="object")


def text_col(texts: pd.DataFrame, column: str) -> pd.Series:
    """A column of the chunk's text frame (see :func:`as_text`); all None when the chunk lacks it."""
    import pandas as pd

    if column in texts.columns:
        return texts[column]
    return pd.Series([None] * len(texts), index=texts.index, dtype="object")


def dates(texts: pd.DataFrame, column: str) -> pd.Series:
    """The column's ISO dates as datetimes (NaT: missing or not a valid YYYY-MM-DD date)."""
    import pandas as pd

    return pd.to_datetime(text_col(texts, column), format="%Y-%m-%d", errors="coerce")


def parsed_dates(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """:func:`dates` of the column, once per chunk and column (date_valid, date_order, date_range)."""
    cache = params.setdefault("_cache", {})
    key = ("parsed", column)
    if key not in cache:
        cache[key] = dates(frame, column)
    return cache[key]


def valid_dates(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """Where the column holds a valid ISO date, once per chunk and column (date_valid, date_range)."""
    cache = params.setdefault("_cache", {})
    key = ("dates", column)
    if key not in cache:
        cache[key] = parsed_dates(frame, column, params).notna()
    return cache[key]
