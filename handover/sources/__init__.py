"""Reading district exports: CSV/text, Excel (.xlsx/.xls) and SQL sources, as canonical chunks.

``open_source(cfg, chunk_size)`` checks a source up front (a regular file, its format sniffed from its bytes
whatever its name or configured kind, readable, header found, required column present, data under it) and
returns a reader with ``fingerprint``, ``chunks()`` and ``report`` (every decision taken: file kind, encoding and
its evidence, sheet, header row, column → field map, footer lines dropped, repairs). Given a
:class:`~handover.sources.snapshot.Snapshot`, the reader reads the private copy and names the original.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handover.config import SourceConfig
from handover.sources.base import SourceReader

if TYPE_CHECKING:
    from handover.sources.snapshot import Snapshot


def open_source(cfg: SourceConfig, chunk_size: int, snapshot: Snapshot | None = None) -> SourceReader:
    """A validated reader for one configured source; raises SourceError with file/row/column and a hint.

    A file is read by the reader its content calls for (an .xls named .xlsx, a CSV named .xlsx ...); the
    mismatch is reported (``report["kind_warning"]``) and becomes a warning finding on the first chunk. With a
    ``snapshot`` (a regular file's private copy), the reader reads the copy and names the original."""
    reader: SourceReader
    if cfg.kind == "sql":
        from handover.sources.sql_reader import SqlReader

        return SqlReader(cfg, chunk_size).open()
    from handover.sources.files import check_regular_file, kind_mismatch, sniff_kind

    assert cfg.path is not None
    if snapshot is None:
        check_regular_file(cfg.path, cfg.id)
    read = cfg if snapshot is None else snapshot.config(cfg)
    assert read.path is not None
    found = sniff_kind(read.path)
    kind = found or cfg.kind
    if kind == "csv":
        from handover.sources.csv_reader import CsvReader

        reader = CsvReader(read, chunk_size)
    else:
        from handover.sources.excel_reader import ExcelReader

        reader = ExcelReader(read, chunk_size)
    if snapshot is not None:
        snapshot.attach(reader)
    note = kind_mismatch(cfg.path, cfg.kind, found) if found else None
    reader.report["kind"] = kind
    if note:
        reader.report["kind_warning"] = note
    return reader.open()


__all__ = ["SourceReader", "open_source"]
