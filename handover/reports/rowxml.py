"""Data rows of a write-only sheet rendered straight to SpreadsheetML, many rows at a time.

openpyxl's write-only mode builds a ``WriteOnlyCell`` per value, copies a named style into it and serialises it
element by element: tens of µs a cell, the whole cost of a large workbook. :class:`RowSink` takes over the
``sheetData`` stream of one ``WriteOnlyWorksheet``: ordinary rows (lists of cells) still go through openpyxl,
while :meth:`RowSink.data_row` renders a data row to XML text, with style ids looked up once per distinct
(named style, kind), and buffers it. A buffer (:data:`FLUSH_ROWS` rows) is written as bytes into the sheet's
file right after lxml's own buffer is flushed, so both kinds of rows stay in order; without lxml it is parsed
and written element by element. The bytes are the ones openpyxl writes for the cells
:func:`handover.reports.cells.value_cell` makes (value, type, style, quote prefix, row height; tests compare the
files byte for byte): text from data is an inline string, never a formula. Relies on openpyxl 3.1's write-only
internals (``WorksheetWriter.get_stream``, ``WriteOnlyWorksheet._writer`` / ``_rows`` / ``_values_to_row``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from datetime import date, datetime
from functools import partial
from typing import Any
from unicodedata import is_normalized as _is_nfc

from handover.reports.cells import DATE_FORMAT, FORMULA_TRIGGERS, safe_text

FLUSH_ROWS = 128  # rows rendered per parse: memory stays flat, parse calls stay few
_PLAIN, _DATE, _QUOTED, _DATETIME = 0, 1, 2, 3


def wrapped_lines(text: str, per_line: int) -> int:
    """Lines ``text`` takes when wrapped at word boundaries into lines of ``per_line`` characters."""
    if len(text) <= per_line:  # the words with their spaces fit on one line
        return 1
    lines, used = 1, 0
    for word in text.split(" "):
        size = len(word)
        if used and used + 1 + size > per_line:
            lines, used = lines + 1, 0
        used += size + (1 if used else 0)
        while used > per_line:  # a word longer than the line
            lines, used = lines + 1, used - per_line
    return lines


def text_lines(text: str, per_line: int) -> int:
    """Wrapped lines of a cell's text, each LF starting a new line."""
    if "\n" not in text:
        return wrapped_lines(text, per_line)
    return sum(wrapped_lines(part, per_line) for part in text.split("\n"))


def row_height(lines: int) -> float | None:
    """Row height in points for ``lines`` lines of 11-point text; ``None`` for one line (the default)."""
    return None if lines == 1 else round(15 * lines, 1)


KINDS: tuple[int, ...] = (_PLAIN, _DATE, _QUOTED, _DATETIME)  # the cell kinds a data row styles differently


def style_attr(ws: Any, name: str | None, kind: int) -> str:
    """`` s="id"`` of a cell of ``ws`` (anything with the workbook as ``parent``) with named style ``name`` and
    kind ``kind`` (one of :data:`KINDS`), made the way :func:`value_cell` makes it ("" unstyled). Registers the
    style (and a date kind's number formats) with the workbook the first time: calling it for every (name,
    kind) in a fixed order right after the named styles are added fixes every style id of the workbook."""
    from openpyxl.cell import WriteOnlyCell

    # made the way value_cell makes it: a date value first registers openpyxl's default date format
    first = {_DATE: date(2000, 1, 1), _DATETIME: datetime(2000, 1, 1)}.get(kind)
    cell = WriteOnlyCell(ws, value=first)
    if name:
        cell.style = name
    if kind in (_DATE, _DATETIME):
        cell.number_format = DATE_FORMAT
    elif kind == _QUOTED:
        cell.quotePrefix = True
    return f' s="{cell.style_id}"' if cell.has_style else ""


class _Raw:
    __slots__ = ("count", "xml")

    def __init__(self, xml: str, count: int) -> None:
        self.xml = xml
        self.count = count


class _RawFile:
    """Rows rendered earlier into a file (:meth:`RowSink.to_file`), to copy into the sheet as they are."""

    __slots__ = ("count", "path")

    def __init__(self, path: str, count: int) -> None:
        self.path = path
        self.count = count


