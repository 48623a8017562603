"""Fixtures of the unit tests: the shipped resolver, the raw statistics-office tables when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from handover.resources import shared_gso_dir

DATA = Path(__file__).resolve().parent / "data"
GSO = shared_gso_dir()
needs_gso = pytest.mark.skipif(
    not (GSO / "conversion_2025-07-01.csv").is_file(),
    reason=f"the raw statistics-office tables are not at {GSO} (an installed wheel has only mappings/units)",
)


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["HANDOVER_CACHE_DIR"] = str(tmp_path_factory.mktemp("handover-cache"))


@pytest.fixture(scope="session")
def resolver(_cache_dir: None):
    from handover.units import UnitResolver

    return UnitResolver.load()
