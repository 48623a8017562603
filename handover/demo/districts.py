"""Many districts' synthetic exports (the Văn Bàn CSV shape) and their batch configurations, for the
run-many tests and the national benchmark."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from handover.demo.batch import toml_table
from handover.demo.dossiers import make_dossiers
from handover.demo.reference import district_communes, split_communes, units_reference
from handover.demo.van_ban import VB_COLUMNS, write_van_ban
from handover.errors import ConfigError


@dataclass(frozen=True)
class DistrictExport:
    """One synthetic district export written by :func:`generate_district_exports`."""

    province_code: str
    province_name: str
    district_code: str
    district_name: str
    path: Path  # the CSV
    rows: int  # data rows written (planted exact duplicates included)


def districts_across_provinces(count: int, provinces: int = 5) -> list[tuple[str, str]]:
    """``count`` real old districts (province code, district code) of the unit reference, taken in turn from the
    first ``provinces`` provinces (by code) that have districts left: the same districts every time."""
    communes, _ = units_reference()
    by_province: dict[str, list[str]] = {}
    for c in communes:
        codes = by_province.setdefault(c.province_code, [])
        if c.district_code not in codes:
            codes.append(c.district_code)
    order = sorted(by_province)
    queues = {p: sorted(by_province[p]) for p in order}
    picked: list[tuple[str, str]] = []
    while len(picked) < count:
        active = [p for p in order if queues[p]][:provinces]
        if not active:
            raise ConfigError(f"The unit reference has {len(picked)} districts, fewer than {count}.")
        for province in active[: count - len(picked)]:
            picked.append((province, queues[province].pop(0)))
    return picked


def generate_district_exports(
    out_dir: Path, districts: list[tuple[str, str]], rows: int, seed: int = 7
) -> list[DistrictExport]:
    """Write a synthetic system export (the CSV shape of Văn Bàn's, :data:`VB_COLUMNS`) of ``rows`` pending
    dossiers for each (province code, district code) in ``districts``, with that district's real communes and
    the same share of planted problems as the demo, under ``out_dir/<district code>/ho-so-<district code>.csv``.
    Each district has its own random stream (``seed`` and its codes): the same arguments give the same bytes."""
    if rows < 1:
        raise ConfigError(f"rows must be at least 1 (got {rows}).")
    communes, targets = units_reference()
    written: list[DistrictExport] = []
    for province_code, district_code in districts:
        district = district_communes(communes, district_code, province_code)
        split = split_communes(communes, targets, district_code, province_code)
        rng = random.Random(f"{seed}:{province_code}:{district_code}")
        agency = f"000.00.{district_code[-2:]}.H{province_code}"
        dossiers = make_dossiers(rng, rows, district, split, agency, True)
        first = district[0]
        folder = Path(out_dir) / district_code
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"ho-so-{district_code}.csv"
        names = (province_code, district_code, first.district_name, first.province_name)
        write_van_ban(path, dossiers, rng, names)
        written.append(
            DistrictExport(
                province_code, first.province_name, district_code, first.district_name, path, len(dossiers)
            )
        )
    return written


def write_district_config(
    path: Path,
    export: DistrictExport,
    *,
    batch_id: str,
    target_url: str,
    chunk_size: int = 20_000,
    workers: int | str = "auto",
) -> Path:
    """Write the batch configuration of one district export of :func:`generate_district_exports` to ``path``
    (its source id ``ho-so-<district code>``, the export's path relative to the configuration's folder when
    it lies under it), reports under ``reports/`` beside it."""

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = Path(os.path.relpath(export.path, path.parent)).as_posix()
    workers_value = f'"{workers}"' if isinstance(workers, str) else str(workers)
    text = f"""\
# {export.district_name} ({export.district_code}), {export.province_name} ({export.province_code})

[batch]
id = "{batch_id}"
description = "{export.district_name} ({export.district_code}), {export.province_name}"
chunk_size = {chunk_size}
workers = {workers_value}

[target]
url = "{target_url}"
conflict_policy = "keep"

[thresholds]
max_error_share = 0.2
due_soon_days = 5
handover_date = "2025-07-01"

[report]
dir = "reports"

[[sources]]
id = "ho-so-{export.district_code}"
kind = "csv"
path = "{source}"
entity = "dossier"
delimiter = ","
profile = "dossier-vi"
old_province_code = "{export.province_code}"
old_district_code = "{export.district_code}"

[sources.columns]
{toml_table(VB_COLUMNS)}
"""
    path.write_text(text, encoding="utf-8")
    return path
