"""One handover record file per receiver on the demo: each receiving commune and each provincial department that
receives routed dossiers, each file listing exactly the target's loaded rows for that receiver (read back from
the database and from the file with openpyxl); an edited file is kept."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, and_, create_engine, select

from handover.exports.portal import iter_loaded_dossiers, routed_to_province
from handover.parties import PartiesConfig
from handover.pipeline.run import run_demo
from handover.reports import write_reports
from handover.reports.keep import sha256_of
from handover.reports.records import records_dir, write_record_files
from handover.target.schema import ledger, records
from handover.text import ascii_slug

BATCH = "demo-lao-cai-2025-07"
SECTION_DOSSIERS = "I. HỒ SƠ THỦ TỤC HÀNH CHÍNH ĐANG GIẢI QUYẾT"
SECTION_RECORDS = "II. HỒ SƠ, SỔ SÁCH ĐĂNG KÝ"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Path]:
    out = tmp_path_factory.mktemp("demo")
    result = run_demo(out, rows=150)
    engine = create_engine(f"sqlite:///{out / 'target.db'}")
    yield engine, Path(result.reports["records"])
    engine.dispose()


def _expected(engine: Engine) -> dict[str, tuple[Counter, Counter]]:
    """The target's loaded rows per receiver's file name: (dossier codes, record keys)."""
    out: dict[str, tuple[Counter, Counter]] = {}
    with engine.connect() as conn:
        for row in iter_loaded_dossiers(conn, BATCH):
            if routed_to_province(row):
                name = f"{row['new_province_code']}-{ascii_slug(row['handling_agency'])}.xlsx"
            else:
                name = f"{row['new_commune_code']}-{ascii_slug(row['new_commune_name'])}.xlsx"
            out.setdefault(name, (Counter(), Counter()))[0][row["dossier_code"]] += 1
        r = records.c
        loaded = select(r.new_commune_code, r.new_commune_name, r.record_type, r.record_number).join_from(
            ledger,
            records,
            and_(
                ledger.c.source_id == r.source_system,
                ledger.c.natural_key == r.record_type + "/" + r.record_number,
            ),
        )
        loaded = loaded.where(
            ledger.c.batch_id == BATCH, ledger.c.disposition == "loaded", ledger.c.entity == "record"
        )
        for code, name, kind, number in conn.execute(loaded):
            keys = out.setdefault(f"{code}-{ascii_slug(name)}.xlsx", (Counter(), Counter()))[1]
            keys[f"{kind}/{number}"] += 1
    return out


def _listed(path: Path) -> tuple[list[str], Counter, Counter]:
    """A record file's sheets, and the dossier codes and record numbers its sections list."""
    wb = load_workbook(path)
    dossiers: Counter = Counter()
    numbers: Counter = Counter()
    for ws in wb.worksheets:
        section = None
        for row in ws.iter_rows(values_only=True):
            first = row[0] if row else None
            if first in (SECTION_DOSSIERS, SECTION_RECORDS):
                section = first
            elif isinstance(first, int) and section:
                (dossiers if section == SECTION_DOSSIERS else numbers)[row[1]] += 1
            elif isinstance(first, str) and first.startswith("Cộng:"):
                section = None
    return wb.sheetnames, dossiers, numbers


def test_one_file_per_receiving_commune_and_department(demo) -> None:
    engine, folder = demo
    assert folder == records_dir(BATCH, folder.parent) and folder.name == f"{BATCH}-bien-ban"
    expected = _expected(engine)
    files = sorted(p.name for p in folder.glob("*.xlsx"))
    assert files == sorted(expected)
    assert all(re.fullmatch(r"[a-z0-9-]+\.xlsx", f) for f in files)  # ASCII names
    departments = [f for f in files if re.match(r"\d{2}-so-|\d{2}-van-phong", f)]
    assert len(departments) >= 2 and len(files) - len(departments) >= 5


