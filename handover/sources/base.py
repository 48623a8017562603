"""What every reader shares: header choice, required columns, chunk building, the report.

A concrete reader only yields raw rows: ``(row_number, values, hidden)`` with the 1-based row number the user
sees in the file or sheet. This class turns them into :class:`handover.models.Chunk` frames with the canonical
columns, repairs (each a finding), and a report of every decision.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections.abc import Iterator
from itertools import repeat
from pathlib import Path
from typing import Any

from handover.config import SourceConfig
from handover.errors import SourceError
from handover.ids import normalise_sex
from handover.keys import KEY_FIELDS, canonical_key_column, key_text
from handover.models import (
    DATE_FIELDS,
    ID_FIELDS,
    MAX_LINES_PER_RULE,
    NUMBER_FIELDS,
    PHONE_FIELDS,
    SEX_FIELDS,
    TECHNICAL_COLUMNS,
    TIME_OF_DAY_FIELDS,
    Chunk,
    Entity,
    Finding,
    NonDataLine,
    RowAccount,
    Severity,
    SourceFingerprint,
    fields_for,
    source_fields,
)
from handover.sources import cells
from handover.sources.encodings import (
    SUSPECT,
    accented_words,
    decode_tcvn3,
    decode_vni,
    repair_lookalike,
    score,
)
from handover.sources.headers import (
    SCAN_ROWS,
    HeaderChoice,
    Matcher,
    find_header,
    is_numbering_row,
    row_shape,
    stated_count,
)
from handover.sources.profiles import DEFAULT_PROFILE, REQUIRED, load_profile
from handover.text import mask_id

RawRow = tuple[int, list[Any], bool]
_LONG_DIGITS = re.compile(r"\d{9,}")  # ID and phone numbers in a listed line are masked
LOOKAHEAD_ROWS = 2000  # rows read past the header to make sure there is data at all
_MAX_LISTED = 50
_CODEC_NAME = {"tcvn3": "TCVN3 (ABC)", "vni": "VNI"}


def column_letter(index: int) -> str:
    """0 → A, 26 → AA (how spreadsheets name columns)."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class SourceReader:
    """Base of the CSV, Excel and SQL readers. Construct through :func:`handover.sources.open_source`.

    Every physical row is accounted for: the rows above the header (``title``, ``blank``, ``header``), and under
    it each row is data or a non-data row with its rule (``blank``, ``numbering``, ``subtotal``, ``total``,
    ``signature``); :meth:`row_account` gives ``physical_rows = data_rows + non-data rows``. A total line or a
    signature block is recognised by its shape (:func:`~handover.sources.headers.row_shape`) and only at the
    end of the data: its rows are held back until the file ends, and a data row after them makes them what
    they are inside the data (a total or signature text: a non-data row with a finding; anything else: data).
    """

    kind = "file"
    footer_detection = True
    header_in_source = True  # the header rows are rows of the source (not so for SQL: column names)
    gaps_are_blank = False  # a row number skipped is a blank row (sheets), not a line of a multi-line record

    def __init__(self, cfg: SourceConfig, chunk_size: int) -> None:
        self.cfg = cfg
        self.entity = Entity(cfg.entity)
        self.chunk_size = max(1, int(chunk_size))
        self.fields = fields_for(self.entity)
        self.required = REQUIRED[self.entity]
        self.file = str(cfg.path) if cfg.path is not None else None
        self.report: dict[str, Any] = {"source": cfg.id, "kind": cfg.kind, "entity": self.entity.value}
        if self.file:
            self.report["file"] = self.file
        self._fingerprint: SourceFingerprint | None = None
        self._flagged_columns: set[int] = set()
        self._column_codec: dict[int, str] = {}

    # -- what subclasses provide ----------------------------------------------------------------------------
    def _prepare(self) -> None:
        """Check the input can be read (and detect its encoding, sheet ...); raise SourceError if not."""

    def _rows(self) -> Iterator[RawRow]:
        raise NotImplementedError

    def _prescan(self, data_start: int) -> None:
        """Optional full structural pass before any chunk is produced (CSV: ragged rows)."""

    def _compute_fingerprint(self) -> SourceFingerprint:
        assert self.cfg.path is not None
        return SourceFingerprint(
            source_id=self.cfg.id,
            kind=self.cfg.kind,
            location=str(self.cfg.path),
            entity=self.entity,
            sha256=sha256_file(self.cfg.path),
            size_bytes=self.cfg.path.stat().st_size,
        )

    # -- public ----------------------------------------------------------------------------------------------
    @property
    def fingerprint(self) -> SourceFingerprint:
        if self._fingerprint is None:
            self._fingerprint = self._compute_fingerprint()
        return self._fingerprint

    def error(self, message: str, hint: str, **where: Any) -> SourceError:
        return SourceError(message, hint=hint, file=self.file, source=self.cfg.id, **where)

    def open(self) -> SourceReader:
        """Validate up front: readable, header found, required column present, at least one data row."""
        profile_name = self.cfg.profile or DEFAULT_PROFILE[self.entity]
        try:
            profile = load_profile(profile_name)
        except SourceError as exc:
            raise SourceError(exc.message, hint=exc.hint, file=self.file, source=self.cfg.id) from None
        if profile.entity is not self.entity:
            raise self.error(
                f"Profile '{profile_name}' is for {profile.entity.value} sources, but source '{self.cfg.id}' "
                f'has entity = "{self.entity.value}".',
                hint=f'Use profile = "{DEFAULT_PROFILE[self.entity]}" or change the source\'s entity.',
            )
        self.report["profile"] = profile_name
        mappable = source_fields(self.entity)
        for header, fld in self.cfg.columns.items():
            if fld not in mappable:
                raise self.error(
                    f"[sources.columns] maps '{header}' to '{fld}', which is not a {self.entity.value} field.",
                    hint=f"Use one of: {', '.join(mappable)}.",
                    column=header,
                )
        self.matcher = Matcher.build(profile.lookup(), self.cfg.columns)
        self._prepare()
        head: list[tuple[int, list[Any]]] = []
        rows = self._rows()
        for number, values, _hidden in rows:
            head.append((number, values))
            if len(head) >= SCAN_ROWS + 1:
                break
        if not head or not any(any(cells.text(v) for v in vals) for _, vals in head):
            raise self.error(
                "The file is empty: it has no rows to read.",
                hint="Export the data again from the district system, or remove this source from the batch.",
            )
        choice = self._choose_header(head)
        self._apply_header(choice)
        self._above = [(number, values) for number, values in head if number < self.data_start]
        # there must be at least one data row (one that a total line or signature block does not end)
        has_data = False
        held = False
        for number, values, _hidden in self._iter_after(head, rows):
            if number <= self.data_start - 1 or not any(cells.text(v) for v in values):
                continue
            if is_numbering_row(values):
                continue
            shape = self._shape(values)
            if shape == "data" or (shape == "other" and not held):
                has_data = True
                break
            held = True
        if not has_data:
            raise self.error(
                f"The file has a header (row {choice.row}) but no data rows under it.",
                hint="Check that the export is complete (the right sheet, the right date range) and export again.",
                row=choice.row,
            )
        close = getattr(rows, "close", None)
        if close:
            close()
        self._prescan(self.data_start)
        return self

    @staticmethod
    def _iter_after(
        head: list[tuple[int, list[Any]]], rows: Iterator[RawRow]
    ) -> Iterator[tuple[int, list[Any], bool]]:
        for number, values in head:
            yield number, values, False
        for i, item in enumerate(rows):
            if i >= LOOKAHEAD_ROWS:
                return
            yield item

    def _choose_header(self, head: list[tuple[int, list[Any]]]) -> HeaderChoice:
        choice = find_header(head, self.matcher, self.cfg.header_row)
        if choice is None:
            where = f"row {self.cfg.header_row}" if self.cfg.header_row else f"the first {SCAN_ROWS} rows"
            raise self.error(
                f"No header row found in {where}: no cell matches a known column name.",
                hint="Check the file is the right export; set header_row, or map the headers in "
                '[sources.columns] (e.g. "Số biên nhận" = "dossier_code").',
                row=self.cfg.header_row,
            )
        return choice

    def _apply_header(self, choice: HeaderChoice) -> None:
        self.header = choice
        headers = list(choice.headers)
        # headers that are TCVN3/VNI look-alikes are decoded too (reported)
        for j, h in enumerate(headers):
            fixed, codec = repair_lookalike(h)
            if codec:
                headers[j] = fixed
                self.report.setdefault("header_repairs", []).append(
                    {"column": column_letter(j), "from": h, "to": fixed, "encoding": codec}
                )
        if headers != choice.headers:
            choice.fields = [self.matcher.match(h) for h in headers]
            choice.headers = headers
        field_of: list[str | None] = []
        used: dict[str, int] = {}
        for j, (h, fld) in enumerate(zip(headers, choice.fields, strict=True)):
            if fld and fld in used:
                other = used[fld]
                if headers[other] == h or (headers[other] and h and headers[other].lower() == h.lower()):
                    raise self.error(
                        f"The header '{h}' appears twice (columns {column_letter(other)} and "
                        f"{column_letter(j)}), so which one holds {fld} is unclear.",
                        hint="Rename or delete one of the two columns, or map the one to use in [sources.columns].",
                        row=choice.row,
                        column=h,
                    )
                fld = None  # a second column for the same field: kept in extras
            if fld:
                used[fld] = j
            field_of.append(fld)
        if self.required not in used:
            found = ", ".join(f"'{h}'" for h in headers if h) or "none"
            raise self.error(
                f"The required column for {self.required} is missing (headers found in row {choice.row}: {found}).",
                hint=f'Map the column that holds it in [sources.columns], e.g. "Số biên nhận" = "{self.required}".',
                row=choice.row,
                column=self.required,
            )
        self.field_of = field_of
        self.key_index = used[self.required]
        extras_names: list[str | None] = []
        seen_names: dict[str, int] = {}
        for j, (h, fld) in enumerate(zip(headers, field_of, strict=True)):
            if fld:
                extras_names.append(None)
                continue
            name = h or f"column_{column_letter(j)}"
            if name in seen_names:
                seen_names[name] += 1
                name = f"{name} ({seen_names[name]})"
            else:
                seen_names[name] = 1
            extras_names.append(name)
        self.extras_names = extras_names
        self.data_start = choice.rows[-1] + 1
        self.report.update(
            {
                "header_row": choice.row,
                "header_rows": choice.rows,
                "columns": [
                    {"column": column_letter(j), "source": h, "field": fld}
                    for j, (h, fld) in enumerate(zip(headers, field_of, strict=True))
                    if h or fld
                ],
                "unmapped": [n for n, h in zip(extras_names, headers, strict=True) if n and h],
                "data_rows": 0,
                "physical_rows": 0,
                "non_data": {},
                "non_data_lines": [],
                "footer_lines": [],
                "footer_dropped": 0,
                "hidden_rows": [],
                "numbering_row": None,
                "column_encodings": {},
                "repairs": {"id_leading_zero": 0, "phone_leading_zero": 0},
            }
        )

    def _key_of(self, values: list[Any]) -> Any:
        return values[self.key_index] if self.key_index < len(values) else None

    def _shape(self, values: list[Any]) -> str:
        """``data``, ``total``, ``signature`` or ``other`` (see :func:`~handover.sources.headers.row_shape`);
        always ``data`` or ``other`` when the reader does not look for footers (SQL)."""
        shape = row_shape(values, self.key_index, self._width)
        if not self.footer_detection and shape in ("total", "signature"):
            return "other"
        return shape

    def _footer_marker(self, values: list[Any]) -> bool:
        """True when this row could open a total line or a signature block (held back, never dropped)."""
        return self.footer_detection and self._shape(values) in ("total", "signature")

    @property
    def _width(self) -> int:
        return sum(1 for h in self.header.headers if h) or len(self.header.headers)

    # -- chunks -----------------------------------------------------------------------------------------------
    def chunks(self) -> Iterator[Chunk]:
        """The data rows in frames of at most ``chunk_size`` rows. A full frame is given when the next data
        row comes, so that the last one (which carries the end-of-file findings) is never empty."""
        batch: list[tuple[int, list[Any]]] = []
        index = 0
        self._start_rows()
        for number, values, hidden in self._rows():
            if number < self.data_start:
                continue
            self._count_physical(number)
            for row in self._step(number, values, hidden):
                if len(batch) >= self.chunk_size:
                    yield self._build(index, batch)
                    index += 1
                    batch = []
                batch.append(row)
                self._data_seen += 1
        self._finish_rows()
        if batch:
            yield self._build(index, batch)

    def _start_rows(self) -> None:
        rep = self.report
        rep["data_rows"] = 0
        rep["physical_rows"] = 0
        rep["non_data"] = {}
        rep["non_data_lines"] = []
        rep["footer_lines"] = []
        rep["footer_dropped"] = 0
        rep["hidden_rows"] = []
        rep["hidden_row_count"] = 0
        rep.pop("total_line", None)
        self._first_after_header = True
        self._held: list[tuple[int, list[Any], bool, str]] = []
        self._pending_findings: list[Finding] = []
        self._data_seen = 0
        self._last_row = 0
        if not self.header_in_source:
            return
        header_rows = set(self.header.rows)
        for number, values in getattr(self, "_above", []):
            self._count_physical(number)
            blank = not any(cells.text(v) for v in values)
            rule = "header" if number in header_rows else "blank" if blank else "title"
            self._note(number, values, rule)

    def _count_physical(self, number: int) -> None:
        """One more physical row; on a sheet the rows it skipped (not stored: empty) are blank rows."""
        if self.gaps_are_blank and number > self._last_row + 1:
            for missing in range(self._last_row + 1, number):
                self.report["physical_rows"] += 1
                self._note(missing, [], "blank")
        self._last_row = max(self._last_row, number)
        self.report["physical_rows"] += 1

    def _note(self, number: int, values: list[Any], rule: str) -> None:
        """A non-data row: counted under its rule, listed (at most MAX_LINES_PER_RULE a rule)."""
        counts = self.report["non_data"]
        counts[rule] = counts.get(rule, 0) + 1
        if counts[rule] <= MAX_LINES_PER_RULE:
            self.report["non_data_lines"].append(
                {"row": number, "rule": rule, "text": self._row_text(values)}
            )

    def _step(self, number: int, values: list[Any], hidden: bool) -> list[tuple[int, list[Any]]]:
        """One row under the header → the data rows it gives, in order: none (a non-data row, or one held
        back as a possible total line or signature block), itself, or rows held back before it and itself."""
        blank = not any(v is not None and str(v).strip() for v in values)
        if blank:
            self._note(number, values, "blank")
            return []
        if self._first_after_header:
            self._first_after_header = False
            if is_numbering_row(values):
                self.report["numbering_row"] = number
                self._note(number, values, "numbering")
                return []
        shape = self._shape(values)
        if shape in ("total", "signature") or (shape == "other" and self._held):
            self._held.append((number, values, hidden, shape))
            return []
        out = self._release() if self._held else []
        self._data_row(number, hidden)
        out.append((number, values))
        return out

    def _data_row(self, number: int, hidden: bool) -> None:
        if hidden:
            rep = self.report
            rep["hidden_row_count"] += 1
            if len(rep["hidden_rows"]) < _MAX_LISTED:
                rep["hidden_rows"].append(number)

    def _release(self) -> list[tuple[int, list[Any]]]:
        """A data row follows the rows held back: they were inside the data. A total or signature text is a
        non-data row (``subtotal`` / ``signature``) with a warning finding; any other row is data."""
        out: list[tuple[int, list[Any]]] = []
        for number, values, hidden, shape in self._held:
            if shape == "other":
                self._data_row(number, hidden)
                out.append((number, values))
                continue
            rule = "subtotal" if shape == "total" else "signature"
            self._note(number, values, rule)
            text = self._row_text(values)
            what_vi = "dòng tổng cộng" if shape == "total" else "chữ ký / ngày tháng"
            what_en = "a total line" if shape == "total" else "a signature block line"
            self._pending_findings.append(
                Finding(
                    source_id=self.cfg.id,
                    row=number,
                    check="footer_inside_data",
                    severity=Severity.WARNING,
                    message_vi=f"Dòng {number} («{text}») có dạng {what_vi} nhưng nằm giữa dữ liệu: không đọc là "
                    "hồ sơ; hãy kiểm tra tệp xuất.",
                    message_en=f"Row {number} ('{text}') looks like {what_en} but has data rows below it: not "
                    "read as data; check the export.",
                )
            )
        self._held = []
        return out

    def _finish_rows(self) -> None:
        """The end of the file: the rows held back are the total line and the signature block. A count the
        total line states that differs from the data rows read is a finding."""
        rep = self.report
        total_seen = False
        for number, values, _hidden, shape in self._held:
            rule = "total" if shape == "total" else "signature"
            self._note(number, values, rule)
            rep["footer_dropped"] += 1
            if len(rep["footer_lines"]) < _MAX_LISTED:
                rep["footer_lines"].append({"row": number, "text": self._row_text(values)})
            if shape == "total" and not total_seen:
                total_seen = True
                self._check_total(number, values)
        self._held = []

    def _check_total(self, number: int, values: list[Any]) -> None:
        amounts = {j for j, f in enumerate(self.field_of) if f in NUMBER_FIELDS or f in DATE_FIELDS}
        stated = stated_count(values, self.key_index, amounts)
        if stated is None:
            return
        read = self._data_seen
        self.report["total_line"] = {"row": number, "stated": stated, "data_rows": read}
        if stated == read:
            return
        noun_vi, noun_en = ("hồ sơ", "dossiers") if self.entity is Entity.DOSSIER else ("bản ghi", "records")
        self._pending_findings.append(
            Finding(
                source_id=self.cfg.id,
                row=number,
                check="total_line_count",
                severity=Severity.WARNING,
                message_vi=f"Dòng tổng cộng (dòng {number}) ghi {stated} {noun_vi} nhưng tệp có {read} dòng dữ liệu: "
                "hãy đối chiếu với hệ thống cũ (tệp xuất có thể thiếu hoặc thừa dòng).",
                message_en=f"The total line (row {number}) states {stated} {noun_en} but the file holds {read} data "
                "rows: check against the old system (the export may lack or repeat rows).",
            )
        )

    def _keep_block(
        self, cols: list[Any], numbers: Any, plain: Any
    ) -> tuple[Any, list[tuple[int, list[Any]]]]:
        """The CSV fast path's rule for one block of consecutive rows (column arrays): which rows are data,
        and the data rows of earlier blocks released by this one. ``plain`` rows (key filled, not opening with
        T or C) are data unless rows are held back; every other row goes through :meth:`_step`, in order."""
        import numpy as np

        m = len(numbers)
        keep = np.zeros(m, dtype=bool)
        carried: list[tuple[int, list[Any]]] = []
        if m == 0:
            return keep, carried
        first = int(numbers[0])
        # a plain row is data by its shape when its key is one token (a name or a signature text has spaces)
        keys = cols[self.key_index]
        plain = plain & ~np.fromiter(map(operator.contains, keys, repeat(" ")), dtype=bool, count=m)
        others = np.flatnonzero(~plain)
        i = 0
        while i < m:
            if self._held or self._first_after_header or not plain[i]:
                for number, values in self._step(int(numbers[i]), [c[i] for c in cols], False):
                    k = number - first
                    if 0 <= k < m and int(numbers[k]) == number:
                        keep[k] = True
                    else:
                        carried.append((number, values))
                i += 1
                continue
            nxt = np.searchsorted(others, i)
            j = int(others[nxt]) if nxt < len(others) else m
            keep[i:j] = True
            i = j
        self._data_seen += int(keep.sum()) + len(carried)
        return keep, carried

    def row_account(self) -> RowAccount:
        """Every physical row read so far (after :meth:`chunks`): data rows and non-data rows by rule."""
        rep = self.report
        lines = sorted(rep.get("non_data_lines", []), key=lambda line: (line["row"], line["rule"]))
        total = rep.get("total_line") or {}
        return RowAccount(
            physical_rows=rep.get("physical_rows", 0),
            data_rows=rep.get("data_rows", 0),
            non_data=dict(rep.get("non_data", {})),
            lines=[NonDataLine(**line) for line in lines],
            total_stated=total.get("stated"),
        )

    @staticmethod
    def _row_text(values: list[Any]) -> str:
        """A row's cells joined with ' | ', ID and phone numbers masked, cut at 200 characters."""
        text = " | ".join(cells.text(v) or "" for v in values if cells.text(v))[:200]
        return _LONG_DIGITS.sub(lambda m: mask_id(m.group()), text)

    def _build(self, index: int, batch: list[tuple[int, list[Any]]]) -> Chunk:
        n = len(batch)
        width = len(self.field_of)
        columns: list[list[Any]] = [[None] * n for _ in range(width)]
        for i, (_, values) in enumerate(batch):
            for j, v in enumerate(values[:width]):
                columns[j][i] = v
        return self._build_columns(index, [number for number, _ in batch], columns)

    def _build_columns(self, index: int, row_numbers: Any, columns: list[Any], clean: Any = None) -> Chunk:
        """A chunk from column-wise raw values: lists (any cell type), or object arrays of ``str`` with ``clean``
        (CSV fast path: True for the rows whose cells need no cleaning, see ``csv_reader._scan_piece``)."""
        import numpy as np
        import pandas as pd

        cfg = self.cfg
        findings: list[Finding] = list(getattr(self, "_pending_findings", []))
        self._pending_findings = []
        codec = self.report.get("encoding_codec")
        if index == 0 and codec in ("tcvn3", "vni", "cp1258"):
            label, evidence = self.report["encoding"], self.report.get("encoding_evidence", "")
            findings.append(
                Finding(
                    source_id=cfg.id,
                    row=None,
                    check="legacy_encoding_file",
                    severity=Severity.WARNING,
                    message_vi=f"Tệp được đọc theo bảng mã {label} và chuyển sang Unicode ({evidence}).",
                    message_en=f"The file was read as {label} and converted to Unicode ({evidence}).",
                )
            )
        n = len(row_numbers)
        width = len(self.field_of)
        columns = list(columns)
        for j in range(width):
            columns[j] = self._repair_column(j, columns[j], findings, clean)
        data: dict[str, Any] = {
            "source_id": [cfg.id] * n,
            "source_row": np.asarray(row_numbers, dtype=np.int64),
        }
        fields_set = {f: j for j, f in enumerate(self.field_of) if f}
        keys = columns[self.key_index]
        timed = {TIME_OF_DAY_FIELDS[f]: f for f in self.fields if f in TIME_OF_DAY_FIELDS}
        for fld in self.fields:
            j = fields_set.get(timed.get(fld, fld))
            if j is None:
                data[fld] = [None] * n
            elif fld in TIME_OF_DAY_FIELDS:  # the day, and its time of day when the value carries one
                data[fld], data[TIME_OF_DAY_FIELDS[fld]] = _memo_pair(cells.parse_date_time, columns[j])
            elif fld not in timed:
                data[fld] = self._normalise(fld, columns[j], row_numbers, keys, findings, clean)
        data["source_system"] = [cfg.id] * n
        for fld, default in (
            ("old_province_code", cfg.old_province_code),
            ("old_district_code", cfg.old_district_code),
        ):
            if default is not None:
                width_ = cells.CODE_WIDTH[fld]
                pad = default.zfill(width_)
                data[fld] = [v if v is not None else pad for v in data[fld]]
        if self.entity is Entity.RECORD and cfg.record_type:
            data["record_type"] = [v if v is not None else cfg.record_type for v in data["record_type"]]
        data["extras"] = self._extras(columns, n, clean)
        ordered = [*TECHNICAL_COLUMNS, *self.fields]
        frame = pd.DataFrame(
            {c: pd.Series(data[c], dtype=object) for c in ordered if c != "source_row"}
            | {"source_row": pd.Series(data["source_row"], dtype="int64")},
            columns=ordered,
        )
        self.report["data_rows"] += n
        return Chunk(source_id=cfg.id, entity=self.entity, index=index, frame=frame, findings=findings)

    def _extras(self, columns: list[Any], n: int, clean: Any = None) -> list[str]:
        """The unmapped columns of each row as a JSON object (what ``json.dumps`` of the dict gives)."""
        extras_cols = [(j, name) for j, name in enumerate(self.extras_names) if name]
        if not extras_cols:
            return ["{}"] * n
        parts = []
        for j, name in extras_cols:
            prefix = json.dumps(name, ensure_ascii=False) + ": "

            texts = (
                _texts(columns[j], clean) if _str_array(columns[j]) else [cells.text(v) for v in columns[j]]
            )
            parts.append([None if t is None else prefix + json.dumps(t, ensure_ascii=False) for t in texts])
        out = []
        for row in zip(*parts, strict=True):
            out.append("{" + ", ".join(p for p in row if p is not None) + "}")
        return out

    def _repair_column(self, j: int, values: Any, findings: list[Finding], clean: Any = None) -> Any:
        """TCVN3/VNI look-alikes inside Unicode cells → Unicode; one warning per column, counted in the report.

        A cell is converted when it holds a character no Vietnamese word uses (¶ ¾ ·) and reads better
        decoded. Once a column is known to hold legacy text, its other all-Latin-1 cells ("Phè Lu" = "Phố Lu")
        are converted too when they decode to Vietnamese at least as well.
        """
        if not self._column_codec.get(j) and not _any_suspect(values, clean):
            return values
        values = list(values)
        changed = 0
        codecs: dict[str, int] = {}
        out = values
        example: tuple[str, str] | None = None
        for i, v in enumerate(values):
            if isinstance(v, str) and SUSPECT.search(v):
                fixed, codec = repair_lookalike(v)
                if codec:
                    if out is values:
                        out = list(values)
                    out[i] = fixed
                    changed += 1
                    codecs[codec] = codecs.get(codec, 0) + 1
                    example = example or (v, fixed)
        column_codec = self._column_codec.get(j) or (max(codecs, key=codecs.__getitem__) if codecs else None)
        if column_codec:
            self._column_codec[j] = column_codec
            decoder = decode_tcvn3 if column_codec == "tcvn3" else decode_vni
            for i, v in enumerate(out):
                if (
                    isinstance(v, str)
                    and not v.isascii()
                    and out[i] is values[i]
                    and max(map(ord, v)) <= 0xFF
                ):
                    fixed = decoder(v)
                    if fixed != v and score(accented_words(fixed)) >= score(accented_words(v)):
                        if out is values:
                            out = list(values)
                        out[i] = fixed
                        changed += 1
                        codecs[column_codec] = codecs.get(column_codec, 0) + 1
                        example = example or (v, fixed)
        if not changed:
            return values
        header = self.header.headers[j] or f"column_{column_letter(j)}"
        entry = self.report["column_encodings"].setdefault(
            header, {"column": column_letter(j), "encoding": None, "cells": 0}
        )
        entry["cells"] += changed
        codec = self._column_codec[j]
        entry["encoding"] = _CODEC_NAME[codec]
        entry["evidence"] = (
            f"{entry['cells']} cells hold {_CODEC_NAME[codec]} look-alike characters "
            "(e.g. ¶ ¾ · for ả ắ ã) and decode to Vietnamese syllables"
        )
        if j not in self._flagged_columns and example:
            self._flagged_columns.add(j)
            fld = self.field_of[j]
            findings.append(
                Finding(
                    source_id=self.cfg.id,
                    row=None,
                    field=fld,
                    check="legacy_encoding_in_column",
                    severity=Severity.WARNING,
                    message_vi=f"Cột '{header}' chứa chữ mã {_CODEC_NAME[codec]} (ví dụ «{example[0]}»): "
                    f"đã chuyển sang Unicode («{example[1]}»).",
                    message_en=f"Column '{header}' holds {_CODEC_NAME[codec]}-encoded text "
                    f"(e.g. '{example[0]}'): converted to Unicode ('{example[1]}').",
                )
            )
        return out

    def _normalise(
        self,
        fld: str,
        raw: Any,
        rows: Any,
        keys: Any,
        findings: list[Finding],
        clean: Any = None,
    ) -> Any:
        if fld in DATE_FIELDS:
            return _memo(cells.parse_date, raw)
        if fld in NUMBER_FIELDS:
            return _memo(cells.number, raw)
        if fld in SEX_FIELDS:  # M / F; a value that is neither is kept as text (the checks ignore it)
            return _memo(lambda v: normalise_sex(v) or cells.text(v), raw)
        if fld in cells.CODE_WIDTH:
            w = cells.CODE_WIDTH[fld]
            return _memo(lambda v: cells.code(v, w), raw)
        if fld in ID_FIELDS or fld in PHONE_FIELDS:
            is_id = fld in ID_FIELDS
            fix = cells.repair_id if is_id else cells.repair_phone
            check = "id_leading_zero" if is_id else "phone_leading_zero"
            out, repaired = _repair_digits(raw, fix, is_id)
            for i, zeros in repaired:
                self.report["repairs"][check] += 1
                what_vi = "Số CCCD" if is_id else "Số điện thoại"
                what_en = "ID number" if is_id else "Phone number"
                size = len(out[i]) - zeros
                added_vi = "số 0" if zeros == 1 else f"{zeros} số 0"
                added_en = "a leading 0 was" if zeros == 1 else f"{zeros} leading zeros were"
                findings.append(
                    Finding(
                        source_id=self.cfg.id,
                        row=int(rows[i]),
                        key=key_text(keys[i]),
                        field=fld,
                        check=check,
                        severity=Severity.WARNING,
                        message_vi=f"{what_vi} có {size} chữ số (mất {added_vi} đầu do lưu dạng số): "
                        f"đã thêm {added_vi} ở đầu.",
                        message_en=f"{what_en} had {size} digits (leading zeros lost when stored as a "
                        f"number): {added_en} added.",
                    )
                )
            return out
        if (
            fld in KEY_FIELDS
        ):  # canonical keys (handover.keys): look-alike codes are one key, each change a finding
            return canonical_key_column(_texts(raw, clean), fld, rows, keys, self.cfg.id, findings)
        return _texts(raw, clean)


