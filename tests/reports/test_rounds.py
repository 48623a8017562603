"""Later rounds of the same sources: each batch's records list only what it newly handed over; a commune that
received an earlier record gets a supplement numbered after the first; rolled-back batches do not count; the first
batch's records do not change; Tổng hợp and the HTML report list the rounds. On SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, create_engine

from handover.reports import read_rounds, write_reports
from handover.reports.workbook import write_workbook
from tests.reports.factory import BATCH, C1, C2, C3, add_round, build_target

C4 = ("03103", "Xã Khánh Yên")
NEW_C1 = "000.00.53.H38-250606-0106"  # round 2, to a commune of round 1: supplement 1
NEW_C4 = "000.00.53.H38-250606-0107"  # round 2, to a commune new to the sources: its first record
LATER_C1 = "000.00.53.H38-250606-0108"  # round 4 (round 3 rolled back): supplement 2


def _rounds(engine: Engine) -> None:
    add_round(engine, "round-2", datetime(2025, 7, 8, 8, 0), [(NEW_C1, C1), (NEW_C4, C4)])
    add_round(engine, "round-3", datetime(2025, 7, 9, 8, 0), [], status="rolled_back")
    add_round(engine, "round-4", datetime(2025, 7, 10, 8, 0), [(LATER_C1, C1)], unchanged=4)


def _records(path: Path) -> dict[str, dict[str, Any]]:
    """Commune code → the record sheet's number, heading, line under it and listed keys (column B, numbered)."""
    wb = load_workbook(path, read_only=True)
    out = {}
    for name in wb.sheetnames:
        rows = [r for r in wb[name].iter_rows(values_only=True) if any(v is not None for v in r)]
        if len(rows) > 4 and str(rows[3][0] or "").startswith("BIÊN BẢN BÀN GIAO"):
            keys = [r[1] for r in rows if isinstance(r[0], int)]
            texts = [v for r in rows for v in r if isinstance(v, str)]
            out[name.rsplit(" ", 1)[1]] = {
                "number": rows[2][0],
                "title": rows[3][0],
                "under": rows[4][0],
                "keys": keys,
                "texts": texts,
            }
    wb.close()
    return out


def test_later_rounds_list_only_what_they_newly_hand_over(any_db_url: str, tmp_path: Path) -> None:
    engine = create_engine(any_db_url)
    try:
        build_target(engine)
        first_before = _records(write_workbook(engine, BATCH, tmp_path / "first-before.xlsx"))
        _rounds(engine)
        first_after = _records(write_workbook(engine, BATCH, tmp_path / "first-after.xlsx"))
        second = write_reports(engine, "round-2", tmp_path / "second")
        fourth = _records(write_workbook(engine, "round-4", tmp_path / "fourth.xlsx"))
        rounds = read_rounds(engine, "round-4")
    finally:
        engine.dispose()

    # the first batch's records are what they were
    assert sorted(first_before) == [C1[0], C2[0], C3[0]]
    assert first_after == first_before
    assert first_before[C1[0]]["number"] == f"Số: {BATCH}-{C1[0]}/BB-BGHS"

    # round 2: only its new dossiers (not the two it found unchanged), a supplement to C1, a first record to C4
    records = _records(second.workbook)
    assert {code: r["keys"] for code, r in records.items()} == {C1[0]: [NEW_C1], C4[0]: [NEW_C4]}
    c1 = records[C1[0]]
    assert c1["number"] == f"Số: {BATCH}-{C1[0]}/BB-BGHS-BS1"
    assert c1["title"] == "BIÊN BẢN BÀN GIAO BỔ SUNG HỒ SƠ ĐANG GIẢI QUYẾT"
    assert c1["under"].startswith(
        f"(Bổ sung lần thứ 1 cho Biên bản bàn giao số {BATCH}-{C1[0]}/BB-BGHS, lập ngày 01/07/2025)\n"
        "Dữ liệu của đợt chuyển giao round-2, chuyển lúc 15:00 ngày 08/07/2025 (giờ Việt Nam)"
    )
    assert (
        "Hai bên thống nhất bàn giao bổ sung 1 hồ sơ thủ tục hành chính đang giải quyết theo danh sách dưới "
        "đây:" in c1["texts"]
    )
    assert any(
        t.startswith("Biên bản này bổ sung và là bộ phận không tách rời của Biên bản") for t in c1["texts"]
    )
    c4 = records[C4[0]]
    assert (c4["number"], c4["title"]) == (
        f"Số: round-2-{C4[0]}/BB-BGHS",
        "BIÊN BẢN BÀN GIAO HỒ SƠ ĐANG GIẢI QUYẾT",
    )
    assert not any("bổ sung" in t for t in c4["texts"])
    html = second.html.read_text(encoding="utf-8")
    assert html.count('<tr data-batch="round-2">') == 2
    # round 1 from the sources of round 2 (bao_thang): C1 and C2 (C3's records came from van_ban)
    assert html.count(f'<tr data-batch="{BATCH}">') == 2

    # round 4: the rolled-back round 3 does not count; C1's second supplement
    assert {code: r["keys"] for code, r in fourth.items()} == {C1[0]: [LATER_C1]}
    assert fourth[C1[0]]["number"] == f"Số: {BATCH}-{C1[0]}/BB-BGHS-BS2"
    assert fourth[C1[0]]["under"].startswith(
        f"(Bổ sung lần thứ 2 cho Biên bản bàn giao số {BATCH}-{C1[0]}/BB-BGHS"
    )
    assert [(r.batch_id, r.dossiers, r.records) for r in rounds] == [
        (BATCH, 5, 0),  # from bao_thang
        ("round-2", 2, 0),
        ("round-4", 1, 0),
    ]
    assert [(u.code, u.round, u.record_number) for u in rounds[1].units] == [
        (C1[0], 2, f"{BATCH}-{C1[0]}/BB-BGHS-BS1"),
        (C4[0], 1, f"round-2-{C4[0]}/BB-BGHS"),
    ]
    assert rounds[0].finished_at is not None and rounds[0].finished_at.utcoffset().total_seconds() == 0


