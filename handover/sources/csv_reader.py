"""CSV and text exports: encoding and delimiter detection, streamed rows, ragged-row check.

Refused up front, each with its line: a quoted value that swallows the lines after it (a quote left open; see
:class:`_QuoteGuard`, unless ``multiline_fields``), bytes the encoding cannot decode (located on their physical
line and byte offset), HTML or XML "Excel exports", and more than :data:`MAX_COLUMNS` named columns."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from handover.models import Chunk
from handover.sources.base import RawRow, SourceReader, column_letter
from handover.sources.cells import header_scan
from handover.sources.encodings import (
    ALIASES,
    LABELS,
    SAMPLE_BYTES,
    decode_line,
    detect_bytes,
    looks_binary,
    utf16_byte_order,
)
from handover.sources.files import check_regular_file, kind_findings

DELIMITERS = (",", ";", "\t", "|")
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_FIELD_LIMIT = 10 * 1024 * 1024
csv.field_size_limit(_FIELD_LIMIT)
_SCAN_BLOCK = 8 << 20  # bytes per step of the structural pass
_READ_ROWS = 50_000  # rows per pandas block of the fast path
_FAST_CODECS = ("utf-8", "utf-8-sig")
MAX_COLUMNS = 512  # header columns up to the last named one; past them only empty values are read
_MAX_DIRTY = 1_000_000  # dirty line numbers kept (8 MB); past that every line is treated as dirty


class CsvReader(SourceReader):
    kind = "csv"

    def _prepare(self) -> None:
        path = self.cfg.path
        assert path is not None
        check_regular_file(path, self.cfg.id)
        try:
            with path.open("rb") as fh:
                sample = fh.read(SAMPLE_BYTES)
                complete = not fh.read(1)
        except OSError as exc:
            raise self.error(
                f"The source file '{path}' cannot be read: {exc.strerror}.",
                hint="Check the file's permissions, or copy it to a local folder.",
            ) from exc
        if not sample.strip():
            raise self.error(
                "The file is empty: it has no rows to read.",
                hint="Export the data again from the district system, or remove this source from the batch.",
            )
        declared = ALIASES.get(self.cfg.encoding.lower()) if self.cfg.encoding else None
        if self.cfg.encoding and declared is None:
            raise self.error(
                f"Unknown encoding '{self.cfg.encoding}'.",
                hint="Use one of: utf-8, utf-16, cp1258, tcvn3, vni (or omit it to detect).",
                column="encoding",
            )
        has_bom = sample.startswith((b"\xff\xfe", b"\xfe\xff"))
        order = utf16_byte_order(sample) if not has_bom else None
        is_utf16 = has_bom or declared in ("utf-16", "utf-16-le", "utf-16-be")
        markup = _markup_kind(sample)
        if markup:
            raise self.error(
                f"The file is {markup}, not CSV text or an Excel workbook (web systems often save their "
                "'Excel export' this way).",
                hint="Open it in Excel and save it as Excel Workbook (.xlsx), then use that file "
                '(kind = "xlsx"); or export the data again as CSV.',
            )
        if sample.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            raise self.error(
                "The file is a spreadsheet (Excel), not CSV text.",
                hint='Set kind = "xlsx" (or "xls") for this source.',
            )
        if not is_utf16 and looks_binary(sample):
            if order is not None:
                raise self.error(
                    "The file looks like UTF-16 text without a byte-order mark (every other byte is zero), "
                    "not UTF-8 or a Vietnamese 8-bit encoding.",
                    hint='Set encoding = "utf-16" for this source (the byte order is then told from the text).',
                    column="encoding",
                )
            raise self.error(
                "The file is not text: it holds binary data (NUL bytes or control characters), "
                "so it cannot be read as CSV.",
                hint="Check this is the CSV export itself (not a renamed database, archive or image); "
                "export it again as CSV or Excel.",
            )
        if declared is not None:
            self.codec = declared
            self.report["encoding"] = LABELS.get(declared, declared)
            self.report["encoding_evidence"] = "set in the batch configuration (encoding = ...)"
            if declared == "utf-16" and not has_bom:
                codec, evidence = order or (
                    "utf-16-le",
                    "no byte-order mark: little-endian (as Windows writes)",
                )
                self.codec = codec
                self.report["encoding"] = LABELS[codec]
                self.report["encoding_evidence"] += f"; {evidence}"
        else:
            det = detect_bytes(sample, complete)
            self.codec = det.encoding
            self.report["encoding"] = det.label
            self.report["encoding_evidence"] = det.evidence
        self.report["encoding_codec"] = self.codec
        if self.cfg.delimiter:
            self.delimiter = self.cfg.delimiter
            self.report["delimiter_evidence"] = "set in the batch configuration"
        else:
            self.delimiter, evidence = self._sniff(sample)
            self.report["delimiter_evidence"] = evidence
        self.report["delimiter"] = self.delimiter

    def _sniff(self, sample: bytes) -> tuple[str, str]:
        codec = self.codec if self.codec.startswith("utf-16") else "latin-1"
        text = sample.decode(codec, errors="ignore")
        lines = [ln for ln in text.splitlines() if ln.strip()][:30]
        counts = {d: sum(ln.count(d) for ln in lines) for d in DELIMITERS}
        best = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
        if counts[best] == 0:
            return ",", "no separator found in the first lines: comma assumed"
        return (
            best,
            f"{_DELIM_NAMES[best]} is the most frequent separator in the first {len(lines)} lines ({counts[best]}x)",
        )

    def _open_text(self) -> Any:
        assert self.cfg.path is not None
        codec = self.codec
        py_codec = "latin-1" if codec in ("tcvn3", "vni") else codec
        return self.cfg.path.open("r", encoding=py_codec, errors="strict", newline="")

    def _rows(self) -> Iterator[RawRow]:
        codec = self.codec
        guard = None if self.cfg.multiline_fields else _QuoteGuard(self.delimiter)
        with self._open_text() as fh:
            lines = fh if codec in ("utf-8", "utf-8-sig") else (decode_line(ln, codec) for ln in fh)
            reader = csv.reader(lines, delimiter=self.delimiter)
            start = 1
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except UnicodeDecodeError as exc:
                    raise self._decode_error(exc) from exc
                except csv.Error as exc:
                    raise self.error(
                        f"Line {reader.line_num} cannot be read as CSV: {exc}.",
                        hint="Open the file in a text editor at that line (an unclosed quote is the usual cause).",
                        row=reader.line_num,
                    ) from exc
                if guard is not None:
                    found = guard.check(start, reader.line_num, values)
                    if found is not None:
                        raise self._open_quote_error(guard, start, reader.line_num, values, *found)
                yield start, values, False
                start = reader.line_num + 1

    def _open_quote_error(
        self, guard: _QuoteGuard, start: int, end: int, values: list[str], j: int, median: float
    ) -> Exception:
        """A value that swallowed the lines after it: name the line where its quote opened and the column."""
        value = values[j]
        line = start + sum(v.count("\n") for v in values[:j])
        spanned = end - line + 1
        header = getattr(self, "header", None)
        names = header.headers if header is not None else guard.names
        name = names[j] if j < len(names) else None
        letter = column_letter(j)
        column = f"{letter} ('{name}')" if name else letter
        typical = f"; the column's values are typically {median:,.0f} characters" if median else ""
        opening = " ".join(value.split())[:60]
        return self.error(
            f"Line {line}, column {column}: a quoted value opens here and runs on over {spanned:,} lines "
            f'(to line {end}, {len(value):,} characters{typical}), starting "{opening}…". Its closing quote '
            "is probably missing, so the rows after it would be read as one cell.",
            hint=f"Close the quote in column {letter} on line {line} (a quote inside a value is written twice: "
            '"") or export the file again; if values of this file really span many lines, set '
            "multiline_fields = true for this source.",
            row=line,
            column=name or letter,
        )

    def _decode_error(self, exc: UnicodeDecodeError) -> Exception:
        """The decoding error located on its physical line and byte offset (the text layer reads ahead)."""
        assert self.cfg.path is not None
        line, offset, bad = locate_decode_error(self.cfg.path, self.codec)
        where = f"line {line} (byte offset {offset:,}: {bad.hex(' ').upper()})" if line else "somewhere"
        return self.error(
            f"The file is not valid {self.report['encoding']} text at {where}: {exc.reason}.",
            hint="Set encoding in the source config (utf-8, utf-16, cp1258, tcvn3, vni), or fix that line "
            "(export again); `handover sources inspect FILE` shows what was detected.",
            row=line,
        )

    def _build_columns(self, index: int, row_numbers: Any, columns: list[Any], clean: Any = None) -> Chunk:
        chunk = super()._build_columns(index, row_numbers, columns, clean)
        if index == 0:
            chunk.findings[:0] = kind_findings(self.report, self.cfg.id)
        return chunk

    def _choose_header(self, head):  # type: ignore[no-untyped-def]
        from handover.errors import SourceError

        try:
            return super()._choose_header(header_scan(head))
        except SourceError:
            lines = [self.delimiter.join(str(v) for v in values) for _, values in head]
            counts = {d: sum(ln.count(d) for ln in lines) for d in DELIMITERS}
            found = max(DELIMITERS, key=lambda d: counts[d])
            if found != self.delimiter and counts[found] > counts[self.delimiter]:
                shown = "\\t" if found == "\t" else found
                raise self.error(
                    f"No header row found: the file seems to use {_DELIM_NAMES[found]} ('{shown}') between "
                    f"values, not {_DELIM_NAMES.get(self.delimiter, repr(self.delimiter))}.",
                    hint=f'Set delimiter = "{shown}" in the source config (or remove delimiter to detect it).',
                    column="delimiter",
                ) from None
            raise

    def _apply_header(self, choice: Any) -> None:
        """Past :data:`MAX_COLUMNS` columns, the header's trailing unnamed columns are left out (the prescan
        then refuses any value under them); more named columns than that are refused."""
        if len(choice.headers) > MAX_COLUMNS:
            named = [j for j, (h, f) in enumerate(zip(choice.headers, choice.fields, strict=True)) if h or f]
            last = named[-1] + 1 if named else 0
            if last > MAX_COLUMNS:
                raise self.error(
                    f"The header (row {choice.row}) has {last:,} columns: no export uses more than "
                    f"{MAX_COLUMNS}, and reading that many costs time and memory for every row.",
                    hint="Check the separator (delimiter = ...) and that this is the right export; delete the "
                    "columns that are not part of it, or export again.",
                    row=choice.row,
                )
            self.report["trailing_empty_columns"] = len(choice.headers) - last
            choice.headers = choice.headers[:last]
            choice.fields = choice.fields[:last]
        super()._apply_header(choice)

    def _prescan(self, data_start: int) -> None:
        """Refuse ragged rows and bad bytes before any chunk. A byte-level pass proves most files clean; the
        row-by-row pass runs when it cannot (or to name the bad line)."""
        self._fast_fields: int | None = None
        width = len(self.header.headers)
        assert self.cfg.path is not None
        if self.codec in _FAST_CODECS and len(self.delimiter) == 1 and self.delimiter not in '"\r\n':
            found = scan_structure(self.cfg.path, self.delimiter)
            if found is not None:
                if found.fields > width:
                    self._prescan_rows(data_start)
                self._fast_fields = max(found.fields, width)
                self._dirty_lines = None if found.all_dirty else found.dirty_lines
                return
        self._prescan_rows(data_start)

    def _prescan_rows(self, data_start: int) -> None:
        width = len(self.header.headers)
        for number, values, _ in self._rows():
            if number < data_start:
                continue
            if self._footer_marker(values):
                continue  # a possible total line or signature block: its cells need not match the header
            if len(values) <= width:
                continue
            extra = next((j for j in range(width, len(values)) if values[j].strip()), None)
            if extra is not None:
                shown = " ".join(values[extra].split())[:40]
                raise self.error(
                    f"Line {number} has {len(values)} values but the header (row {self.header.row}) has "
                    f"{width} columns: the values are shifted{self._spanning(number, values)}. The first value "
                    f"past the header is in column {column_letter(extra)}: '{shown}'.",
                    hint="Open the line in a text editor: an unquoted separator inside a value (a comma in an "
                    "address) is the usual cause; quote that value or export again.",
                    row=number,
                )

    def _spanning(self, number: int, values: list[str]) -> str:
        """For a shifted record that spans lines: where its first multi-line value opens its quote."""
        for j, value in enumerate(values):
            if "\n" in value:
                line = number + sum(v.count("\n") for v in values[:j])
                end = line + value.count("\n")
                name = self.header.headers[j] if j < len(self.header.headers) else ""
                column = f"{column_letter(j)} ('{name}')" if name else column_letter(j)
                return (
                    f"; the value in column {column} opens a quote on line {line} and runs to line {end}: "
                    "that quote is probably not closed"
                )
        return ""

    # -- fast path: files the structural pass proved plain (one record per line) ----------------------------
    def chunks(self) -> Iterator[Chunk]:
        """The data rows in frames of at most ``chunk_size`` rows (pandas' C parser on plain UTF-8 files)."""
        if getattr(self, "_fast_fields", None) is None:
            yield from super().chunks()
            return
        import numpy as np
        import pandas as pd

        assert self.cfg.path is not None and self._fast_fields is not None
        self._start_rows()
        total = self._fast_fields
        # past the header only empty values (the prescan refused any other, up to a footer): a wide file's
        # are never built (the footer lines listed then miss values right of the header)
        used = min(total, len(self.header.headers)) if total > MAX_COLUMNS else total
        width = len(self.field_of)
        ki = self.key_index
        plain_of = _plain_first if ki == 0 else _plain_row
        blocks = pd.read_csv(
            self.cfg.path,
            sep=self.delimiter,
            header=None,
            names=list(range(total)),
            usecols=list(range(used)) if used < total else None,
            index_col=False,
            dtype=object,
            na_filter=False,
            keep_default_na=False,
            skip_blank_lines=False,
            skiprows=self.data_start - 1,
            quotechar='"',
            doublequote=True,
            engine="c",
            encoding="utf-8",
            chunksize=_READ_ROWS,
        )
        dirty = self._dirty_lines

        def build(index: int, rows_: Any, columns: list[Any]) -> Chunk:
            if dirty is None:
                clean = np.zeros(len(rows_), dtype=bool)
            elif len(dirty):
                clean = ~np.isin(rows_, dirty, assume_unique=True)
            else:
                clean = np.ones(len(rows_), dtype=bool)
            return self._build_columns(index, rows_, columns, clean)

        line = self.data_start
        pending: list[tuple[Any, list[Any]]] = []
        buffered = 0
        index = 0
        with blocks:
            for block in blocks:
                m = len(block)
                cols = [block[c].to_numpy(dtype=object) for c in range(used)]
                numbers = np.arange(line, line + m, dtype=np.int64)
                line += m
                self.report["physical_rows"] += m
                plain = np.fromiter(map(plain_of, *cols[: ki + 1]), dtype=bool, count=m)
                keep, carried = self._keep_block(cols, numbers, plain)
                if carried:  # rows of earlier blocks held back, data after all: before this block's rows
                    pending.append(_columns_of(carried, width))
                    buffered += len(carried)
                sel = np.flatnonzero(keep)
                if len(sel):
                    pending.append((numbers[sel], [cols[j][sel] for j in range(width)]))
                    buffered += len(sel)
                given = False
                while buffered > self.chunk_size:  # the last chunk is given after the end-of-file rules
                    rows_, columns = _concat(pending)
                    n = self.chunk_size
                    yield build(index, rows_[:n], [c[:n] for c in columns])
                    index += 1
                    pending = [(rows_[n:], [c[n:] for c in columns])] if len(rows_) > n else []
                    buffered -= n
                    given = True
                if given and pending:  # a copy: a view would keep the given rows' cells alive with the block
                    pending = [(pending[0][0].copy(), [c.copy() for c in pending[0][1]])]
        self._finish_rows()
        if buffered:
            rows_, columns = _concat(pending)
            yield build(index, rows_, columns)


def _columns_of(rows: list[tuple[int, list[Any]]], width: int) -> tuple[Any, list[Any]]:
    """Rows as the fast path's (row numbers, object column arrays) of ``width`` columns."""
    import numpy as np

    numbers = np.array([number for number, _ in rows], dtype=np.int64)
    columns = []
    for j in range(width):
        col = np.empty(len(rows), dtype=object)
        col[:] = [values[j] if j < len(values) else "" for _, values in rows]
        columns.append(col)
    return numbers, columns


def _markup_kind(sample: bytes) -> str | None:
    """ "an HTML page" / "an XML spreadsheet (Excel 2003 XML)" when a text file is markup, else None."""
    head = sample[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff"):
        head = (
            sample[:8192].decode("utf-16", errors="ignore").encode("utf-8", errors="ignore").lstrip().lower()
        )
    if not head.startswith(b"<"):
        return None
    if b"urn:schemas-microsoft-com:office:spreadsheet" in head:
        return "an XML spreadsheet (Excel 2003 XML)"
    if head.startswith((b"<!doctype html", b"<html", b"<table", b"<meta")) or b"<table" in head:
        return "an HTML page"
    return None


def _plain_first(key: str) -> bool:
    t = key.strip()
    return bool(t) and t[0] not in "TtCc"


def _plain_row(*values: str) -> bool:
    if not values[-1].strip():
        return False
    for v in values:
        t = v.strip()
        if t:
            return t[0] not in "TtCc"
    return False


def _concat(pending: list[tuple[Any, list[Any]]]) -> tuple[Any, list[Any]]:
    import numpy as np

    if len(pending) == 1:
        return pending[0]
    rows = np.concatenate([p[0] for p in pending])
    columns = [np.concatenate([p[1][j] for p in pending]) for j in range(len(pending[0][1]))]
    return rows, columns


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
                    if len(carry) > _FIELD_LIMIT:
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
    if int((ends - starts).max()) > _FIELD_LIMIT:
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


MULTILINE_LINES = 4  # a value over more lines than this is refused unless multiline_fields = true
MULTILINE_CHARS = 1_000  # ... or over this many characters and
MULTILINE_RATIO = 10  # ... this many times its column's median length
_GUARD_SAMPLE = 1_000  # records whose value lengths make the column medians


class _QuoteGuard:
    """Spots a value that swallowed the lines after it (a quote opened and never closed): a value holding a
    line break that spans more than :data:`MULTILINE_LINES` lines, or that is over :data:`MULTILINE_CHARS`
    characters and :data:`MULTILINE_RATIO` times its column's median length (from the first records), or
    one of whose later lines holds as many separators as a whole record (a swallowed row)."""

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self.lengths: list[list[int]] = []  # value lengths of the first records, record by record
        self.seen = 0
        self.names: list[str] = []  # the first header-like record (3 short values or more), to name columns

    def check(self, start: int, end: int, values: list[str]) -> tuple[int, float] | None:
        """(column, median length) of the first swallowing value of a record, or None."""
        found = None
        if end > start:
            for j, value in enumerate(values):
                if "\n" not in value and "\r" not in value:
                    continue
                median = self.median(j)
                if (
                    value.count("\n") + 1 > MULTILINE_LINES
                    or (len(value) > MULTILINE_CHARS and len(value) > MULTILINE_RATIO * median)
                    or self.holds_a_record(value)
                ):
                    found = (j, median)
                    break
        if found is None and self.seen < _GUARD_SAMPLE:
            self.seen += 1
            head = values[:MAX_COLUMNS]
            if not self.names and sum(1 for v in head if v.strip() and len(v) < 100) >= 3:
                self.names = [" ".join(v.split()) for v in head]
            self.lengths.append(list(map(len, head)))
        return found

    def holds_a_record(self, value: str) -> bool:
        """A line after the first of a multi-line value with a separator between every column of the
        header-like record (at least 3 columns): a row of the file swallowed into the value."""
        width = len(self.names)
        if width < 3:
            return False
        return any(line.count(self.delimiter) >= width - 1 for line in value.splitlines()[1:])

    def median(self, j: int) -> float:
        column = [row[j] for row in self.lengths if j < len(row)]
        if not column:
            return 0.0
        return float(sorted(column)[len(column) // 2])


def locate_decode_error(path: Path, codec: str, block: int = 1 << 20) -> tuple[int, int, bytes]:
    """(1-based line, byte offset, the offending bytes) of the first bytes of ``path`` that ``codec`` cannot
    decode, or (0, 0, b"") when it decodes cleanly. Lines are counted in the decoded text."""
    import codecs

    # the BOM is plain UTF-8 to count with (utf-8-sig's decoder gives offsets after it)
    py_codec = {"tcvn3": "latin-1", "vni": "latin-1", "utf-8-sig": "utf-8"}.get(codec, codec)
    decoder = codecs.getincrementaldecoder(py_codec)("strict")
    consumed = 0
    newlines = 0
    with path.open("rb") as fh:
        while True:
            data = fh.read(block)
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                offset = consumed - pending + exc.start
                before = exc.object[: exc.start].decode(py_codec, errors="ignore")
                return newlines + before.count("\n") + 1, offset, exc.object[exc.start : exc.end]
            newlines += text.count("\n")
            consumed += len(data)
            if not data:
                return 0, 0, b""
