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
:func:`handover.reports.workbook.record_sheets.record_sheet`); the English guide stays in the workbook. A file an official
edited is never written over (:mod:`handover.reports.keep`): the new one gets a versioned name.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from handover.errors import writing
from handover.reports.queries.batch import batch_info, guarded
from handover.reports.queries.loaded import Commune, Department, receiving_communes, receiving_departments
from handover.reports.queries.rounds import later_rounds
from handover.reports.queries.streams import DepartmentRows, commune_streams

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


def record_file_name(receiver: Commune | Department) -> str:
    """``02902-xa-phong-hai.xlsx`` for a commune (``khong-ma-…`` without a code), ``15-so-cong-thuong.xlsx`` for a
    department: ASCII only."""
    from handover.text import ascii_slug

    if isinstance(receiver, Department):
        return f"{receiver.code}.xlsx"
    return f"{receiver.code or 'khong-ma'}-{ascii_slug(receiver.name or 'chua-ro-xa')}.xlsx"


def write_record_files(engine: Engine, batch_id: str, folder: Path, parties: Any = None) -> list[RecordFile]:
    """Write the record file of each receiver of ``batch_id`` (communes by code, then departments) into
    ``folder``, from the target database. ``parties``: the ``[report.parties]`` settings (``None``: blanks)."""
    from handover.reports.workbook import UNWRITABLE_XLSX
    from handover.reports.workbook.parties import record_parties, with_rounds

    folder = Path(folder)
    written: list[RecordFile] = []
    with guarded("the handover records"), engine.connect() as conn, ExitStack() as stack:
        info = batch_info(conn, batch_id)
        # a later round of its sources: what it newly hands over, supplementary records (as the workbook's)
        signers = with_rounds(record_parties(info, parties), later_rounds(conn, batch_id))
        new_only = signers.new_only
        communes = receiving_communes(conn, batch_id, new_only=new_only)
        departments = receiving_departments(conn, batch_id, new_only=new_only)
        with writing(folder, "the handover record", UNWRITABLE_XLSX):
            folder.mkdir(parents=True, exist_ok=True)
        dossier_rows, record_rows = stack.enter_context(
            commune_streams(engine, conn, batch_id, communes, new_only=new_only)
        )
        for commune in communes:
            written.append(_write_one(folder, commune, "commune", dossier_rows, record_rows, signers))
        routed = DepartmentRows(conn, batch_id, departments, new_only=new_only)
        for dept in departments:
            written.append(_write_one(folder, dept, "department", routed, routed, signers))
    return written


def _write_one(
    folder: Path,
    receiver: Commune | Department,
    kind: str,
    dossier_rows: Any,
    record_rows: Any,
    signers: Any,
) -> RecordFile:
    """One receiver's workbook: its record sheet(s) only."""
    from openpyxl import Workbook

    from handover.reports.keep import edited_notice, place, record
    from handover.reports.workbook import UNWRITABLE_XLSX, discard_xlsx, save_xlsx
    from handover.reports.workbook.record_sheets import record_sheet
    from handover.reports.workbook.sheet import Styles, sheet_title

    placement = place(folder / record_file_name(receiver))
    wb = Workbook(write_only=True)
    st = Styles(wb)
    used: set[str] = set()
    if isinstance(receiver, Department):
        title = sheet_title(receiver.agency, receiver.province_code, used)
    else:
        title = sheet_title(receiver.name, receiver.code, used)
    try:
        record_sheet(wb, dossier_rows, record_rows, signers, receiver, title, st, used)  # type: ignore[arg-type]
        for sheet in st.sheets:
            sheet.close()
        with writing(placement.path, "the handover record", UNWRITABLE_XLSX):
            save_xlsx(wb, placement.path)
    except BaseException:
        discard_xlsx(wb)
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
