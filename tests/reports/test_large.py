"""Memory stays flat in the number of rows: the workbook is streamed from the database (slow: marked)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine

from handover.reports.html import write_html
from handover.reports.workbook import write_workbook
from tests.reports.factory import BATCH, add_bulk_dossiers, build_target


def _peak_bytes(tmp_path: Path, n: int) -> tuple[int, Path]:
    engine = create_engine(f"sqlite:///{tmp_path / f'target_{n}.db'}")
    build_target(engine)
    add_bulk_dossiers(engine, BATCH, n)
    path = tmp_path / f"w_{n}.xlsx"
    tracemalloc.start()
    try:
        write_workbook(engine, BATCH, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        engine.dispose()
    return peak, path


@pytest.mark.slow
def test_workbook_memory_is_flat_in_rows(tmp_path: Path) -> None:
    small, _ = _peak_bytes(tmp_path, 500)
    large, path = _peak_bytes(tmp_path, 2_500)
    # five times the rows: the peak may not grow by more than a small constant
    print(f"peak {small:,} B for 500 rows, {large:,} B for 2,500 rows")
    assert large < small * 1.2 + 500_000, (small, large)
    ws = load_workbook(path, read_only=True)["Xã Bảo Thắng 02905"]
    numbered = sum(1 for r in ws.iter_rows(values_only=True) if r and isinstance(r[0], int))
    assert numbered == 2_500 + 3


@pytest.mark.slow
def test_html_with_many_rows(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    build_target(engine)
    add_bulk_dossiers(engine, BATCH, 5_000)
    html = write_html(engine, BATCH, tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'data-source="bulk_5000" data-table="ledger">' in html
    assert "verdict bad" in html  # the stored fingerprint no longer covers the added rows
    engine.dispose()
