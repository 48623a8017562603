"""Custom rules of the suites about what the target database can store (limits: ``checks/target_limits.toml``,
column types: ``handover/target/schema.py``) and plausible amounts and dates: text lengths per column, control
characters, numbers, payments without a receipt, date ranges. Each takes (text frame, column, params) and returns
a boolean Series, True where the row fails; :data:`TARGET_DETAILS` gives their messages' own placeholders."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from handover.pipeline.textframe import text_col, valid_dates

if TYPE_CHECKING:
    import pandas as pd

# C0 control characters; in free text (TEXT columns) tab, line feed and carriage return are text.
_CONTROL_ANY = re.compile(r"[\x00-\x1f]")
_CONTROL_FREE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NOT_C0 = bytes(range(32, 256))


def _raw(params: dict[str, Any], column: str) -> pd.Series:
    """The chunk's own column (not the text frame: the table rules read every text column of the target, and
    their cells are already text), all None when the chunk lacks it."""
    return text_col(params["_frame"], column)


def _strings(column: str, params: dict[str, Any]) -> tuple[list[str], str]:
    """The column's text cells (missing ones left out) and their concatenation, once per chunk and column."""
    cache = params.setdefault("_cache", {})
    key = ("strings", column)
    if key not in cache:
        present = list(filter(None, _raw(params, column).tolist()))  # None and "" out (NaN stays)
        try:
            joined = "".join(present)
        except TypeError:  # not all text (NaN, numbers): their cells are not the target's text
            present = [v for v in present if type(v) is str]
            joined = "".join(present)
        cache[key] = present, joined
    return cache[key]


