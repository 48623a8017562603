"""Raw rows → canonical chunk frames: the cells of each field cleaned column-wise, with a finding for each repair.

Dates, numbers, sexes and codes are normalised once per distinct value; ID and phone numbers that lost their
leading zeros get them back; TCVN3/VNI look-alikes in Unicode cells are decoded; key fields take their canonical
form (:mod:`handover.keys`); the unmapped columns become each row's ``extras`` JSON.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from handover.ids import normalise_sex
from handover.keys import KEY_FIELDS, canonical_key_column, key_text
from handover.models import (
    DATE_FIELDS,
    ID_FIELDS,
    NUMBER_FIELDS,
    PHONE_FIELDS,
    SEX_FIELDS,
    TECHNICAL_COLUMNS,
    TIME_OF_DAY_FIELDS,
    Chunk,
    Entity,
    Finding,
    Severity,
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
from handover.sources.headers import column_letter

if TYPE_CHECKING:
    from handover.config import SourceConfig
    from handover.sources.headers import HeaderChoice

_CODEC_NAME = {"tcvn3": "TCVN3 (ABC)", "vni": "VNI"}


class FrameBuilder:
    """How :class:`~handover.sources.base.SourceReader` builds its chunks (a mixin: the reader sets the
    header, the field of each column, the key column and the unmapped columns' names when it opens)."""

    cfg: SourceConfig
    entity: Entity
    fields: list[str]
    report: dict[str, Any]
    header: HeaderChoice
    field_of: list[str | None]
    key_index: int
    extras_names: list[str | None]
    _flagged_columns: set[int]
    _column_codec: dict[int, str]
    _pending_findings: list[Finding]

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
        (CSV fast path: True for the rows whose cells need no cleaning, see ``csv_scan._scan_piece``)."""
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
