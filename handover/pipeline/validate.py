"""Validate stage: the data-quality suites of ``checks/*.toml`` → row-level findings and a disposition per row.

A :class:`Validator` runs one entity's suite (:mod:`handover.pipeline.suite`) over each chunk:

* ``[[expectations]]``: great-expectations expectations, compiled into vectorised pandas checks with GX's
  semantics (:mod:`handover.pipeline.expectations`); great-expectations itself runs once per batch on the loaded
  rows in the target (:mod:`handover.pipeline.gx_target`), an independent check of what was loaded;
* ``[[custom]]``: vectorised pandas rules that GX does not express well (:mod:`handover.pipeline.rules`).

Dispositions, first match wins: duplicate (exact duplicate within the chunk) > excluded (finished, not pending)
> quarantined (any error finding, from this or an earlier stage) > review (unit split/ambiguous/not found)
> loaded.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handover.ids import province_prefixes
from handover.keys import natural_keys
from handover.models import (
    ID_FIELDS,
    PHONE_FIELDS,
    Chunk,
    Disposition,
    Entity,
    Finding,
    Severity,
    natural_key_fields,
)
from handover.pipeline.expectations import failing_rows
from handover.pipeline.rules import ALL_TEXT_COLUMNS, COLUMN_PARAMS, DETAILS, RULES, TABLE_RULES
from handover.pipeline.suite import CustomSpec, SuiteSpec, load_entity_suite, suite_path
from handover.pipeline.textframe import as_text, text_col
from handover.text import excerpt, mask_id

if TYPE_CHECKING:
    import pandas as pd

    from handover.target.limits import TargetLimits

EXCLUDED_REASON = "Hồ sơ đã kết thúc / not pending"
REVIEW_REASONS: dict[str, str] = {
    "split": "Xã cũ bị chia cho nhiều xã mới: cần chọn xã nhận / old commune split among new communes: choose one",
    "ambiguous": "Tên xã trùng nhiều đơn vị: cần xác định / commune name matches several units: decide which",
    "not_found": "Không tìm thấy xã cũ trong danh mục / old commune not found in the unit list",
}
STATUS_REVIEW_REASON = (
    "Trạng thái '{value}' không nhận diện được: thêm vào [mapping] statuses rồi chạy lại / "
    "status '{value}' not recognised: add it to a file under [mapping] statuses and run again"
)


_PLACEHOLDER = re.compile(r"\{(value|column)\}")
_EXTRA = re.compile(r"\{([a-z_]+)\}")


@dataclasses.dataclass(frozen=True)
class ValidationSettings:
    """What the checks need to know besides the suite: the target's limits (the target-limit rules) and the
    handover date (``date_range``'s ``max_years_after_handover``; None: that bound is not applied)."""

    limits: TargetLimits
    handover_date: date | None = None
    population: Path | None = None

    @classmethod
    def of(
        cls, target_url: str | None, handover_date: str | None, population: Path | None = None
    ) -> ValidationSettings:
        """From the batch config's target URL, ``thresholds.handover_date`` (an unreadable date: None, the
        map stage reports it) and ``checks.population`` (the population extract, read by each validator)."""
        from handover.target.limits import limits_for_url

        try:
            day = date.fromisoformat(handover_date) if handover_date else None
        except ValueError:
            day = None
        return cls(limits_for_url(target_url), day, population)

    @classmethod
    def default(cls) -> ValidationSettings:
        """Limits of every target ([common] alone) and the configuration's default handover date."""
        from handover.config import Thresholds
        from handover.target.limits import load_limits

        return cls(load_limits(None), date.fromisoformat(Thresholds().handover_date))


def _message(template: str, value: object, column: str, extra: dict[str, str] | None = None) -> str:
    """The message of one finding: {value} is the cell (IDs and phones masked; control characters visible, at
    most 120 characters: see :func:`~handover.text.excerpt`), {column} the field, and ``extra`` the rule's own
    placeholders (see :data:`DETAILS`)."""
    shown = "" if value is None else str(value)
    if column in ID_FIELDS or column in PHONE_FIELDS:
        shown = mask_id(shown)
    shown = excerpt(shown)
    if extra:
        template = _EXTRA.sub(lambda m: extra.get(m.group(1), m.group(0)), template)
    if "{" not in column:  # the usual case: plain replaces, {value} last so the value is never re-read
        return template.replace("{column}", column).replace("{value}", shown)
    return _PLACEHOLDER.sub(lambda m: shown if m.group(1) == "value" else column, template)


class Validator:
    """Runs one entity's suite over chunks. Build with :meth:`load`."""

    def __init__(self, spec: SuiteSpec, path: Path, settings: ValidationSettings | None = None) -> None:
        self.spec = spec
        self.path = path
        self.entity = spec.suite.entity
        self.settings = settings or ValidationSettings.default()
        # The target's text columns (what columns = ["*"] stands for) with their limits.
        self._target_columns = self.settings.limits.text_columns(self.entity)
        # rows each expectation flagged: over every chunk validated so far, and in the last chunk
        self.flagged: Counter[str] = Counter()
        self.last_flagged: dict[str, int] = {}
        self._prefixes = province_prefixes()
        self._population = None
        if self.settings.population is not None:
            from handover.population import load_population

            self._population = load_population(self.settings.population)
        from handover.pipeline.routing import StatusTable

        # Portal codes of finished dossiers (3, 7, 9, 10 in the shipped table): not pending, excluded.
        self._finished = frozenset(str(c) for c in range(1, 11)) - StatusTable.load().pending_codes
        self._chunks = 0
        self._rows = 0
        self._memo: dict[
            str, dict[Any, Any]
        ] = {}  # the rules' answers per distinct value, kept across chunks
        columns = {e.column for e in spec.expectations}
        params = {str(v) for c in spec.custom for k, v in c.params.items() if k in COLUMN_PARAMS}
        self._text_columns = sorted(
            {*columns, *natural_key_fields(self.entity), "status_code", *params}
            | {name for c in spec.custom if c.rule not in TABLE_RULES for name in c.columns}
        )

    @classmethod
    def load(
        cls, entity: Entity | str, checks_dir: Path | None = None, settings: ValidationSettings | None = None
    ) -> Validator:
        """Read ``checks/<entity>.toml`` (checked when loaded). ``settings``: the target's limits and the
        handover date (default: :meth:`ValidationSettings.default`)."""
        path = suite_path(entity, checks_dir)
        spec = load_entity_suite(entity, checks_dir)
        return cls(spec, path, settings)

    def _columns(self, c: CustomSpec) -> list[str]:
        """The columns a custom rule checks (``["*"]``: every text column of the target table)."""
        if c.columns == [ALL_TEXT_COLUMNS]:
            return list(self._target_columns)
        return c.columns

    # -- chunks -----------------------------------------------------------------------------------------

    def _keys(self, frame: pd.DataFrame) -> pd.Series:
        return natural_keys(frame, self.entity)

    def _duplicates(self, frame: pd.DataFrame, keys: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
        """(exact duplicate of an earlier row, key shared with different content, first row of the group).
        Across chunks the same rule holds (:mod:`handover.pipeline.keyspan`).

        Only rows whose key appears more than once can be either: their content is hashed, the rest is not."""
        import numpy as np
        import pandas as pd

        from handover.pipeline.keyspan import content_digests

        n = len(frame)
        exact = pd.Series(False, index=frame.index)
        conflict = pd.Series(False, index=frame.index)
        first_of = pd.Series(np.arange(n), index=frame.index)
        has_key = keys.notna()
        shared = (has_key & keys.duplicated(keep=False)).to_numpy(dtype=bool)
        if not shared.any():
            return exact, conflict, first_of
        positions = np.flatnonzero(shared)
        content = content_digests(frame, self.entity, positions)
        probe = pd.DataFrame({"key": keys.iloc[positions].to_numpy(), "content": content})
        sub_exact = probe.duplicated(["key", "content"], keep="first").to_numpy(dtype=bool)
        variants = probe.groupby("key")["content"].transform("nunique").to_numpy()
        exact.iloc[positions] = sub_exact
        conflict.iloc[positions] = (variants > 1) & ~sub_exact
        probe["pos"] = positions
        first_of.iloc[positions] = probe.groupby(["key", "content"])["pos"].transform("min").to_numpy()
        return exact, conflict, first_of

    def validate_chunk(self, chunk: Chunk) -> Chunk:
        """Findings for every check, then ``disposition`` and ``reason`` for every row of the chunk."""
        import numpy as np
        import pandas as pd

        frame = chunk.frame
        n = len(frame)
        self.last_flagged = {}
        # Every column a check reads, as stripped text with None for missing: built once per chunk.
        texts = pd.DataFrame(
            {c: as_text(frame, c) for c in self._text_columns if c in frame.columns}, index=frame.index
        )
        keys = self._keys(texts)
        source_rows = frame["source_row"].to_numpy() if "source_row" in frame.columns else np.arange(1, n + 1)
        new: list[Finding] = []

        def emit(
            positions: np.ndarray,
            check: str,
            column: str,
            severity: Severity,
            vi: str,
            en: str,
            details: list[dict[str, str]] | None = None,
        ) -> None:
            values = text_col(texts if column in texts.columns else frame, column).to_numpy()
            key_values = keys.to_numpy()
            for k, p in enumerate(positions):
                value = values[p]
                if value is not None and not isinstance(value, str) and pd.isna(value):
                    value = None
                extra = details[k] if details else None
                new.append(
                    Finding(
                        source_id=chunk.source_id,
                        row=int(source_rows[p]),
                        key=None if key_values[p] is None else str(key_values[p]),
                        field=column,
                        check=check,
                        severity=severity,
                        message_vi=_message(vi, value, column, extra),
                        message_en=_message(en, value, column, extra),
                    )
                )

        for spec in self.spec.expectations:
            positions = np.flatnonzero(failing_rows(spec, text_col(texts, spec.column)))
            self.last_flagged[spec.check] = len(positions)
            self.flagged[spec.check] += len(positions)
            emit(positions, spec.check, spec.column, spec.severity, spec.message_vi, spec.message_en)

        exact, conflict, first_of = self._duplicates(frame, keys) if n else (None, None, None)
        cache: dict[str, Any] = {}
        for c in self.spec.custom:
            params = {
                **c.params,
                "_prefixes": self._prefixes,
                "_population": self._population,
                "_conflict": conflict,
                "_cache": cache,
                "_memo": self._memo,
                "_limits": self.settings.limits,
                "_handover": self.settings.handover_date,
                "_columns": self._target_columns,
                "_frame": frame,
            }
            for column in self._columns(c):
                if n == 0:
                    continue
                if c.rule == "key_unique":
                    if column != c.columns[-1]:
                        continue
                    fails = conflict
                elif column not in frame.columns:
                    continue
                else:
                    fails = RULES[c.rule](texts, column, params)
                positions = np.flatnonzero(fails.to_numpy(dtype=bool))
                if c.rule == "key_unique":
                    key_values = keys.to_numpy()
                    for p in positions:
                        new.append(
                            Finding(
                                source_id=chunk.source_id,
                                row=int(source_rows[p]),
                                key=str(key_values[p]),
                                field=column,
                                check=c.check,
                                severity=c.severity,
                                message_vi=_message(c.message_vi, key_values[p], column),
                                message_en=_message(c.message_en, key_values[p], column),
                            )
                        )
                elif len(positions):
                    describe = DETAILS.get(c.rule)
                    details = describe(texts, column, params, positions) if describe else None
                    emit(positions, c.check, column, c.severity, c.message_vi, c.message_en, details)

        chunk.findings.extend(new)
        self._chunks += 1
        self._rows += n
        frame["disposition"], frame["reason"] = self._dispositions(chunk, frame, exact, first_of, source_rows)
        chunk.frame = frame
        return chunk

    def _dispositions(
        self,
        chunk: Chunk,
        frame: pd.DataFrame,
        exact: pd.Series | None,
        first_of: pd.Series | None,
        source_rows: Any,
    ) -> tuple[list[str], list[str]]:
        import numpy as np

        n = len(frame)
        disposition = np.full(n, Disposition.LOADED.value, dtype=object)
        reason = np.full(n, "", dtype=object)
        if n == 0:
            return list(disposition), list(reason)

        # quarantined: any error finding on the row (this stage or an earlier one)
        errors: dict[int, Finding] = {}
        extra: dict[int, int] = {}
        for f in chunk.findings:
            if f.severity is Severity.ERROR and f.row is not None and f.source_id == chunk.source_id:
                if f.row in errors:
                    extra[f.row] = extra.get(f.row, 0) + 1
                else:
                    errors[f.row] = f
        import pandas as pd

        index = pd.Index(np.asarray(source_rows, dtype=np.int64))
        if index.is_unique:  # the readers number rows uniquely: look up only the rows with errors
            wanted = list(errors)
            pos_of_row = {r: int(p) for r, p in zip(wanted, index.get_indexer(wanted), strict=True) if p >= 0}
        else:
            pos_of_row = {int(r): i for i, r in enumerate(source_rows)}
        for row, f in errors.items():
            p = pos_of_row.get(row)
            if p is None:
                continue
            more = f" (+{extra[row]} lỗi khác / more errors)" if row in extra else ""
            disposition[p] = Disposition.QUARANTINED.value
            reason[p] = f"{f.message_vi} / {f.message_en}{more}"
        quarantined = disposition == Disposition.QUARANTINED.value

        # review: unit split / ambiguous / not found (only when no error)
        if "unit_status" in frame.columns:
            status = frame["unit_status"].astype("object").to_numpy()
            for value, text in REVIEW_REASONS.items():
                hit = (status == value) & ~quarantined
                disposition[hit] = Disposition.REVIEW.value
                reason[hit] = text

        # review: a status text the status table cannot place (it might be withdrawn or finished)
        if chunk.entity is Entity.DOSSIER and {"status_code", "status_raw"} <= set(frame.columns):
            unplaced = (
                (frame["status_code"].astype("object") == "").to_numpy(dtype=bool)
                & frame["status_raw"].notna().to_numpy(dtype=bool)
                & ~quarantined
            )
            for p in np.flatnonzero(unplaced):
                text = STATUS_REVIEW_REASON.format(value=frame["status_raw"].iat[p])
                reason[p] = f"{reason[p]}; {text}" if reason[p] else text
                disposition[p] = Disposition.REVIEW.value

        # excluded: finished dossiers
        if "status_code" in frame.columns:
            finished = frame["status_code"].astype("object").isin(self._finished).to_numpy(dtype=bool)
            disposition[finished] = Disposition.EXCLUDED.value
            reason[finished] = EXCLUDED_REASON

        # duplicate: exact duplicate of an earlier row of the chunk
        if exact is not None and first_of is not None:
            dup = exact.to_numpy(dtype=bool)
            firsts = first_of.to_numpy()
            disposition[dup] = Disposition.DUPLICATE.value
            for p in np.flatnonzero(dup):
                first_row = int(source_rows[int(firsts[p])])
                reason[p] = f"Trùng hoàn toàn với dòng {first_row} / exact duplicate of row {first_row}"
        return list(disposition), list(reason)


def gate_exceeded(counts_quarantined: int, counts_extracted: int, max_error_share: float) -> bool:
    """True when the quarantined share of extracted rows is above ``max_error_share``."""
    if counts_extracted <= 0:
        return False
    return counts_quarantined / counts_extracted > max_error_share
