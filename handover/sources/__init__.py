"""Reading district exports: CSV/text, Excel (.xlsx/.xls) and SQL sources, as canonical chunks.

``open_source(cfg, chunk_size)`` checks a source up front (readable, header found, required column present,
data under it) and returns a reader with ``fingerprint``, ``chunks()`` and ``report`` (every decision taken:
encoding and its evidence, sheet, header row, column → field map, footer lines dropped, repairs).
"""

from __future__ import annotations

from handover.config import SourceConfig
from handover.sources.base import SourceReader


def open_source(cfg: SourceConfig, chunk_size: int) -> SourceReader:
    """A validated reader for one configured source; raises SourceError with file/row/column and a hint."""
    if cfg.kind == "csv":
        from handover.sources.csv_reader import CsvReader

        return CsvReader(cfg, chunk_size).open()
    if cfg.kind in ("xlsx", "xls"):
        from handover.sources.excel_reader import ExcelReader

        return ExcelReader(cfg, chunk_size).open()
    from handover.sources.sql_reader import SqlReader

    return SqlReader(cfg, chunk_size).open()


__all__ = ["SourceReader", "open_source"]
