"""CSV and text exports: encoding and delimiter detection, streamed rows, ragged-row check.

Refused up front, each with its line: a quoted value that swallows the lines after it (a quote left open; see
:class:`~handover.sources.csv_text.QuoteGuard`, unless ``multiline_fields``), bytes the encoding cannot decode (located on their physical
line and byte offset), HTML or XML "Excel exports", and more than :data:`MAX_COLUMNS` named columns."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from handover.models import Chunk
from handover.sources.base import RawRow, SourceReader
from handover.sources.cells import header_scan
from handover.sources.csv_scan import FIELD_LIMIT, scan_structure
from handover.sources.csv_text import QuoteGuard, locate_decode_error, markup_kind
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
from handover.sources.headers import column_letter

DELIMITERS = (",", ";", "\t", "|")
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
csv.field_size_limit(FIELD_LIMIT)
_READ_ROWS = 50_000  # rows per pandas block of the fast path
_FAST_CODECS = ("utf-8", "utf-8-sig")
MAX_COLUMNS = 512  # header columns up to the last named one; past them only empty values are read


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
        markup = markup_kind(sample)
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
        guard = None if self.cfg.multiline_fields else QuoteGuard(self.delimiter, MAX_COLUMNS)
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
        self, guard: QuoteGuard, start: int, end: int, values: list[str], j: int, median: float
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
