"""The commune sheets rendered by worker processes (the path of large batches, forced here on a small one) make
the same workbook as the in-process path; a failing worker is a clear ReportError."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, create_engine

from handover.errors import ReportError
from handover.reports import workbook
from tests.reports.factory import BATCH, C1, C3, add_bulk_dossiers, build_target


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("parallel")
    engine = create_engine(f"sqlite:///{folder / 'target.db'}")
    build_target(engine)
    add_bulk_dossiers(engine, BATCH, 300, commune=C1)
    add_bulk_dossiers(engine, BATCH, 120, commune=C3)
    yield engine, folder
    engine.dispose()


def _write(
    engine: Engine, path: Path, parallel: bool, monkeypatch: pytest.MonkeyPatch, batch_id: str = BATCH
) -> Path:
    with monkeypatch.context() as m:
        m.setattr(workbook, "PARALLEL_MIN_ROWS", 0 if parallel else 10**12)
        m.setattr(workbook, "PARALLEL_WORKERS", 2)
        if parallel:  # the parallel path is really taken
            calls: list[int] = []
            real = workbook._Parallel.attach

            def attach(self: Any, *args: Any) -> Any:
                calls.append(1)
                return real(self, *args)

            m.setattr(workbook._Parallel, "attach", attach)
        workbook.write_workbook(engine, batch_id, path)
        assert not parallel or calls
    return path


def _cells(path: Path) -> dict[str, Any]:
    """Every sheet's cells with value and style as openpyxl reads them back, merged ranges and print titles."""
    wb = load_workbook(path)
    out: dict[str, Any] = {}
    for ws in wb.worksheets:
        cells = []
        for row in ws.iter_rows():
            for c in row:
                if c.value is None and not c.has_style:
                    continue
                f = c.font
                cells.append(
                    (
                        c.coordinate,
                        c.value,
                        c.data_type,
                        c.number_format,
                        c.quotePrefix,
                        (f.b, f.i, f.sz, f.u, f.color.rgb if f.color is not None else None),
                        c.fill.fgColor.rgb if c.fill is not None else None,
                        c.border.left.style if c.border.left is not None else None,
                        (c.alignment.horizontal, c.alignment.vertical, c.alignment.wrap_text),
                    )
                )
        heights = {i: d.height for i, d in ws.row_dimensions.items() if d.height}
        out[ws.title] = (
            cells,
            sorted(str(r) for r in ws.merged_cells.ranges),
            ws.print_title_rows,
            heights,
            ws.page_setup.orientation,
        )
    return out


def test_parallel_workbook_equals_the_in_process_one(target, tmp_path: Path, monkeypatch) -> None:
    engine, _ = target
    here = _write(engine, tmp_path / "here.xlsx", False, monkeypatch)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the workers' parts go
    there = _write(engine, tmp_path / "there.xlsx", True, monkeypatch)
    assert not list(scratch.iterdir())  # the temporary folder is gone
    a, b = _cells(here), _cells(there)
    assert list(a) == list(b)
    # summary, 3 communes, review (+ its hidden lists), quarantine, conflicts, findings, non-data rows, guide
    assert len(a) == 11
    for title in a:
        assert a[title] == b[title], title
    numbered = [r for r in load_workbook(there)["Xã Bảo Thắng 02905"].iter_rows(values_only=True)]
    assert sum(1 for r in numbered if isinstance(r[0], int)) == 3 + 300
    # the style ids are fixed up front: every part but the timestamps is the same, byte for byte
    with zipfile.ZipFile(here) as za, zipfile.ZipFile(there) as zb:
        assert zb.testzip() is None
        assert za.namelist() == zb.namelist()
        for name in za.namelist():
            if name != "docProps/core.xml":
                assert za.read(name) == zb.read(name), name


def test_small_batches_stay_in_process(target, tmp_path: Path, monkeypatch) -> None:
    engine, _ = target

    def boom(*args: Any) -> None:
        raise AssertionError("no worker processes for a small batch")

    monkeypatch.setattr(workbook, "_Parallel", boom)
    workbook.write_workbook(engine, BATCH, tmp_path / "w.xlsx")  # 430 rows < PARALLEL_MIN_ROWS


def _raises(*args: Any) -> None:
    raise RuntimeError("disk on fire")


def _dies(*args: Any) -> None:
    os._exit(3)


def _report_error(*args: Any) -> None:
    raise ReportError("Cannot read the loaded rows from the target database: boom", hint="check it")


