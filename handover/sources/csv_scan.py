"""The byte-level structural pass of the CSV fast path: is a UTF-8 file plain (one record per line), how wide
are its records, and which lines hold a cell that needs more cleaning than "empty → None"."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

FIELD_LIMIT = 10 * 1024 * 1024  # characters of one field (and bytes of one line of the structural pass)
_SCAN_BLOCK = 8 << 20  # bytes per step of the structural pass
_MAX_DIRTY = 1_000_000  # dirty line numbers kept (8 MB); past that every line is treated as dirty


class Structure(NamedTuple):
    """What the byte-level pass learnt about a plain file."""

    fields: int  # the largest number of fields of any record
    dirty_lines: (
        Any  # sorted line numbers (numpy) holding a cell the per-cell path must see (see _scan_piece)
    )
    all_dirty: bool = False  # too many to list (memory stays flat): every line takes the per-cell path


def scan_structure(path: Path, delimiter: str) -> Structure | None:
    """One pass over the bytes of a UTF-8 CSV, or ``None`` when the file is not plain and must be read row by
    row (invalid UTF-8, NUL bytes, a lone CR, a quote that does not open or close a field, a line break inside
    quotes, unbalanced quotes, a record over the field limit)."""
    largest = 0
    dirty: list[Any] = []
    listed = 0
    all_dirty = False
    lines_before = 0
    carry = b""
    delim = ord(delimiter)
    with path.open("rb") as fh:
        while True:
            block = fh.read(_SCAN_BLOCK)
            final = not block
            if final:
                piece, carry = carry, b""
                if not piece:
                    break
            else:
                data = carry + block if carry else block
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data
                    if len(carry) > FIELD_LIMIT:
                        return None
                    continue
                piece, carry = data[:cut], data[cut:]
            found = _scan_piece(piece, delim)
            if found is None:
                return None
            fields, dirty_here, newlines = found
            largest = max(largest, fields)
            if len(dirty_here) and not all_dirty:
                dirty.append(dirty_here + (lines_before + 1))
                listed += len(dirty_here)
                if listed > _MAX_DIRTY:
                    all_dirty, dirty = True, []
            lines_before += newlines
            if final:
                break
    import numpy as np

    lines = np.concatenate(dirty) if dirty else np.zeros(0, dtype=np.int64)
    return Structure(largest, lines, all_dirty)


@cache
def _suspect_c3() -> Any:
    """Second UTF-8 byte after C3 of the U+00C0–U+00FF letters no Vietnamese word uses (TCVN3/VNI look-alikes)."""
    import numpy as np

    from handover.sources.encodings import SUSPECT

    table = np.zeros(256, dtype=bool)
    for b in range(0x80, 0xC0):
        table[b] = SUSPECT.match(chr(0xC0 + b - 0x80)) is not None
    return table


def _scan_piece(piece: bytes, delim: int) -> tuple[int, Any, int] | None:
    """(largest field count, 0-based lines that are dirty, newline count) of whole lines of a file, or None.

    A line is dirty when a cell in it may need more than "empty → None": a character outside ASCII,
    U+00C0–U+02FF (less the TCVN3/VNI look-alikes) and U+1E00–U+1EFF (all NFC, no white space), a control
    character, or a space next to another space, a separator, a quote or a line end. Clean lines' cells are
    already what ``cells.text`` returns."""
    import numpy as np

    try:
        piece.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if b"\x00" in piece:
        return None
    arr = np.frombuffer(piece, dtype=np.uint8)
    size = len(arr)
    if b"\r" in piece:
        cr = np.flatnonzero(arr == 13)
        if cr[-1] == size - 1 or (arr[cr + 1] != 10).any():
            return None  # a lone CR: a line end the fast reader would not see the same way
    newlines = np.flatnonzero(arr == 10)
    ends = newlines if arr[-1] == 10 else np.append(newlines, size)
    starts = np.concatenate(([0], ends[:-1] + 1))
    if int((ends - starts).max()) > FIELD_LIMIT:
        return None
    quotes = np.flatnonzero(arr == 34)
    if len(quotes) % 2:
        return None  # a quote left open at the end of a line or of the file
    delims = np.flatnonzero(arr == delim)
    per_line = np.diff(np.concatenate(([0], np.searchsorted(delims, ends))))
    if len(quotes):
        opening, closing = quotes[0::2], quotes[1::2]
        before = arr[np.maximum(opening - 1, 0)]
        ok = (before == delim) | (before == 10) | (before == 34) | (opening == 0)
        after = arr[np.minimum(closing + 1, size - 1)]
        ok_close = (after == delim) | (after == 10) | (after == 13) | (after == 34) | (closing == size - 1)
        if not (ok.all() and ok_close.all()):
            return None
        line_open = np.searchsorted(newlines, opening)
        if (line_open != np.searchsorted(newlines, closing)).any():
            return None  # a line break inside a quoted value: records span lines
        quoted = np.searchsorted(delims, closing) - np.searchsorted(delims, opening)
        per_line = per_line - np.bincount(line_open, weights=quoted, minlength=len(ends)).astype(np.int64)
    fields = int(per_line.max()) + 1

    # dirty lines: located from the positions of the bytes that matter (no block-sized temporaries)
    lead = np.flatnonzero(arr >= 0xC0)  # first bytes of non-ASCII characters
    nxt = arr[np.minimum(lead + 1, size - 1)]
    byte = arr[lead]
    parts = [
        lead[
            (byte == 0xC2)  # U+0080–U+00BF: C1 controls, no-break space, TCVN3/VNI look-alikes
            | ((byte == 0xC3) & _suspect_c3()[nxt])  # U+00C0–U+00FF letters no Vietnamese word uses
            | ((byte >= 0xCC) & ~((byte == 0xE1) & (nxt >= 0xB8) & (nxt <= 0xBB)))  # beyond the clean set
        ]
    ]
    controls = np.flatnonzero(arr < 0x20)
    cb = arr[controls]
    parts.append(controls[(cb != 10) & (cb != 13) & (cb != delim)])
    spaces = np.flatnonzero(arr == 0x20)
    after = arr[np.minimum(spaces + 1, size - 1)]
    before = arr[np.maximum(spaces - 1, 0)]
    # a space beside a separator is an edge unless the separator sits inside quotes ("Bản Vược, Xã ...")
    by_delim = (after == delim) | (before == delim)
    if len(quotes) and by_delim.any():
        by_delim[by_delim] = (np.searchsorted(quotes, spaces[by_delim]) & 1) == 0
    by_delim |= (
        (after == 0x20) | (after == 13) | (after == 10) | (after == 34) | (before == 10) | (before == 34)
    )
    by_delim |= (spaces == 0) | (spaces == size - 1)
    parts.append(spaces[by_delim])
    if delim == 9 and len(quotes):  # a tab inside quotes is part of a value
        parts.append(quotes)
    bad = np.concatenate(parts)
    dirty = np.unique(np.searchsorted(newlines, bad)) if len(bad) else bad
    return fields, dirty, len(newlines)
