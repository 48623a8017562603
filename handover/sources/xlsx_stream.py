"""Fast streaming of ``.xlsx`` sheets with ``lxml.etree.iterparse``, value for value what openpyxl gives.

openpyxl's read-only mode costs ~17 µs per cell (its row parser builds a dict per cell in Python) and, at
``load_workbook``, parses every sheet once through to find its size when the sheet has no ``<dimension>``.
This module keeps openpyxl for the small structural parts (content types, workbook.xml and its rels, styles,
defined names: so sheet names, states, the 1904 flag and the date-styled ``cellXfs`` indexes are decided by
openpyxl itself) but skips the size scan, reads the shared-strings table with lxml, and streams ``<row>``
elements with lxml, converting cells exactly like ``openpyxl.worksheet._reader.WorkSheetParser.parse_cell``
with ``data_only=True``. Rich text (``<r>`` runs) is handed to openpyxl's own ``Text`` so it matches too.

Anything this module refuses raises; :class:`handover.sources.excel_reader.ExcelReader` then falls back to the
openpyxl path, which either reads the workbook the same way or gives the usual "damaged" message.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lxml import etree
from openpyxl.cell.text import Text
from openpyxl.reader.excel import ExcelReader as _OpenpyxlReader
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.utils.datetime import from_excel, from_ISO8601
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.xml.constants import SHARED_STRINGS, SHEET_MAIN_NS

_NS = f"{{{SHEET_MAIN_NS}}}"
ROW_TAG = _NS + "row"
SI_TAG = _NS + "si"
T_TAG = _NS + "t"
V_TAG = _NS + "v"
IS_TAG = _NS + "is"
_DIGITS = "0123456789"

RawRow = tuple[int, list[Any], bool]


def _iterparse(source: IO[bytes], tag: str) -> Any:
    # The archive passed check_zip_limits before; no entities, no network, libxml2's default size limits.
    return etree.iterparse(
        source,
        events=("end",),
        tag=tag,
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,  # xml.etree (what openpyxl uses) drops comments and processing instructions
        remove_pis=True,
    )


def _release(element: Any) -> None:
    """Free a handled element and the already handled siblings before it (keeps memory flat)."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _text_content(node: Any) -> str:
    """``openpyxl.cell.text.Text.from_tree(node).content``: a lone ``<t>`` directly, anything else by openpyxl."""
    if len(node) == 1:
        child = node[0]
        if child.tag == T_TAG:
            return child.text or ""
    elif len(node) == 0:
        return ""
    return Text.from_tree(node).content


def read_shared_strings(source: IO[bytes]) -> list[str]:
    """The shared-strings table as ``openpyxl.reader.strings.read_string_table`` reads it."""
    strings: list[str] = []
    append = strings.append
    for _, node in _iterparse(source, SI_TAG):
        append(_text_content(node).replace("x005F_", ""))
        _release(node)
    return strings


class _UnsizedSheet(ReadOnlyWorksheet):
    """A read-only sheet that skips openpyxl's size scan (a full parse when ``<dimension>`` is missing)."""

    def _get_size(self) -> None:
        pass


class _StructureReader(_OpenpyxlReader):
    """openpyxl's own reader, minus the slow parts: shared strings by lxml, no per-sheet size scan."""

    def read_strings(self) -> None:
        ct = self.package.find(SHARED_STRINGS)
        if ct is not None:
            with self.archive.open(ct.PartName[1:]) as src:
                self.shared_strings = read_shared_strings(src)

    def read_worksheets(self) -> None:
        for sheet, rel in self.parser.find_sheets():
            if rel.target not in self.valid_files:
                continue
            if "chartsheet" in rel.Type:
                self.read_chartsheet(sheet, rel)
                continue
            ws = _UnsizedSheet(self.wb, sheet.name, rel.target, self.shared_strings)
            ws.sheet_state = sheet.state
            self.wb._sheets.append(ws)


@dataclass
class XlsxBook:
    """What streaming a sheet needs: the open archive, the sheets, the epoch, strings and date styles."""

    archive: zipfile.ZipFile
    sheets: list[tuple[str, str, str]]  # (name, state, part path inside the archive)
    epoch: Any
    shared_strings: list[str]
    date_formats: set[int] = field(default_factory=set)
    timedelta_formats: set[int] = field(default_factory=set)

    def close(self) -> None:
        self.archive.close()


def open_book(path: Path | IO[bytes]) -> XlsxBook:
    """Read a workbook's structure (not its sheets) from a path or an open binary file. Raises whatever
    openpyxl or lxml raise on bad parts."""
    reader = _StructureReader(path, read_only=True, data_only=True, keep_links=False)
    try:
        reader.read()
        wb = reader.wb
        sheets = [(ws.title, ws.sheet_state, ws._worksheet_path) for ws in wb.worksheets]
        return XlsxBook(
            archive=reader.archive,
            sheets=sheets,
            epoch=wb.epoch,
            shared_strings=reader.shared_strings,
            date_formats=set(wb._date_formats),
            timedelta_formats=set(wb._timedelta_formats),
        )
    except BaseException:
        reader.archive.close()
        raise