def test_each_file_lists_exactly_its_receivers_loaded_rows(demo) -> None:
    engine, folder = demo
    expected = _expected(engine)
    routed: set[str] = set()
    with engine.connect() as conn:
        routed = {r["dossier_code"] for r in iter_loaded_dossiers(conn, BATCH) if routed_to_province(r)}
    assert routed
    for name, (dossiers, numbers) in expected.items():
        sheets, listed_dossiers, listed_records = _listed(folder / name)
        assert len(sheets) == 1, sheets  # the record only: no guide, no other sheet
        assert listed_dossiers == dossiers, name
        assert sum(listed_records.values()) == sum(numbers.values()), name
        assert Counter(key.split("/", 1)[1] for key in numbers.elements()) == listed_records, name
        if re.match(r"\d{5}-", name):  # a commune's record
            assert not routed & set(listed_dossiers), name  # no routed dossier on a commune's record
        else:
            assert set(listed_dossiers) <= routed and not listed_records


def test_department_record_heading_and_representative(demo, tmp_path: Path) -> None:
    engine, _ = demo
    parties = PartiesConfig.model_validate(
        {
            "place": "Lào Cai",
            "receiving": {"name": "", "position": "Chủ tịch Ủy ban nhân dân"},
            "departments": {" Sở Công  Thương": {"name": "Trần Văn Bình", "position": "Giám đốc Sở"}},
        }
    )
    files = {f.path.name: f for f in write_record_files(engine, BATCH, tmp_path, parties)}
    dept = files["15-so-cong-thuong.xlsx"]
    assert dept.kind == "department" and dept.dossiers > 0 and dept.records == 0
    text = [v for row in load_workbook(dept.path).active.iter_rows(values_only=True) for v in row if v]
    assert f"Số: {BATCH}-15-so-cong-thuong/BB-BGHS" in text
    assert "BÊN NHẬN: Sở Công Thương, Tỉnh Lào Cai" in text
    assert "Đại diện: Ông/Bà Trần Văn Bình     Chức vụ: Giám đốc Sở" in text
    assert "Trần Văn Bình" in text and "Giám đốc Sở" in text  # under the signature caption
    assert (
        f"Hai bên thống nhất bàn giao {dept.dossiers} hồ sơ thủ tục hành chính đang giải quyết theo danh sách "
        "dưới đây:" in text
    )  # a department receives no registration records: the sentence does not count them
    other = next(f for name, f in files.items() if f.kind == "department" and name != dept.path.name)
    text = [v for row in load_workbook(other.path).active.iter_rows(values_only=True) for v in row if v]
    # no representative given for it: blanks to fill by hand (not the communes' default position)
    assert "Đại diện: Ông/Bà ……………………     Chức vụ: ……………………" in text
    assert "Chủ tịch Ủy ban nhân dân" not in text


def test_summary_says_which_receiver_got_how_many(demo) -> None:
    engine, folder = demo
    expected = _expected(engine)
    ws = load_workbook(folder.parent / f"{BATCH}-doi-soat.xlsx")["Tổng hợp"]
    rows = [r for r in ws.iter_rows(values_only=True)]
    start = next(i for i, r in enumerate(rows) if r[0] == "Loại") + 2
    table = {}
    for r in rows[start:]:
        if r[0] == "Cộng (total)":
            total = r
            break
        table[r[6]] = (r[0], r[4], r[5])
    assert set(table) == set(expected)
    for name, (dossiers, numbers) in expected.items():
        kind = "Sở, ngành tỉnh" if not re.match(r"\d{5}-", name) else "Xã, phường"
        assert table[name] == (kind, sum(dossiers.values()), sum(numbers.values()))
    assert total[4] + total[5] == sum(sum(d.values()) + sum(n.values()) for d, n in expected.values())


def test_an_edited_record_file_is_kept(demo, tmp_path: Path) -> None:
    engine, _ = demo
    out = tmp_path / "reports"
    first = write_reports(engine, BATCH, out)
    commune = next(f for f in first.records if f.kind == "commune")
    wb = load_workbook(commune.path)
    wb.active["L1"] = "đã ký"  # an official typed into it
    wb.save(commune.path)
    edited = sha256_of(commune.path)
    again = write_reports(engine, BATCH, out)
    assert sha256_of(commune.path) == edited
    new = next(f for f in again.records if f.code == commune.code and f.kind == "commune")
    assert new.path.name == commune.path.stem + " (2).xlsx" and new.path.exists()
    assert any(str(commune.path) in n and str(new.path) in n for n in again.notices)
    # the unedited files are written again in place
    assert all(
        f.path.parent == commune.path.parent and " (" not in f.path.name for f in again.records if f != new
    )


