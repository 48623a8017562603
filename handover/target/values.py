"""Values on their way into the target: the conversion of a chunk's cells to what the target's columns hold, and
the JSON payloads the ledger keeps of rows held back.

Conversions run column by column, once per distinct value where that is exact (:func:`convert_column`). A value
the target cannot hold raises :class:`ValueError` (or :class:`TypeError`) in its converter; the load quarantines
that row (:func:`handover.target.prepare.prepare_chunk`). Payloads are JSON objects, keys sorted, dates as ISO
text (:func:`payload_json`), capped to the target's TEXT (:func:`capped_payload`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any
from unicodedata import is_normalized
from unicodedata import normalize as _normalize

from sqlalchemy import Date, DateTime, Float, Integer

from handover.text import nfc, visible_controls

try:
    from pandas import NA as _NA
    from pandas import NaT as _NAT
except ImportError:  # pragma: no cover
    _NA = _NAT = object()


def utcnow() -> datetime:
    """Naive UTC timestamp, the form every DateTime column of the target holds."""
    return datetime.now(UTC).replace(tzinfo=None)


def is_missing(value: Any) -> bool:
    """None, NaN, pandas NA / NaT."""
    if value is None:
        return True
    kind = type(value)
    if kind is str:
        return False
    if kind is float:
        return value != value
    try:
        return bool(value != value) or value is _NA or value is _NAT
    except (TypeError, ValueError):  # pd.NA compares to NA
        return True


def as_text(value: Any) -> str | None:
    if type(value) is str:
        return (value if value.isascii() else _normalize("NFC", value)) or None
    if is_missing(value):
        return None
    return nfc(str(value)) or None


def as_date(value: Any) -> date | None:
    if is_missing(value) or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if len(text) != 10:
        raise ValueError(text)
    return date.fromisoformat(text)


def as_datetime(value: Any) -> datetime | None:
    """A local wall time (naive: Asia/Ho_Chi_Minh, what :func:`handover.sources.cells.local_time` gives) to the
    second; an aware value is refused (the extract converts zones, the target stores no zone)."""
    if is_missing(value) or value == "":
        return None
    if isinstance(value, datetime):
        out = value
    elif isinstance(value, date):
        raise ValueError(value)
    else:
        text = str(value).strip()
        if len(text) != 19:
            raise ValueError(text)
        out = datetime.fromisoformat(text)
    if out.tzinfo is not None or out.microsecond:
        raise ValueError(value)
    return out


def as_number(value: Any) -> float | None:
    if is_missing(value) or value == "":
        return None
    number = float(value)
    if math.isinf(number) or math.isnan(number):
        raise ValueError(value)
    return number


def converter(column: Any) -> tuple[Any, str]:
    kind = column.type
    if isinstance(kind, Date):
        return as_date, "an ISO date (YYYY-MM-DD)"
    if isinstance(kind, DateTime):
        return as_datetime, "a local date-time (YYYY-MM-DDTHH:MM:SS)"
    if isinstance(kind, Float):
        return as_number, "a number"
    if isinstance(kind, Integer):
        return (lambda v: None if is_missing(v) else int(v)), "a whole number"
    if column.name == "extras":
        return as_json_text, "JSON text"
    return as_text, "text"


def as_json_text(value: Any) -> str | None:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else None
    return as_text(value)


def jsonable(value: Any) -> Any:
    if is_missing(value):
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


_PAYLOAD_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str)
_escape_json = json.encoder.encode_basestring  # a JSON string as _PAYLOAD_ENCODER writes it


def payload_json(record: dict[str, Any]) -> str:
    return _PAYLOAD_ENCODER.encode({k: jsonable(v) for k, v in record.items()})


def _json_values(values: list[Any], text_only: bool = False) -> list[str]:
    """Each value as :func:`payload_json` writes it inside the object (once per distinct value where exact);
    ``text_only``: the caller knows every value is text or None."""
    encode = _PAYLOAD_ENCODER.encode
    distinct = _memo_safe(values, text_only)
    if distinct is None:
        return [encode(jsonable(v)) for v in values]
    if text_only:  # a text is its JSON string (what the encoder writes for it), None is null
        memo = {v: _escape_json(v) for v in distinct if v is not None}
        memo[None] = "null"
    else:
        memo = {v: encode(jsonable(v)) for v in distinct}
    return list(map(memo.__getitem__, values))


def payloads_json(raw: RawColumns, columns: Sequence[str], positions: list[int]) -> list[str]:
    """:func:`payload_json` of the rows at ``positions`` (their ``columns``), built column by column."""
    if not columns:
        return ["{}"] * len(positions)
    names = sorted(columns)
    template = "{" + ", ".join(_escape_json(name).replace("%", "%%") + ": %s" for name in names) + "}"
    encoded = [_json_values(pick(raw(name), positions), raw.text_only(name)) for name in names]
    return [template % row for row in zip(*encoded, strict=True)]


_TRUNCATED = "_truncated"  # payload key: field → its length in characters, for each field cut to fit


def capped_payload(payload: str | None, limit: int) -> str | None:
    """A held-back row's JSON payload fitting ``limit`` UTF-8 bytes (the target's TEXT cell): when it is longer,
    every text value above a common length is cut to it and ends in "…" (the longest length that fits), and the
    key ``_truncated`` lists each cut field with its full length in characters. Still a JSON object."""
    if payload is None or len(payload) * 4 <= limit or len(payload.encode()) <= limit:
        return payload
    data = json.loads(payload)
    texts = {k: v for k, v in data.items() if isinstance(v, str)}
    lengths = {k: len(v) for k, v in texts.items()}

    def cut_to(size: int) -> str:
        cut = {k: n for k, n in lengths.items() if n > size}
        return _PAYLOAD_ENCODER.encode({**data, **{k: texts[k][:size] + "…" for k in cut}, _TRUNCATED: cut})

    low, high, best = 0, max(lengths.values(), default=0), None
    while low <= high:
        middle = (low + high) // 2
        text = cut_to(middle)
        if len(text.encode()) <= limit:
            best, low = text, middle + 1
        else:
            high = middle - 1
    return best if best is not None else _PAYLOAD_ENCODER.encode({_TRUNCATED: lengths})


def printable(values: list[Any]) -> list[Any]:
    """Text values with their control characters made visible (NUL → ␀, :func:`~handover.text.visible_controls`):
    what the ledger and the findings keep of a held-back row's cells, which no database refuses."""
    if "".join(v for v in values if type(v) is str).isprintable():
        return values
    return [visible_controls(v) if type(v) is str else v for v in values]