def _str_array(values: Any) -> bool:
    """True for the fast CSV path's columns: object arrays holding only ``str``."""
    import numpy as np

    return isinstance(values, np.ndarray)


def _any_suspect(values: Any, clean: Any = None) -> bool:
    """Could a cell of this column hold a TCVN3/VNI look-alike character? (clean rows cannot)"""
    if _str_array(values) and clean is not None:
        values = values[~clean]
    return any(isinstance(v, str) and SUSPECT.search(v) for v in values)


def _texts(values: Any, clean: Any = None) -> Any:
    """``cells.text`` over a column; on the rows the CSV fast path found clean it is "empty → None"."""
    if _str_array(values) and clean is not None:
        import numpy as np

        out = values.copy()
        out[values == ""] = None
        for i in np.flatnonzero(~clean):
            out[i] = cells.text(values[i])
        return out
    return _memo(cells.text, values)


def _repair_digits(values: Any, fix: Any, is_id: bool) -> tuple[Any, list[tuple[int, int]]]:
    """``cells.repair_id`` / ``repair_phone`` over a column → (values, (position, zeros added) of each repair)."""
    import numpy as np

    joined = "".join(values) if _str_array(values) else None
    if joined is not None and joined.isascii() and (joined.isdigit() or not joined):
        # every cell is ASCII digits or empty: only the short ones can need a repair
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        out = values.copy()
        out[lengths == 0] = None
        done: list[tuple[int, int]] = []
        if is_id:
            for i in np.flatnonzero((lengths == 10) | (lengths == 11)):
                value, zeros = fix(values[i])
                if zeros:
                    out[i] = value
                    done.append((int(i), int(zeros)))
            return out, done
        hit = np.flatnonzero(lengths == 9)
        hit = hit[[values[i][0] != "0" for i in hit]] if len(hit) else hit
        for i in hit:
            out[i] = "0" + values[i]
        return out, [(int(i), 1) for i in hit]
    fixed = _memo(fix, values)
    repaired = [(i, int(r)) for i, (_, r) in enumerate(fixed) if r]
    return [value for value, _ in fixed], repaired


