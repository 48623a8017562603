"""What makes a CSV's text unreadable, found and located: markup saved as an "Excel export", a quoted value that
swallows the lines after it (a quote left open), bytes the encoding cannot decode."""

from __future__ import annotations

from pathlib import Path


def markup_kind(sample: bytes) -> str | None:
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


MULTILINE_LINES = 4  # a value over more lines than this is refused unless multiline_fields = true
MULTILINE_CHARS = 1_000  # ... or over this many characters and
MULTILINE_RATIO = 10  # ... this many times its column's median length
_GUARD_SAMPLE = 1_000  # records whose value lengths make the column medians


class QuoteGuard:
    """Spots a value that swallowed the lines after it (a quote opened and never closed): a value holding a
    line break that spans more than :data:`MULTILINE_LINES` lines, or that is over :data:`MULTILINE_CHARS`
    characters and :data:`MULTILINE_RATIO` times its column's median length (from the first records), or
    one of whose later lines holds as many separators as a whole record (a swallowed row)."""

    def __init__(self, delimiter: str, max_columns: int) -> None:
        self.delimiter = delimiter
        self.max_columns = max_columns  # the columns read of a record (the reader's limit)
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
            head = values[: self.max_columns]
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
