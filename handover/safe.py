"""Text from the data, made safe for where it is shown: a spreadsheet cell or a terminal.

* :func:`spreadsheet_safe`: a text cell of a CSV file that starts like a formula (``=``, ``+``, ``-``, ``@``, a
  tab, a carriage return, or their full-width forms) gets a leading single quote, so that Excel and LibreOffice
  show it as text instead of evaluating ``=HYPERLINK(...)`` or ``@SUM(A1)`` (OWASP "CSV injection"). Numbers
  stay numbers. The workbook guards the same texts with the cell's quote prefix instead
  (:mod:`handover.reports.cells`); both decide with :func:`needs_guard`.
* :func:`printable`: text for a terminal. Control characters (C0 and C1, DEL: ANSI colour and cursor sequences,
  OSC window-title sequences, bells), format characters (bidi overrides and isolates, zero-width characters, BOM),
  line and paragraph separators and lone surrogates are shown as visible escapes (``\\x1b``, ``\\u202e``), so
  that nothing in a cell or a header can move the cursor, recolour, retitle or reorder what the terminal shows.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

# What spreadsheet programs read as the start of a formula (full-width forms too: some Excel input methods
# fold them to ASCII).
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")

# Unicode categories never shown as themselves on a terminal: controls, format characters (bidi, zero-width),
# lone surrogates, line and paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def map_texts(value: Any, fn: Callable[[str], Any]) -> Any:
    """``value`` with every string of its nested dicts (keys too), lists and tuples (as lists) passed through
    ``fn``; anything else as it is."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {map_texts(k, fn): map_texts(v, fn) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [map_texts(v, fn) for v in value]
    return value


def needs_guard(text: str) -> bool:
    """True when a spreadsheet program could read ``text`` as a formula."""
    return text.startswith(FORMULA_TRIGGERS)


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell's value with formula-like text neutralised: ``"=1+1"`` → ``"'=1+1"``, ``"-5"`` → ``"'-5"``.

    Only text is changed, and only when it starts with one of :data:`FORMULA_TRIGGERS`; numbers, ``None`` and
    every other text come back as they are.
    """
    if isinstance(value, str) and needs_guard(value):
        return "'" + value
    return value


def _hidden(ch: str) -> bool:
    """True for a character a terminal acts on instead of showing (no-break spaces and private use are shown)."""
    return not ch.isprintable() and unicodedata.category(ch) in _HIDDEN


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(value: Any, *, newlines: bool = False) -> str:
    """``str(value)`` with every character a terminal would act on instead of showing replaced by a visible
    escape: ``"\\x1b[31mred"`` → ``"\\\\x1b[31mred"``. Line feeds are kept when ``newlines`` is true (text
    written by this program over several lines), escaped otherwise (a cell shown on one line)."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # the common case: nothing to do
        return text
    out = []
    for ch in text:
        out.append(_escape(ch) if _hidden(ch) and not (newlines and ch == "\n") else ch)
    return "".join(out)


def printable_json(text: str) -> str:
    """JSON text (as ``json.dumps(..., ensure_ascii=False)`` writes it) with every character :func:`printable`
    would escape written as a JSON ``\\uXXXX`` escape: the same JSON value, safe to show on a terminal."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if not _hidden(ch):
            out.append(ch)
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:  # a surrogate pair, as JSON writes characters beyond the BMP
            code = ord(ch) - 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
    return "".join(out)
