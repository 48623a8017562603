"""The report queries that read the ledger once for several figures, and the record join, on every database:
the same numbers as one query per figure, each record found by its key."""

from __future__ import annotations

import re
import threading
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, func, insert, select

from handover.models import DISPOSITIONS, Counts
from handover.reports import write_reports
from handover.reports.queries.batch import (
    _UNIT_KEYS,
    Shared,
    _pk_index,
    ledger_tally,
    unit_lines,
)
from handover.reports.queries.loaded import receiving_communes
from handover.reports.queries.streams import CommuneRows, _record_select
from handover.target import schema
from handover.target.counts import ledger_counts
from tests.reports.factory import BATCH, BT, C1, C2, NOW, VB, _new, _old, build_target

_UNIT = _UNIT_KEYS  # the unit line's columns, in UnitLine order


def _ledger_row(source: str, row: int, disposition: str, unit: tuple, new: Any, batch: str = BATCH) -> dict:
    (district_code, district_name), code, name = unit
    return {
        **dict.fromkeys(c.name for c in schema.ledger.columns),
        "batch_id": batch,
        "source_id": source,
        "source_row": row,
        "entity": "dossier",
        "natural_key": f"K-{source}-{row}",
        "disposition": disposition,
        **_old((district_code, district_name), code, name),
        **_new(new),
    }


def _more_ledger(engine: Engine) -> None:
    """Unit lines shared by sources, NULL and '' in the same unit column, another batch."""
    rows = [
        _ledger_row("van_ban", 900, "loaded", (BT, "02938", "Xã Sơn Hà"), C1),
        _ledger_row("van_ban", 901, "review", (BT, "02938", "Xã Sơn Hà"), C1),
        _ledger_row("zz", 1, "duplicate", ((None, None), None, "Xã Lạ"), C2),
        _ledger_row("zz", 2, "duplicate", ((None, None), None, "Xã Lạ"), C2),
        _ledger_row("zz", 3, "excluded", ((None, ""), None, "Xã Lạ"), C2),
        _ledger_row("zz", 4, "excluded", (("", None), None, "Xã Lạ"), C2),
        _ledger_row("zz", 5, "quarantined", (VB, "03000", None), None),
        _ledger_row("bao_thang", 1, "loaded", (BT, "02938", "Xã Sơn Hà"), C1, batch="another-batch"),
    ]
    with engine.begin() as conn:
        conn.execute(insert(schema.ledger), rows)


def _one_query_per_figure(conn: Any, batch_id: str) -> tuple[dict[str, Counts], list[tuple]]:
    """The figures as the reports counted them before: one GROUP BY per figure."""
    lg = schema.ledger.c
    per_source: dict[str, dict[str, int]] = {}
    stmt = (
        select(lg.source_id, lg.disposition, func.count())
        .where(lg.batch_id == batch_id)
        .group_by(lg.source_id, lg.disposition)
    )
    for source, disposition, n in conn.execute(stmt):
        per_source.setdefault(source, {})[disposition] = int(n)
    keys = [lg[k] for k in _UNIT]
    per_unit: dict[tuple, dict[str, int]] = {}
    stmt = (
        select(*keys, lg.disposition, func.count())
        .where(lg.batch_id == batch_id)
        .group_by(*keys, lg.disposition)
    )
    for *key, disposition, n in conn.execute(stmt):
        per_unit.setdefault(tuple(key), {})[disposition] = int(n)

    def counts(parts: dict[str, int]) -> Counts:
        return Counts(extracted=sum(parts.values()), **{d: parts.get(d, 0) for d in DISPOSITIONS})

    sources = {s: counts(per_source[s]) for s in sorted(per_source)}
    units = [(key, counts(parts)) for key, parts in per_unit.items()]
    return sources, units


def test_ledger_tally_equals_one_query_per_figure(any_db_url: str) -> None:
    engine = create_engine(any_db_url)
    try:
        build_target(engine)
        _more_ledger(engine)
        with engine.connect() as conn:
            tally = ledger_tally(conn, BATCH)
            sources, units = _one_query_per_figure(conn, BATCH)
            assert ledger_counts(conn, BATCH) == tally.sources
            assert unit_lines(conn, BATCH) == tally.units
    finally:
        engine.dispose()
    assert tally.sources == sources
    assert list(tally.sources) == sorted(sources)
    got = [(tuple(getattr(u, k) for k in _UNIT), u.counts) for u in tally.units]
    assert sorted(got, key=repr) == sorted(units, key=repr)
    # a unit line of rows from two sources is one line
    keys = [tuple(getattr(u, k) for k in _UNIT) for u in tally.units]
    assert len(keys) == len(set(keys))
    # order: by codes and names, empty ones last; NULL before '' where only that tells two lines apart
    lost = [(u.old_district_code, u.old_district_name) for u in tally.units if u.old_commune_name == "Xã Lạ"]
    assert lost == [(None, None), (None, ""), ("", None)]
    assert tally.units[-1].old_commune_name == "Xã Lạ"


def test_sqlite_tally_reads_along_the_primary_key(engine: Engine) -> None:
    build_target(engine)
    with engine.connect() as conn:
        index = _pk_index(conn)
        assert index is not None
        plan = " ".join(
            str(r[-1])
            for r in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN SELECT count(*) FROM ledger INDEXED BY {index} "
                "WHERE batch_id = 'x' AND disposition = 'loaded'"
            )
        )
    assert index in plan


