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


def test_a_routed_dossier_goes_to_its_department_on_every_database(any_db_url: str, tmp_path: Path) -> None:
    """The receivers are grouped the same on every database: a dossier routed to a provincial department is on
    the department's record file, not on its commune's."""
    from sqlalchemy import and_, select, update

    from handover.target.schema import dossiers, ledger

    engine = create_engine(any_db_url)
    try:
        build_target(engine)
        d = dossiers.c
        with engine.begin() as conn:
            code, commune = conn.execute(
                select(d.dossier_code, d.new_commune_code)
                .join_from(ledger, dossiers, and_(ledger.c.natural_key == d.dossier_code))
                .where(
                    ledger.c.batch_id == BATCH, ledger.c.disposition == "loaded", ledger.c.entity == "dossier"
                )
                .order_by(d.dossier_code)
                .limit(1)
            ).one()
            conn.execute(
                update(dossiers)
                .where(d.dossier_code == code)
                .values(handling_level="province_dept", handling_agency="Sở Công Thương")
            )
        paths = write_reports(engine, BATCH, tmp_path)
    finally:
        engine.dispose()
    files = {f.path.name: f for f in paths.records}
    dept = files["15-so-cong-thuong.xlsx"]
    assert (dept.kind, dept.dossiers, dept.records) == ("department", 1, 0)
    listed = [
        r[1] for r in load_workbook(dept.path).active.iter_rows(values_only=True) if isinstance(r[0], int)
    ]
    assert listed == [code]
    own = next(f for f in paths.records if f.code == commune)
    assert (own.dossiers, own.records) == (EXPECTED_COMMUNES[commune][0] - 1, EXPECTED_COMMUNES[commune][1])
    numbered = [
        r[1] for r in load_workbook(own.path).active.iter_rows(values_only=True) if isinstance(r[0], int)
    ]
    assert code not in numbered and len(numbered) == own.dossiers + own.records
