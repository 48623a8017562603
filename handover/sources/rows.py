"""Every physical row accounted for: the rules that tell data rows from non-data rows, and the row account.

The rows above the header are ``title``, ``blank`` or ``header`` rows; under it each row is data or a non-data
row with its rule (``blank``, ``numbering``, ``subtotal``, ``total``, ``signature``), so that
``physical_rows = data_rows + non-data rows`` (:meth:`RowRules.row_account`). A total line or a signature block is
recognised by its shape (:func:`~handover.sources.headers.row_shape`) and only at the end of the data: its rows
are held back until the file ends, and a data row after them makes them what they are inside the data (a total
or signature text: a non-data row with a finding; anything else: data).
"""

from __future__ import annotations

import operator
import re
from itertools import repeat
from typing import TYPE_CHECKING, Any

from handover.models import (
    DATE_FIELDS,
    MAX_LINES_PER_RULE,
    NUMBER_FIELDS,
    Entity,
    Finding,
    NonDataLine,
    RowAccount,
    Severity,
)
from handover.sources import cells
from handover.sources.headers import is_numbering_row, row_shape, stated_count
from handover.text import mask_id

if TYPE_CHECKING:
    from handover.config import SourceConfig
    from handover.sources.headers import HeaderChoice

_LONG_DIGITS = re.compile(r"\d{9,}")  # ID and phone numbers in a listed line are masked
_MAX_LISTED = 50


class RowRules:
    """The row rules of :class:`~handover.sources.base.SourceReader` (a mixin: the reader sets the header,
    the field of each column and the key column when it opens)."""

    footer_detection = True
    header_in_source = True  # the header rows are rows of the source (not so for SQL: column names)
    gaps_are_blank = False  # a row number skipped is a blank row (sheets), not a line of a multi-line record

    cfg: SourceConfig
    entity: Entity
    report: dict[str, Any]
    header: HeaderChoice
    field_of: list[str | None]
    key_index: int
    _above: list[tuple[int, list[Any]]]

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
