"""Resolving many inputs at once: a stream of addresses, or a frame of rows, each distinct input resolved once."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from handover.units.matching import cell_text, normalise_code
from handover.units.resolution import Resolution

if TYPE_CHECKING:
    import pandas as pd

    from handover.units.rules import Decision

FRAME_INPUTS = (
    "address",
    "village",
    "old_province_code",
    "old_district_code",
    "old_commune_code",
    "old_province_name",
    "old_district_name",
    "old_commune_name",
    "source_system",
    "dossier_code",
)
_KEY_INPUTS = (
    "address",
    "old_province_name",
    "old_district_name",
    "old_commune_name",
    "old_province_code",
    "old_district_code",
    "old_commune_code",
    "village",
    "source_system",
    "dossier_code",
)
FRAME_OUTPUTS = (
    "unit_status",
    "unit_method",
    "unit_relation",
    "unit_candidates",
    "unit_suggestions",
    "unit_elsewhere",
    "old_province_code",
    "old_district_code",
    "old_commune_code",
    "old_commune_name",
    "new_province_code",
    "new_commune_code",
    "new_commune_name",
)


class BulkResolving:
    """:meth:`resolve_many` and :meth:`resolve_frame` of :class:`~handover.units.resolver.UnitResolver` (a mixin
    over its ``resolve`` and ``_resolve``, counting rule matches per row)."""

    decisions: dict[tuple[str, str], Decision]
    rule_matches: list[int]

    def resolve_many(self, addresses: Iterable[str]) -> Iterable[Resolution]:
        """Resolve addresses one by one, in order, each distinct address once (streams: any length)."""
        cache: dict[str, Resolution] = {}
        for address in addresses:
            res = cache.get(address)
            if res is None:
                res = self.resolve(address)
                if len(cache) < 200_000:
                    cache[address] = res
            elif res.method == "rule":
                self.resolve(address)  # keep rule match counts per row
            yield res

    # ------------------------------------------------------------------------------------------------------
    def resolve_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Resolve every row of ``df`` (columns of :data:`FRAME_INPUTS`, any may be absent).

        Each distinct input is resolved once; the result has the same index and the :data:`FRAME_OUTPUTS`
        columns (lists as JSON text).
        """
        import numpy as np
        import pandas as pd

        n = len(df)
        columns: dict[str, pd.Series] = {}
        for name in FRAME_INPUTS:
            if name in df.columns:
                columns[name] = df[name]
        if self.decisions and "source_system" in columns and "dossier_code" in columns:
            ss = columns["source_system"].map(cell_text)
            dc = columns["dossier_code"].map(cell_text)
            wanted = pd.Series(
                [(a, b) in self.decisions for a, b in zip(ss.tolist(), dc.tolist(), strict=True)],
                index=df.index,
            )
            columns["source_system"] = ss.where(wanted, None)
            columns["dossier_code"] = dc.where(wanted, None)
        else:
            columns.pop("source_system", None)
            columns.pop("dossier_code", None)

        group = np.zeros(n, dtype=np.int64)
        for series in columns.values():
            codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
            group = group * (len(uniques) + 1) + (codes + 1)
            group, _ = pd.factorize(group)
        group = np.asarray(group, dtype=np.int64)
        n_groups = int(group.max()) + 1 if n else 0
        first = np.full(n_groups, -1, dtype=np.int64)
        first[group[::-1]] = np.arange(n - 1, -1, -1)
        counts = np.bincount(group, minlength=n_groups) if n else np.zeros(0, dtype=np.int64)

        values = {name: series.to_numpy(dtype=object) for name, series in columns.items()}

        def get(name: str, i: int) -> Any:
            array = values.get(name)
            return None if array is None else array[i]

        # distinct inputs repeat from chunk to chunk: their rows are kept (bounded) for the next chunks
        memo: dict[tuple[Any, ...], tuple[dict[str, Any], list[int]]] = self.__dict__.setdefault(
            "_frame_memo", {}
        )
        names = tuple(name for name in _KEY_INPUTS if name in values)
        # the raw cells of each group's first row, when all text, find an earlier chunk's answer without cleaning
        # them again (one memo per set of input columns)
        raw_memos: dict[tuple[str, ...], dict[tuple[Any, ...], Any]] = self.__dict__.setdefault(
            "_frame_raw_memo", {}
        )
        raw_memo = raw_memos.setdefault(names, {})
        cells = [values[name][first] for name in names]
        raws = list(zip(*cells, strict=True)) if cells else [()] * n_groups
        plain = np.ones(n_groups, dtype=bool)
        for column in cells:
            plain &= np.fromiter((v is None or type(v) is str for v in column), dtype=bool, count=n_groups)
        rows: list[dict[str, Any]] = [{}] * n_groups
        for g, (raw, is_plain) in enumerate(zip(raws, plain.tolist(), strict=True)):
            found = raw_memo.get(raw) if is_plain else None
            if found is None:
                i = int(first[g])
                key = (
                    cell_text(get("address", i)),
                    cell_text(get("old_province_name", i)),
                    cell_text(get("old_district_name", i)),
                    cell_text(get("old_commune_name", i)),
                    normalise_code(get("old_province_code", i), 2),
                    normalise_code(get("old_district_code", i), 3),
                    normalise_code(get("old_commune_code", i), 5),
                    cell_text(get("village", i)),
                    cell_text(get("source_system", i)),
                    cell_text(get("dossier_code", i)),
                )
                found = memo.get(key)
                if found is None:
                    res, rule_ids = self._resolve(*key)
                    found = (_frame_row(res), rule_ids)
                    if len(memo) < 200_000:
                        memo[key] = found
                if is_plain and len(raw_memo) < 200_000:
                    raw_memo[raw] = found
            row, rule_ids = found
            for r in rule_ids:
                self.rule_matches[r] += int(counts[g])
            rows[g] = row
        data = {}
        for name in FRAME_OUTPUTS:
            array = np.empty(n_groups, dtype=object)
            array[:] = [row[name] for row in rows]
            data[name] = pd.Series(array[group], index=df.index, dtype=object)
        return pd.DataFrame(data, index=df.index)


def _frame_row(res: Resolution) -> dict[str, Any]:
    unique = res.status == "unique"
    new = res.new[0] if unique and res.new else None
    return {
        "unit_status": res.status,
        "unit_method": res.method,
        "unit_relation": new.relation if new else None,
        "unit_candidates": json.dumps(
            [
                {"province_code": n.province_code, "commune_code": n.commune_code, "name": n.name}
                for n in res.new
            ],
            ensure_ascii=False,
        ),
        "unit_suggestions": json.dumps(res.suggestions, ensure_ascii=False),
        "unit_elsewhere": res.elsewhere,
        "old_province_code": res.old.province_code if res.old else None,
        "old_district_code": res.old.district_code if res.old else None,
        "old_commune_code": res.old.commune_code if res.old else None,
        "old_commune_name": res.old.name if res.old else None,
        "new_province_code": new.province_code if new else None,
        "new_commune_code": new.commune_code if new else None,
        "new_commune_name": new.name if new else None,
    }