def test_the_department_sheets_follow_the_commune_sheets(demo, tmp_path: Path) -> None:
    from handover.reports.workbook import write_workbook

    engine, _ = demo
    sheets = load_workbook(write_workbook(engine, BATCH, tmp_path / "b.xlsx"), read_only=True).sheetnames
    assert "Sở Công Thương 15" in sheets and sheets.index("Sở Công Thương 15") > sheets.index(
        "Xã Phong Hải 02902"
    )


def _cells(ws) -> list[list[tuple]]:
    """A sheet's cells as read back: value, named style, number format, quote prefix, bold, fill colour."""
    return [
        [(c.value, c.style, c.number_format, c.quotePrefix, c.font.b, c.fill.fgColor.rgb) for c in row]
        for row in ws.iter_rows()
    ]


def _layout(ws) -> tuple:
    """What prints a sheet: print titles, row heights, merged ranges, page breaks, column widths, footer."""
    return (
        ws.print_title_rows,
        {n: d.height for n, d in ws.row_dimensions.items() if d.height},
        sorted(str(r) for r in ws.merged_cells.ranges),
        [b.id for b in ws.row_breaks.brk],
        {k: d.width for k, d in ws.column_dimensions.items()},
        ws.oddFooter.center.text,
        ws.page_setup.orientation,
    )


def test_the_workbook_holds_the_same_records(demo) -> None:
    """Each record file's sheet is the reconciliation workbook's sheet of that receiver, cell for cell (values,
    style names, number formats) and as printed (print titles, heights, merges, page breaks)."""
    _, folder = demo
    book = load_workbook(folder.parent / f"{BATCH}-doi-soat.xlsx")
    files = sorted(folder.glob("*.xlsx"))
    for path in files:
        ws = load_workbook(path).worksheets[0]
        assert ws.print_title_rows == "$13:$13", path  # the column header repeats on every printed page
        assert _cells(ws) == _cells(book[ws.title]), path
        assert _layout(ws) == _layout(book[ws.title]), path
    assert any(load_workbook(p).worksheets[0].row_breaks.brk for p in files)  # records of several pages
    records = [t for t in book.sheetnames if re.search(r" \d{2}$| \d{5}$", t)]
    assert len(records) == len(files)
    assert not list(folder.glob(".handover-records-*"))  # no temporary workbook left


def test_a_record_beyond_the_row_limit_keeps_its_continuation_sheets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record continued on more sheets: its file holds every sheet, named as in the workbook (the note at the
    end of a sheet names the next), each as the workbook's; the standalone writer writes the same cells."""
    from handover.reports.workbook import record_sheets
    from tests.reports.factory import BATCH as FIRST
    from tests.reports.factory import C2, add_bulk_dossiers, build_target

    engine = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    try:
        build_target(engine)
        add_bulk_dossiers(engine, FIRST, 100, commune=C2)
        monkeypatch.setattr(record_sheets, "MAX_SHEET_ROWS", 60)  # instead of Excel's 1,048,576
        paths = write_reports(engine, FIRST, tmp_path / "out")
        alone = write_record_files(engine, FIRST, tmp_path / "alone")
    finally:
        engine.dispose()
    assert [f.path.name for f in alone] == [f.path.name for f in paths.records]
    assert [(f.code, f.kind, f.dossiers, f.records) for f in alone] == [
        (f.code, f.kind, f.dossiers, f.records) for f in paths.records
    ]
    file = next(f for f in paths.records if f.code == C2[0])
    wb, book = load_workbook(file.path), load_workbook(paths.workbook)
    names = ["Xã Phong Hải 02935", "Xã Phong Hải (2) 02935"]
    assert wb.sheetnames[:2] == names and all(n in book.sheetnames for n in wb.sheetnames)
    texts = [c for r in wb[names[0]].iter_rows(values_only=True) for c in r if isinstance(c, str)]
    assert any(f"tiếp tục ở trang tính “{names[1]}”" in t for t in texts)
    other = load_workbook(next(f for f in alone if f.code == C2[0]).path)
    assert other.sheetnames == wb.sheetnames
    for name in wb.sheetnames:
        assert wb[name].print_title_rows, name
        assert _cells(wb[name]) == _cells(book[name]) == _cells(other[name]), name
        assert _layout(wb[name]) == _layout(book[name]) == _layout(other[name]), name
    assert not list((tmp_path / "alone").glob(".handover-records-*"))


