"""Data rows of a sheet rendered straight to SpreadsheetML, spliced into the workbook openpyxl writes.

openpyxl's public write-only API writes everything around the data (sheets, styles, columns, merged cells,
page setup, print titles, validations) and the ordinary rows; :meth:`RowSink.data_row` renders a data row to
the published format's XML text instead of a ``WriteOnlyCell`` per value (the cost of each:
``benchmarks/RESULTS.md``) (ECMA-376 Part 1, §18.3.1.73 ``row``, §18.3.1.4 ``c``,
inline strings ``is``): the value, type, style index, row height and quote prefix a
:func:`handover.reports.cells.value_cell` cell has (text from data is an inline string, never a formula).
The rendered rows go to a temporary file; in the sheet, openpyxl writes one *placeholder* row in their place:
a marker cell and one probe cell per (named style, kind) the rows use, made through openpyxl's public API
exactly as ``value_cell`` makes a cell of that kind.

:func:`save_workbook` saves the workbook with ``wb.save`` and then writes the final file from it: each
placeholder is replaced by its rows, the rows after it renumbered (``row/@r``, ``c/@r``), and the ``s`` index
of every probe cell, as openpyxl wrote it, must equal the index the rows were rendered with (else
:class:`StyleMismatch`). Style indexes are taken from the cells' public ``style_id``; the probe check makes
the written file the proof.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
import weakref
import zipfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from math import isinf, isnan
from pathlib import Path
from typing import Any

from handover.reports.cells import DATE_FORMAT
from handover.reports.celltext import EMPTY, QUOTED, QUOTED_SPACED, SPACED, Layout, cell_text, text_lines

FLUSH_ROWS = 128  # rows rendered per write: memory stays flat
_PLAIN, _DATE, _QUOTED, _DATETIME = 0, 1, 2, 3
StyleKey = tuple[str | None, int]


def row_height(lines: int) -> float | None:
    """Row height in points for ``lines`` lines of 11-point text; ``None`` for one line (the default)."""
    return None if lines == 1 else round(15 * lines, 1)


KINDS: tuple[int, ...] = (_PLAIN, _DATE, _QUOTED, _DATETIME)  # the cell kinds a data row styles differently

# A column's plan for the data rows of one (styles, text style, number style) (:meth:`RowSink._columns`): a list
# of ``'<c r="B'``, its text style, its number style, its width, its characters per wrapped line (None until
# first needed), its :class:`ColumnTexts`, then per kind of cell (the slots: the text kinds of
# :mod:`~handover.reports.celltext`, number, date, datetime) the cell's text from after the row number up to the
# value (``'" s="5" t="n"><v>'``; an empty cell's whole rest, "" when it is left out), None until first used.
_TEXT_STYLE, _NUMBER_STYLE, _WIDTH, _PER_LINE, _TEXTS = 1, 2, 3, 4, 5
_EMPTY, _NUMBER, _DATE_CELL, _DATETIME_CELL = 6, 6 + 5, 6 + 6, 6 + 7  # the text kinds: _EMPTY + kind
_SLOTS = 6 + 8
_EXACT = 2**53  # an int below this in size is its float's 16 significant digits


def _styled_cell(ws: Any, name: str | None, kind: int) -> Any:
    """A write-only cell with named style ``name`` and kind ``kind`` (one of :data:`KINDS`), made the way
    :func:`~handover.reports.cells.value_cell` makes one (a date value first registers openpyxl's default
    date format, then ``dd/mm/yyyy``)."""
    from openpyxl.cell import WriteOnlyCell

    # a value, so that openpyxl writes the cell even unstyled (a probe cell must be there)
    first = {_DATE: date(2000, 1, 1), _DATETIME: datetime(2000, 1, 1)}.get(kind, "x")
    cell = WriteOnlyCell(ws, value=first)
    if name:
        cell.style = name
    if kind in (_DATE, _DATETIME):
        cell.number_format = DATE_FORMAT
    elif kind == _QUOTED:
        cell.quotePrefix = True
    return cell


def style_attr(ws: Any, name: str | None, kind: int) -> str:
    """`` s="id"`` of a cell of ``ws`` (anything with the workbook as ``parent``) with named style ``name`` and
    kind ``kind``, made the way :func:`value_cell` makes it ("" unstyled). Registers the style (and a date
    kind's number formats) with the workbook the first time: calling it for every (name, kind) in a fixed order
    right after the named styles are added fixes every style index of the workbook."""
    cell = _styled_cell(ws, name, kind)
    return f' s="{cell.style_id}"' if cell.has_style else ""


def _number(value: int | float) -> str:
    """A number as a cell value: 16 significant digits, NaN and infinities empty (as openpyxl writes them)."""
    if isinstance(value, float) and (isnan(value) or isinf(value)):
        return ""
    return f"{value:.16g}"


# -- the splice registry ---------------------------------------------------------------------------------------


@dataclass
class _Fragment:
    path: str
    count: int  # rows
    first: int  # the first row's number
    styles: list[
        tuple[StyleKey, str]
    ]  # the probe cells' keys and the s attribute the rows were rendered with
    index: int = 0  # the placeholder's row number as openpyxl writes it


class StyleMismatch(RuntimeError):
    """A probe cell's style index in the saved workbook differs from the one the rows were rendered with."""


@dataclass
class _Fragments:
    """The rendered-row files of one workbook, by placeholder id, and the texts its data rows remember."""

    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    items: dict[int, _Fragment] = field(default_factory=dict)
    folder: str | None = None
    layouts: dict[tuple[Any, ...], Layout] = field(default_factory=dict)  # the data rows' texts, by widths

    def new_file(self) -> tuple[Any, str]:
        fd, path = tempfile.mkstemp(suffix=".rows", dir=self.folder)
        return os.fdopen(fd, "wb"), path

    def marker(self, number: int) -> str:
        return f"handover-rows:{self.token}:{number}"

    def discard(self) -> None:
        """Remove the temporary files of the rendered rows."""
        for item in self.items.values():
            with suppress(OSError):
                os.remove(item.path)
        self.items.clear()


_REGISTRY: weakref.WeakKeyDictionary[Any, _Fragments] = weakref.WeakKeyDictionary()


def fragments(wb: Any) -> _Fragments:
    """The rendered-row files of workbook ``wb`` (made on first use)."""
    found = _REGISTRY.get(wb)
    if found is None:
        found = _REGISTRY[wb] = _Fragments()
    return found


def discard(wb: Any) -> None:
    """After an error: remove the rendered-row files of ``wb`` (no workbook is written)."""
    found = _REGISTRY.pop(wb, None)
    if found is not None:
        found.discard()


class RowSink:
    """The rows of one write-only worksheet: openpyxl rows and rendered data rows, written in order."""

    def __init__(self, ws: Any, widths: Sequence[float | None]) -> None:
        self.ws = ws
        self.widths = list(widths)
        self._buffer: list[str] = []
        self._styles: dict[StyleKey, str] = {}
        self._sizes: dict[tuple[str | None, float], int] = {}
        self._heights: dict[float, str] = {}
        self._dates: dict[Any, str] = {}
        self._wraps: dict[tuple[str, int], int] = {}
        self._plans: dict[tuple[Any, ...], list[list[Any]]] = {}
        self._run: Any = None  # the temporary file of the data rows since the last openpyxl row
        self._run_path = ""
        self._run_rows = 0
        self._run_first = 0
        self._written = 0  # rows openpyxl has written (placeholders included)
        self._fragments = fragments(ws.parent)
        # the values' texts, shared by the workbook's sheets of these widths
        self._layout = self._fragments.layouts.setdefault(tuple(self.widths), Layout())

    # -- the stream ----------------------------------------------------------------------------------------

    def append(self, cells: list[Any], height: float | None = None) -> None:
        """An ordinary row of openpyxl cells/values, ``height`` points high (``None``: the default)."""
        self._end_run()
        self._write(cells, height)

    def _write(self, cells: list[Any], height: float | None = None) -> None:
        index = self._written + 1
        if height:
            self.ws.row_dimensions[index].height = height
        self.ws.append(cells)
        if height:  # written with the row: drop it so memory stays flat
            del self.ws.row_dimensions[index]
        self._written = index

    def flush(self) -> None:
        """Write the buffered data rows to their file."""
        if not self._buffer:
            return
        data = "".join(self._buffer).encode("ascii", "xmlcharrefreplace")  # characters as references
        self._buffer.clear()
        self._run.write(data)

    def _end_run(self) -> None:
        """The data rows since the last openpyxl row are complete: their placeholder row goes into the sheet."""
        self.flush()
        if self._run is None:
            return
        self._run.close()
        self._run = None
        self._place(self._run_path, self._run_rows, self._run_first, dict(self._styles))
        self._run_rows = 0

    def _place(self, path: str, count: int, first: int, styles: dict[StyleKey, str]) -> None:
        store = self._fragments
        number = len(store.items) + 1
        keys = sorted(styles, key=lambda k: (k[0] or "", k[1]))
        item = _Fragment(path, count, first, [(k, styles[k]) for k in keys])
        store.items[number] = item
        from openpyxl.cell import WriteOnlyCell

        marker = WriteOnlyCell(self.ws, value=store.marker(number))
        marker.data_type = "s"
        self._write([marker, *(_styled_cell(self.ws, name, kind) for name, kind in keys)])
        item.index = self._written

    def close(self) -> None:
        """End the sheet's data rows and drop the caches (rows may still follow)."""
        self._end_run()
        self._wraps.clear()
        self._dates.clear()
        self._plans.clear()

    # -- data rows -----------------------------------------------------------------------------------------

    def _style(self, name: str | None, kind: int) -> str:
        """`` s="id"`` of a cell with named style ``name`` as :func:`value_cell` would style it ("" unstyled)."""
        key = (name, kind)
        if key not in self._styles:
            self._styles[key] = style_attr(self.ws, name, kind)
        return self._styles[key]

    def _per_line(self, name: str | None, width: float) -> int:
        """Characters per wrapped line in a column ``width`` wide, for the font size of style ``name``."""
        key = (name, width)
        if key not in self._sizes:
            from openpyxl.cell import WriteOnlyCell

            cell = WriteOnlyCell(self.ws)
            if name:
                cell.style = name
            size = getattr(cell.font, "sz", None) or 11
            self._sizes[key] = max(1, int(width * 11 / size))
        return self._sizes[key]

    def _row_attrs(self, height: float) -> str:
        """A row's height attributes (§18.3.1.73: ``ht`` in points, ``customHeight`` set)."""
        if height not in self._heights:
            self._heights[height] = f' ht="{_number(height)}" customHeight="1"'
        return self._heights[height]

    def _date(self, value: date) -> str:
        text = self._dates.get(value)
        if text is None:
            from openpyxl.utils.datetime import to_excel

            if getattr(value, "tzinfo", None) is not None:
                raise TypeError("Excel does not support timezones in datetimes.")
            text = _number(to_excel(value, self.ws.parent.epoch))
            if len(self._dates) < 100_000:
                self._dates[value] = text
        return text

    def _columns(
        self,
        count: int,
        styles: Sequence[str | None] | None,
        text_style: str | None,
        number_style: str | None,
    ) -> list[list[Any]]:
        """The column plans of a row of ``count`` values with these styles (see ``_TEXT_STYLE``), made once."""
        key = (count, None if styles is None else tuple(styles), text_style, number_style)
        plan = self._plans.get(key)
        if plan is None:
            if styles is None:
                styles = (None,) * count
            elif len(styles) != count:
                raise ValueError(f"{count} values but {len(styles)} styles")
            widths = self.widths
            plan = []
            for i, style in enumerate(styles):
                letter = _letter(i + 1)
                width = widths[i] if i < len(widths) else None
                texts = self._layout.column(i)
                head = [
                    f'<c r="{letter}',
                    style or text_style,
                    style or number_style,
                    width or 0,
                    None,
                    texts,
                ]
                plan.append(head + [None] * (_SLOTS - _EMPTY))
            if len(self._plans) >= 1_000:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _slot(self, col: list[Any], slot: int) -> str:
        """A column's cell text between its row number and its value for ``slot`` (the cell's kind, one of
        the plan's slots), registering the cell's style on first use (as :meth:`_style`)."""
        if slot == _NUMBER:
            text = f'"{self._style(col[_NUMBER_STYLE], _PLAIN)} t="n"><v>'
        elif slot in (_DATE_CELL, _DATETIME_CELL):
            kind = _DATE if slot == _DATE_CELL else _DATETIME
            text = f'"{self._style(col[_TEXT_STYLE], kind)} t="n"><v>'
        elif slot == _EMPTY + EMPTY:
            s = self._style(col[_TEXT_STYLE], _PLAIN)
            text = f'"{s} t="n"></c>' if s else ""
        else:
            kind = _QUOTED if slot - _EMPTY in (QUOTED, QUOTED_SPACED) else _PLAIN
            t = '<t xml:space="preserve">' if slot - _EMPTY in (SPACED, QUOTED_SPACED) else "<t>"
            text = f'"{self._style(col[_TEXT_STYLE], kind)} t="inlineStr"><is>{t}'
        col[slot] = text
        return text

    def data_row(
        self,
        row_no: int,
        values: Sequence[Any],
        styles: Sequence[str | None] | None = None,
        text_style: str | None = None,
        number_style: str | None = None,
    ) -> float:
        """Buffer data row ``row_no``: numbers and dates native (dates ``dd/mm/yyyy``), everything else
        text through :func:`safe_text`, formula-like text with the quote prefix. A cell's style is
        ``styles[i]``, else ``number_style`` for numbers and ``text_style`` for the rest. Returns the row's
        height in points (15 a line of wrapped text), for the caller's pagination.

        Each column's cell text around its row number and value is made once per (styles, kind) of cell
        (:meth:`_columns`, :meth:`_slot`): a cell is then its value's text between them."""
        parts: list[str] = []
        append = parts.append
        lines = 1
        wraps, dates = self._wraps, self._dates
        r = str(row_no)
        plan = self._columns(len(values), styles, text_style, number_style)
        shared = self._layout
        shared.rows += 1
        seen = shared.rows
        for value, col in zip(values, plan, strict=True):
            cls = value.__class__
            if cls is str:
                texts = col[_TEXTS]
                found = texts.found
                hit = found.get(value) if found is not None else None
                kind, xml, text = hit if hit is not None else texts.text(value, seen)
            elif value is None:
                kind = EMPTY
            else:
                if cls is date:
                    slot = _DATE_CELL
                elif cls is int or cls is float:
                    slot = _NUMBER
                elif cls is bool or not isinstance(value, _NATIVE):
                    slot = 0  # text
                elif isinstance(value, date):  # datetime too
                    slot = _DATETIME_CELL if isinstance(value, datetime) else _DATE_CELL
                else:
                    slot = _NUMBER
                if slot:
                    head = col[slot]
                    if head is None:
                        head = self._slot(col, slot)
                    if slot != _NUMBER:
                        number = dates.get(value) or self._date(value)
                    elif cls is int and -_EXACT < value < _EXACT:
                        number = str(value)
                    else:
                        number = _number(value)
                    append(f"{col[0]}{r}{head}{number}</v></c>")
                    continue
                kind, xml, text = cell_text(value)
            head = col[_EMPTY + kind]
            if head is None:
                head = self._slot(col, _EMPTY + kind)
            if kind == EMPTY:
                if head:
                    append(f"{col[0]}{r}{head}")
                continue
            append(f"{col[0]}{r}{head}{xml}</t></is></c>")
            # characters per wrapped line in the column (0: not wrapped), worked out once
            per_line = col[_PER_LINE]
            if per_line is None:
                per_line = col[_PER_LINE] = (
                    self._per_line(col[_TEXT_STYLE], col[_WIDTH]) if col[_WIDTH] else 0
                )
            if per_line and (len(text) > per_line or "\n" in text):
                n = wraps.get((text, per_line))
                if n is None:  # the same long texts (procedure names) come back row after row
                    if len(wraps) >= 10_000:
                        wraps.clear()
                    n = wraps[text, per_line] = text_lines(text, per_line)
                if n > lines:
                    lines = n
        attrs = self._row_attrs(round(15 * lines, 1)) if lines > 1 else ""
        self._buffer.append(f'<row r="{r}"{attrs}>{"".join(parts)}</row>')
        if self._run is None:
            self._run, self._run_path = self._fragments.new_file()
            self._run_first = row_no
        self._run_rows += 1
        if len(self._buffer) >= FLUSH_ROWS:
            self.flush()
        return 15.0 * lines


_NATIVE = (int, float, date, datetime)


def _letter(column: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(column)


# -- the saved workbook, with the rendered rows in place ---------------------------------------------------------

_ROW_START = re.compile(rb"<row[ />]")
_ROW_NUMBER = re.compile(rb'^<row r="(\d+)"')
_CELL_REF = re.compile(rb'<c r="([A-Z]+)(\d+)"')
_PROBE = re.compile(rb'<c r="[A-Z]+\d+"( s="\d+")?')
_SHEET_DATA_END = b"</sheetData>"
_MARKER = re.compile(rb"handover-rows:([0-9a-f]{32}):(\d+)")


def save_workbook(wb: Any, path: Path, level: int = 6, folder: str | None = None) -> None:
    """Save write-only workbook ``wb`` at ``path`` with its rendered data rows in place (zip deflate level
    ``level``; ``folder``: where the intermediate file goes). Raises :class:`StyleMismatch` when a probe cell's
    style index differs from the rendered rows' one, ``OSError`` when a file cannot be written."""
    store = _REGISTRY.get(wb) or _Fragments()
    fd, raw = tempfile.mkstemp(suffix=".xlsx", dir=folder or os.path.dirname(os.path.abspath(path)) or None)
    os.close(fd)
    try:
        wb.save(raw)
        try:
            with (
                zipfile.ZipFile(raw) as src,
                zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=level) as out,
            ):
                for info in src.infolist():
                    data = src.read(info)
                    if info.filename.startswith("xl/worksheets/") and store.token.encode() in data:
                        with out.open(info.filename, "w", force_zip64=True) as dest:
                            _splice_sheet(data, store, dest)
                    else:
                        out.writestr(info.filename, data)
        except BaseException:
            with suppress(OSError):
                os.remove(path)  # no half-written workbook
            raise
    finally:
        os.remove(raw)
        discard(wb)


def _splice_sheet(data: bytes, store: _Fragments, dest: Any) -> None:
    """Write sheet part ``data`` into ``dest`` with each placeholder row replaced by its rendered rows and the
    rows after it renumbered."""
    end = data.index(_SHEET_DATA_END)
    starts = [m.start() for m in _ROW_START.finditer(data, 0, end)]
    if not starts:
        dest.write(data)
        return
    dest.write(data[: starts[0]])
    offset = 0
    for i, begin in enumerate(starts):
        row = data[begin : starts[i + 1] if i + 1 < len(starts) else end]
        found = _MARKER.search(row)
        if found is not None and found.group(1).decode() == store.token:
            item = store.items[int(found.group(2))]
            number = _ROW_NUMBER.match(row)
            if number is None or int(number.group(1)) != item.index or item.index + offset != item.first:
                raise StyleMismatch(f"rendered rows {item.first}+ placed at row {item.index} (+{offset})")
            written = [(m.group(1) or b"").decode() for m in _PROBE.finditer(row)][1:]  # after the marker
            expected = [attr for _, attr in item.styles]
            if written != expected:
                raise StyleMismatch(f"style indexes {written} written, rows rendered with {expected}")
            with open(item.path, "rb") as rows:
                shutil.copyfileobj(rows, dest, 1 << 20)
            offset += item.count - 1
            continue
        if offset:
            row = _renumber(row, offset)
        dest.write(row)
    dest.write(data[end:])


def _renumber(row: bytes, offset: int) -> bytes:
    """An openpyxl row moved down by ``offset`` rows: its ``r`` and its cells' references."""
    row = _ROW_NUMBER.sub(lambda m: b'<row r="%d"' % (int(m.group(1)) + offset), row, count=1)
    return _CELL_REF.sub(lambda m: b'<c r="%s%d"' % (m.group(1), int(m.group(2)) + offset), row)
