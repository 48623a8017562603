"""Validate stage: data-quality suites from ``checks/*.toml`` → row-level findings and a disposition per row.

Each suite has two parts, both data:

* ``[[expectations]]``: great-expectations 1.x expectations. They run **once per chunk** on the chunk's frame,
  in an ephemeral context built once per :class:`Validator` (analytics and progress bars off), with a result
  format that returns the unexpected row positions (bounded by the chunk size);
* ``[[custom]]``: vectorised pandas rules that GX does not express well (CCCD province prefix and century digit,
  the CCCD's birth year and sex against the row's birth date and sex, the population extract of ``[checks]``,
  tax codes, date order, duplicate keys, plausible dates and amounts, and what the target database can store: text
  lengths per column, control characters, dates, amounts, with the limits of :mod:`handover.target.limits`). Each
  names one of the rules in :data:`RULES`.

Dispositions, first match wins: duplicate (exact duplicate within the chunk) > excluded (finished, not pending)
> quarantined (any error finding, from this or an earlier stage) > review (unit split/ambiguous/not found)
> loaded.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handover.errors import ConfigError
from handover.ids import ID_REFERENCE_YEAR, birth_year, province_prefixes
from handover.ids import sex as cccd_sex
from handover.keys import natural_keys
from handover.models import (
    ID_FIELDS,
    PHONE_FIELDS,
    Chunk,
    Disposition,
    Entity,
    Finding,
    Severity,
    natural_key_fields,
)
from handover.text import excerpt, mask_id, mask_name

if TYPE_CHECKING:
    import pandas as pd

    from handover.target.limits import TargetLimits

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

EXCLUDED_REASON = "Hồ sơ đã kết thúc / not pending"
REVIEW_REASONS: dict[str, str] = {
    "split": "Xã cũ bị chia cho nhiều xã mới: cần chọn xã nhận / old commune split among new communes: choose one",
    "ambiguous": "Tên xã trùng nhiều đơn vị: cần xác định / commune name matches several units: decide which",
    "not_found": "Không tìm thấy xã cũ trong danh mục / old commune not found in the unit list",
}
STATUS_REVIEW_REASON = (
    "Trạng thái '{value}' không nhận diện được: thêm vào [mapping] statuses rồi chạy lại / "
    "status '{value}' not recognised: add it to a file under [mapping] statuses and run again"
)


class ValidateResult(BaseModel):
    """What one Validator did over a source or a batch: sizes and the accumulated GX results."""

    suite: str = Field(description="Suite name.")
    entity: Entity
    chunks: int = Field(0, description="Chunks validated.")
    rows: int = Field(0, description="Rows validated.")
    gx: list[dict[str, Any]] = Field(default_factory=list, description="See Validator.gx_summary().")


class ExpectationSpec(BaseModel):
    """One great-expectations expectation of a suite."""

    model_config = _STRICT

    check: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Stable check name, the key of findings.")
    expectation: str = Field(description="GX 1.x expectation class, e.g. ExpectColumnValuesToMatchRegex.")
    column: str = Field(description="Canonical field the expectation is about.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Further arguments of the expectation.")
    severity: Severity = Field(description="error quarantines the row; warning only reports it.")
    message_vi: str = Field(description="Message officials read; may use {value} and {column}.")
    message_en: str = Field(description="The same in English.")


class CustomSpec(BaseModel):
    """One vectorised pandas rule of a suite."""

    model_config = _STRICT

    check: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Stable check name, the key of findings.")
    rule: str = Field(description="Name of a rule in handover.pipeline.validate.RULES.")
    columns: list[str] = Field(min_length=1, description="Canonical fields the rule reads (and reports on).")
    params: dict[str, Any] = Field(default_factory=dict, description="Rule parameters.")
    severity: Severity = Field(description="error quarantines the row; warning only reports it.")
    message_vi: str = Field(description="Message officials read; may use {value} and {column}.")
    message_en: str = Field(description="The same in English.")


class SuiteHeader(BaseModel):
    model_config = _STRICT

    name: str = Field(description="Suite name, shown in the GX summary.")
    entity: Entity = Field(description="dossier or record.")
    description: str = ""


class SuiteSpec(BaseModel):
    """A suite file: ``checks/<entity>.toml``."""

    model_config = _STRICT

    suite: SuiteHeader
    expectations: list[ExpectationSpec] = Field(default_factory=list)
    custom: list[CustomSpec] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------
# Custom rules: each takes (frame, column, params) and returns a boolean Series, True where the row fails.
# ---------------------------------------------------------------------------------------------------------


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
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


def _col(texts: pd.DataFrame, column: str) -> pd.Series:
    """A column of the chunk's text frame (see :func:`_text`); all None when the chunk lacks it."""
    import pandas as pd

    if column in texts.columns:
        return texts[column]
    return pd.Series([None] * len(texts), index=texts.index, dtype="object")


def _dates(texts: pd.DataFrame, column: str) -> pd.Series:
    import pandas as pd

    return pd.to_datetime(_col(texts, column), format="%Y-%m-%d", errors="coerce")


