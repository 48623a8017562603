"""CSV and text exports: encoding and delimiter detection, streamed rows, ragged-row check."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from handover.sources.base import RawRow, SourceReader
from handover.sources.encodings import (
    ALIASES,
    LABELS,
    SAMPLE_BYTES,
    decode_line,
    detect_bytes,
    looks_binary,
)
from handover.sources.headers import footer_marker

DELIMITERS = (",", ";", "\t", "|")
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
csv.field_size_limit(10 * 1024 * 1024)


class CsvReader(SourceReader):
    kind = "csv"

    def _prepare(self) -> None:
        path = self.cfg.path
        assert path is not None
        if not path.is_file():
            raise self.error(
                f"The source file '{path}' does not exist.",
                hint="Check the path in the batch config (relative paths start at the config file's folder).",
            )
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
        is_utf16 = sample.startswith((b"\xff\xfe", b"\xfe\xff"))
        if sample.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            raise self.error(
                "The file is a spreadsheet (Excel), not CSV text.",
                hint='Set kind = "xlsx" (or "xls") for this source.',
            )
        if not is_utf16 and looks_binary(sample):
            raise self.error(
                "The file is not text: it holds binary data (NUL bytes or control characters), "
                "so it cannot be read as CSV.",
                hint="Check this is the CSV export itself (not a renamed database, archive or image); "
                "export it again as CSV or Excel.",
            )
        if self.cfg.encoding:
            codec = ALIASES.get(self.cfg.encoding.lower())
            if codec is None:
                raise self.error(
                    f"Unknown encoding '{self.cfg.encoding}'.",
                    hint="Use one of: utf-8, utf-16, cp1258, tcvn3, vni (or omit it to detect).",
                    column="encoding",
                )
            self.codec = codec
            self.report["encoding"] = LABELS.get(codec, codec)
            self.report["encoding_evidence"] = "set in the batch configuration (encoding = ...)"
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
        text = sample.decode("utf-16" if self.codec == "utf-16" else "latin-1", errors="ignore")
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
                    raise self.error(
                        f"The file is not valid {self.report['encoding']} text near line {reader.line_num + 1}.",
                        hint="Set encoding in the source config (utf-8, utf-16, cp1258, tcvn3, vni); "
                        "`handover sources inspect FILE` shows what was detected.",
                        row=reader.line_num + 1,
                    ) from exc
                except csv.Error as exc:
                    raise self.error(
                        f"Line {reader.line_num} cannot be read as CSV: {exc}.",
                        hint="Open the file in a text editor at that line (an unclosed quote is the usual cause).",
                        row=reader.line_num,
                    ) from exc
                yield start, values, False
                start = reader.line_num + 1

    def _choose_header(self, head):  # type: ignore[no-untyped-def]
        from handover.errors import SourceError

        try:
            return super()._choose_header(head)
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

    def _prescan(self, data_start: int) -> None:
        width = len(self.header.headers)
        for number, values, _ in self._rows():
            if number < data_start:
                continue
            if footer_marker(values, self._key_of(values)):
                return
            if len(values) <= width:
                continue
            extra = [v for v in values[width:] if v.strip()]
            if extra:
                raise self.error(
                    f"Line {number} has {len(values)} values but the header (row {self.header.row}) has "
                    f"{width} columns: the values are shifted.",
                    hint="Open the line in a text editor: an unquoted separator inside a value (a comma in an "
                    "address) is the usual cause; quote that value or export again.",
                    row=number,
                )