def _raw_writer(ws: Any, opener: Callable[[str], Any] = partial(open, mode="wb")) -> Any:
    """openpyxl's ``WorksheetWriter`` for ``ws``, streaming (through lxml) into a file object this module can
    also write pre-rendered bytes into, between two flushes of lxml's buffer. ``opener`` opens the writer's
    file (its path) for writing bytes."""
    from openpyxl.worksheet._writer import WorksheetWriter
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import xmlfile

    class RawWriter(WorksheetWriter):
        raw: Any = None

        def get_stream(self):  # WorksheetWriter.get_stream, with a file object we keep
            with opener(self.out) as raw, xmlfile(raw) as xf:
                self.raw = raw
                with xf.element("worksheet", xmlns=SHEET_MAIN_NS):
                    try:
                        while True:
                            el = yield
                            if el is True:
                                yield xf
                            elif el is None:
                                continue
                            else:
                                xf.write(el)
                    except GeneratorExit:
                        pass

    return RawWriter(ws)


def _sheet_data(ws: Any):
    """openpyxl's ``WriteOnlyWorksheet._write_rows``, also accepting :class:`_Raw` chunks of rendered rows."""
    writer = ws._writer
    xf = writer.xf.send(True)
    raw = getattr(writer, "raw", None)
    if raw is None:  # pragma: no cover - without lxml: parse the chunk and write its elements
        from xml.etree.ElementTree import fromstring
    with xf.element("sheetData"):
        row_idx = 1
        try:
            while True:
                item = yield
                if isinstance(item, _Raw):
                    if raw is not None:
                        xf.flush()  # everything lxml holds goes first
                        raw.write(item.xml.encode("ascii", "xmlcharrefreplace"))  # as lxml encodes text
                    else:  # pragma: no cover
                        for element in fromstring(f"<sheetData>{item.xml}</sheetData>"):
                            xf.write(element)
                    row_idx += item.count
                elif isinstance(item, _RawFile):
                    with open(item.path, "rb") as src:
                        if raw is not None:
                            xf.flush()
                            shutil.copyfileobj(src, raw, 1 << 20)
                        else:  # pragma: no cover
                            text = src.read().decode("ascii")
                            for element in fromstring(f"<sheetData>{text}</sheetData>"):
                                xf.write(element)
                    row_idx += item.count
                else:
                    writer.write_row(xf, ws._values_to_row(item, row_idx), row_idx)
                    row_idx += 1
        except GeneratorExit:
            pass
    writer.xf.send(None)


