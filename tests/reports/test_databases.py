"""Both reports from the same target on SQLite, PostgreSQL and MariaDB: same figures, same fingerprint."""

from __future__ import annotations

import re
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import create_engine

from handover.reports import write_reports
from tests.reports.factory import BATCH, EXPECTED_COMMUNES, EXPECTED_TOTAL, build_target


def test_reports_on_every_database(any_db_url: str, tmp_path: Path) -> None:
    engine = create_engine(any_db_url)
    try:
        facts = build_target(engine)
        paths = write_reports(engine, BATCH, tmp_path)
    finally:
        engine.dispose()
    wb = load_workbook(paths.workbook)
    communes = sorted(m.group(1) for s in wb.sheetnames if (m := re.search(r" (\d{5})$", s)))
    assert communes == sorted(EXPECTED_COMMUNES)
    for code, (n_dossiers, n_records) in EXPECTED_COMMUNES.items():
        ws = wb[next(s for s in wb.sheetnames if s.endswith(code))]
        numbered = [r for r in ws.iter_rows(values_only=True) if r and isinstance(r[0], int)]
        assert len(numbered) == n_dossiers + n_records
    review = [r for r in wb["Cần xem xét"].iter_rows(values_only=True) if r and isinstance(r[0], int)]
    assert len(review) == EXPECTED_TOTAL["review"]
    html = paths.html.read_text(encoding="utf-8")
    assert f'id="fp-recomputed">{facts["fingerprint"]}<' in html
    assert "verdict ok" in html
    total = re.search(r'data-source="TOTAL" data-table="ledger">(.*?)</tr>', html, re.S).group(1)
    assert dict(re.findall(r'data-count="(\w+)">(\d+)<', total)) == {
        k: str(v) for k, v in EXPECTED_TOTAL.items()
    }
