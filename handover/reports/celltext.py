"""A data cell's text as a rendered row writes it (:meth:`handover.reports.rowxml.RowSink.data_row`): the text
:func:`~handover.reports.cells.safe_text` makes of a value, its kind of inline-string cell and its XML, and,
per column, these remembered for values that repeat (procedure names, statuses, old communes)."""

from __future__ import annotations

from typing import Any
from unicodedata import is_normalized

from handover.reports.cells import FORMULA_TRIGGERS, safe_text

# The kinds of a text cell, in this order: empty (no text), plain, plain with outer spaces (xml:space="preserve"),
# formula-like (the quote prefix), formula-like with outer spaces.
EMPTY, PLAIN, SPACED, QUOTED, QUOTED_SPACED = range(5)
_TRIGGERS = frozenset(FORMULA_TRIGGERS) if all(len(t) == 1 for t in FORMULA_TRIGGERS) else None
REMEMBERED = 4_096  # texts a column remembers at a time
Text = tuple[int, str, str]  # (kind, XML of the text, the text)


def cell_text(value: Any) -> Text:
    """``(kind, xml, text)`` of a value written as text: ``text`` its :func:`safe_text` ("" for none), ``xml``
    the text with ``& < >`` escaped and every non-ASCII character as a character reference (as the row file
    is written), ``kind`` one of :data:`EMPTY` ... :data:`QUOTED_SPACED`."""
    if value.__class__ is str and value.isprintable() and is_normalized("NFC", value):
        text = (
            value  # printable (no control, CR/LF, surrogate or non-character) NFC text is its own safe_text
        )
    else:
        text = safe_text(value) or ""
    if not text:
        return EMPTY, "", ""
    quoted = text[0] in _TRIGGERS if _TRIGGERS is not None else text.startswith(FORMULA_TRIGGERS)
    kind = (QUOTED if quoted else PLAIN) + (text != text.strip())
    xml = text
    if "&" in xml or "<" in xml or ">" in xml:
        xml = xml.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if not xml.isascii():
        xml = xml.encode("ascii", "xmlcharrefreplace").decode("ascii")
    return kind, xml, text


class ColumnTexts:
    """The :func:`cell_text` of one column's values, remembered while they repeat: ``found`` (``None`` once
    the column stopped remembering) holds them by value; a value not there is :meth:`text`'s. When
    :data:`REMEMBERED` texts are held they are dropped and, if the column's values mostly did not repeat (fewer
    than two rows per text since the texts were last dropped), the column stops remembering."""

    __slots__ = ("found", "since")

    def __init__(self) -> None:
        self.found: dict[str, Text] | None = {}
        self.since: int | None = None  # the row the texts were last dropped at (or the first row)

    def text(self, value: str, row: int) -> Text:
        """:func:`cell_text` of a ``str`` value not in ``found``, in data row ``row`` (rows count up)."""
        hit = cell_text(value)
        found = self.found
        if found is None:
            return hit
        if self.since is None:
            self.since = row
        if len(found) >= REMEMBERED:
            found.clear()
            if row - self.since < 2 * REMEMBERED:
                self.found = None
                return hit
            self.since = row
        found[value] = hit
        return hit
