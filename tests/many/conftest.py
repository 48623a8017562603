"""One small Dask cluster for the run-many tests (2 worker processes, 1 thread each, no dashboard), started once
per test process, and the synthetic exports of 6 real districts of 3 provinces (~100 dossiers each)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from handover.demo.districts import (
    DistrictExport,
    districts_across_provinces,
    generate_district_exports,
    write_district_config,
)

ROWS = 100
CHUNK = 50  # 3 chunks a batch: a worker killed after the first one's commit leaves a batch to resume


@pytest.fixture(scope="session")
def dask_scheduler() -> Iterator[str]:
    """The address of a local cluster of 2 worker processes, as `run-many --jobs 2` starts one."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # no dashboard; its HTTP server (health) on a free port
        scheduler_kwargs={"dashboard": False},
        memory_limit=0,
        silence_logs=logging.ERROR,
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def district_exports(tmp_path_factory: pytest.TempPathFactory) -> list[DistrictExport]:
    folder = tmp_path_factory.mktemp("exports")
    return generate_district_exports(folder, districts_across_provinces(6, provinces=3), ROWS, seed=20)


def write_plan(plan_dir: Path, exports: list[DistrictExport], target_url: str, broken: bool = False) -> Path:
    """A plan folder as `handover plan` writes it: ``plan.toml`` (``[[batch]]`` entries) and one batch
    configuration per district under ``batches/``; ``broken`` adds a batch whose export is missing."""
    plan_dir.mkdir(parents=True, exist_ok=True)
    entries = list(exports)
    if broken:
        first = exports[0]
        entries.append(
            DistrictExport(
                first.province_code,
                first.province_name,
                "999",
                "Huyện Không Có",
                plan_dir / "missing" / "ho-so-999.csv",
                0,
            )
        )
    lines = ["[plan]", f'created_from = "{exports[0].path.parent.parent}"', f'target = "{target_url}"', ""]
    for export in entries:
        batch_id = f"rm-{export.district_code}"
        write_district_config(
            plan_dir / "batches" / f"{batch_id}.toml",
            export,
            batch_id=batch_id,
            target_url=target_url,
            chunk_size=CHUNK,
        )
        lines += [
            "[[batch]]",
            f'batch_id = "{batch_id}"',
            f'config = "batches/{batch_id}.toml"',
            f'province_code = "{export.province_code}"',
            f'district_code = "{export.district_code}"',
            f'district_name = "{export.district_name}"',
            "",
        ]
    lines += ["[[undecided]]", 'path = "exports/ghi-chu.docx"', 'reason = "no district named"', ""]
    (plan_dir / "plan.toml").write_text("\n".join(lines), encoding="utf-8")
    return plan_dir
