"""Benchmark: resolve a column of N old addresses with ``resolve_frame`` vs a naive per-row loop.

The column is drawn (with repeats, as in real district exports) from every commune of the reference written in
three ways (official, no diacritics, abbreviated). The naive baseline calls ``resolve`` row by row on a sample
and is extrapolated to N; both are measured in the same run. Prints one JSON object.

    python benchmarks/resolver_bench.py --rows 1000000
"""

from __future__ import annotations

import argparse
import csv
import json
import time

import numpy as np
import pandas as pd

from handover.resources import mappings_dir
from handover.text import fold
from handover.units import UnitResolver


def address_pool() -> list[str]:
    """Every old commune, written three ways."""
    pool = []
    with (mappings_dir() / "units" / "old_units.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            commune, district, province = row["commune_name"], row["district_name"], row["province_name"]
            pool.append(f"{commune}, {district}, {province}")
            pool.append(f"{fold(commune)}, {fold(district)}, {fold(province)}")
            short = commune.replace("Phường ", "P. ").replace("Xã ", "X. ").replace("Thị trấn ", "TT. ")
            pool.append(f"{short}, {district.replace('Huyện ', 'H. ')}, {province.replace('Tỉnh ', '')}")
    return pool


def clear_caches() -> None:
    """Start each measurement cold: the text-key caches are shared by both paths."""
    from handover import text
    from handover.units import names

    for function in (text.fold, text.tone_key, names.name_variants, names.has_marks, names._cut):
        function.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the column (default 1,000,000)")
    parser.add_argument("--sample", type=int, default=20_000, help="rows the naive baseline resolves")
    parser.add_argument("--seed", type=int, default=20250701)
    args = parser.parse_args()

    pool = address_pool()
    rng = np.random.default_rng(args.seed)
    column = np.asarray(pool, dtype=object)[rng.integers(0, len(pool), size=args.rows)]
    df = pd.DataFrame({"address": column})

    started = time.perf_counter()
    resolver = UnitResolver.load()
    load_seconds = time.perf_counter() - started

    # Naive baseline first: resolve() row by row on a sample, every row resolved (no de-duplication).
    clear_caches()
    sample = df["address"].iloc[: args.sample].tolist()
    started = time.perf_counter()
    naive_status = [resolver.resolve(address).status for address in sample]
    naive_seconds = time.perf_counter() - started

    clear_caches()
    started = time.perf_counter()
    out = resolver.resolve_frame(df)
    frame_seconds = time.perf_counter() - started
    assert naive_status == out["unit_status"].iloc[: args.sample].tolist(), "the two paths disagree"

    frame_rate = args.rows / frame_seconds
    naive_rate = len(sample) / naive_seconds
    print(
        json.dumps(
            {
                "rows": args.rows,
                "distinct_addresses": int(df["address"].nunique()),
                "load_seconds": round(load_seconds, 3),
                "resolve_frame_seconds": round(frame_seconds, 3),
                "resolve_frame_lookups_per_s": round(frame_rate),
                "naive_sample_rows": len(sample),
                "naive_seconds": round(naive_seconds, 3),
                "naive_lookups_per_s": round(naive_rate),
                "naive_extrapolated_seconds": round(args.rows / naive_rate, 1),
                "speedup": round(frame_rate / naive_rate, 1),
                "status_counts": out["unit_status"].value_counts().to_dict(),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
