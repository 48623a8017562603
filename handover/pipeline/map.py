"""Map stage: every row gets its new commune, its handling level, its portal status code and its due flag.

Typed settings in (:class:`MapSettings`), a chunk in, the same chunk out with :data:`handover.models.MAPPED_COLUMNS`
filled and findings added. All vectorised over the chunk; the resolver caches distinct addresses.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from handover.calendar import working_days_between
from handover.errors import MapError
from handover.keys import natural_keys
from handover.models import Chunk, DueFlag, Entity, Finding, Severity, UnitStatus
from handover.resources import mappings_dir
from handover.tables import read_csv_table

if TYPE_CHECKING:
    from handover.pipeline.routing import ProcedureRouter, StatusTable
    from handover.units import UnitResolver

_UNIT_MESSAGES = {
    UnitStatus.SPLIT.value: (
        "Xã/phường cũ đã bị chia cho nhiều xã mới: cần quy tắc của tỉnh hoặc quyết định của cán bộ",
        "The old commune was split among several new communes: a province rule or an official's decision is needed",
    ),
    UnitStatus.AMBIGUOUS.value: (
        "Tên xã/phường trùng với nhiều đơn vị cũ, địa chỉ không đủ để xác định",
        "The commune name matches several old units and the address does not say which",
    ),
    UnitStatus.NOT_FOUND.value: (
        "Không tìm thấy xã/phường cũ trong danh mục",
        "The old commune was not found in the reference",
    ),
}


@dataclasses.dataclass(frozen=True)
class MapSettings:
    """What the map stage needs; built once per batch."""

    resolver: UnitResolver
    router: ProcedureRouter
    statuses: StatusTable
    record_routes: pd.DataFrame  # index record_type → handling_level, handling_agency
    value_codes: dict[str, dict[str, str]]  # field → folded raw text → code (mappings/value_codes.csv)
    handover_date: date
    due_soon_days: int
    days_off: tuple[date, ...] = ()  # public holidays and the province's days off (handover.calendar)


def load_record_routes(path: Path | None = None) -> pd.DataFrame:
    """mappings/record_types.csv: record type → handling level and agency."""
    required = ("record_type", "handling_level", "handling_agency")
    path = path or mappings_dir() / "record_types.csv"
    rows = read_csv_table(path, required, "record routing")
    for line, row in rows:
        if not row["record_type"] or not row["handling_level"]:
            raise MapError(
                "Record routing line lacks record_type or handling_level.",
                file=str(path),
                row=line,
                hint="Fill both columns or delete the line.",
            )
    return pd.DataFrame([row for _, row in rows]).set_index("record_type")[list(required[1:])]


def load_value_codes(path: Path | None = None) -> dict[str, dict[str, str]]:
    """mappings/value_codes.csv: the texts exports use for coded fields ("Trực tuyến" → channel 2)."""
    from handover.text import fold

    path = path or mappings_dir() / "value_codes.csv"
    out: dict[str, dict[str, str]] = {}
    for line, row in read_csv_table(path, ("field", "raw", "code"), "value-code"):
        if not row["field"] or not row["raw"] or not row["code"]:
            raise MapError(
                "Value-code line lacks field, raw or code.", file=str(path), row=line, hint="Fill all three."
            )
        out.setdefault(row["field"], {})[fold(row["raw"])] = row["code"]
    return out


def normalise_codes(frame: pd.DataFrame, table: dict[str, dict[str, str]]) -> None:
    """Replace known texts of coded fields by their codes; unknown values stay for validation to flag."""
    from handover.text import fold

    for field, codes in table.items():
        if field not in frame:
            continue
        col = frame[field]
        known = col.notna()
        if not known.any():
            continue
        present = col[known]
        if pd.api.types.infer_dtype(present, skipna=False) == "string":
            # all text (what the readers give): each distinct text folded once, no per-cell Python
            positions, uniques = pd.factorize(present.to_numpy(dtype=object))
            found = [codes.get(fold(u)) for u in uniques]
            table = np.empty(len(uniques), dtype=object)
            table[:] = [c if c is not None else u for c, u in zip(found, uniques, strict=True)]
            frame.loc[known, field] = table[positions]
        else:
            mapped = present.astype(str).map(lambda v, c=codes: c.get(fold(v)))
            frame.loc[known, field] = mapped.where(mapped.notna(), present)


def due_flags(
    due: pd.Series, handover_date: date, due_soon_days: int, days_off: tuple[date, ...] = ()
) -> pd.Series:
    """overdue (due before the handover date), due_soon (within N working days after it: Monday to Friday less
    ``days_off``), on_time, no_date."""
    parsed = pd.to_datetime(due, format="%Y-%m-%d", errors="coerce")
    out = pd.Series(DueFlag.NO_DATE.value, index=due.index, dtype=object)
    has = parsed.notna()
    if has.any():
        days = parsed[has].values.astype("datetime64[D]")
        start = np.datetime64(handover_date, "D")
        overdue = days < start
        working = working_days_between(start, np.maximum(days, start), days_off)
        soon = ~overdue & (working <= due_soon_days)
        out.loc[has] = np.where(
            overdue, DueFlag.OVERDUE.value, np.where(soon, DueFlag.DUE_SOON.value, "on_time")
        )
    return out


def _fill_official_names(frame: pd.DataFrame, resolver: UnitResolver) -> None:
    """Old province and district names the source left out, from the reference (officials read them)."""
    ref = resolver.ref
    for code_col, name_col, lookup in (
        ("old_district_code", "old_district_name", {k: v[0] for k, v in ref.districts.items()}),
        ("old_province_code", "old_province_name", ref.provinces),
    ):
        if name_col not in frame or code_col not in frame:
            continue
        missing = frame[name_col].isna() & frame[code_col].notna()
        if missing.any():
            # each distinct code looked up once
            codes, uniq = pd.factorize(frame.loc[missing, code_col].astype(object))
            names = pd.Series(uniq, dtype=object).map(lookup).to_numpy()
            frame.loc[missing, name_col] = names[codes]


def _shown_fees(due: pd.Series, hit: pd.Series, vnd: Any) -> pd.Series:
    """The fee due as messages show it, on the rows of ``hit`` ("" elsewhere)."""
    mask = hit.to_numpy(dtype=bool)
    shown = np.full(len(due), "", dtype=object)
    shown[mask] = [vnd(v) if v == v else "" for v in due.to_numpy()[mask]]
    return pd.Series(shown, index=due.index, dtype=object)


def map_chunk(chunk: Chunk, settings: MapSettings) -> Chunk:
    """Resolve units, route, normalise status and flag due dates for one chunk."""
    frame = chunk.frame
    if chunk.entity is Entity.RECORD and settings.resolver.decisions:
        # a record's decision names its key record_type/record_number where a dossier's names dossier_code
        units = settings.resolver.resolve_frame(frame.assign(dossier_code=natural_keys(frame, chunk.entity)))
    else:
        units = settings.resolver.resolve_frame(frame)
    for col in units.columns:
        if col.startswith("old_"):
            # keep what the source said when the resolver found nothing
            frame[col] = units[col].where(units[col].notna(), frame.get(col))
        else:
            frame[col] = units[col]

    _fill_official_names(frame, settings.resolver)
    normalise_codes(frame, settings.value_codes)

    if chunk.entity is Entity.DOSSIER:
        routed = settings.router.route_frame(frame)
        frame["handling_level"] = routed["handling_level"]
        frame["handling_agency"] = routed["handling_agency"]
        unknown_proc = ~routed["procedure_known"].astype(bool)
        due = pd.to_numeric(frame.get("fee", pd.Series(np.nan, frame.index)), errors="coerce")
        fee_on_free = routed["procedure_free"].astype(bool) & (due > 0)
        frame["status_code"] = settings.statuses.code_frame(frame["status_raw"])
        frame["due_flag"] = due_flags(
            frame["due_date"], settings.handover_date, settings.due_soon_days, settings.days_off
        )
    else:
        routes = settings.record_routes.reindex(frame["record_type"].fillna(""))
        frame["handling_level"] = routes["handling_level"].fillna("commune_pc").to_numpy()
        frame["handling_agency"] = routes["handling_agency"].fillna("UBND xã/phường").to_numpy()
        unknown_proc = pd.Series(False, index=frame.index)
        fee_on_free = pd.Series(False, index=frame.index)
        due = None
        frame["status_code"] = ""
        frame["due_flag"] = DueFlag.NO_DATE.value

    keys = natural_keys(frame, chunk.entity)

    def warn(
        hit: pd.Series, field: str, check: str, vi: str, en: str, shown: pd.Series | None = None
    ) -> None:
        """One warning per row where ``hit``; ``{value}`` in the messages is the row's ``field`` (or ``shown``)."""
        if shown is None:
            shown = frame[field] if field in frame else pd.Series(None, index=frame.index)
        values = shown[hit]
        for row, key, value in zip(frame["source_row"][hit], keys[hit], values, strict=True):
            text = "" if value is None or value != value else value  # None / NaN
            chunk.findings.append(
                Finding(
                    source_id=chunk.source_id,
                    row=int(row),
                    key=key,
                    field=field,
                    check=check,
                    severity=Severity.WARNING,
                    message_vi=vi.format(value=text),
                    message_en=en.format(value=text),
                )
            )

    where = frame.pop("unit_elsewhere")
    elsewhere = where.notna()
    for status, (vi, en) in _UNIT_MESSAGES.items():
        warn((frame["unit_status"] == status) & ~elsewhere, "old_commune_name", f"unit_{status}", vi, en)
    warn(
        elsewhere,
        "old_commune_name",
        "unit_other_district",
        "Xã/phường cũ là {value}, không thuộc huyện của nguồn: kiểm tra mã huyện (old_district_code) của nguồn "
        "hoặc địa chỉ của dòng",
        "The old commune is {value}, not in the source's district: check the source's old_district_code or the "
        "row's address",
        shown=where,
    )
    warn(
        unknown_proc,
        "procedure_code",
        "procedure_unknown",
        "Thủ tục '{value}' không có trong bảng phân cấp: chuyển UBND xã theo mặc định",
        "Procedure '{value}' is not in the routing table: routed to the commune by default",
    )
    if chunk.entity is Entity.DOSSIER and fee_on_free.any():
        from handover.fees import vnd

        warn(
            fee_on_free,
            "fee",
            "fee_on_free_procedure",
            "Hồ sơ ghi lệ phí phải nộp {value} cho thủ tục được miễn lệ phí theo bảng phân cấp (procedures.csv, "
            "cột free): kiểm tra lại số tiền (việc đăng ký quá hạn có thể không được miễn); hồ sơ vẫn được nạp",
            "The dossier states a fee due of {value} on a procedure the routing table marks free "
            "(procedures.csv, column free): check the amount (a late registration may not be exempt); the dossier "
            "is still loaded",
            shown=_shown_fees(due, fee_on_free, vnd),
        )
    if chunk.entity is Entity.DOSSIER:
        warn(
            (frame["status_code"] == "") & frame["status_raw"].notna(),
            "status_raw",
            "status_unknown",
            "Trạng thái '{value}' không nhận diện được: chuyển sang xem xét, không nạp",
            "Status '{value}' not recognised: sent to review, not loaded",
        )
    chunk.frame = frame
    return chunk