def _add_records(engine: Engine, n: int) -> list[tuple[str, str, str, str | None]]:
    """``n`` loaded records (numbers with '/', as civil-status books write them), a tenth held for review,
    and the same keys in another source with no ledger row → (source, type, number, new commune) loaded."""
    ledger_rows, record_rows, loaded = [], [], []
    for i in range(n):
        source = f"rec{i % 2}"
        kind = ("birth", "death", "marriage")[i % 3]
        number = f"{i}/2025/KS" if i % 3 else f"N{i:05d}"
        new = (C1, C2, None)[i % 3]
        disposition = "review" if i % 10 == 0 else "loaded"
        unit = _old(BT, "02938", "Xã Sơn Hà")
        ledger_rows.append(
            {
                **dict.fromkeys(c.name for c in schema.ledger.columns),
                "batch_id": BATCH,
                "source_id": source,
                "source_row": i,
                "entity": "record",
                "natural_key": f"{kind}/{number}",
                "content_hash": "x",
                "disposition": disposition,
                **unit,
                **_new(new),
            }
        )
        for system in (source, "elsewhere"):
            record_rows.append(
                {
                    **dict.fromkeys(c.name for c in schema.records.columns if c.name != "id"),
                    "source_system": system,
                    "record_type": kind,
                    "record_number": number,
                    "registered_date": date(2025, 1, 1),
                    **unit,
                    **_new(new),
                    "content_hash": "x",
                    "batch_id": BATCH,
                    "loaded_at": NOW,
                }
            )
        if disposition == "loaded":
            loaded.append((source, kind, number, new[0] if new else None))
    with engine.begin() as conn:
        conn.execute(insert(schema.ledger), ledger_rows)
        conn.execute(insert(schema.records), record_rows)
    return loaded


def test_records_are_found_by_their_key(any_db_url: str) -> None:
    engine = create_engine(any_db_url)
    try:
        build_target(engine)
        loaded = _add_records(engine, 600)
        with engine.connect() as conn:
            factory = {  # the factory's own loaded records (van_ban)
                (r[0], r[1], r[2])
                for r in conn.execute(
                    select(
                        schema.records.c.source_system,
                        schema.records.c.record_type,
                        schema.records.c.record_number,
                    ).where(schema.records.c.source_system == "van_ban")
                )
            }
            communes = {c.code: c.records for c in receiving_communes(conn, BATCH)}
            codes = list(communes)
            rows = CommuneRows(conn, BATCH, "record")
            try:
                found = [(r[1], r[2], r[3], r[0]) for c in codes for r in rows.rows(c)]
            finally:
                rows.close()
    finally:
        engine.dispose()
    ours = [(s, k, n, c) for s, k, n, c in found if s.startswith("rec")]
    assert sorted(ours, key=repr) == sorted(loaded, key=repr)
    assert {(s, k, n) for s, k, n, _ in found if not s.startswith("rec")} <= factory
    for code in (C1[0], C2[0], None):
        assert communes[code] == sum(1 for *_, c in found if c == code)


def test_sqlite_record_join_looks_records_up_by_their_whole_key(engine: Engine) -> None:
    build_target(engine)
    stmt = _record_select(BATCH)
    with engine.connect() as conn:
        sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
        plan = [str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    search = [p for p in plan if "records" in p]
    assert search and all("record_number=?" in p or "natural_key=?" in p for p in search), plan


def test_both_reports_read_the_shared_counts_once(engine: Engine, tmp_path) -> None:
    """The workbook and the HTML report show the same aggregates: each query runs once on the database."""
    build_target(engine)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    patterns = {
        "chunk_counts": r"sum\(chunks\.rows\).* FROM chunks ",
        "findings_per_check": r"FROM findings .*GROUP BY findings\.check_name",
        "ledger_tally": r"COUNT\(\*\) FROM ledger.* GROUP BY old_commune_code",
    }
    event.listen(engine, "before_cursor_execute", seen)
    try:
        write_reports(engine, BATCH, tmp_path)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    runs = {name: sum(bool(re.search(p, s)) for s in statements) for name, p in patterns.items()}
    assert runs == {"chunk_counts": 1, "findings_per_check": 1, "ledger_tally": 1}


def test_shared_runs_a_query_once_across_threads_and_again_after_a_failure() -> None:
    shared = Shared()
    runs: list[str] = []
    started, release = threading.Event(), threading.Event()

    def slow(conn: Any, batch_id: str) -> list[str]:
        runs.append(batch_id)
        started.set()
        release.wait(5)
        return [batch_id]

    got: list[Any] = []
    first = threading.Thread(target=lambda: got.append(shared.get(None, slow, "b")))  # type: ignore[arg-type]
    first.start()
    started.wait(5)
    second = threading.Thread(target=lambda: got.append(shared.get(None, slow, "b")))  # type: ignore[arg-type]
    second.start()
    release.set()
    first.join(5)
    second.join(5)
    assert runs == ["b"] and got == [["b"], ["b"]] and got[0] is got[1]
    assert shared.get(None, slow, "other") == ["other"]  # type: ignore[arg-type]

    failures = iter([RuntimeError("connection lost")])

    def flaky(conn: Any, batch_id: str) -> str:
        for exc in failures:
            raise exc
        return "ok"

    with pytest.raises(RuntimeError):
        shared.get(None, flaky, "b")  # type: ignore[arg-type]
    assert shared.get(None, flaky, "b") == "ok"  # type: ignore[arg-type]
