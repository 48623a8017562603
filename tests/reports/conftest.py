"""Fixtures: a filled target database (see factory.py) and the reports generated from it once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from handover.reports import ReportPaths, write_reports
from tests.reports.factory import BATCH, build_target


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, ReportPaths, dict]]:
    """One target and its two reports, shared by the read-only tests of a module."""
    folder = tmp_path_factory.mktemp("reports")
    eng = create_engine(f"sqlite:///{folder / 'target.db'}")
    facts = build_target(eng)
    paths = write_reports(eng, BATCH, folder / "out")
    yield eng, paths, facts
    eng.dispose()
