"""One file per receiver: each receiving commune's and each provincial department's handover record, alone in
a workbook, ready to print and sign.

The files go to ``<batch>-bien-ban/`` beside the reconciliation workbook (:func:`records_dir`), one per receiver
(:func:`record_file_name`):

* ``<commune code>-<name>.xlsx`` for a new commune (``02902-xa-phong-hai.xlsx``): what the commune receives, the
  dossiers routed to a provincial department left out;
* ``<province code>-<department>.xlsx`` for a provincial department (``15-so-cong-thuong.xlsx``): the dossiers
  whose procedure the routing table sends to it (:func:`handover.exports.portal.routed_to_province`).

File names are ASCII (:func:`handover.text.ascii_slug`): they survive every file system, zip tool and mail
client. Each file holds the record sheet only (Vietnamese only); the English guide stays in the workbook. A file
an official edited is never written over (:mod:`handover.reports.keep`): the new one gets a versioned name.

A record is rendered once (:func:`handover.reports.workbook.record_sheets.record_sheet`), into a workbook: each
file is the receiver's sheet(s) copied out of the saved workbook (:func:`record_files_from`,
:class:`handover.reports.sheet_copy.SavedBook`), the same sheet parts and styles, so the file's cells are the
workbook's. :func:`handover.reports.write_reports` copies them from the reconciliation workbook it has just
written; :func:`write_record_files` renders a workbook of the record sheets only (a temporary file) and copies
them from it.

The file's sheet is named as a record sheet alone in a workbook would be (:func:`receiver_title` with no other
name taken: ``Xã Phong Hải 02902``, even where the reconciliation workbook had to add `` (2)`` to tell two
receivers apart). Continuation sheets (a record beyond Excel's row limit) keep the names they have in the
workbook they were rendered into, because the sheet before each one names it ("Danh sách tiếp tục ở trang tính
…"); should the first sheet's name then clash with one of them, the first sheet keeps its workbook name too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from handover.errors import writing
from handover.reports.queries.loaded import Commune, Department
from handover.reports.workbook.record_sheets import ReceiverSheets, receiver_title

__all__ = ["RecordFile", "record_file_name", "record_files_from", "records_dir", "write_record_files"]

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
    ``folder``, from the target database: the record sheets are rendered into a workbook of their own (a
    temporary file in ``folder``, removed after) and copied from it (:func:`record_files_from`). ``parties``:
    the ``[report.parties]`` settings (``None``: blanks)."""
    from handover.reports.workbook import UNWRITABLE_XLSX, render_workbook

    folder = Path(folder)
    with writing(folder, "the handover record", UNWRITABLE_XLSX):
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".handover-records-", suffix=".xlsx", dir=folder)
        os.close(fd)
    book = Path(name)
    try:
        receivers = render_workbook(engine, batch_id, book, parties=parties, records_only=True)
        return record_files_from(book, receivers, folder)
    finally:
        with suppress(OSError):
            book.unlink()


def record_files_from(workbook: Path, receivers: Sequence[ReceiverSheets], folder: Path) -> list[RecordFile]:
    """Write into ``folder`` the record file of each of ``receivers``, in that order: its sheets copied out of
    the saved ``workbook`` they were rendered into (:meth:`~handover.reports.sheet_copy.SavedBook.copy`). A
    file an official edited is kept and the new one gets a versioned name (:func:`handover.reports.keep.place`)."""
    from handover.reports.keep import edited_notice, place, record
    from handover.reports.sheet_copy import SavedBook
    from handover.reports.workbook import UNWRITABLE_XLSX, ZIP_LEVEL

    folder = Path(folder)
    written: list[RecordFile] = []
    with writing(folder, "the handover record", UNWRITABLE_XLSX):
        folder.mkdir(parents=True, exist_ok=True)
    with SavedBook(workbook) as book:
        for item in receivers:
            receiver = item.receiver
            placement = place(folder / record_file_name(receiver))
            with writing(placement.path, "the handover record", UNWRITABLE_XLSX):
                book.copy(
                    list(zip(item.sheets, file_sheet_names(item), strict=True)), placement.path, ZIP_LEVEL
                )
            record(placement.path)
            written.append(
                RecordFile(
                    receiver.code,
                    receiver.name,
                    item.kind,
                    receiver.dossiers,
                    receiver.records,
                    placement.path,
                    edited_notice(placement),
                )
            )
    return written


def file_sheet_names(item: ReceiverSheets) -> list[str]:
    """The names of a receiver's sheets in its record file: the first as alone in a workbook, continuation
    sheets as in the workbook they were rendered into (see the module's docstring)."""
    first, rest = receiver_title(item.receiver, set()), list(item.sheets[1:])
    if first.casefold() in {name.casefold() for name in rest}:
        first = item.sheets[0]
    return [first, *rest]
