"""One file per receiver: each receiving commune's and each provincial department's handover record, alone in
a workbook, ready to print and sign.

The files go to ``<batch>-bien-ban/`` beside the reconciliation workbook (:func:`records_dir`), one per receiver
(:func:`record_file_name`):

* ``<commune code>-<name>.xlsx`` for a new commune (``02902-xa-phong-hai.xlsx``): what the commune receives, the
  dossiers routed to a provincial department left out;
* ``<province code>-<department>.xlsx`` for a provincial department (``15-so-cong-thuong.xlsx``): the dossiers
  whose procedure the routing table sends to it (:func:`handover.exports.portal.routed_to_province`).

File names are ASCII (:func:`handover.text.ascii_slug`): they survive every file system, zip tool and mail
client. Each file holds the record sheet only (Vietnamese only, the same layout as the workbook's record sheets:
:func:`handover.reports.workbook._commune_sheet`); the English guide stays in the workbook. A file an official
edited is never written over (:mod:`handover.reports.keep`): the new one gets a versioned name.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from handover.errors import ReportError
from handover.reports import queries as q

__all__ = ["RecordFile", "record_file_name", "records_dir", "write_record_files"]

RECORDS_DIR_SUFFIX = "-bien-ban"


@dataclass(frozen=True)
class RecordFile:
    """A receiver's record file: who receives, how many, where it was written, and the edited file kept there."""

    code: str | None
    name: str | None
    kind: str  # "commune" or "department"
    dossiers: int
    records: int
    path: Path
    notice: str | None = None


def records_dir(batch_id: str, out_dir: Path) -> Path:
    """The folder of a batch's record files: ``<out_dir>/<batch>-bien-ban``."""
    from handover.reports import batch_file_stem

    return Path(out_dir) / f"{batch_file_stem(batch_id)}{RECORDS_DIR_SUFFIX}"


def record_file_name(receiver: q.Commune | q.Department) -> str:
    """``02902-xa-phong-hai.xlsx`` for a commune (``khong-ma-…`` without a code), ``15-so-cong-thuong.xlsx`` for a
    department: ASCII only."""
    from handover.text import ascii_slug

    if isinstance(receiver, q.Department):
        return f"{receiver.code}.xlsx"
    return f"{receiver.code or 'khong-ma'}-{ascii_slug(receiver.name or 'chua-ro-xa')}.xlsx"


def write_record_files(engine: Engine, batch_id: str, folder: Path, parties: Any = None) -> list[RecordFile]:
    """Write the record file of each receiver of ``batch_id`` (communes by code, then departments) into
    ``folder``, from the target database. ``parties``: the ``[report.parties]`` settings (``None``: blanks)."""
    from handover.reports import workbook as w

    folder = Path(folder)
    written: list[RecordFile] = []
    with q.guarded("the handover records"), engine.connect() as conn, ExitStack() as stack:
        info = q.batch_info(conn, batch_id)
        # a later round of its sources: what it newly hands over, supplementary records (as the workbook's)
        signers = w.with_rounds(w.record_parties(info, parties), q.later_rounds(conn, batch_id))
        new_only = signers.new_only
        communes = q.receiving_communes(conn, batch_id, new_only=new_only)
        departments = q.receiving_departments(conn, batch_id, new_only=new_only)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unwritable(folder, exc) from exc
        dossier_rows, record_rows = stack.enter_context(
            q.commune_streams(engine, conn, batch_id, communes, new_only=new_only)
        )
        for commune in communes:
            written.append(_write_one(folder, commune, "commune", dossier_rows, record_rows, signers))
        routed = q.DepartmentRows(conn, batch_id, departments, new_only=new_only)
        for dept in departments:
            written.append(_write_one(folder, dept, "department", routed, routed, signers))
    return written


def _write_one(
    folder: Path,
    receiver: q.Commune | q.Department,
    kind: str,
    dossier_rows: Any,
    record_rows: Any,
    signers: Any,
) -> RecordFile:
    """One receiver's workbook: its record sheet(s) only."""
    from openpyxl import Workbook

    from handover.reports import workbook as w
    from handover.reports.keep import edited_notice, place, record

    placement = place(folder / record_file_name(receiver))
    wb = Workbook(write_only=True)
    st = w._Styles(wb)
    used: set[str] = set()
    if isinstance(receiver, q.Department):
        title = w.sheet_title(receiver.agency, receiver.province_code, used)
    else:
        title = w.sheet_title(receiver.name, receiver.code, used)
    try:
        w._commune_sheet(wb, dossier_rows, record_rows, signers, receiver, title, st, used)  # type: ignore[arg-type]
        for sheet in st.sheets:
            sheet.close()
        try:
            w._save(wb, placement.path)
        except OSError as exc:
            raise _unwritable(placement.path, exc) from exc
    except BaseException:
        w._discard(wb)
        raise
    record(placement.path)
    return RecordFile(
        receiver.code,
        receiver.name,
        kind,
        receiver.dossiers,
        receiver.records,
        placement.path,
        edited_notice(placement),
    )


def _unwritable(path: Path, exc: OSError) -> ReportError:
    return ReportError(
        f"Cannot write the handover record: {exc.strerror or exc}",
        file=str(path),
        hint="Choose a folder you can write to (--out), and close the file if it is open in Excel.",
    )
