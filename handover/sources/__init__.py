"""Reading district exports: CSV/text, Excel (.xlsx/.xls) and SQL sources, as canonical chunks.

``open_source(cfg, chunk_size)`` checks a source up front (readable, header found, required column present,
data under it) and returns a reader with ``fingerprint``, ``chunks()`` and ``report`` (every decision taken:
encoding and its evidence, sheet, header row, column → field map, footer lines dropped, repairs). Given a
:class:`~handover.sources.snapshot.Snapshot`, the reader reads the private copy and names the original.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handover.config import SourceConfig
from handover.sources.base import SourceReader

if TYPE_CHECKING:
    from handover.sources.snapshot import Snapshot


def open_source(cfg: SourceConfig, chunk_size: int, snapshot: Snapshot | None = None) -> SourceReader:
    """A validated reader for one configured source; raises SourceError with file/row/column and a hint."""
    reader = _reader(cfg if snapshot is None else snapshot.config(cfg), chunk_size)
    if snapshot is not None:
        snapshot.attach(reader)
    return reader.open()


def _reader(cfg: SourceConfig, chunk_size: int) -> SourceReader:
    if cfg.kind == "csv":
        from handover.sources.csv_reader import CsvReader

        return CsvReader(cfg, chunk_size)
    if cfg.kind in ("xlsx", "xls"):
        from handover.sources.excel_reader import ExcelReader

        return ExcelReader(cfg, chunk_size)
    from handover.sources.sql_reader import SqlReader

    return SqlReader(cfg, chunk_size)


__all__ = ["SourceReader", "open_source"]