def iter_sheet_rows(book: XlsxBook, part: str, trim: bool = False) -> Iterator[RawRow]:
    """``(row_number, values, hidden)`` for every ``<row>`` of a sheet, as the openpyxl path yields them;
    ``trim``: without the empty cells after a row's last value (a styled cell at column XFD costs nothing)."""
    convert = row_converter(book, trim)
    with book.archive.open(part) as src:
        for _, row in _iterparse(src, ROW_TAG):
            out = convert(row)
            _release(row)
            yield out


def row_converter(book: XlsxBook, trim: bool = False) -> Callable[[Any], RawRow]:
    """A function turning one ``<row>`` element into ``(row_number, values, hidden)``, rows in sheet order.

    Mirrors ``WorkSheetParser.parse_row`` / ``parse_cell`` (``data_only=True``): row numbers from ``r`` or
    counted, columns from the cell reference or counted, numbers cast like ``_cast_number``, date-styled
    numbers through ``from_excel``, shared/inline strings, booleans, ISO dates; error and formula-string
    cells keep their text. ``trim`` leaves out the empty cells past a row's last value.
    """
    strings = book.shared_strings
    epoch = book.epoch
    date_formats = book.date_formats
    timedelta_formats = book.timedelta_formats
    # style attribute text → None (not a date style) or True/False (date style: timedelta or not)
    style_kind: dict[str | None, bool | None] = {}
    columns: dict[str, int] = {}  # column letters of a cell reference → 1-based column
    row_counter = 0

    def style_of(s: str | None) -> bool | None:
        style_id: Any = int(s) if s else (0 if s is None else s)  # openpyxl: element.get("s", 0)
        kind = (style_id in timedelta_formats) if style_id in date_formats else None
        style_kind[s] = kind
        return kind

    def column_of(coordinate: str, letters: str) -> int:
        column = coordinate_to_tuple(coordinate)[1]  # raises on a bad reference, as openpyxl does
        if letters and letters.isalpha() and letters.isascii():
            columns[letters] = column
        return column

    def inline_text(c: Any) -> str | None:
        for child in c:
            if child.tag == IS_TAG:
                return _text_content(child)
        return None

    def convert(row: Any) -> RawRow:
        nonlocal row_counter
        r = row.get("r")
        if r is not None:
            try:
                row_counter = int(r)
            except ValueError:
                number = float(r)
                if not number.is_integer():
                    raise ValueError(f"{r} is not a valid row number") from None
                row_counter = int(number)
        else:
            row_counter += 1
        hidden = row.get("hidden", "").lower() in ("1", "true")
        values: list[Any] = []
        col_counter = 0
        for c in row:
            coordinate = c.get("r")
            if coordinate:
                letters = coordinate.rstrip(_DIGITS)
                column = columns.get(letters)
                if column is None or len(letters) == len(coordinate) or coordinate[len(letters)] == "0":
                    column = column_of(coordinate, letters)
                col_counter = column
            else:
                col_counter += 1
                column = col_counter
            data_type = c.get("t")
            value: Any = None
            if data_type == "inlineStr":
                # the usual <is><t>text</t></is> directly, anything else as openpyxl reads it
                if len(c) == 1:
                    child = c[0]
                    if child.tag == IS_TAG:
                        if len(child) == 1 and (t := child[0]).tag == T_TAG:
                            value = t.text or ""
                        else:
                            value = _text_content(child)
                else:
                    value = inline_text(c)
            else:
                for child in c:
                    if child.tag == V_TAG:
                        value = child.text or None
                        break
                if value is not None:
                    if data_type is None or data_type == "n":
                        # openpyxl's _cast_number
                        value = float(value) if "." in value or "E" in value or "e" in value else int(value)
                        s = c.get("s")
                        kind = style_kind[s] if s in style_kind else style_of(s)
                        if kind is not None:
                            try:
                                value = from_excel(value, epoch, timedelta=kind)
                            except (OverflowError, ValueError):
                                warnings.warn(
                                    f"Cell {coordinate} is marked as a date but the serial value {value} "
                                    "is outside the limits for dates. The cell will be treated as an error.",
                                    stacklevel=3,
                                )
                                value = "#VALUE!"
                    elif data_type == "s":
                        value = strings[int(value)]
                    elif data_type == "b":
                        value = bool(int(value))
                    elif data_type == "d":
                        value = from_ISO8601(value)
                    # "str", "e" and unknown types keep the text, as openpyxl does
            index = column - 1
            size = len(values)
            if trim and value is None and index >= size:
                continue
            if index == size:
                values.append(value)
            elif index > size:
                values.extend([None] * (index - size))
                values.append(value)
            else:
                values[index] = value
        return row_counter, values, hidden

    return convert


__all__ = ["XlsxBook", "iter_sheet_rows", "open_book", "read_shared_strings", "row_converter"]