def test_a_later_round_supplements_the_department_record(tmp_path: Path) -> None:
    """A later round's record files list only what it newly hands over; a department that received a record in
    the first round gets a supplement numbered after it, and the rounds count the routed dossier to it."""
    from datetime import datetime

    from sqlalchemy import update

    from handover.reports import read_rounds
    from handover.target.schema import dossiers
    from tests.reports.factory import BATCH as FIRST
    from tests.reports.factory import C1, add_round, build_target

    new_routed, new_own = "000.00.53.H38-250606-0112", "000.00.53.H38-250606-0113"
    engine = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    try:
        build_target(engine)
        add_round(engine, "round-2", datetime(2025, 7, 8, 8, 0), [(new_routed, C1), (new_own, C1)])
        with engine.begin() as conn:
            first = conn.execute(
                select(dossiers.c.dossier_code)
                .where(dossiers.c.batch_id == FIRST)
                .order_by(dossiers.c.id.desc())
            ).first()[0]
            conn.execute(
                update(dossiers)
                .where(dossiers.c.dossier_code.in_([first, new_routed]))
                .values(handling_level="province_dept", handling_agency="Sở Công Thương")
            )
        one = {f.path.name: f for f in write_record_files(engine, FIRST, tmp_path / "one")}
        two = {f.path.name: f for f in write_record_files(engine, "round-2", tmp_path / "two")}
        rounds = read_rounds(engine, "round-2")
    finally:
        engine.dispose()
    assert _listed(one["15-so-cong-thuong.xlsx"].path)[1] == Counter([first])
    assert sorted(two) == ["02905-xa-bao-thang.xlsx", "15-so-cong-thuong.xlsx"]
    assert _listed(two["15-so-cong-thuong.xlsx"].path)[1] == Counter([new_routed])
    assert _listed(two["02905-xa-bao-thang.xlsx"].path)[1] == Counter([new_own])
    texts = [
        v
        for r in load_workbook(two["15-so-cong-thuong.xlsx"].path).active.iter_rows(values_only=True)
        for v in r
    ]
    assert f"Số: {FIRST}-15-so-cong-thuong/BB-BGHS-BS1" in texts
    assert "BIÊN BẢN BÀN GIAO BỔ SUNG HỒ SƠ ĐANG GIẢI QUYẾT" in texts
    units = {u.code: (u.dossiers, u.round) for u in rounds[-1].units}
    assert units == {C1[0]: (1, 2), "15-so-cong-thuong": (1, 2)}


def test_department_rows_from_one_query_are_each_departments_own_query(demo) -> None:
    """The departments' dossiers read from one query ordered by department are, department by department, the
    rows of the department's own query (what a department asked for out of order gets), and its loaded rows."""
    from handover.reports.queries.loaded import receivers
    from handover.reports.queries.streams import DepartmentRows

    engine, _ = demo
    expected = _expected(engine)
    with engine.connect() as conn:
        _, departments = receivers(conn, BATCH)
        assert len(departments) >= 2
        in_order = DepartmentRows(conn, BATCH, departments)
        streamed = {d.code: list(in_order.rows(d.code)) for d in departments}
        in_order.close()
        backwards = DepartmentRows(conn, BATCH, departments)
        own = {d.code: list(backwards.rows(d.code)) for d in reversed(departments)}
        backwards.close()
    assert streamed == own
    for dept in departments:
        assert streamed[dept.code], dept.code
        assert Counter(row[2] for row in streamed[dept.code]) == expected[f"{dept.code}.xlsx"][0]
