"""The reader protocol every source reader follows: open (header choice, required columns), fingerprint, chunks.

A concrete reader only yields raw rows: ``(row_number, values, hidden)`` with the 1-based row number the user
sees in the file or sheet. :class:`SourceReader` turns them into :class:`handover.models.Chunk` frames with the
canonical columns (:mod:`handover.sources.frames`), accounting for every physical row
(:mod:`handover.sources.rows`), and a report of every decision.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from handover.config import SourceConfig
from handover.errors import SourceError
from handover.models import Chunk, Entity, SourceFingerprint, fields_for, source_fields
from handover.sources import cells
from handover.sources.encodings import repair_lookalike
from handover.sources.frames import FrameBuilder
from handover.sources.headers import (
    SCAN_ROWS,
    HeaderChoice,
    Matcher,
    column_letter,
    find_header,
    is_numbering_row,
)
from handover.sources.profiles import DEFAULT_PROFILE, REQUIRED, load_profile
from handover.sources.rows import RowRules

RawRow = tuple[int, list[Any], bool]
LOOKAHEAD_ROWS = 2000  # rows read past the header to make sure there is data at all


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex), read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class SourceReader(RowRules, FrameBuilder):
    """Base of the CSV, Excel and SQL readers. Construct through :func:`handover.sources.open_source`.

    Every physical row is accounted for (:class:`~handover.sources.rows.RowRules`: :meth:`row_account` gives
    ``physical_rows = data_rows + non-data rows``); the data rows become chunk frames
    (:class:`~handover.sources.frames.FrameBuilder`).
    """

    kind = "file"

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