def _valid_dates(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """Where the column holds a valid ISO date, once per chunk and column (date_valid, date_range)."""
    cache = params.setdefault("_cache", {})
    key = ("dates", column)
    if key not in cache:
        cache[key] = _dates(frame, column).notna()
    return cache[key]


def _rule_date_valid(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    present = _col(frame, column).notna()
    return present & ~_valid_dates(frame, column, params)


def _rule_date_order(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    later = _dates(frame, column)
    earlier = _dates(frame, params["after"])
    return (later < earlier).fillna(False).astype(bool)


_DIGITS = r"^\d+$"


def _tax_ok(values: pd.Series) -> pd.Series:
    from stdnum.vn import mst

    uniq = {v: bool(mst.is_valid(v)) for v in values.dropna().unique()}
    return values.map(uniq).fillna(False).astype(bool)


def _business(frame: pd.DataFrame, params: dict[str, Any]) -> pd.Series:
    import pandas as pd

    col = params.get("type_column")
    if col is None:
        return pd.Series(False, index=frame.index)
    return (_col(frame, col) == "2").fillna(False).astype(bool)


def _rule_id_number(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """Persons: 9 (CMND) or 12 (CCCD) digits. Without a type column, a valid tax code is accepted too."""
    import pandas as pd

    values = _col(frame, column)
    present = values.notna()
    s = values.fillna("").astype(str)
    # fullmatch(r"\d{9}|\d{12}"): \d is a Unicode decimal digit, what str.isdecimal() tests
    person_ok = pd.Series(
        [len(v) in (9, 12) and v.isdecimal() for v in s.tolist()], index=s.index, dtype=bool
    )
    business = _business(frame, params)
    if params.get("type_column") is None:
        person_ok = person_ok | _tax_ok(values.where(~person_ok, None))
    return (present & ~business & ~person_ok).astype(bool)


def _cccd(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """12-digit values of the column ('' elsewhere), computed once per chunk and column."""
    cache = params.setdefault("_cache", {})
    if column not in cache:
        import pandas as pd

        s = _col(frame, column).fillna("").astype(str)
        cache[column] = pd.Series(
            [v if len(v) == 12 and v.isdigit() else "" for v in s.tolist()], index=s.index, dtype=object
        )
    return cache[column]


def _cccd_digits(s: pd.Series) -> Any:
    """The 12-digit values as an (n, 12) array of digit values, or None when one is not ASCII."""
    import numpy as np

    values = s.to_numpy(dtype=object)
    if not "".join(values).isascii():
        return None
    filled = np.where(values == "", "000000000000", values).astype("U12")
    return filled.view(np.uint32).reshape(len(values), 12).astype(np.int64) - 48


def _rule_cccd_province(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    import pandas as pd

    s = _cccd(frame, column, params)
    prefixes = params["_prefixes"]
    return pd.Series([v != "" and v[:3] not in prefixes for v in s.tolist()], index=s.index, dtype=bool)


def _rule_cccd_century(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """Digit 4: 0/1 born 1900s, 2/3 born 2000s (male/female); later centuries cannot hold anyone yet."""
    import numpy as np
    import pandas as pd

    s = _cccd(frame, column, params)
    has = s != ""
    digits = _cccd_digits(s)
    if digits is not None:  # ASCII digits: the same arithmetic on a digit array
        digit = digits[:, 3]
        year = 1900 + (digit // 2) * 100 + digits[:, 4] * 10 + digits[:, 5]
        bad = has.to_numpy(dtype=bool) & ((digit > 3) | (year > ID_REFERENCE_YEAR))
        return pd.Series(np.asarray(bad, dtype=bool), index=s.index)
    digit = pd.to_numeric(s.str[3].where(has), errors="coerce")
    yy = pd.to_numeric(s.str[4:6].where(has), errors="coerce")
    year = 1900 + (digit // 2) * 100 + yy
    bad = has & ((digit > 3) | (year > ID_REFERENCE_YEAR)).fillna(False)
    return bad.astype(bool)


def _cccd_compare(
    frame: pd.DataFrame, column: str, params: dict[str, Any], theirs: pd.Series, decode: Callable[[str], Any]
) -> pd.Series:
    """True where a 12-digit CCCD with a century digit 0–3 encodes (``decode``: :mod:`handover.ids`) something
    else than ``theirs`` holds on the row; rows without either are not compared."""
    import numpy as np
    import pandas as pd

    s = _cccd(frame, column, params)
    both = ((s != "") & theirs.notna()).to_numpy(dtype=bool)
    bad = np.zeros(len(s), dtype=bool)
    memo: dict[str, Any] = {}
    for p in np.flatnonzero(both):
        cccd = s.iat[p]
        if cccd not in memo:
            memo[cccd] = decode(cccd) if cccd.isascii() and int(cccd[3]) <= 3 else None
        bad[p] = memo[cccd] is not None and theirs.iat[p] != memo[cccd]
    return pd.Series(bad, index=s.index)


def _rule_cccd_birth_year(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """Digits 4–6 (century and year) against the year of ``params.birth_date`` (a valid ISO date in a year a
    CCCD can encode, 1900 to :data:`~handover.ids.ID_REFERENCE_YEAR`: other dates have findings of their own)."""
    births = _col(frame, params["birth_date"])
    valid = _valid_dates(frame, params["birth_date"], params)
    years = births.where(valid, None).map(lambda v: None if v is None else int(v[:4]), na_action="ignore")
    years = years.where(years.map(lambda y: y is not None and 1900 <= y <= ID_REFERENCE_YEAR), None)
    return _cccd_compare(frame, column, params, years, birth_year)


def _rule_cccd_sex(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """Digit 4 (even male, odd female) against ``params.sex`` when that holds M or F."""
    sexes = _col(frame, params["sex"])
    return _cccd_compare(frame, column, params, sexes.where(sexes.isin(["M", "F"]), None), cccd_sex)


def _person_ids(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """The column's personal IDs (9 or 12 digits) on rows that are not businesses; None elsewhere."""
    values = _col(frame, column)
    person = values.map(lambda v: v is not None and len(v) in (9, 12) and v.isdecimal()).astype(bool)
    return values.where(person & ~_business(frame, params), None)


def _rule_population_not_found(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """A personal ID the population extract of ``[checks] population`` does not hold (no extract: none)."""
    import pandas as pd

    population = params.get("_population")
    if population is None:
        return pd.Series(False, index=frame.index)
    ids = _person_ids(frame, column, params)
    return ids.map(lambda v: v is not None and population.get(v) is None).astype(bool)


def _population_differences(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> dict[int, Any]:
    """Position → (what differs in Vietnamese, in English, the extract's person) for the rows whose ID the extract
    holds with another name or birth date; once per chunk and column."""
    from handover.population import same_name

    cache = params.setdefault("_cache", {})
    key = ("population", column)
    if key in cache:
        return cache[key]
    out: dict[int, Any] = {}
    population = params.get("_population")
    if population is not None:
        ids = _person_ids(frame, column, params).tolist()
        names = _col(frame, params["name"]).tolist() if params.get("name") else [None] * len(ids)
        births = _col(frame, params["birth_date"]).tolist() if params.get("birth_date") else [None] * len(ids)
        for p, (person_id, name, birth) in enumerate(zip(ids, names, births, strict=True)):
            person = None if person_id is None else population.get(person_id)
            if person is None:
                continue
            vi, en = [], []
            if name is not None and person.name and not same_name(name, person.name):
                vi.append("họ tên")
                en.append("name")
            if birth is not None and person.birth_date and birth != person.birth_date:
                vi.append("ngày sinh")
                en.append("birth date")
            if vi:
                out[p] = (" và ".join(vi), " and ".join(en), person)
    cache[key] = out
    return out


def _rule_population_mismatch(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """An ID the extract holds with another name (:func:`handover.population.same_name`) or birth date."""
    import numpy as np
    import pandas as pd

    bad = np.zeros(len(frame), dtype=bool)
    bad[list(_population_differences(frame, column, params))] = True
    return pd.Series(bad, index=frame.index)


def _detail_population_mismatch(
    frame: pd.DataFrame, column: str, params: dict[str, Any], positions: Any
) -> list[dict[str, str]]:
    """{differs_vi}, {differs_en}: what differs; {extract_name}: the extract's name as initials."""
    found = _population_differences(frame, column, params)
    return [
        {"differs_vi": found[p][0], "differs_en": found[p][1], "extract_name": mask_name(found[p][2].name)}
        for p in positions
    ]


def _rule_tax_code(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    import numpy as np
    import pandas as pd

    values = _col(frame, column)
    mask = (_business(frame, params) & values.notna()).to_numpy(dtype=bool)
    out = np.zeros(len(values), dtype=bool)
    if mask.any():  # only businesses' codes are checked: the (few) rows of type 2
        out[mask] = ~_tax_ok(values[mask]).to_numpy(dtype=bool)
    return pd.Series(out, index=values.index)


def _rule_key_unique(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """Rows sharing the natural key with a row of different content (set by the Validator)."""
    return params["_conflict"]


# -- what the target can store (limits: checks/target_limits.toml, column types: handover/target/schema.py) ----

# C0 control characters; in free text (TEXT columns) tab, line feed and carriage return are text.
_CONTROL_ANY = re.compile(r"[\x00-\x1f]")
_CONTROL_FREE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NOT_C0 = bytes(range(32, 256))


def _raw(params: dict[str, Any], column: str) -> pd.Series:
    """The chunk's own column (not the text frame: the table rules read every text column of the target, and
    their cells are already text), all None when the chunk lacks it."""
    return _col(params["_frame"], column)


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


def _amounts(frame: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """(the cell is present, the cell as a number: NaN where it is not one)."""
    import pandas as pd

    values = _col(frame, column)
    return values.notna(), pd.to_numeric(values, errors="coerce").astype(float)


def _rule_number_valid(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """Present but not a finite number (text the extract stage could not read as an amount, inf, NaN)."""
    import numpy as np

    present, numbers = _amounts(frame, column)
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

    _, numbers = _amounts(frame, column)
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
    _, numbers = _amounts(frame, column)
    _, bound = _amounts(frame, params["than"])
    return (numbers > bound).fillna(False).astype(bool)


def _detail_number_above(
    frame: pd.DataFrame, column: str, params: dict[str, Any], positions: Any
) -> list[dict[str, str]]:
    from handover.fees import vnd

    _, numbers = _amounts(frame, column)
    _, bound = _amounts(frame, params["than"])
    return [
        {"than": vnd(float(bound.iloc[p])), "amount": vnd(float(numbers.iloc[p])), "other": params["than"]}
        for p in positions
    ]


def _rule_paid_without(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """A payment is recorded (:func:`handover.fees.payment_recorded`: an amount paid above zero or a payment
    date, the ``paid`` and ``paid_date`` columns) and the column is empty: paid without a receipt number."""
    from handover.fees import payment_recorded_frame

    values = _col(frame, column)
    recorded = payment_recorded_frame(_col(frame, params["paid"]), _col(frame, params["paid_date"]), values)
    return (recorded & values.isna()).astype(bool)


def _detail_paid_without(
    frame: pd.DataFrame, column: str, params: dict[str, Any], positions: Any
) -> list[dict[str, str]]:
    from handover.fees import vnd

    _, paid = _amounts(frame, params["paid"])
    dates = _col(frame, params["paid_date"])
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
    values = _col(frame, column)
    valid = _valid_dates(frame, column, params)
    low, high = _date_bounds(params)
    text = values.where(valid, "").astype(str)
    return (valid & ((text < low) | (text > high))).astype(bool)


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


RULES: dict[str, Callable[[pd.DataFrame, str, dict[str, Any]], pd.Series]] = {
    "date_valid": _rule_date_valid,
    "date_order": _rule_date_order,
    "id_number": _rule_id_number,
    "cccd_province": _rule_cccd_province,
    "cccd_century": _rule_cccd_century,
    "cccd_birth_year": _rule_cccd_birth_year,
    "cccd_sex": _rule_cccd_sex,
    "population_not_found": _rule_population_not_found,
    "population_mismatch": _rule_population_mismatch,
    "tax_code": _rule_tax_code,
    "key_unique": _rule_key_unique,
    "text_limit": _rule_text_limit,
    "control_characters": _rule_control_characters,
    "number_valid": _rule_number_valid,
    "number_range": _rule_number_range,
    "number_above": _rule_number_above,
    "paid_without": _rule_paid_without,
    "date_range": _rule_date_range,
}

# Rules whose messages have placeholders of their own, besides {value} and {column}: (frame, column, params,
# failing positions) → one dict of placeholders per position.
DETAILS: dict[str, Callable[[pd.DataFrame, str, dict[str, Any], Any], list[dict[str, str]]]] = {
    "text_limit": _detail_text_limit,
    "control_characters": _detail_control_characters,
    "number_range": _detail_number_range,
    "date_range": _detail_date_range,
    "population_mismatch": _detail_population_mismatch,
    "number_above": _detail_number_above,
    "paid_without": _detail_paid_without,
}

# The columns a rule compares with, named in its params.
_NEEDED_PARAMS: dict[str, tuple[str, ...]] = {
    "cccd_birth_year": ("birth_date",),
    "cccd_sex": ("sex",),
    "population_mismatch": ("name",),
    "number_above": ("than",),
    "paid_without": ("paid", "paid_date"),
}
# Params that name a column the rules read.
_COLUMN_PARAMS = ("after", "type_column", "birth_date", "sex", "name", "than", "paid", "paid_date")

# Rules that take ``columns = ["*"]``: every text column the target table stores (handover/target/schema.py).
ALL_TEXT_COLUMNS = "*"
_TABLE_RULES = frozenset({"text_limit", "control_characters"})


# ---------------------------------------------------------------------------------------------------------
# Loading suites
# ---------------------------------------------------------------------------------------------------------


def load_suite(path: Path) -> SuiteSpec:
    """Read and validate one suite file (no GX import): ConfigError names the file and the check."""
    if not path.is_file():
        raise ConfigError(
            f"Check suite '{path}' does not exist.",
            file=str(path),
            hint="Restore it from the distribution (checks/dossier.toml, checks/record.toml).",
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"Check suite '{path.name}' is not valid UTF-8 TOML: {exc}.",
            file=str(path),
            hint="Fix the syntax at the line named.",
        ) from exc
    try:
        spec = SuiteSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        check = None
        if len(loc) >= 2 and isinstance(loc[1], int):
            try:
                check = raw[loc[0]][loc[1]].get("check")
            except (KeyError, IndexError, AttributeError, TypeError):
                check = None
        where = ".".join(str(p) for p in loc)
        raise ConfigError(
            f"Check suite '{path.name}': {where}: {first['msg']}.",
            file=str(path),
            column=where,
            check=check,
            hint="Compare with the shipped checks/dossier.toml; checks/README.md describes every key.",
        ) from exc
    seen: set[str] = set()
    for item in [*spec.expectations, *spec.custom]:
        if item.check in seen:
            raise ConfigError(
                f"Check suite '{path.name}': check name '{item.check}' is used twice.",
                file=str(path),
                check=item.check,
                hint="Give every expectation and custom rule its own check name.",
            )
        seen.add(item.check)
    for c in spec.custom:
        if c.rule not in RULES:
            raise ConfigError(
                f"Check suite '{path.name}', check '{c.check}': unknown rule '{c.rule}'.",
                file=str(path),
                check=c.check,
                hint=f"Use one of: {', '.join(sorted(RULES))}.",
            )
        for needed in _NEEDED_PARAMS.get(c.rule, ()):
            if needed not in c.params:
                raise ConfigError(
                    f"Check suite '{path.name}', check '{c.check}': rule {c.rule} needs params.{needed}.",
                    file=str(path),
                    check=c.check,
                    hint=f'Add params = {{ {needed} = "<column>" }}.',
                )
        if c.rule == "date_order" and "after" not in c.params:
            raise ConfigError(
                f"Check suite '{path.name}', check '{c.check}': rule date_order needs params.after.",
                file=str(path),
                check=c.check,
                hint='Add params = { after = "received_date" }.',
            )
        if ALL_TEXT_COLUMNS in c.columns and (c.rule not in _TABLE_RULES or c.columns != [ALL_TEXT_COLUMNS]):
            raise ConfigError(
                f"Check suite '{path.name}', check '{c.check}': columns = [\"*\"] (every text column of the "
                f"target) stands alone, and only for the rules {', '.join(sorted(_TABLE_RULES))}.",
                file=str(path),
                check=c.check,
                hint='Name the columns, or write columns = ["*"] alone.',
            )
        problem = _params_problem(c.rule, c.params)
        if problem:
            raise ConfigError(
                f"Check suite '{path.name}', check '{c.check}': {problem}.",
                file=str(path),
                check=c.check,
                hint="checks/README.md lists each rule's params.",
            )
    return spec


def _params_problem(rule: str, params: dict[str, Any]) -> str | None:
    """What is wrong with the params of a number_range / date_range rule, if anything."""
    if rule == "control_characters" and params.get("which", "all") not in ("all", "nul", "other"):
        return f'params.which must be "all", "nul" or "other", not {params["which"]!r}'
    if rule == "number_range":
        for key in ("min", "max"):
            if key in params and (isinstance(params[key], bool) or not isinstance(params[key], int | float)):
                return f"params.{key} must be a number, not {params[key]!r}"
        if not ({"min", "max"} & set(params) or params.get("target") is True):
            return "rule number_range needs params.min, params.max or params.target = true"
    if rule == "date_range":
        for key in ("min", "max"):
            if key in params:
                try:
                    date.fromisoformat(str(params[key]))
                except ValueError:
                    return f"params.{key} must be a date written YYYY-MM-DD, not {params[key]!r}"
        years = params.get("max_years_after_handover")
        if years is not None and (isinstance(years, bool) or not isinstance(years, int) or years < 0):
            return f"params.max_years_after_handover must be a whole number of years, not {years!r}"
        if not ({"min", "max", "max_years_after_handover"} & set(params) or params.get("target") is True):
            return "rule date_range needs params.min, max, max_years_after_handover or target = true"
    return None


def _add_gx(total: dict[Any, dict[str, Any]], key: Any, entry: dict[str, Any]) -> None:
    """Add one chunk's result of one expectation to its running total."""
    acc = total.get(key)
    if acc is None:
        total[key] = dict(entry)
        return
    acc["success"] = acc["success"] and entry["success"]
    acc["unexpected_count"] += entry["unexpected_count"]
    acc["element_count"] += entry["element_count"]


def merge_gx(total: dict[tuple[str, str], dict[str, Any]], entries: list[dict[str, Any]]) -> None:
    """Add one chunk's GX results (:meth:`Validator.last_gx`) to running totals keyed by (suite, check), the
    way :meth:`Validator.gx_summary` accumulates them in one process."""
    for entry in entries:
        _add_gx(total, (entry["suite"], entry["check"]), entry)


def _gx():
    """Import great-expectations with analytics off (the variable must be set before the import)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx

    return gx


# ---------------------------------------------------------------------------------------------------------
# The validator
# ---------------------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(value|column)\}")
_EXTRA = re.compile(r"\{([a-z_]+)\}")


@dataclasses.dataclass(frozen=True)
class ValidationSettings:
    """What the checks need to know besides the suite: the target's limits (the target-limit rules) and the
    handover date (``date_range``'s ``max_years_after_handover``; None: that bound is not applied)."""

    limits: TargetLimits
    handover_date: date | None = None
    population: Path | None = None

    @classmethod
    def of(
        cls, target_url: str | None, handover_date: str | None, population: Path | None = None
    ) -> ValidationSettings:
        """From the batch config's target URL, ``thresholds.handover_date`` (an unreadable date: None, the
        map stage reports it) and ``checks.population`` (the population extract, read by each validator)."""
        from handover.target.limits import limits_for_url

        try:
            day = date.fromisoformat(handover_date) if handover_date else None
        except ValueError:
            day = None
        return cls(limits_for_url(target_url), day, population)

    @classmethod
    def default(cls) -> ValidationSettings:
        """Limits of every target ([common] alone) and the configuration's default handover date."""
        from handover.config import Thresholds
        from handover.target.limits import load_limits

        return cls(load_limits(None), date.fromisoformat(Thresholds().handover_date))


def _message(template: str, value: object, column: str, extra: dict[str, str] | None = None) -> str:
    """The message of one finding: {value} is the cell (IDs and phones masked; control characters visible, at
    most 120 characters: see :func:`~handover.text.excerpt`), {column} the field, and ``extra`` the rule's own
    placeholders (see :data:`DETAILS`)."""
    shown = "" if value is None else str(value)
    if column in ID_FIELDS or column in PHONE_FIELDS:
        shown = mask_id(shown)
    shown = excerpt(shown)
    if extra:
        template = _EXTRA.sub(lambda m: extra.get(m.group(1), m.group(0)), template)
    if "{" not in column:  # the usual case: plain replaces, {value} last so the value is never re-read
        return template.replace("{column}", column).replace("{value}", shown)
    return _PLACEHOLDER.sub(lambda m: shown if m.group(1) == "value" else column, template)


class Validator:
    """Runs one entity's suite over chunks. Build with :meth:`load`; one GX context for its whole life."""

    def __init__(self, spec: SuiteSpec, path: Path, settings: ValidationSettings | None = None) -> None:
        self.spec = spec
        self.path = path
        self.entity = spec.suite.entity
        self.settings = settings or ValidationSettings.default()
        # The target's text columns (what columns = ["*"] stands for) with their limits.
        self._target_columns = self.settings.limits.text_columns(self.entity)
        self._summary: dict[str, dict[str, Any]] = {}
        self._last: dict[str, dict[str, Any]] = {}
        self._prefixes = province_prefixes()
        self._population = None
        if self.settings.population is not None:
            from handover.population import load_population

            self._population = load_population(self.settings.population)
        from handover.pipeline.routing import StatusTable

        # Portal codes of finished dossiers (3, 7, 9, 10 in the shipped table): not pending, excluded.
        self._finished = frozenset(str(c) for c in range(1, 11)) - StatusTable.load().pending_codes
        self._chunks = 0
        self._rows = 0
        self._build_gx()

    @classmethod
    def load(
        cls, entity: Entity | str, checks_dir: Path | None = None, settings: ValidationSettings | None = None
    ) -> Validator:
        """Read ``checks/<entity>.toml`` and build the GX suite once. ``settings``: the target's limits and the
        handover date (default: :meth:`ValidationSettings.default`)."""
        entity = Entity(entity)
        if checks_dir is None:
            from handover.resources import checks_dir as default_dir

            checks_dir = default_dir()
        path = Path(checks_dir) / f"{entity.value}.toml"
        spec = load_suite(path)
        if spec.suite.entity is not entity:
            raise ConfigError(
                f"Check suite '{path.name}' is for entity '{spec.suite.entity}', not '{entity}'.",
                file=str(path),
                hint="Set [suite] entity to match the file name.",
            )
        return cls(spec, path, settings)

    # -- GX ---------------------------------------------------------------------------------------------

    def _build_gx(self) -> None:
        gx = _gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.enable_analytics(False)
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        suite = gx.ExpectationSuite(name=self.spec.suite.name)
        for e in self.spec.expectations:
            cls = getattr(gx.expectations, e.expectation, None)
            if cls is None or not isinstance(cls, type):
                raise ConfigError(
                    f"Check suite '{self.path.name}', check '{e.check}': unknown expectation type "
                    f"'{e.expectation}'.",
                    file=str(self.path),
                    check=e.check,
                    hint="Use a great-expectations 1.x class name, e.g. ExpectColumnValuesToNotBeNull.",
                )
            try:
                suite.add_expectation(cls(column=e.column, meta={"check": e.check}, **e.kwargs))
            except Exception as exc:  # GX raises pydantic errors of its own vintage
                raise ConfigError(
                    f"Check suite '{self.path.name}', check '{e.check}': bad arguments for "
                    f"{e.expectation}: {exc}",
                    file=str(self.path),
                    check=e.check,
                    hint="Compare kwargs with the expectation's documentation.",
                ) from exc
        suite = context.suites.add(suite)
        asset = context.data_sources.add_pandas(f"handover_{self.entity.value}").add_dataframe_asset("chunk")
        self._context = context
        self._suite = suite
        self._batch_definition = asset.add_batch_definition_whole_dataframe("chunk")
        self._gx_columns = sorted({e.column for e in self.spec.expectations})
        params = {str(v) for c in self.spec.custom for k, v in c.params.items() if k in _COLUMN_PARAMS}
        self._text_columns = sorted(
            {*self._gx_columns, *natural_key_fields(self.entity), "status_code", *params}
            | {col for c in self.spec.custom if c.rule not in _TABLE_RULES for col in c.columns}
        )

    def _columns(self, c: CustomSpec) -> list[str]:
        """The columns a custom rule checks (``["*"]``: every text column of the target table)."""
        if c.columns == [ALL_TEXT_COLUMNS]:
            return list(self._target_columns)
        return c.columns

    def _run_gx(self, frame: pd.DataFrame) -> list[tuple[ExpectationSpec, list[int]]]:
        """One GX validation of the chunk's text frame: (expectation, failing row positions) each."""
        import pandas as pd

        if not self.spec.expectations or frame.empty:
            return []
        data = pd.DataFrame({c: _col(frame, c).to_numpy() for c in self._gx_columns})
        from great_expectations.execution_engine import pandas_execution_engine as engine

        # GX hashes every frame for a batch-marker fingerprint handover never reads: switch that off for the
        # call where this GX version has the constant (1.x), and leave GX alone where it has not.
        threshold = getattr(engine, "HASH_THRESHOLD", None)
        if threshold is not None:
            engine.HASH_THRESHOLD = 0
        try:
            batch = self._batch_definition.get_batch(batch_parameters={"dataframe": data})
        finally:
            if threshold is not None:
                engine.HASH_THRESHOLD = threshold
        result = batch.validate(
            self._suite,
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [],
                "return_unexpected_index_query": False,
                "partial_unexpected_count": 0,
                "include_unexpected_rows": False,
            },
        )
        by_check = {e.check: e for e in self.spec.expectations}
        out = []
        for res in result.results:
            check = (res.expectation_config.meta or {}).get("check")
            spec = by_check.get(check)
            if spec is None:
                continue
            info = res.exception_info or {}
            if info.get("raised_exception"):
                raise ConfigError(
                    f"Check '{check}' could not run in great-expectations: {info.get('exception_message')}",
                    file=str(self.path),
                    check=check,
                    hint="Fix the expectation's kwargs in the suite file.",
                )
            r = res.result or {}
            positions = [int(i) for i in r.get("unexpected_index_list") or []]
            self._record(spec.check, spec.expectation, spec.column, bool(res.success), r, len(data))
            out.append((spec, positions))
        return out

    def _record(
        self, check: str, expectation: str, column: str, success: bool, r: dict[str, Any], n: int
    ) -> None:
        entry = {
            "suite": self.spec.suite.name,
            "expectation": expectation,
            "check": check,
            "column": column,
            "success": success,
            "unexpected_count": int(r.get("unexpected_count") or 0),
            "element_count": int(r.get("element_count") or n),
        }
        self._last[check] = entry
        _add_gx(self._summary, check, entry)

    def result(self) -> ValidateResult:
        """Sizes and GX results so far."""
        return ValidateResult(
            suite=self.spec.suite.name,
            entity=self.entity,
            chunks=self._chunks,
            rows=self._rows,
            gx=self.gx_summary(),
        )

    def gx_summary(self) -> list[dict[str, Any]]:
        """GX results accumulated over every chunk validated so far, one dict per expectation."""
        return [dict(self._summary[e.check]) for e in self.spec.expectations if e.check in self._summary]

    def last_gx(self) -> list[dict[str, Any]]:
        """GX results of the last chunk alone (same keys as :meth:`gx_summary`): what :func:`merge_gx` adds up
        when chunks are validated in several processes."""
        return [dict(self._last[e.check]) for e in self.spec.expectations if e.check in self._last]

    # -- chunks -----------------------------------------------------------------------------------------

    def _keys(self, frame: pd.DataFrame) -> pd.Series:
        return natural_keys(frame, self.entity)

    def _duplicates(self, frame: pd.DataFrame, keys: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
        """(exact duplicate of an earlier row, key shared with different content, first row of the group).
        Across chunks the same rule holds (:mod:`handover.pipeline.keyspan`).

        Only rows whose key appears more than once can be either: their content is hashed, the rest is not."""
        import numpy as np
        import pandas as pd

        from handover.pipeline.keyspan import content_digests

        n = len(frame)
        exact = pd.Series(False, index=frame.index)
        conflict = pd.Series(False, index=frame.index)
        first_of = pd.Series(np.arange(n), index=frame.index)
        has_key = keys.notna()
        shared = (has_key & keys.duplicated(keep=False)).to_numpy(dtype=bool)
        if not shared.any():
            return exact, conflict, first_of
        positions = np.flatnonzero(shared)
        content = content_digests(frame, self.entity, positions)
        probe = pd.DataFrame({"key": keys.iloc[positions].to_numpy(), "content": content})
        sub_exact = probe.duplicated(["key", "content"], keep="first").to_numpy(dtype=bool)
        variants = probe.groupby("key")["content"].transform("nunique").to_numpy()
        exact.iloc[positions] = sub_exact
        conflict.iloc[positions] = (variants > 1) & ~sub_exact
        probe["pos"] = positions
        first_of.iloc[positions] = probe.groupby(["key", "content"])["pos"].transform("min").to_numpy()
        return exact, conflict, first_of

    def validate_chunk(self, chunk: Chunk) -> Chunk:
        """Findings for every check, then ``disposition`` and ``reason`` for every row of the chunk."""
        import numpy as np
        import pandas as pd

        frame = chunk.frame
        n = len(frame)
        self._last = {}
        # Every column a check reads, as stripped text with None for missing: built once per chunk.
        texts = pd.DataFrame(
            {c: _text(frame, c) for c in self._text_columns if c in frame.columns}, index=frame.index
        )
        keys = self._keys(texts)
        source_rows = frame["source_row"].to_numpy() if "source_row" in frame.columns else np.arange(1, n + 1)
        new: list[Finding] = []

        def emit(
            positions: np.ndarray,
            check: str,
            column: str,
            severity: Severity,
            vi: str,
            en: str,
            details: list[dict[str, str]] | None = None,
        ) -> None:
            values = _col(texts if column in texts.columns else frame, column).to_numpy()
            key_values = keys.to_numpy()
            for k, p in enumerate(positions):
                value = values[p]
                if value is not None and not isinstance(value, str) and pd.isna(value):
                    value = None
                extra = details[k] if details else None
                new.append(
                    Finding(
                        source_id=chunk.source_id,
                        row=int(source_rows[p]),
                        key=None if key_values[p] is None else str(key_values[p]),
                        field=column,
                        check=check,
                        severity=severity,
                        message_vi=_message(vi, value, column, extra),
                        message_en=_message(en, value, column, extra),
                    )
                )

        for spec, positions in self._run_gx(texts):
            emit(
                np.asarray(positions, dtype=int),
                spec.check,
                spec.column,
                spec.severity,
                spec.message_vi,
                spec.message_en,
            )

        exact, conflict, first_of = self._duplicates(frame, keys) if n else (None, None, None)
        cache: dict[str, Any] = {}
        for c in self.spec.custom:
            params = {
                **c.params,
                "_prefixes": self._prefixes,
                "_population": self._population,
                "_conflict": conflict,
                "_cache": cache,
                "_limits": self.settings.limits,
                "_handover": self.settings.handover_date,
                "_columns": self._target_columns,
                "_frame": frame,
            }
            for column in self._columns(c):
                if n == 0:
                    continue
                if c.rule == "key_unique":
                    if column != c.columns[-1]:
                        continue
                    fails = conflict
                elif column not in frame.columns:
                    continue
                else:
                    fails = RULES[c.rule](texts, column, params)
                positions = np.flatnonzero(fails.to_numpy(dtype=bool))
                if c.rule == "key_unique":
                    key_values = keys.to_numpy()
                    for p in positions:
                        new.append(
                            Finding(
                                source_id=chunk.source_id,
                                row=int(source_rows[p]),
                                key=str(key_values[p]),
                                field=column,
                                check=c.check,
                                severity=c.severity,
                                message_vi=_message(c.message_vi, key_values[p], column),
                                message_en=_message(c.message_en, key_values[p], column),
                            )
                        )
                elif len(positions):
                    describe = DETAILS.get(c.rule)
                    details = describe(texts, column, params, positions) if describe else None
                    emit(positions, c.check, column, c.severity, c.message_vi, c.message_en, details)

        chunk.findings.extend(new)
        self._chunks += 1
        self._rows += n
        frame["disposition"], frame["reason"] = self._dispositions(chunk, frame, exact, first_of, source_rows)
        chunk.frame = frame
        return chunk

    def _dispositions(
        self,
        chunk: Chunk,
        frame: pd.DataFrame,
        exact: pd.Series | None,
        first_of: pd.Series | None,
        source_rows: Any,
    ) -> tuple[list[str], list[str]]:
        import numpy as np

        n = len(frame)
        disposition = np.full(n, Disposition.LOADED.value, dtype=object)
        reason = np.full(n, "", dtype=object)
        if n == 0:
            return list(disposition), list(reason)

        # quarantined: any error finding on the row (this stage or an earlier one)
        errors: dict[int, Finding] = {}
        extra: dict[int, int] = {}
        for f in chunk.findings:
            if f.severity is Severity.ERROR and f.row is not None and f.source_id == chunk.source_id:
                if f.row in errors:
                    extra[f.row] = extra.get(f.row, 0) + 1
                else:
                    errors[f.row] = f
        import pandas as pd

        index = pd.Index(np.asarray(source_rows, dtype=np.int64))
        if index.is_unique:  # the readers number rows uniquely: look up only the rows with errors
            wanted = list(errors)
            pos_of_row = {r: int(p) for r, p in zip(wanted, index.get_indexer(wanted), strict=True) if p >= 0}
        else:
            pos_of_row = {int(r): i for i, r in enumerate(source_rows)}
        for row, f in errors.items():
            p = pos_of_row.get(row)
            if p is None:
                continue
            more = f" (+{extra[row]} lỗi khác / more errors)" if row in extra else ""
            disposition[p] = Disposition.QUARANTINED.value
            reason[p] = f"{f.message_vi} / {f.message_en}{more}"
        quarantined = disposition == Disposition.QUARANTINED.value

        # review: unit split / ambiguous / not found (only when no error)
        if "unit_status" in frame.columns:
            status = frame["unit_status"].astype("object").to_numpy()
            for value, text in REVIEW_REASONS.items():
                hit = (status == value) & ~quarantined
                disposition[hit] = Disposition.REVIEW.value
                reason[hit] = text

        # review: a status text the status table cannot place (it might be withdrawn or finished)
        if chunk.entity is Entity.DOSSIER and {"status_code", "status_raw"} <= set(frame.columns):
            unplaced = (
                (frame["status_code"].astype("object") == "").to_numpy(dtype=bool)
                & frame["status_raw"].notna().to_numpy(dtype=bool)
                & ~quarantined
            )
            for p in np.flatnonzero(unplaced):
                text = STATUS_REVIEW_REASON.format(value=frame["status_raw"].iat[p])
                reason[p] = f"{reason[p]}; {text}" if reason[p] else text
                disposition[p] = Disposition.REVIEW.value

        # excluded: finished dossiers
        if "status_code" in frame.columns:
            finished = frame["status_code"].astype("object").isin(self._finished).to_numpy(dtype=bool)
            disposition[finished] = Disposition.EXCLUDED.value
            reason[finished] = EXCLUDED_REASON

        # duplicate: exact duplicate of an earlier row of the chunk
        if exact is not None and first_of is not None:
            dup = exact.to_numpy(dtype=bool)
            firsts = first_of.to_numpy()
            disposition[dup] = Disposition.DUPLICATE.value
            for p in np.flatnonzero(dup):
                first_row = int(source_rows[int(firsts[p])])
                reason[p] = f"Trùng hoàn toàn với dòng {first_row} / exact duplicate of row {first_row}"
        return list(disposition), list(reason)


def gate_exceeded(counts_quarantined: int, counts_extracted: int, max_error_share: float) -> bool:
    """True when the quarantined share of extracted rows is above ``max_error_share``."""
    if counts_extracted <= 0:
        return False
    return counts_quarantined / counts_extracted > max_error_share