def row_json(row: dict[str, Any]) -> str:
    return json.dumps(
        {k: jsonable(v) for k, v in row.items()}, ensure_ascii=False, sort_keys=True, default=str
    )


_TEXT_OR_NONE = frozenset((str, type(None)))


def column_values(frame: Any, name: str, n: int) -> list[Any]:
    """A column's values as Python objects, ``None`` for missing ones (NaN, NA, NaT); all ``None`` if absent."""
    return _column_values(frame, name, n)[0]


def _column_values(frame: Any, name: str, n: int) -> tuple[list[Any], bool]:
    """:func:`column_values`, and whether every value is known to be text or None (False: not looked at)."""
    if name not in frame.columns:
        return [None] * n, True
    column = frame[name]
    if column.dtype == object:
        values = column.tolist()
        if _TEXT_OR_NONE.issuperset(map(type, values)):  # text and None only: nothing missing to replace
            return values, True
    values = column.to_numpy(dtype=object)
    missing = column.isna().to_numpy()
    if missing.any():
        values = values.copy()
        values[missing] = None
    return values.tolist(), False


class RawColumns:
    """A frame's columns as :func:`column_values` gives them, each read from the frame once (a chunk's
    conversions, ledger columns and payloads read the same columns)."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame
        self._read: dict[str, list[Any]] = {}
        self._text: set[str] = set()

    def __call__(self, name: str) -> list[Any]:
        """The column's values (shared: not to be changed)."""
        values = self._read.get(name)
        if values is None:
            values, text = _column_values(self.frame, name, len(self.frame))
            self._read[name] = values
            if text:
                self._text.add(name)
        return values

    def text_only(self, name: str) -> bool:
        """True when the column, once read, was seen to hold text and None only (False: not known)."""
        return name in self._text


def _memo_safe(values: Sequence[Any], text_only: bool = False) -> set[Any] | None:
    """The distinct values when converting once per distinct value is exact (one type, no zero), else None.
    ``text_only``: the caller knows every value is text or None (one type)."""
    kinds = {str}
    if not text_only:
        kinds = set(map(type, values))
        kinds.discard(type(None))
        if len(kinds) > 1:  # 1 == 1.0 == True, but their texts differ
            return None
    try:
        distinct = set(values)
    except TypeError:  # unhashable (dict, list)
        return None
    if 0 in distinct:  # 0.0 == -0.0: exact only for whole numbers, or floats without a negative zero
        if kinds == {int}:
            return distinct
        if kinds == {float} and not any(math.copysign(1.0, v) < 0 for v in values if v == 0):
            return distinct
        return None
    return distinct