def _rule_text_limit(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """Longer than the target column holds: VARCHAR(n) in characters, TEXT in UTF-8 bytes (see
    :class:`~handover.target.limits.ColumnLimit`). One pass over the lengths; bytes only for cells long enough
    to need it."""
    import numpy as np
    import pandas as pd

    values = _raw(params, column)
    out = np.zeros(len(values), dtype=bool)
    limit = params["_columns"].get(column)
    strings, joined = _strings(column, params)
    if limit is None or not strings:
        return pd.Series(out, index=values.index)
    cap = limit.chars if limit.chars is not None else limit.bytes // 4  # 4 bytes at most a character
    if len(joined) <= cap or max(map(len, strings)) <= cap:
        return pd.Series(out, index=values.index)
    for p, v in enumerate(values.tolist()):
        if type(v) is str and len(v) > cap:
            out[p] = len(v) > limit.chars if limit.chars is not None else len(v.encode()) > limit.bytes
    return pd.Series(out, index=values.index)


def _detail_text_limit(
    frame: pd.DataFrame, column: str, params: dict[str, Any], positions: Any
) -> list[dict[str, str]]:
    limit = params["_columns"][column]
    values = _raw(params, column).to_numpy()
    target = params["_limits"].label_for("text_max_bytes" if limit.chars is None else "")
    out = []
    for p in positions:
        v = str(values[p])
        if limit.chars is not None:
            length, cap, unit_vi, unit_en = len(v), limit.chars, "ký tự", "characters"
        else:
            length, cap, unit_vi, unit_en = len(v.encode()), limit.bytes, "byte", "bytes"
        out.append(
            {
                "length": _number(length),
                "limit": _number(cap),
                "unit_vi": unit_vi,
                "unit_en": unit_en,
                "target": target,
            }
        )
    return out


_CONTROL_NUL = re.compile("\x00")
_CONTROL_OTHER = {False: re.compile(r"[\x01-\x1f]"), True: re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f]")}


_C0 = frozenset(range(32))
_TEXT_CONTROLS = frozenset({9, 10, 13})  # tab, line feed, carriage return: text in free-text columns


def _control_pattern(column: str, params: dict[str, Any]) -> tuple[re.Pattern[str], frozenset[int]]:
    """What the rule looks for in the column, as a pattern and as character numbers: ``which`` = "nul" (U+0000
    alone), "other" (the other C0 characters) or "all" (default); tab, line feed and carriage return are text in
    free-text columns."""
    limit = params["_columns"].get(column)
    free = limit is not None and limit.free_text
    which = params.get("which", "all")
    if which == "nul":
        return _CONTROL_NUL, frozenset({0})
    allowed = _TEXT_CONTROLS if free else frozenset()
    if which == "other":
        return _CONTROL_OTHER[free], _C0 - allowed - {0}
    return (_CONTROL_FREE if free else _CONTROL_ANY), _C0 - allowed


def _controls_in(column: str, params: dict[str, Any]) -> frozenset[int]:
    """The C0 characters (as numbers) anywhere in the column, once per chunk and column: one fast pass over the
    UTF-8 bytes, where a C0 character is one byte below 0x20 and never part of another character."""
    cache = params.setdefault("_cache", {})
    key = ("controls", column)
    if key not in cache:
        data = _strings(column, params)[1].encode("utf-8", "surrogatepass")
        cache[key] = frozenset(data.translate(None, _NOT_C0))
    return cache[key]


def _rule_control_characters(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """A C0 control character in the cell (NUL and the like); tab, line feed and CR pass in free text."""
    import numpy as np
    import pandas as pd

    values = _raw(params, column)
    out = np.zeros(len(values), dtype=bool)
    pattern, wanted = _control_pattern(column, params)
    if _controls_in(column, params) & wanted:
        search = pattern.search
        for p, v in enumerate(values.tolist()):
            out[p] = type(v) is str and search(v) is not None
    return pd.Series(out, index=values.index)


def _detail_control_characters(
    frame: pd.DataFrame, column: str, params: dict[str, Any], positions: Any
) -> list[dict[str, str]]:
    values = _raw(params, column).to_numpy()
    pattern, _ = _control_pattern(column, params)
    out = []
    for p in positions:
        found = sorted(set(pattern.findall(str(values[p]))))
        out.append({"chars": ", ".join(f"U+{ord(c):04X}" for c in found), "target": params["_limits"].label})
    return out


def _amounts(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> tuple[pd.Series, pd.Series]:
    """(the cell is present, the cell as a number: NaN where it is not one), once per chunk and column."""
    import pandas as pd

    cache = params.setdefault("_cache", {})
    key = ("amounts", column)
    if key not in cache:
        values = text_col(frame, column)
        cache[key] = values.notna(), pd.to_numeric(values, errors="coerce").astype(float)
    return cache[key]


def _rule_number_valid(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """Present but not a finite number (text the extract stage could not read as an amount, inf, NaN)."""
    import numpy as np

    present, numbers = _amounts(frame, column, params)
    return (present & ~np.isfinite(numbers)).astype(bool)


def _number_bounds(params: dict[str, Any]) -> tuple[float, float]:
    low = float(params.get("min", float("-inf")))
    high = float(params.get("max", float("inf")))
    if params.get("target"):
        cap = params["_limits"].amount_max
        low, high = max(low, -cap), min(high, cap)
    return low, high


def _rule_number_range(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """A number below ``min`` or above ``max`` (``target = true``: beyond what the target holds exactly)."""
    import numpy as np

    _, numbers = _amounts(frame, column, params)
    low, high = _number_bounds(params)
    finite = np.isfinite(numbers)
    return (finite & ((numbers < low) | (numbers > high))).astype(bool)


def _detail_number_range(
    frame: pd.DataFrame, column: str, params: dict[str, Any], positions: Any
) -> list[dict[str, str]]:
    low, high = _number_bounds(params)
    detail = {
        "min": _number(low),
        "max": _number(high),
        "limit": _number(high),
        "target": params["_limits"].label_for("amount_max"),
    }
    return [detail] * len(positions)


def _rule_number_above(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """The column's number is above the ``than`` column's (both numbers): an amount paid above the amount due."""
    _, numbers = _amounts(frame, column, params)
    _, bound = _amounts(frame, params["than"], params)
    return (numbers > bound).fillna(False).astype(bool)


def _detail_number_above(
    frame: pd.DataFrame, column: str, params: dict[str, Any], positions: Any
) -> list[dict[str, str]]:
    from handover.fees import vnd

    _, numbers = _amounts(frame, column, params)
    _, bound = _amounts(frame, params["than"], params)
    return [
        {"than": vnd(float(bound.iloc[p])), "amount": vnd(float(numbers.iloc[p])), "other": params["than"]}
        for p in positions
    ]


def _rule_paid_without(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """A payment is recorded (:func:`handover.fees.payment_recorded`: an amount paid above zero or a payment
    date, the ``paid`` and ``paid_date`` columns) and the column is empty: paid without a receipt number."""
    from handover.fees import payment_recorded_frame

    values = text_col(frame, column)
    recorded = payment_recorded_frame(
        text_col(frame, params["paid"]), text_col(frame, params["paid_date"]), values
    )
    return (recorded & values.isna()).astype(bool)


def _detail_paid_without(
    frame: pd.DataFrame, column: str, params: dict[str, Any], positions: Any
) -> list[dict[str, str]]:
    from handover.fees import vnd

    _, paid = _amounts(frame, params["paid"], params)
    dates = text_col(frame, params["paid_date"])
    out = []
    for p in positions:
        amount = float(paid.iloc[p])
        when = dates.iloc[p]
        out.append(
            {
                "paid": vnd(amount) if amount == amount else "?",
                "paid_date": "" if when is None else str(when),
            }
        )
    return out


def _date_bounds(params: dict[str, Any]) -> tuple[str, str]:
    """The rule's (earliest, latest) date as ISO text (ISO dates compare as text)."""
    low, high = date.min, date.max
    if "min" in params:
        low = date.fromisoformat(str(params["min"]))
    if "max" in params:
        high = date.fromisoformat(str(params["max"]))
    years = params.get("max_years_after_handover")
    handover = params.get("_handover")
    if years is not None and handover is not None:
        try:
            latest = handover.replace(year=handover.year + int(years))
        except ValueError:  # 29 February
            latest = handover.replace(year=handover.year + int(years), day=28)
        high = min(high, latest)
    if params.get("target"):
        limits = params["_limits"]
        low, high = max(low, limits.date_min), min(high, limits.date_max)
    return low.isoformat(), high.isoformat()


def _rule_date_range(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """A valid date before ``min`` or after ``max`` / ``max_years_after_handover`` years after the handover date
    (``target = true``: outside what the target's DATE holds)."""
    import numpy as np
    import pandas as pd

    valid = valid_dates(frame, column, params).to_numpy(dtype=bool)
    low, high = _date_bounds(params)
    out = np.zeros(len(valid), dtype=bool)
    if valid.any():  # valid dates are ISO text, which compares as the dates do
        text = text_col(frame, column).to_numpy(dtype=object)[valid]
        out[valid] = (text < low) | (text > high)
    return pd.Series(out, index=frame.index)


def _detail_date_range(
    frame: pd.DataFrame, column: str, params: dict[str, Any], positions: Any
) -> list[dict[str, str]]:
    low, high = _date_bounds(params)
    target = params["_limits"].label_for("date_min", "date_max")
    return [{"min": low, "max": high, "target": target}] * len(positions)


def _number(value: float) -> str:
    """A number as messages show it, the same in both languages: whole numbers as digits, others as is."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e18:
        return str(int(value))
    return f"{value:g}"


TARGET_RULES: dict[str, Callable[[pd.DataFrame, str, dict[str, Any]], pd.Series]] = {
    "text_limit": _rule_text_limit,
    "control_characters": _rule_control_characters,
    "number_valid": _rule_number_valid,
    "number_range": _rule_number_range,
    "number_above": _rule_number_above,
    "paid_without": _rule_paid_without,
    "date_range": _rule_date_range,
}

TARGET_DETAILS: dict[str, Callable[[pd.DataFrame, str, dict[str, Any], Any], list[dict[str, str]]]] = {
    "text_limit": _detail_text_limit,
    "control_characters": _detail_control_characters,
    "number_range": _detail_number_range,
    "date_range": _detail_date_range,
    "number_above": _detail_number_above,
    "paid_without": _detail_paid_without,
}
