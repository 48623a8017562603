"""Working days in Vietnam: Monday to Friday, less the public holidays and the province's own days off.

Public holidays come from the maintained ``holidays`` package (Tết by the lunar calendar, Hùng Kings' day, 30/4,
1/5, National Day 2/9 with its adjoining day, and the substitute days off the government announces); a province
adds its own (a local festival, a decided day off) under ``thresholds.days_off`` in the batch configuration.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date


def days_off(around: date, extra: Iterable[date] = (), years: int = 3) -> tuple[date, ...]:
    """Vietnam's public holidays from the year before ``around`` to ``years`` after it, plus ``extra``,
    sorted and without duplicates."""
    import holidays

    span = range(around.year - 1, around.year + years + 1)
    official = holidays.country_holidays("VN", years=span)
    return tuple(sorted({*official.keys(), *extra}))


def working_days_between(start: object, ends: object, off: tuple[date, ...] = ()) -> object:
    """Working days in ``[start, end)`` for each end (numpy ``busday_count``, Monday–Friday less ``off``)."""
    import numpy as np

    return np.busday_count(start, ends, holidays=np.array(off, dtype="datetime64[D]"))