@pytest.fixture(scope="module")
def later(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("rounds")
    engine = create_engine(f"sqlite:///{folder / 'target.db'}")
    build_target(engine)
    _rounds(engine)
    yield engine, folder
    engine.dispose()


def test_the_summary_lists_a_later_round_with_its_records(later: Any) -> None:
    engine, folder = later
    one = write_workbook(engine, "round-2", folder / "one.xlsx")
    summary = load_workbook(one, read_only=True)["Tổng hợp"]
    lines = [r[:8] for r in summary.iter_rows(values_only=True) if len(r) > 7 and r[1] == "round-2"]
    assert lines == [
        (
            2,
            "round-2",
            "08/07/2025 15:01",
            f"{C1[0]} - {C1[1]}",
            1,
            0,
            "Bổ sung lần 1",
            f"{BATCH}-{C1[0]}/BB-BGHS-BS1",
        ),
        (
            2,
            "round-2",
            "08/07/2025 15:01",
            f"{C4[0]} - {C4[1]}",
            1,
            0,
            "Bàn giao",
            f"round-2-{C4[0]}/BB-BGHS",
        ),
        (2, "round-2", "08/07/2025 15:01", "Cộng lần 2: 2 biên bản", 2, 0, None, None),
    ]


def test_a_later_rounds_portal_file_carries_what_it_updated_its_notices_do_not(tmp_path: Path) -> None:
    """Round 2's portal export lists the dossiers it newly handed over and those it updated (the portal learns
    their new state); its notices only the newly handed-over ones (an applicant is told of the move once)."""
    from handover.exports.portal import iter_loaded_dossiers

    engine = create_engine(f"sqlite:///{tmp_path / 'rounds.db'}")
    build_target(engine)
    add_round(engine, "round-2", datetime(2025, 7, 8, 8, 0), [(NEW_C1, C1), (NEW_C4, C4)], updated=1)
    with engine.connect() as conn:
        portal = [r["dossier_code"] for r in iter_loaded_dossiers(conn, "round-2")]
        notices = [r["dossier_code"] for r in iter_loaded_dossiers(conn, "round-2", updated=False)]
        first = [r["dossier_code"] for r in iter_loaded_dossiers(conn, BATCH)]
    engine.dispose()
    assert sorted(notices) == sorted([NEW_C1, NEW_C4])
    (changed,) = set(portal) - set(notices)
    assert (
        changed in first and len(portal) == 3
    )  # one of round 1's dossiers, updated; the unchanged one left out
