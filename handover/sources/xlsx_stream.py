"""Streaming reader of ``.xlsx`` workbooks, written against the published format (ECMA-376 Part 1, SpreadsheetML).

The package's parts are found as the format lays them out: ``[Content_Types].xml`` names the workbook part (or
the package relationships do), the workbook's relationships give each sheet's part, ``workbook.xml`` the
sheets' names, states and the date system (``workbookPr/@date1904``), the shared-strings part the text of
``t="s"`` cells and the styles part (``numFmts`` and ``cellXfs``) which cell styles show a number as a date or
a duration: built-in formats 14–22 and 45–47 and any custom format code with date/time tokens outside quotes,
escapes and bracketed locale/colour codes; ``[h]``, ``[mm]``, ``[ss]`` codes are durations.

Sheets are streamed ``<row>`` by ``<row>`` with ``lxml.etree.iterparse``; :func:`iter_sheet_rows` with
``fallback=True`` re-reads a sheet lxml refuses (libxml2's limits) with the standard library's expat parser
(through ``defusedxml``), which then also gives the parse error a damaged sheet is reported with. Cells
convert as openpyxl converts them with ``data_only=True`` (the values every earlier version of the reader
gave): numbers ``int`` unless they have a ``.`` or an exponent, date-styled numbers through
:func:`openpyxl.utils.datetime.from_excel` (public), a serial outside the date range ``"#VALUE!"`` with a
warning, shared and inline strings (plain text then rich-text runs; phonetic runs skipped; ``_x005F_``
escapes of shared strings undone as openpyxl does), ``t="b"`` booleans, ``t="d"`` ISO 8601 dates, ``t="e"``,
``t="str"`` and unknown types as their text.
"""

from __future__ import annotations

import posixpath
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from defusedxml import ElementTree as SafeET
from lxml import etree
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.utils.datetime import from_excel, from_ISO8601

from handover.sources.base import RawRow

SHEET_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS = f"{{{SHEET_MAIN_NS}}}"
ROW_TAG = _NS + "row"
SI_TAG = _NS + "si"
T_TAG = _NS + "t"
V_TAG = _NS + "v"
IS_TAG = _NS + "is"
SHEET_DATA_TAG = _NS + "sheetData"
_DIGITS = "0123456789"

_CT_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DOC_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_CT_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_WORKBOOK_TYPES = (  # what a workbook part may be: template/macro variants too, as Excel and openpyxl accept
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    f"{_CT_SHEET}.sheet.main+xml",
)
_SHARED_STRINGS_TYPE = f"{_CT_SHEET}.sharedStrings+xml"

WINDOWS_EPOCH = datetime(1899, 12, 30)  # serial 0 of the 1900 date system (Excel's 1900 leap-year bug kept)
MAC_EPOCH = datetime(1904, 1, 1)  # serial 0 of the 1904 date system

# ECMA-376 Part 1, 18.8.30: the built-in number formats every reader knows (ids without a <numFmt>); other ids
# below 164 are locale-dependent and, as openpyxl reads them, not dates.
BUILTIN_FORMATS = {
    0: "General",
    1: "0",
    2: "0.00",
    3: "#,##0",
    4: "#,##0.00",
    9: "0%",
    10: "0.00%",
    11: "0.00E+00",
    12: "# ?/?",
    13: "# ??/??",
    14: "mm-dd-yy",
    15: "d-mmm-yy",
    16: "d-mmm",
    17: "mmm-yy",
    18: "h:mm AM/PM",
    19: "h:mm:ss AM/PM",
    20: "h:mm",
    21: "h:mm:ss",
    22: "m/d/yy h:mm",
    37: "#,##0_);(#,##0)",
    38: "#,##0_);[Red](#,##0)",
    39: "#,##0.00_);(#,##0.00)",
    40: "#,##0.00_);[Red](#,##0.00)",
    45: "mm:ss",
    46: "[h]:mm:ss",
    47: "mmss.0",
    48: "##0.0E+0",
    49: "@",
}
# a format's first section, without "quoted literals" and [bracketed] codes other than elapsed-time ones
_STRIP = re.compile(r'".*?"|\[(?!hh?\]|mm?\]|ss?\])[^\]]*\]')
_DATE_TOKEN = re.compile(r"(?<![_\\])[dmhysDMHYS]")  # a date/time token not escaped (\) or a width (_)
_ELAPSED = re.compile(r"\[hh?\](:mm(:ss(\.0*)?)?)?|\[mm?\](:ss(\.0*)?)?|\[ss?\](\.0*)?", re.I)


def is_date_format(code: str | None) -> bool:
    """Whether a number format code shows a number as a date or time (its first section decides)."""
    if code is None:
        return False
    return _DATE_TOKEN.search(_STRIP.sub("", code.split(";")[0])) is not None


def is_duration_format(code: str | None) -> bool:
    """Whether a number format code shows elapsed time (``[h]:mm:ss``, ``[mm]:ss``, ``[ss]``)."""
    return code is not None and _ELAPSED.search(code.split(";")[0]) is not None


