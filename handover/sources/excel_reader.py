"""Excel exports: ``.xlsx`` streamed by :mod:`handover.sources.xlsx_stream` (the published SpreadsheetML format;
cached formula values, hidden rows seen; lxml, and expat where lxml refuses a part); ``.xls`` through
python-calamine. Zip bombs, encrypted and damaged workbooks, and shared-strings parts out of proportion to the
sheets are refused before parsing; a row with a value past :data:`MAX_COLUMNS` columns is refused when read
(empty cells past a row's last value are not columns)."""

from __future__ import annotations

import weakref
import zipfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from handover.errors import SourceError
from handover.models import Chunk
from handover.sources import xlsx_stream
from handover.sources.base import RawRow, SourceReader
from handover.sources.cells import header_scan
from handover.sources.files import OLE_MAGIC, ZIP_MAGIC, check_regular_file, kind_findings
from handover.sources.headers import column_letter
from handover.text import fold

MAX_UNCOMPRESSED = 200 * 1024 * 1024  # bytes of XML a workbook may expand to
MAX_RATIO = 100  # uncompressed / compressed for one member (big enough for real sheets)
MAX_COLUMNS = 512  # columns up to a row's last value; past it the sheet is refused
SHARED_STRINGS_FLOOR = 16 * 1024 * 1024  # a shared-strings part below this is never refused
SHARED_STRINGS_RATIO = 20  # ... above it, at most this many times the worksheets' XML
_RATIO_FLOOR = 1024 * 1024  # tiny members may compress better than MAX_RATIO harmlessly


def check_zip_limits(path: Path, max_total: int | None = None, max_ratio: int | None = None) -> None:
    """Raise ValueError when the archive's declared sizes exceed the limits (the zip-bomb guard).

    zipfile never returns more than a member's declared size, so checking the directory is enough.
    """
    max_total = MAX_UNCOMPRESSED if max_total is None else max_total
    max_ratio = MAX_RATIO if max_ratio is None else max_ratio
    with zipfile.ZipFile(path) as zf:
        total = 0
        for info in zf.infolist():
            total += info.file_size
            if info.file_size > _RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
                raise ValueError(
                    f"member {info.filename} expands {info.file_size // max(info.compress_size, 1)}× "
                    f"({info.file_size / 1e6:.0f} MB)"
                )
        if total > max_total:
            raise ValueError(f"its parts expand to {total / 1e6:.0f} MB (limit {max_total / 1e6:.0f} MB)")


def check_shared_strings(path: Path, floor: int | None = None, ratio: int | None = None) -> None:
    """Raise ValueError when the shared-strings part is out of proportion to the worksheets that use it: over
    ``floor`` bytes and ``ratio`` times the worksheets' XML (read whole into memory, it would cost far more
    than the rows it serves)."""
    floor = SHARED_STRINGS_FLOOR if floor is None else floor
    ratio = SHARED_STRINGS_RATIO if ratio is None else ratio
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    strings = [i for i in infos if i.filename.lower().endswith("sharedstrings.xml")]
    size = sum(i.file_size for i in strings)
    sheets = sum(
        i.file_size
        for i in infos
        if i.filename.lower().startswith("xl/worksheets/") and i.filename.lower().endswith(".xml")
    )
    if size > floor and size > ratio * max(sheets, 1):
        raise ValueError(
            f"its shared-strings part ({strings[0].filename}) expands to {size / 1e6:,.1f} MB of text for "
            f"worksheets of {sheets / 1e6:,.3f} MB ({size // max(sheets, 1):,}×; a real export stays under "
            f"{ratio}×)"
        )