def convert_column(
    raw: list[Any], convert: Any, limit: int | None, *, text_only: bool = False
) -> tuple[list[Any], list[int], list[int]]:
    """``convert`` applied to every value (once per distinct value where exact); ``text_only``: the caller knows
    every value is text or None.

    Returns the converted values (None where conversion failed; ``raw`` itself when every value converts to
    itself: not to be changed), the positions that failed, and the positions whose text is longer than
    ``limit``.
    """
    if convert is as_number and not text_only:
        numbers = _float_values(raw)
        if numbers is not None:
            return numbers[0], numbers[1], []
    distinct = _memo_safe(raw, text_only)
    results: Iterable[Any]  # every converted value, each at least once (for the length check)
    if distinct is None:
        out: list[Any] = [None] * len(raw)
        failed = []
        for i, value in enumerate(raw):
            try:
                out[i] = convert(value)
            except (TypeError, ValueError):
                failed.append(i)
        results = out
    elif convert is as_text and _nfc_texts(distinct):
        out = [v or None for v in raw] if "" in distinct else raw
        failed = []
        results = distinct
    else:
        memo: dict[Any, Any] = {}
        bad = set()
        for value in distinct:
            try:
                memo[value] = convert(value)
            except (TypeError, ValueError):
                memo[value] = None
                bad.add(value)
        out = list(map(memo.__getitem__, raw))
        failed = [i for i, v in enumerate(raw) if v in bad] if bad else []
        results = memo.values()
    too_long: list[int] = []
    if limit and max(map(len, filter(None, results)), default=0) > limit:
        too_long = [i for i, v in enumerate(out) if v is not None and len(v) > limit]
    return out, failed, too_long


def _float_values(raw: list[Any]) -> tuple[list[Any], list[int]] | None:
    """:func:`as_number` of a list of floats and Nones without a Python call per value: (values, non-finite
    positions); None for other values. ``float(v)`` of a float is ``v`` itself (-0.0 stays -0.0)."""
    import numpy as np

    if not _FLOAT_OR_NONE.issuperset(map(type, raw)):
        return None
    array = np.array(raw, dtype=np.float64)  # None → NaN
    finite = np.isfinite(array)
    values = list(raw)
    failed: list[int] = []
    if not finite.all():
        nan = np.isnan(array)
        for i in np.flatnonzero(nan).tolist():
            values[i] = None
        failed = np.flatnonzero(~finite & ~nan).tolist()
        for i in failed:
            values[i] = None
    return values, failed


_FLOAT_OR_NONE = frozenset((float, type(None)))


def float_column(frame: Any, name: str) -> tuple[list[Any], list[int]] | None:
    """A float/int column as floats without a Python call per value: (values, non-finite positions)."""
    import numpy as np

    column = frame[name]
    kind = column.dtype
    if getattr(kind, "kind", None) not in ("f", "i", "u"):
        return None
    if column.isna().any():
        return None  # nullable integers (pd.NA): the general path
    array = column.to_numpy(dtype=np.float64)
    finite = np.isfinite(array)
    values = array.tolist()
    failed = []
    if not finite.all():
        nan = np.isnan(array)
        for i in np.flatnonzero(nan).tolist():
            values[i] = None
        failed = np.flatnonzero(~finite & ~nan).tolist()
    return values, failed


def pick(values: Sequence[Any], positions: Sequence[int]) -> list[Any]:
    """``values`` at ``positions`` (in that order)."""
    if len(positions) < 2:  # itemgetter of one position gives the value, not a tuple
        return [values[i] for i in positions]
    return list(itemgetter(*positions)(values))


def _nfc_texts(distinct: set[Any]) -> bool:
    """True when every value is text already in NFC (or None): then ``as_text(v)`` is ``v or None``."""
    strings = [v for v in distinct if v is not None] if None in distinct else list(distinct)
    try:
        joined = "|".join(strings)  # "|" never composes: NFC of the join = join of the NFCs
    except TypeError:  # not all text
        return False
    return joined.isascii() or is_normalized("NFC", joined)


def as_texts(
    raw: list[Any], limit: int | None = None, *, visible: bool = False, text_only: bool = False
) -> list[str | None]:
    """:func:`as_text` of every value, cut to ``limit`` characters when given; ``visible``: with its control
    characters made visible (:func:`~handover.text.visible_controls`, what :func:`printable` does to a list);
    ``text_only``: the caller knows every value is text or None. Once per distinct value where exact. A new
    list."""

    def one(value: Any) -> str | None:
        text = as_text(value)
        if text and limit:
            text = text[:limit]
        return visible_controls(text) if text and visible else text

    distinct = _memo_safe(raw, text_only)
    if distinct is None:
        return [one(v) for v in raw]
    if (
        _nfc_texts(distinct)
        and not (limit and max(map(len, filter(None, distinct)), default=0) > limit)
        and not (visible and not "".join(filter(None, distinct)).isprintable())
    ):
        return [v or None for v in raw] if "" in distinct else list(raw)
    memo = {v: one(v) for v in distinct}
    return list(map(memo.__getitem__, raw))
