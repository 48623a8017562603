"""Reading district exports: CSV/text, Excel (.xlsx/.xls) and SQL sources, as canonical chunks.

``open_source(cfg, chunk_size)`` checks a source up front (a regular file, its format sniffed from its bytes
whatever its name or configured kind, readable, header found, required column present, data under it) and
returns a reader with ``fingerprint``, ``chunks()`` and ``report`` (every decision taken: file kind, encoding and
its evidence, sheet, header row, column → field map, footer lines dropped, repairs).
"""

from __future__ import annotations

from handover.config import SourceConfig
from handover.sources.base import SourceReader


def open_source(cfg: SourceConfig, chunk_size: int) -> SourceReader:
    """A validated reader for one configured source; raises SourceError with file/row/column and a hint.

    A file is read by the reader its content calls for (an .xls named .xlsx, a CSV named .xlsx ...); the
    mismatch is reported (``report["kind_warning"]``) and becomes a warning finding on the first chunk."""
    reader: SourceReader
    if cfg.kind == "sql":
        from handover.sources.sql_reader import SqlReader

        return SqlReader(cfg, chunk_size).open()
    from handover.sources.files import check_regular_file, kind_mismatch, sniff_kind

    assert cfg.path is not None
    check_regular_file(cfg.path, cfg.id)
    found = sniff_kind(cfg.path)
    kind = found or cfg.kind
    if kind == "csv":
        from handover.sources.csv_reader import CsvReader

        reader = CsvReader(cfg, chunk_size)
    else:
        from handover.sources.excel_reader import ExcelReader

        reader = ExcelReader(cfg, chunk_size)
    note = kind_mismatch(cfg.path, cfg.kind, found) if found else None
    reader.report["kind"] = kind
    if note:
        reader.report["kind_warning"] = note
    return reader.open()


__all__ = ["SourceReader", "open_source"]
