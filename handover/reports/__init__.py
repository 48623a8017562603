"""Reports read back from the target database: the officials' workbook and the auditors' HTML report.

``write_reports(engine, batch_id, out_dir)`` writes both, and each receiver's handover record as a file of its
own; :mod:`handover.reports.workbook` and :mod:`handover.reports.html` write one each,
:mod:`handover.reports.records` the record files; :mod:`handover.reports.queries` holds the queries they share;
:mod:`handover.reports.keep` makes sure a report an official edited is never written over.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from handover.models import HandoverRound
    from handover.reports.records import RecordFile
    from handover.reports.workbook.record_sheets import ReceiverSheets

__all__ = ["ReportPaths", "read_rounds", "report_paths", "write_reports", "write_reports_from_url"]


class ReportPaths(NamedTuple):
    """The report files written for a batch."""

    workbook: Path
    html: Path
    notices: tuple[str, ...] = ()  # edited files kept, and the new file written instead of each
    records: tuple[RecordFile, ...] = ()  # each receiver's handover record file (records_dir)


def batch_file_stem(batch_id: str) -> str:
    """The batch id as the start of a file name: anything but letters, digits, ``.``, ``-`` and ``_`` becomes
    ``_`` (no path separator, no leading dot)."""
    return re.sub(r"[^\w.-]+", "_", batch_id).strip("._") or "batch"


def report_paths(batch_id: str, out_dir: Path) -> ReportPaths:
    """File names of a batch's reports: ``<batch>-doi-soat.xlsx`` and ``<batch>-transfer-report.html``."""
    safe = batch_file_stem(batch_id)
    out_dir = Path(out_dir)
    return ReportPaths(out_dir / f"{safe}-doi-soat.xlsx", out_dir / f"{safe}-transfer-report.html")


def write_reports(engine: Engine, batch_id: str, out_dir: Path, parties: Any = None) -> ReportPaths:
    """Write the workbook and the HTML report of ``batch_id`` into ``out_dir``, from the target database.

    The HTML report's queries run in a second thread while the workbook is written (the database works while
    Python renders rows); the HTML file is written after the workbook, as before. Not for an in-memory SQLite
    database, which a second thread would see empty. The counts both reports show (the ledger's, the chunks',
    the findings') are read once, by whichever report asks first (:class:`~handover.reports.queries.batch.Shared`).
    A file that differs from what the tool last wrote there (an official typed into it) is kept byte-identical
    and the report goes to a versioned name instead (:func:`handover.reports.keep.place`); the returned paths
    are the files written, and ``notices`` says which files were kept. ``parties``: the ``[report.parties]``
    settings printed on the handover records (``None``: blanks to fill by hand). The record files (in
    :func:`~handover.reports.records.records_dir`) are written after the workbook, each receiver's sheets copied
    out of it (:func:`handover.reports.records.record_files_from`): each record is rendered once.
    """
    from handover.reports.html import read_context, save_html
    from handover.reports.keep import edited_notice, place, record
    from handover.reports.queries.batch import Shared
    from handover.reports.workbook import render_workbook

    usual = report_paths(batch_id, out_dir)
    workbook, html = place(usual.workbook), place(usual.html)
    notices = tuple(n for n in (edited_notice(workbook), edited_notice(html)) if n)
    paths = ReportPaths(workbook.path, html.path, notices)
    shared = Shared()
    if not _shared_across_threads(engine):
        receivers = render_workbook(engine, batch_id, paths.workbook, shared, parties)
        record(paths.workbook)
        save_html(read_context(engine, batch_id, shared), paths.html)
        record(paths.html)
        return _with_records(batch_id, out_dir, receivers, paths)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="handover-html") as pool:
        context = pool.submit(read_context, engine, batch_id, shared)
        receivers = render_workbook(engine, batch_id, paths.workbook, shared, parties)
        record(paths.workbook)
        save_html(context.result(), paths.html)
        record(paths.html)
    return _with_records(batch_id, out_dir, receivers, paths)


def _with_records(
    batch_id: str, out_dir: Path, receivers: list[ReceiverSheets], paths: ReportPaths
) -> ReportPaths:
    """``paths`` with the record files written (copied out of the workbook just written), and their notices."""
    from handover.reports.records import record_files_from, records_dir

    files = tuple(record_files_from(paths.workbook, receivers, records_dir(batch_id, out_dir)))
    notices = paths.notices + tuple(f.notice for f in files if f.notice)
    return paths._replace(notices=notices, records=files)


def _shared_across_threads(engine: Engine) -> bool:
    """True when another thread's connection sees the same database (not so for in-memory SQLite)."""
    if engine.url.get_backend_name() != "sqlite":
        return True
    database = engine.url.database
    return bool(database) and database != ":memory:" and "mode=memory" not in str(engine.url)


def write_reports_from_url(db_url: str, batch_id: str, out_dir: Path, parties: Any = None) -> ReportPaths:
    """:func:`write_reports` for a database URL (what ``handover report`` calls)."""
    from handover.target.db import existing_target

    with existing_target(db_url) as engine:
        return write_reports(engine, batch_id, out_dir, parties)


def read_rounds(engine: Engine, batch_id: str) -> list[HandoverRound]:
    """The rounds of the batch's sources up to it (:func:`handover.reports.queries.rounds.handover_rounds`), with the
    number of each record issued (:func:`handover.reports.workbook.parties.round_record_number`); times in UTC."""
    from datetime import UTC, datetime

    from handover.models import HandoverRound, UnitHandover
    from handover.reports.queries.batch import guarded
    from handover.reports.queries.rounds import handover_rounds
    from handover.reports.workbook.parties import round_record_number

    def utc(when: object) -> datetime | None:
        if not isinstance(when, datetime):
            return None
        return when if when.tzinfo else when.replace(tzinfo=UTC)  # the target holds naive UTC

    with guarded("the batch's rounds"), engine.connect() as conn:
        rounds = handover_rounds(conn, batch_id)
    return [
        HandoverRound(
            batch_id=r.batch_id,
            status=r.status,
            started_at=utc(r.started_at),
            finished_at=utc(r.finished_at),
            dossiers=r.dossiers,
            records=r.records,
            units=[
                UnitHandover(
                    code=u.code,
                    name=u.name,
                    dossiers=u.dossiers,
                    records=u.records,
                    round=u.round,
                    record_number=round_record_number(u),
                )
                for u in r.units
            ],
        )
        for r in rounds
    ]