class ExcelReader(SourceReader):
    kind = "xlsx"
    gaps_are_blank = True  # rows a sheet does not store are empty rows
    book: xlsx_stream.XlsxBook | None = None  # the open .xlsx workbook

    def _check_file(self) -> bytes:
        path = self.cfg.path
        assert path is not None
        check_regular_file(path, self.cfg.id)
        with path.open("rb") as fh:
            magic = fh.read(8)
            fh.seek(0)
            ole = fh.read(1 << 16) if magic == OLE_MAGIC else b""
        if not magic:
            raise self.error(
                "The file is empty: it has no rows to read.",
                hint="Export the data again from the district system, or remove this source from the batch.",
            )
        if magic == OLE_MAGIC and "EncryptionInfo".encode("utf-16-le") in ole:
            raise self.error(
                "The workbook is password-protected (encrypted), so it cannot be read.",
                hint="Open it in Excel with the password, then save a copy without one "
                "(File → Info → Protect Workbook → Encrypt with Password → clear it) and use that copy.",
            )
        return magic

    def _prepare(self) -> None:
        magic = self._check_file()
        path = self.cfg.path
        assert path is not None
        if magic == OLE_MAGIC:  # whatever the name says: an .xls saved as .xlsx is read as .xls
            self.legacy = True
        elif magic[:4] == ZIP_MAGIC:
            self.legacy = False
        else:
            raise self.error(
                "The file is not an Excel workbook (it does not start like an .xlsx or .xls file).",
                hint='If it is a CSV or text export, set kind = "csv"; otherwise export it again from Excel.',
            )
        if self.legacy:
            self._open_calamine(path)
            self.report["encoding"] = "Excel 97–2003 (.xls, BIFF)"
            self.report["encoding_evidence"] = "OLE compound file; text cells are stored as Unicode"
        else:
            self._open_xlsx(path)
            self.report["encoding"] = "Unicode (Excel .xlsx)"
            self.report["encoding_evidence"] = (
                "Office Open XML: text is UTF-8 XML; cells checked for TCVN3/VNI"
            )

    def _build_columns(self, index: int, row_numbers: Any, columns: list[Any], clean: Any = None) -> Chunk:
        chunk = super()._build_columns(index, row_numbers, columns, clean)
        if index == 0:
            chunk.findings[:0] = kind_findings(self.report, self.cfg.id)
        return chunk

    def _choose_header(self, head: list[tuple[int, list[Any]]]) -> Any:
        return super()._choose_header(header_scan(head))

    # -- .xlsx ------------------------------------------------------------------------------------------------
    def _damaged(self, detail: str) -> Exception:
        return self.error(
            f"The workbook is damaged or incomplete and cannot be read ({detail}).",
            hint="Copy the file again (the copy may have been cut short), or open it in Excel and save it again.",
        )

    def _open_xlsx(self, path: Path) -> None:
        try:
            check_zip_limits(path)
        except zipfile.BadZipFile as exc:
            raise self._damaged("not a complete zip archive") from exc
        except ValueError as exc:
            raise self.error(
                f"The workbook is refused: {exc}, far beyond any real export (a 'zip bomb').",
                hint="Do not open this file; ask the district for a fresh export. A real workbook of "
                f"{MAX_UNCOMPRESSED // (1024 * 1024)} MB of data or more should be exported as CSV.",
            ) from exc
        try:
            check_shared_strings(path)
        except ValueError as exc:
            raise self.error(
                f"The workbook is refused: {exc}. Reading it would cost far more memory than its rows.",
                hint="Open it in Excel and save it again (Excel rebuilds the shared strings), or export the "
                "sheet as CSV.",
            ) from exc
        try:
            book = xlsx_stream.open_book(path)
        except Exception as exc:  # zipfile, the XML parsers or a missing part: the file is not whole
            raise self._damaged(f"{type(exc).__name__}: {exc}"[:160]) from exc
        self.book = book
        weakref.finalize(self, book.close)
        sheets = [(name, state == "visible") for name, state, _ in book.sheets]
        self.sheet_name = self._pick_sheet(sheets)
        self.sheet_part = next(part for name, _, part in book.sheets if name == self.sheet_name)

    def _pick_sheet(self, sheets: list[tuple[str, bool]]) -> str:
        if not sheets:
            raise self._damaged("no worksheet")
        self.report["sheets"] = [name for name, _ in sheets]
        hidden = [name for name, visible in sheets if not visible]
        if hidden:
            self.report["hidden_sheets"] = hidden
        if self.cfg.sheet:
            for name, _ in sheets:
                if name == self.cfg.sheet or fold(name) == fold(self.cfg.sheet):
                    self.report["sheet"] = name
                    return name
            raise self.error(
                f"The workbook has no sheet named '{self.cfg.sheet}'.",
                hint=f"Use one of: {', '.join(repr(n) for n, _ in sheets)}.",
                column="sheet",
            )
        for name, visible in sheets:
            if visible:
                self.report["sheet"] = name
                if hidden:
                    self.report["sheet_evidence"] = (
                        f"first visible sheet (hidden sheets skipped: {', '.join(hidden)})"
                    )
                else:
                    self.report["sheet_evidence"] = "first sheet"
                return name
        raise self.error(
            "Every sheet of the workbook is hidden.",
            hint='Name the sheet to read with sheet = "..." in the source config.',
        )

    def _rows(self) -> Iterator[RawRow]:
        if self.legacy:
            yield from self._rows_calamine()
            return
        assert self.book is not None
        done = 0
        try:
            for row in xlsx_stream.iter_sheet_rows(self.book, self.sheet_part, trim=True):
                if len(row[1]) > MAX_COLUMNS:
                    raise self._too_wide(row)
                yield row
                done += 1
        except (GeneratorExit, SourceError):
            raise
        except Exception:
            # lxml refused the sheet (damaged XML, or beyond libxml2's limits): expat reads it again from the
            # start and goes on after the rows already given (they are the same), or tells what is damaged
            yield from islice(self._rows_safe(), done, None)

    def _rows_safe(self) -> Iterator[RawRow]:
        assert self.book is not None
        try:
            for row in xlsx_stream.iter_sheet_rows(self.book, self.sheet_part, trim=True, safe=True):
                if len(row[1]) > MAX_COLUMNS:
                    raise self._too_wide(row)
                yield row
        except (GeneratorExit, SourceError):
            raise
        except Exception as exc:  # damaged sheet XML found while streaming
            detail = f"{type(exc).__name__}: {exc}"[:160]
            raise self._damaged(f"{detail}; sheet '{self.sheet_name}'") from exc

    def _too_wide(self, row: RawRow) -> SourceError:
        number, values, _ = row
        letter = column_letter(len(values) - 1)
        return self.error(
            f"Row {number} of sheet '{self.sheet_name}' has a value in column {letter} (column "
            f"{len(values):,}): no export uses more than {MAX_COLUMNS} columns, and reading that far costs "
            "time and memory for every row.",
            hint=f"Open the sheet and delete the stray cells right of the data (from column "
            f"{column_letter(MAX_COLUMNS)} on: select the columns → Delete), or export the data again.",
            row=number,
            column=letter,
        )

    # -- .xls -------------------------------------------------------------------------------------------------
    def _open_calamine(self, path: Path) -> None:
        import python_calamine

        try:
            if path.suffix.lower() == ".xls":
                self.cwb = python_calamine.CalamineWorkbook.from_path(str(path))
            else:  # calamine goes by the extension: the bytes decide here
                with path.open("rb") as fh:
                    self.cwb = python_calamine.CalamineWorkbook.from_filelike(fh)
        except Exception as exc:
            raise self._damaged(f"{type(exc).__name__}: {exc}"[:160]) from exc
        sheets = [(m.name, str(m.visible).lower().endswith("visible")) for m in self.cwb.sheets_metadata]
        self.sheet_name = self._pick_sheet(sheets)

    def _rows_calamine(self) -> Iterator[RawRow]:
        sheet = self.cwb.get_sheet_by_name(self.sheet_name)
        start_row, start_col = sheet.start if sheet.start else (0, 0)
        pad = [None] * start_col  # calamine starts at the first used column: keep letters as Excel shows
        for i, row in enumerate(sheet.iter_rows()):
            yield start_row + i + 1, pad + [None if v == "" else v for v in row], False
