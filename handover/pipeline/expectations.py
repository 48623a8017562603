"""The suites' ``[[expectations]]`` as vectorised pandas checks, compiled once per suite: the row-level flags
(and so the findings) of every chunk come from here, without great-expectations.

Each supported great-expectations 1.x expectation type has its own small evaluator with GX's semantics on the
chunk's text frame (text, None for a missing or empty cell), which is what GX's pandas engine did with the same
frame:

* ``ExpectColumnValuesToNotBeNull``: the cell is missing (None: also an empty cell);
* ``ExpectColumnValuesToBeInSet``: a present cell not in ``value_set`` (``Series.isin``);
* ``ExpectColumnValuesToMatchRegex``: a present cell where ``regex`` is not found (``re.search``, as GX's
  ``str.contains``: anchor with ``^``/``$`` for a whole-cell match);
* ``ExpectColumnValueLengthsToBeBetween``: a present cell whose length in characters is below ``min_value`` or
  above ``max_value`` (``strict_min``/``strict_max``: the bound itself fails too).

Missing cells fail only the null check. ``mostly`` is accepted (GX's success threshold: it changes the GX
summary, never which rows are flagged). great-expectations itself runs once per batch on the loaded rows
(:mod:`handover.pipeline.gx_target`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from handover.pipeline.suite import ExpectationSpec


def _not_null(values: pd.Series, kwargs: dict[str, Any]) -> np.ndarray:
    return values.isna().to_numpy(dtype=bool)


def _in_set(values: pd.Series, kwargs: dict[str, Any]) -> np.ndarray:
    return (values.notna() & ~values.isin(list(kwargs["value_set"]))).to_numpy(dtype=bool)


def _match_regex(values: pd.Series, kwargs: dict[str, Any]) -> np.ndarray:
    import numpy as np

    out = np.zeros(len(values), dtype=bool)
    present = values.notna().to_numpy(dtype=bool)
    if present.any():
        search = re.compile(kwargs["regex"]).search
        out[present] = [search(v) is None for v in values.to_numpy(dtype=object)[present]]
    return out


def _lengths_between(values: pd.Series, kwargs: dict[str, Any]) -> np.ndarray:
    import numpy as np

    out = np.zeros(len(values), dtype=bool)
    present = values.notna().to_numpy(dtype=bool)
    if not present.any():
        return out
    lengths = np.fromiter(map(len, values.to_numpy(dtype=object)[present]), dtype=np.int64)
    bad = np.zeros(len(lengths), dtype=bool)
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None:
        bad |= lengths <= low if kwargs.get("strict_min") else lengths < low
    if high is not None:
        bad |= lengths >= high if kwargs.get("strict_max") else lengths > high
    out[present] = bad
    return out


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _regex_problem(kwargs: dict[str, Any]) -> str | None:
    regex = kwargs.get("regex")
    if not isinstance(regex, str):
        return "kwargs.regex must be the pattern as text"
    try:
        re.compile(regex)
    except re.error as exc:
        return f"kwargs.regex is not a valid regular expression: {exc}"
    return None


def _set_problem(kwargs: dict[str, Any]) -> str | None:
    if not isinstance(kwargs.get("value_set"), list):
        return 'kwargs.value_set must be a list of the allowed values, e.g. ["1", "2"]'
    return None


def _lengths_problem(kwargs: dict[str, Any]) -> str | None:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is None and high is None:
        return "kwargs needs min_value, max_value or both"
    for key in ("min_value", "max_value"):
        if kwargs.get(key) is not None and not _whole(kwargs[key]):
            return f"kwargs.{key} must be a whole number of characters, not {kwargs[key]!r}"
    for key in ("strict_min", "strict_max"):
        if key in kwargs and not isinstance(kwargs[key], bool):
            return f"kwargs.{key} must be true or false, not {kwargs[key]!r}"
    return None


@dataclasses.dataclass(frozen=True)
class _Kind:
    """One supported expectation type: its evaluator, its kwargs and what is wrong with given kwargs."""

    fails: Callable[[pd.Series, dict[str, Any]], np.ndarray]
    kwargs: tuple[str, ...]
    problem: Callable[[dict[str, Any]], str | None] = lambda kwargs: None


SUPPORTED: dict[str, _Kind] = {
    "ExpectColumnValuesToNotBeNull": _Kind(_not_null, ("mostly",)),
    "ExpectColumnValuesToBeInSet": _Kind(_in_set, ("value_set", "mostly"), _set_problem),
    "ExpectColumnValuesToMatchRegex": _Kind(_match_regex, ("regex", "mostly"), _regex_problem),
    "ExpectColumnValueLengthsToBeBetween": _Kind(
        _lengths_between, ("min_value", "max_value", "strict_min", "strict_max", "mostly"), _lengths_problem
    ),
}


def expectation_problem(expectation: str, kwargs: dict[str, Any]) -> tuple[str, str] | None:
    """(what is wrong, how to fix it) for an expectation type and its kwargs; None when the evaluator runs them."""
    kind = SUPPORTED.get(expectation)
    if kind is None:
        return (
            f"expectation type '{expectation}' is not supported",
            f"Use one of: {', '.join(SUPPORTED)} (or a custom rule, see checks/README.md).",
        )
    unknown = sorted(set(kwargs) - set(kind.kwargs))
    if unknown:
        return (
            f"{expectation} does not take kwargs {', '.join(unknown)}",
            f"{expectation} takes: {', '.join(kind.kwargs)}.",
        )
    mostly = kwargs.get("mostly")
    if mostly is not None and (
        isinstance(mostly, bool) or not isinstance(mostly, int | float) or not 0 <= mostly <= 1
    ):
        return f"kwargs.mostly must be a number from 0 to 1, not {mostly!r}", "Write e.g. mostly = 0.95."
    problem = kind.problem(kwargs)
    if problem:
        return f"{expectation}: {problem}", f"{expectation} takes: {', '.join(kind.kwargs)}."
    return None


def failing_rows(spec: ExpectationSpec, values: pd.Series) -> np.ndarray:
    """Where the column's text values (None: missing) fail the expectation, as a boolean array."""
    return SUPPORTED[spec.expectation].fails(values, spec.kwargs)