class RowSink:
    """The rows of one write-only worksheet: openpyxl rows and fast data rows, written in order."""

    def __init__(self, ws: Any, widths: Sequence[float | None]) -> None:
        from openpyxl.compat import safe_string
        from openpyxl.utils import get_column_letter

        self.ws = ws
        self.widths = list(widths)
        self._letters: list[str] = [get_column_letter(i) for i in range(1, 257)]
        self._buffer: list[str] = []
        self._started = False
        self._styles: dict[tuple[str | None, int], str | None] = {}
        self._sizes: dict[str | None, float] = {}
        self._heights: dict[float, str] = {}
        self._dates: dict[Any, str] = {}
        self._wraps: dict[tuple[str, int], int] = {}
        self._number = safe_string  # "%.16g", NaN and infinities empty: as openpyxl writes numbers
        self._file: Any = None
        self.opener: Callable[[str], Any] | None = None  # opens the sheet's file (before the first row)

    # -- the stream ----------------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._started:
            return
        from openpyxl import LXML

        ws = self.ws
        if ws._writer is None and LXML:
            ws._writer = _raw_writer(ws, self.opener) if self.opener else _raw_writer(ws)
            ws._writer.write_top()  # the sheet's top (page setup, columns) now, as ws.append would
        ws._get_writer()
        if ws._rows is None:
            ws._rows = _sheet_data(ws)
            next(ws._rows)
        self._started = True

    def append(self, cells: list[Any]) -> None:
        """An ordinary row of openpyxl cells/values (row dimensions as set on the worksheet)."""
        self.flush()
        self._start()
        self.ws.append(cells)

    def flush(self) -> None:
        """Write the buffered data rows (call before the sheet is saved)."""
        if not self._buffer:
            return
        if self._file is not None:
            self._file.write("".join(self._buffer).encode("ascii", "xmlcharrefreplace"))
            self._buffer.clear()
            return
        self._start()
        self.ws._rows.send(_Raw("".join(self._buffer), len(self._buffer)))
        self._buffer.clear()

    def to_file(self, file: Any) -> None:
        """Render data rows into the binary ``file`` from now on (``None``: into the sheet again), to be
        copied into a sheet of the same workbook later with :meth:`splice`. Row numbers are the caller's."""
        self.flush()
        self._file = file

    def splice(self, path: str, count: int) -> None:
        """Copy ``count`` rows rendered into file ``path`` (:meth:`to_file`) into the sheet, in order."""
        self.flush()
        self._start()
        self.ws._rows.send(_RawFile(path, count))

    def close(self) -> None:
        """Write the buffered rows and drop the caches (the sheet is complete; rows may still follow)."""
        self.flush()
        self._wraps.clear()
        self._dates.clear()

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
        if height not in self._heights:
            from openpyxl.worksheet.dimensions import RowDimension

            dim = RowDimension(self.ws, index=1, ht=height)
            self._heights[height] = "".join(f' {k}="{v}"' for k, v in dim)
        return self._heights[height]

    def _date(self, value: date) -> str:
        text = self._dates.get(value)
        if text is None:
            from openpyxl.utils.datetime import to_excel

            if getattr(value, "tzinfo", None) is not None:
                raise TypeError("Excel does not support timezones in datetimes.")
            text = self._number(to_excel(value, self.ws.parent.epoch))
            if len(self._dates) < 100_000:
                self._dates[value] = text
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
        height in points (15 a line of wrapped text), for the caller's pagination."""
        parts: list[str] = []
        lines = 1
        letters, widths, cache, wraps = self._letters, self.widths, self._styles, self._wraps
        if styles is None:
            styles = (None,) * len(values)
        elif len(styles) != len(values):
            raise ValueError(f"{len(values)} values but {len(styles)} styles")
        r = str(row_no)
        for i, value in enumerate(values):
            letter = letters[i] if i < 256 else _letter(i + 1)
            if value.__class__ is str:
                # printable (no control, CR/LF, surrogate or non-character) NFC text is its own safe_text
                text = value if value.isprintable() and _is_nfc("NFC", value) else safe_text(value)
            elif isinstance(value, bool) or not isinstance(value, _NATIVE):
                text = safe_text(value)
            elif isinstance(value, date):  # datetime too
                key = (styles[i] or text_style, _DATETIME if isinstance(value, datetime) else _DATE)
                s = cache.get(key)
                if s is None:
                    s = self._style(*key)
                parts.append(f'<c r="{letter}{r}"{s} t="n"><v>{self._date(value)}</v></c>')
                continue
            else:
                key = (styles[i] or number_style, _PLAIN)
                s = cache.get(key)
                if s is None:
                    s = self._style(*key)
                parts.append(f'<c r="{letter}{r}"{s} t="n"><v>{self._number(value)}</v></c>')
                continue
            style = styles[i] or text_style
            if not text:  # None or empty
                key = (style, _PLAIN)
                s = cache.get(key)
                if s is None:
                    s = self._style(*key)
                if s:
                    parts.append(f'<c r="{letter}{r}"{s} t="n"></c>')
                continue
            key = (style, _QUOTED if text.startswith(FORMULA_TRIGGERS) else _PLAIN)
            s = cache.get(key)
            if s is None:
                s = self._style(*key)
            t = "<t>" if text == text.strip() else '<t xml:space="preserve">'
            if "&" in text or "<" in text or ">" in text:
                xml = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            else:
                xml = text
            parts.append(f'<c r="{letter}{r}"{s} t="inlineStr"><is>{t}{xml}</t></is></c>')
            if i < len(widths) and widths[i]:
                per_line = self._sizes.get((style, widths[i])) or self._per_line(style, widths[i])
                if len(text) > per_line or "\n" in text:
                    n = wraps.get((text, per_line))
                    if n is None:  # the same long texts (procedure names) come back row after row
                        if len(wraps) >= 10_000:
                            wraps.clear()
                        n = wraps[text, per_line] = text_lines(text, per_line)
                    if n > lines:
                        lines = n
        attrs = self._row_attrs(round(15 * lines, 1)) if lines > 1 else ""
        self._buffer.append(f'<row r="{r}"{attrs}>{"".join(parts)}</row>')
        if len(self._buffer) >= FLUSH_ROWS:
            self.flush()
        return 15.0 * lines


_NATIVE = (int, float, date, datetime)


def _letter(column: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(column)
