"""The suites' custom rules (``[[custom]]`` in ``checks/*.toml``): vectorised pandas rules that
great-expectations does not express well. Each takes (text frame, column, params) and returns a boolean Series,
True where the row fails: dates, person IDs (CMND/CCCD: province prefix, century digit, birth year and sex
against the row), the population extract of ``[checks]``, tax codes, duplicate keys, and (in
:mod:`handover.pipeline.rules_target`) what the target can store and plausible amounts and dates.
:data:`RULES` names them all; checks/README.md describes each."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from handover.ids import ID_REFERENCE_YEAR, birth_year
from handover.ids import sex as cccd_sex
from handover.pipeline.rules_target import TARGET_DETAILS, TARGET_RULES
from handover.pipeline.textframe import parsed_dates, text_col, valid_dates
from handover.text import mask_name

if TYPE_CHECKING:
    import pandas as pd


def _rule_date_valid(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    present = text_col(frame, column).notna()
    return present & ~valid_dates(frame, column, params)


def _rule_date_order(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    later = parsed_dates(frame, column, params)
    earlier = parsed_dates(frame, params["after"], params)
    return (later < earlier).fillna(False).astype(bool)


def _tax_ok(values: pd.Series, params: dict[str, Any]) -> pd.Series:
    """Where the value is a valid tax code; each distinct value checked once per batch (``params["_memo"]``, the
    validator's, bounded)."""
    import numpy as np
    import pandas as pd
    from stdnum.vn import mst

    memo = params.get("_memo")
    memo = {} if memo is None else memo.setdefault("tax_ok", {})
    codes, uniq = pd.factorize(values.astype(object))
    table = np.zeros(len(uniq) + 1, dtype=bool)  # missing (-1): the last entry, False
    for i, v in enumerate(uniq):
        ok = memo.get(v)
        if ok is None:
            ok = bool(mst.is_valid(v))
            if len(memo) < 200_000:
                memo[v] = ok
        table[i] = ok
    return pd.Series(table[codes], index=values.index)


def _business(frame: pd.DataFrame, params: dict[str, Any]) -> pd.Series:
    import pandas as pd

    col = params.get("type_column")
    if col is None:
        return pd.Series(False, index=frame.index)
    return (text_col(frame, col) == "2").fillna(False).astype(bool)


def _rule_id_number(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """Persons: 9 (CMND) or 12 (CCCD) digits. Without a type column, a valid tax code is accepted too."""
    import pandas as pd

    values = text_col(frame, column)
    present = values.notna()
    s = values.fillna("").astype(str)
    # fullmatch(r"\d{9}|\d{12}"): \d is a Unicode decimal digit, what str.isdecimal() tests
    person_ok = pd.Series(
        [len(v) in (9, 12) and v.isdecimal() for v in s.tolist()], index=s.index, dtype=bool
    )
    business = _business(frame, params)
    if params.get("type_column") is None:
        person_ok = person_ok | _tax_ok(values.where(~person_ok, None), params)
    return (present & ~business & ~person_ok).astype(bool)


def _cccd(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """12-digit values of the column ('' elsewhere), computed once per chunk and column."""
    cache = params.setdefault("_cache", {})
    if column not in cache:
        import pandas as pd

        s = text_col(frame, column).fillna("").astype(str)
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
    births = text_col(frame, params["birth_date"])
    valid = valid_dates(frame, params["birth_date"], params)
    years = births.where(valid, None).map(lambda v: None if v is None else int(v[:4]), na_action="ignore")
    years = years.where(years.map(lambda y: y is not None and 1900 <= y <= ID_REFERENCE_YEAR), None)
    return _cccd_compare(frame, column, params, years, birth_year)


def _rule_cccd_sex(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """Digit 4 (even male, odd female) against ``params.sex`` when that holds M or F."""
    sexes = text_col(frame, params["sex"])
    return _cccd_compare(frame, column, params, sexes.where(sexes.isin(["M", "F"]), None), cccd_sex)


def _person_ids(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """The column's personal IDs (9 or 12 digits) on rows that are not businesses; None elsewhere."""
    values = text_col(frame, column)
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
        names = text_col(frame, params["name"]).tolist() if params.get("name") else [None] * len(ids)
        births = (
            text_col(frame, params["birth_date"]).tolist() if params.get("birth_date") else [None] * len(ids)
        )
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

    values = text_col(frame, column)
    mask = (_business(frame, params) & values.notna()).to_numpy(dtype=bool)
    out = np.zeros(len(values), dtype=bool)
    if mask.any():  # only businesses' codes are checked: the (few) rows of type 2
        out[mask] = ~_tax_ok(values[mask], params).to_numpy(dtype=bool)
    return pd.Series(out, index=values.index)


def _rule_key_unique(frame: pd.DataFrame, column: str, params: dict[str, Any]) -> pd.Series:
    """Rows sharing the natural key with a row of different content (set by the Validator)."""
    return params["_conflict"]


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
    **TARGET_RULES,
}

# Rules whose messages have placeholders of their own, besides {value} and {column}: (frame, column, params,
# failing positions) → one dict of placeholders per position.
DETAILS: dict[str, Callable[[pd.DataFrame, str, dict[str, Any], Any], list[dict[str, str]]]] = {
    "population_mismatch": _detail_population_mismatch,
    **TARGET_DETAILS,
}

# The columns a rule compares with, named in its params.
NEEDED_PARAMS: dict[str, tuple[str, ...]] = {
    "cccd_birth_year": ("birth_date",),
    "cccd_sex": ("sex",),
    "population_mismatch": ("name",),
    "number_above": ("than",),
    "paid_without": ("paid", "paid_date"),
}
# Params that name a column the rules read.
COLUMN_PARAMS = ("after", "type_column", "birth_date", "sex", "name", "than", "paid", "paid_date")

# Rules that take ``columns = ["*"]``: every text column the target table stores (handover/target/schema.py).
ALL_TEXT_COLUMNS = "*"
TABLE_RULES = frozenset({"text_limit", "control_characters"})