@pytest.mark.parametrize(
    ("worker", "message"),
    [
        (_raises, "A worker process writing the commune sheets failed: RuntimeError: disk on fire"),
        (_dies, "stopped unexpectedly"),
        (_report_error, "Cannot read the loaded rows from the target database: boom"),
    ],
)
def test_a_failing_worker_is_a_report_error(target, tmp_path: Path, monkeypatch, worker, message) -> None:
    engine, _ = target
    monkeypatch.setattr(workbook, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(workbook, "PARALLEL_WORKERS", 2)
    monkeypatch.setattr(workbook, "_render_share", worker)  # pickled by name: the worker runs it
    with pytest.raises(ReportError) as info:
        workbook.write_workbook(engine, BATCH, tmp_path / "w.xlsx")
    assert message in info.value.message
    assert info.value.hint
    assert not (tmp_path / "w.xlsx").exists()


def test_in_memory_sqlite_stays_in_process(monkeypatch) -> None:
    assert workbook._parallel_workers(create_engine("sqlite://"), 3) == 0
    file_engine = create_engine("sqlite:////tmp/x.db")
    assert workbook._parallel_workers(file_engine, 3) == min(3, workbook._cpus())
    assert workbook._parallel_workers(file_engine, 1) == 0


def test_shares_are_balanced_and_ordered() -> None:
    sizes = {"00005": 100, None: 5, "00001": 60, "00003": 50, "00002": 1, "00004": 40}
    shares = workbook._shares(sizes, 2)
    assert sorted(shares[0] + shares[1], key=workbook._code_order) == [
        "00001",
        "00002",
        "00003",
        "00004",
        "00005",
        None,
    ]
    assert all(s == sorted(s, key=workbook._code_order) for s in shares)
    loads = [sum(sizes[c] for c in s) for s in shares]
    assert max(loads) - min(loads) <= 40


def test_a_commune_beyond_the_sheet_row_limit_is_made_in_process(target, tmp_path: Path, monkeypatch) -> None:
    """Continuation sheets are named after every sheet before them: such a workbook is made in-process."""
    engine, _ = target
    here = _write(engine, tmp_path / "here.xlsx", False, monkeypatch)
    monkeypatch.setattr(workbook, "MAX_SHEET_ROWS", 250)
    monkeypatch.setattr(workbook, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(workbook, "PARALLEL_WORKERS", 2)
    redone: list[bool] = []
    real = workbook._write_workbook

    def spy(*args: Any, parallel: bool) -> Path:
        redone.append(parallel)
        return real(*args, parallel=parallel)

    monkeypatch.setattr(workbook, "_write_workbook", spy)
    path = workbook.write_workbook(engine, BATCH, tmp_path / "w.xlsx")
    assert redone == [True, False]
    names = load_workbook(path).sheetnames
    assert "Xã Bảo Thắng (2) 02905" in names
    assert len(names) == len(load_workbook(here).sheetnames) + 1


def test_works_from_a_script_without_a_main_guard(target, tmp_path: Path) -> None:
    """The workers never import the caller's main module again (multiprocessing's "spawn" would run an
    unguarded script once more in each worker)."""
    import subprocess
    import sys

    engine, _ = target
    out = tmp_path / "w.xlsx"
    script = tmp_path / "script.py"
    script.write_text(
        "from sqlalchemy import create_engine\n"
        "from handover.reports import workbook\n"
        "workbook.PARALLEL_MIN_ROWS, workbook.PARALLEL_WORKERS = 0, 2\n"
        "called = []\n"
        "real = workbook._Parallel.attach\n"
        "workbook._Parallel.attach = lambda self, *a: called.append(1) or real(self, *a)\n"
        f"workbook.write_workbook(create_engine({str(engine.url)!r}), {BATCH!r}, {str(out)!r})\n"
        "assert called\n"
        "print('written')\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("written") == 1
    assert "Xã Bảo Thắng 02905" in load_workbook(out).sheetnames


def test_parallel_equals_in_process_on_every_database(any_db_url: str, tmp_path: Path, monkeypatch) -> None:
    """Workers open the database from its URL (password included) and read their share of the communes."""
    engine = create_engine(any_db_url)
    try:
        build_target(engine)
        add_bulk_dossiers(engine, BATCH, 40, commune=C3)
        here = _write(engine, tmp_path / "here.xlsx", False, monkeypatch)
        there = _write(engine, tmp_path / "there.xlsx", True, monkeypatch)
    finally:
        engine.dispose()
    assert _cells(here) == _cells(there)


def test_a_first_load_is_read_without_the_ledger(any_db_url: str, tmp_path: Path, monkeypatch) -> None:
    """A batch that inserted every row it loaded: the sheet writers read its rows by batch id, without joining
    the ledger; the same rows in the same order as through the ledger, and the same workbook as in process. A
    batch that found rows unchanged or in conflict reads through the ledger (by batch id it would miss them)."""
    from handover.reports import queries as q
    from handover.target.db import open_target
    from handover.target.loader import Loader
    from tests.target import factories as f

    other = {"new_commune_code": "02647", "new_commune_name": "Xã Gia Phú"}
    first = [f.dossier(f"H48-{i:04d}", **({} if i % 3 else other)) for i in range(30)]
    second = [*first[:10], f.dossier("H48-0010", phone="0999999999")]
    second += [f.dossier(f"H48-1{i:03d}") for i in range(5)]
    engine = open_target(any_db_url)
    try:
        for batch, rows in (("b1", first), ("b2", second)):
            loader = Loader(engine, batch)
            loader.begin_batch(batch, "c" * 64, [f.source()])
            loader.load_chunk(f.chunk(rows))
            loader.finish_batch({})
        with engine.connect() as conn:
            assert q.loads_are_inserts(conn, "b1") and not q.loads_are_inserts(conn, "b2")
            codes = sorted(q.commune_sizes(conn), key=lambda c: c or "\uffff")
            through = list(q.share_rows(conn, "b1", "dossier", codes))
            direct = list(q.share_rows(conn, "b1", "dossier", codes, inserts_only=True))
            assert [tuple(r) for r in direct] == [tuple(r) for r in through] and len(direct) == 30
            assert {r[0] for r in direct} == {"02905", "02647"}
            assert len(list(q.share_rows(conn, "b2", "dossier", codes))) == 16  # 10 unchanged, 1 kept, 5 new
            assert len(list(q.share_rows(conn, "b2", "dossier", codes, inserts_only=True))) == 5
        for batch in ("b1", "b2"):
            here = _write(engine, tmp_path / f"{batch}-here.xlsx", False, monkeypatch, batch)
            there = _write(engine, tmp_path / f"{batch}-there.xlsx", True, monkeypatch, batch)
            assert _cells(here) == _cells(there), batch
    finally:
        engine.dispose()
