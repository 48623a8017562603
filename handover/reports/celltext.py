"""A data cell's text as a rendered row writes it (:meth:`handover.reports.rowxml.RowSink.data_row`): the text
:func:`~handover.reports.cells.safe_text` makes of a value, its kind of inline-string cell and its XML, and,
per column, these remembered for values that repeat (procedure names, statuses, old communes); the lines a
text takes wrapped in its column."""

from __future__ import annotations

from typing import Any
from unicodedata import is_normalized

from handover.reports.cells import FORMULA_TRIGGERS, safe_text

# The kinds of a text cell, in this order: empty (no text), plain, plain with outer spaces (xml:space="preserve"),
# formula-like (the quote prefix), formula-like with outer spaces.
EMPTY, PLAIN, SPACED, QUOTED, QUOTED_SPACED = range(5)
_TRIGGERS = frozenset(FORMULA_TRIGGERS) if all(len(t) == 1 for t in FORMULA_TRIGGERS) else None
REMEMBERED = 4_096  # texts a column remembers at a time
PROBE = 256  # texts after which a column whose values mostly did not repeat stops remembering
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


class ColumnTexts:
    """The :func:`cell_text` of one column's values, remembered while they repeat: ``found`` (``None`` once
    the column stopped remembering) holds them by value; a value not there is :meth:`text`'s. When
    :data:`PROBE` or :data:`REMEMBERED` texts are held and the column's values mostly did not repeat (fewer than
    two rows per text since the texts were last dropped), the column stops remembering; at :data:`REMEMBERED`
    texts they are dropped and remembering starts again."""

    __slots__ = ("found", "since")

    def __init__(self) -> None:
        self.found: dict[str, Text] | None = {}
        self.since: int | None = None  # the row the texts were last dropped at (or the first row)

    def text(self, value: str, row: int) -> Text:
        """:func:`cell_text` of a ``str`` value not in ``found``, in the ``row``-th data row of its
        :class:`Layout`."""
        hit = cell_text(value)
        found = self.found
        if found is None:
            return hit
        if self.since is None:
            self.since = row
        held = len(found)
        if held in (PROBE, REMEMBERED) and row - self.since < 2 * held:  # mostly not repeating: stop
            found.clear()
            self.found = None
            return hit
        if held >= REMEMBERED:
            found.clear()
            self.since = row
        found[value] = hit
        return hit


class Layout:
    """The :class:`ColumnTexts` of the data rows of every sheet of one layout (its column widths) in one
    workbook (the values' texts do not depend on the sheet), and the rows they rendered (``rows``). The
    workbook's rendered rows hold them (:func:`handover.reports.rowxml.fragments`): they go with it."""

    __slots__ = ("columns", "rows")

    def __init__(self) -> None:
        self.columns: dict[int, ColumnTexts] = {}
        self.rows = 0

    def column(self, index: int) -> ColumnTexts:
        found = self.columns.get(index)
        if found is None:
            found = self.columns[index] = ColumnTexts()
        return found