def _memo_pair(fn: Any, values: Any) -> tuple[Any, Any]:
    """Two columns from ``fn`` giving a pair for each value, each distinct value computed once (see
    :func:`_memo`); the second is ``[None] * n`` when ``fn`` gave None as every second item."""
    if _str_array(values):
        import numpy as np
        import pandas as pd

        codes, uniques = pd.factorize(values)
        firsts = np.empty(len(uniques), dtype=object)
        seconds = np.empty(len(uniques), dtype=object)
        for i, u in enumerate(uniques):
            firsts[i], seconds[i] = fn(u)
        if not any(v is not None for v in seconds):
            return firsts[codes], [None] * len(values)
        return firsts[codes], seconds[codes]
    pairs = _memo(fn, values)
    second = [p[1] for p in pairs]
    if not any(v is not None for v in second):
        second = [None] * len(second)
    return [p[0] for p in pairs], second


def _memo(fn: Any, values: Any) -> Any:
    """``fn`` over a column, each distinct value computed once (statuses, dates, names repeat a lot)."""
    if _str_array(values):
        import numpy as np
        import pandas as pd

        codes, uniques = pd.factorize(values)
        results = np.empty(len(uniques), dtype=object)
        for i, u in enumerate(uniques):
            results[i] = fn(u)
        return results[codes]
    cache: dict[Any, Any] = {}
    out = []
    for v in values:
        try:
            r = cache[v]
        except KeyError:
            r = cache[v] = fn(v)
        except TypeError:  # unhashable: never from our readers, but stay safe
            r = fn(v)
        out.append(r)
    return out