def _iterparse(source: IO[bytes], tag: str) -> Any:
    # The archive passed check_zip_limits before; no entities, no network, libxml2's default size limits.
    return etree.iterparse(
        source,
        events=("end",),
        tag=tag,
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _release(element: Any) -> None:
    """Free a handled lxml element and the already handled siblings before it (keeps memory flat)."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _safe_iterparse(source: IO[bytes], tag: str) -> Iterator[Any]:
    """Elements ``tag`` as they end, parsed by expat through defusedxml (no DTD entities); each is removed
    from its parent once handled, so memory stays flat."""
    stack: list[Any] = []
    for event, element in SafeET.iterparse(source, events=("start", "end")):
        if event == "start":
            stack.append(element)
            continue
        stack.pop()
        if element.tag == tag:
            yield element
            element.clear()
            if stack:
                stack[-1].remove(element)


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def text_content(node: Any) -> str:
    """The text of a string item (``<si>`` or ``<is>``): its plain ``<t>`` then its rich-text runs' ``<t>``;
    phonetic runs (``<rPh>``) and properties are not text."""
    if len(node) == 1:
        child = node[0]
        if child.tag == T_TAG:
            return child.text or ""
    plain: str | None = None
    runs: list[str] = []
    for child in node:
        name = _local(child.tag)
        if name == "t":
            plain = child.text
        elif name == "r":
            run: str | None = None
            for part in child:
                if _local(part.tag) == "t":
                    run = part.text
            if run is not None:
                runs.append(run)
    return (plain or "") + "".join(runs)


def read_shared_strings(source: IO[bytes], safe: bool = False) -> list[str]:
    """The shared-strings table (``_x005F_`` escapes undone as openpyxl undoes them); ``safe``: with expat."""
    strings: list[str] = []
    append = strings.append
    if safe:
        for node in _safe_iterparse(source, SI_TAG):
            append(text_content(node).replace("x005F_", ""))
        return strings
    for _, node in _iterparse(source, SI_TAG):
        append(text_content(node).replace("x005F_", ""))
        _release(node)
    return strings


@dataclass
class XlsxBook:
    """What streaming a sheet needs: the open archive, the sheets, the epoch, strings and date styles."""

    archive: zipfile.ZipFile
    sheets: list[tuple[str, str, str]]  # (name, state, part path inside the archive)
    epoch: datetime
    shared_strings: list[str]
    date_formats: set[int] = field(default_factory=set)  # cellXfs indexes of date/time number formats
    timedelta_formats: set[int] = field(default_factory=set)  # ... of elapsed-time formats

    def close(self) -> None:
        self.archive.close()


def _xml(archive: zipfile.ZipFile, part: str) -> Any:
    """A small part parsed whole (expat through defusedxml: no DTD entities); ``None`` when it is absent."""
    try:
        data = archive.read(part)
    except KeyError:
        return None
    return SafeET.fromstring(data)


def _relationships(archive: zipfile.ZipFile, part: str) -> list[tuple[str, str, str]]:
    """``(id, type, target part)`` of ``part``'s relationships, targets resolved (external ones left out)."""
    folder = posixpath.dirname(part)
    root = _xml(archive, posixpath.join(folder, "_rels", posixpath.basename(part) + ".rels"))
    if root is None:
        return []
    out = []
    for rel in root.iter(f"{_PKG_REL_NS}Relationship"):
        target = rel.get("Target") or ""
        if rel.get("TargetMode") == "External":
            continue
        target = target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        out.append((rel.get("Id") or "", rel.get("Type") or "", target))
    return out


def _workbook_part(archive: zipfile.ZipFile) -> tuple[str, Any]:
    """The workbook part's name and the content types (``[Content_Types].xml``)."""
    types = _xml(archive, "[Content_Types].xml")
    if types is None:
        raise KeyError("There is no item named '[Content_Types].xml' in the archive")
    overrides = {o.get("ContentType"): o.get("PartName") for o in types.iter(f"{_CT_NS}Override")}
    for content_type in _WORKBOOK_TYPES:
        name = overrides.get(content_type)
        if name:
            return name.lstrip("/"), types
    defaults = {d.get("ContentType") for d in types.iter(f"{_CT_NS}Default")}
    if defaults & set(_WORKBOOK_TYPES):
        return "xl/workbook.xml", types
    raise OSError("File contains no valid workbook part")


def _number_styles(archive: zipfile.ZipFile, part: str) -> tuple[set[int], set[int]]:
    """The ``cellXfs`` indexes whose number format is a date/time, and those that are elapsed time."""
    root = _xml(archive, part)
    dates: set[int] = set()
    durations: set[int] = set()
    if root is None:
        return dates, durations
    custom = {
        int(f.get("numFmtId")): f.get("formatCode")
        for f in root.iterfind(f"{_NS}numFmts/{_NS}numFmt")
        if f.get("numFmtId") is not None
    }
    for index, xf in enumerate(root.iterfind(f"{_NS}cellXfs/{_NS}xf")):
        number_format = int(xf.get("numFmtId") or 0)
        code = custom[number_format] if number_format in custom else BUILTIN_FORMATS.get(number_format)
        if is_date_format(code):
            dates.add(index)
        if is_duration_format(code):
            durations.add(index)
    return dates, durations


def open_book(path: Path | IO[bytes]) -> XlsxBook:
    """Read a workbook's structure (not its sheets) from a path or an open binary file. Raises what zipfile,
    the XML parsers or a missing part raise."""
    archive = zipfile.ZipFile(path)
    try:
        workbook, types = _workbook_part(archive)
        root = _xml(archive, workbook)
        if root is None:
            raise KeyError(f"There is no item named '{workbook}' in the archive")
        rels = _relationships(archive, workbook)
        targets = {rid: (kind, target) for rid, kind, target in rels}
        names = set(archive.namelist())
        sheets: list[tuple[str, str, str]] = []
        for sheet in root.iterfind(f"{_NS}sheets/{_NS}sheet"):
            rid = sheet.get(f"{_DOC_REL_NS}id")
            if not rid:
                continue  # no part named: Excel drops such a sheet too
            if rid not in targets:
                raise KeyError(f"Unknown relationship: {rid}")
            kind, target = targets[rid]
            if target not in names or kind.endswith("/chartsheet"):
                continue
            sheets.append((sheet.get("name") or "", sheet.get("state") or "visible", target))
        properties = root.find(f"{_NS}workbookPr")
        flag = None if properties is None else properties.get("date1904")
        epoch = MAC_EPOCH if flag is not None and flag not in ("", "0", "f", "false") else WINDOWS_EPOCH

        strings_part = next(
            (
                o.get("PartName", "").lstrip("/")
                for o in types.iter(f"{_CT_NS}Override")
                if o.get("ContentType") == _SHARED_STRINGS_TYPE
            ),
            None,
        )
        strings: list[str] = []
        if strings_part and strings_part in names:
            try:
                with archive.open(strings_part) as src:
                    strings = read_shared_strings(src)
            except etree.LxmlError:  # beyond libxml2's limits, or damaged: expat reads it or says why
                with archive.open(strings_part) as src:
                    strings = read_shared_strings(src, safe=True)
        styles_part = next((t for _, k, t in rels if k.endswith("/styles")), "xl/styles.xml")
        dates, durations = _number_styles(archive, styles_part)
        return XlsxBook(archive, sheets, epoch, strings, dates, durations)
    except BaseException:
        archive.close()
        raise


def iter_sheet_rows(book: XlsxBook, part: str, trim: bool = False, safe: bool = False) -> Iterator[RawRow]:
    """``(row_number, values, hidden)`` for every ``<row>`` of a sheet; ``trim``: without the empty cells after
    a row's last value (a styled cell at column XFD costs nothing); ``safe``: parsed by expat (defusedxml)
    instead of lxml."""
    convert = row_converter(book, trim)
    with book.archive.open(part) as src:
        if safe:
            for row in _safe_iterparse(src, ROW_TAG):
                yield convert(row)
            return
        for _, row in _iterparse(src, ROW_TAG):
            out = convert(row)
            _release(row)
            yield out


def row_converter(book: XlsxBook, trim: bool = False) -> Callable[[Any], RawRow]:
    """A function turning one ``<row>`` element into ``(row_number, values, hidden)``, rows in sheet order.

    Row numbers from ``r`` or counted on from the previous row, columns from the cell reference or counted on
    from the previous cell. ``trim`` leaves out the empty cells past a row's last value.
    """
    strings = book.shared_strings
    epoch = book.epoch
    date_formats = book.date_formats
    timedelta_formats = book.timedelta_formats
    # style attribute text → None (not a date style) or True/False (date style: duration or not)
    style_kind: dict[str | None, bool | None] = {}
    columns: dict[str, int] = {}  # column letters of a cell reference → 1-based column
    row_counter = 0

    def style_of(s: str | None) -> bool | None:
        style_id: Any = int(s) if s else (0 if s is None else s)  # s="" is no cellXfs index
        kind = (style_id in timedelta_formats) if style_id in date_formats else None
        style_kind[s] = kind
        return kind

    def column_of(coordinate: str, letters: str) -> int:
        column = coordinate_to_tuple(coordinate)[1]  # raises on a bad reference
        if letters and letters.isalpha() and letters.isascii():
            columns[letters] = column
        return column

    def inline_text(c: Any) -> str | None:
        for child in c:
            if child.tag == IS_TAG:
                return text_content(child)
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
                if len(c) == 1:
                    child = c[0]
                    if child.tag == IS_TAG:
                        if len(child) == 1 and (t := child[0]).tag == T_TAG:
                            value = t.text or ""
                        else:
                            value = text_content(child)
                else:
                    value = inline_text(c)
            else:
                for child in c:
                    if child.tag == V_TAG:
                        value = child.text or None
                        break
                if value is not None:
                    if data_type is None or data_type == "n":
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
                    # "str", "e" and unknown types keep the text
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


__all__ = [
    "XlsxBook",
    "is_date_format",
    "is_duration_format",
    "iter_sheet_rows",
    "open_book",
    "read_shared_strings",
    "row_converter",
    "text_content",
]
