"""Safe cell writing: text from a source reaches a workbook as text, never as a formula.

A string that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or a full-width ``＝ ＋ － ＠``)
is what spreadsheet programs treat as a formula (CSV/formula injection, e.g. ``=HYPERLINK(...)``; the one test is
:func:`handover.safe.needs_guard`). Such text is written as a *string cell*
(``data_type == "s"``, an inline string in the XML, never an ``<f>`` element) with the cell's *quote prefix* set,
so Excel and LibreOffice show it as text and keep it text when an official edits the cell. The value itself
is kept as the source has it (a phone "+84 912..." stays readable). Control characters that XML forbids are
dropped and line ends become LF (XML turns a CR into LF anyway). Every text cell coming from data goes through :func:`safe_text` / :func:`text_cell`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from handover.safe import FORMULA_TRIGGERS, needs_guard
from handover.text import nfc

__all__ = ["FORMULA_TRIGGERS", "needs_guard", "safe_text", "set_text", "text_cell", "value_cell"]

# Characters XML 1.0 forbids: C0 controls but tab/LF/CR, lone surrogates, U+FFFE and U+FFFF.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
DATE_FORMAT = "dd/mm/yyyy"
Style = str | dict[str, Any] | None  # a named style registered with the workbook, or attributes


def safe_text(value: Any) -> str | None:
    """Data value → text fit for a cell: NFC, no XML-illegal characters. ``None``/empty → ``None``.

    The formula guard itself is applied by :func:`text_cell` (it needs the cell); ``safe_text`` is the string
    part shared by every writer.
    """
    if value is None:
        return None
    text = _ILLEGAL_XML.sub("", nfc(str(value)).replace("\r\n", "\n").replace("\r", "\n"))
    return text if text != "" else None


def text_cell(ws: Any, value: Any, style: Style = None) -> Any:
    """A write-only cell holding ``value`` as text; formula-like text is forced to a quoted string cell."""
    from openpyxl.cell import WriteOnlyCell

    text = safe_text(value)
    cell = WriteOnlyCell(ws)
    _apply(cell, style)
    if text is None:
        return cell
    cell.value = text
    cell.data_type = "s"  # whatever openpyxl guessed (a leading "=" makes it "f"), this is text
    if needs_guard(text):
        cell.quotePrefix = True
    return cell


def set_text(cell: Any, value: Any) -> Any:
    """Put ``value`` into a cell of an ordinary (not write-only) worksheet as text, formula-like text guarded."""
    text = safe_text(value)
    cell.value = text
    if text is not None:
        cell.data_type = "s"
        cell.quotePrefix = needs_guard(text)
    return cell


def value_cell(ws: Any, value: Any, style: Style = None) -> Any:
    """A write-only cell for a value of any type: numbers and dates native, everything else as text."""
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, bool) or not isinstance(value, int | float | date | datetime):
        return text_cell(ws, value, style)
    cell = WriteOnlyCell(ws, value=value)
    _apply(cell, style)
    if isinstance(value, date | datetime):
        cell.number_format = DATE_FORMAT
    return cell


def _apply(cell: Any, style: Style) -> None:
    """A named style (registered with the workbook: cheap per cell) or a dict of style attributes."""
    if not style:
        return
    if isinstance(style, str):
        cell.style = style
        return
    for name, attr in style.items():
        setattr(cell, name, attr)
