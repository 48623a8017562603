"""Fixtures of the unit tests: the shipped resolver, the statistics office's raw tables (``data/gso/``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from handover.resources import gso_dir

DATA = Path(__file__).resolve().parent / "data"
GSO = gso_dir()


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["HANDOVER_CACHE_DIR"] = str(tmp_path_factory.mktemp("handover-cache"))


@pytest.fixture(scope="session")
def resolver(_cache_dir: None):
    from handover.units import UnitResolver

    return UnitResolver.load()
