"""Canonical records, findings, and the typed result of each stage.

Rows travel between stages as pandas DataFrame chunks whose columns are the field names below
(:data:`DOSSIER_FIELDS`, :data:`RECORD_FIELDS`) plus the technical columns ``source_id``, ``source_row`` and
``extras`` (JSON text of every source column that maps to no field: never dropped). The pydantic models document
each field and validate single rows (tests, the API); chunks are not built from them row by row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Entity(StrEnum):
    DOSSIER = "dossier"
    RECORD = "record"


class RecordType(StrEnum):
    BIRTH = "birth"
    MARRIAGE = "marriage"
    DEATH = "death"
    BUSINESS_HOUSEHOLD = "business_household"
    CONSTRUCTION_PERMIT = "construction_permit"
    SOCIAL_ALLOWANCE = "social_allowance"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Disposition(StrEnum):
    """What happened to one extracted source row. extracted = the sum of all five."""

    LOADED = "loaded"
    REVIEW = "review"  # unit split/ambiguous/not found: a person must decide
    QUARANTINED = "quarantined"  # an error finding
    EXCLUDED = "excluded"  # not pending (finished, returned, withdrawn, rejected)
    DUPLICATE = "duplicate"  # exact duplicate of a row already counted


DISPOSITIONS: tuple[str, ...] = tuple(d.value for d in Disposition)


class UnitStatus(StrEnum):
    UNIQUE = "unique"
    SPLIT = "split"
    AMBIGUOUS = "ambiguous"
    NOT_FOUND = "not_found"


class DueFlag(StrEnum):
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    ON_TIME = "on_time"
    NO_DATE = "no_date"


class _Canonical(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source_system: str = Field(description="Id of the source in the batch config (the old district system).")
    address: str | None = Field(None, description="Free-text address as the source has it (Địa chỉ).")
    village: str | None = Field(None, description="Village / residential group (thôn, tổ dân phố), street.")
    old_province_code: str | None = Field(None, description="Legacy province code, 2 digits (scheme legacy).")
    old_district_code: str | None = Field(None, description="Legacy district code, 3 digits (scheme legacy).")
    old_commune_code: str | None = Field(None, description="Legacy commune code, 5 digits (scheme legacy).")
    old_province_name: str | None = Field(None, description="Legacy province name as written in the source.")
    old_district_name: str | None = Field(None, description="Legacy district name as written in the source.")
    old_commune_name: str | None = Field(None, description="Legacy commune name as written in the source.")
    notes: str | None = Field(None, description="Ghi chú.")
    extras: dict[str, Any] = Field(default_factory=dict, description="Source columns that map to no field.")


class Dossier(_Canonical):
    """A pending administrative-procedure dossier (hồ sơ TTHC), fields after the portal's DongBoHoSoMC."""

    dossier_code: str = Field(description="Mã hồ sơ, e.g. 000.00.53.H48-220921-0099.")
    procedure_code: str | None = Field(None, description="Mã TTHC in the national database, e.g. 1.001612.")
    procedure_name: str | None = Field(None, description="Tên TTHC.")
    sector_code: str | None = Field(None, description="Mã lĩnh vực.")
    sector_name: str | None = Field(None, description="Tên lĩnh vực.")
    applicant_name: str | None = Field(None, description="Chủ hồ sơ.")
    applicant_type: Literal["1", "2"] | None = Field(None, description="LoaiDoiTuong: 1 citizen, 2 business.")
    applicant_id: str | None = Field(None, description="CCCD (12 digits), CMND (9) or tax code (10/13).")
    applicant_sex: str | None = Field(
        None, description="Giới tính: M or F (checked against the CCCD's digit 4; not stored in the target)."
    )
    phone: str | None = Field(None, description="Số điện thoại.")
    email: str | None = Field(None, description="Email.")
    summary: str | None = Field(None, description="Trích yếu hồ sơ.")
    received_date: date | None = Field(None, description="Ngày tiếp nhận (local date, Asia/Ho_Chi_Minh).")
    due_date: date | None = Field(None, description="Ngày hẹn trả: kept as the source has it.")
    returned_date: date | None = Field(None, description="Ngày trả kết quả, when finished.")
    received_at: datetime | None = Field(
        None,
        description="Received, local date-time (Asia/Ho_Chi_Minh wall time), when the source's received date "
        "carries a time of day; read from the received_date column, never mapped itself.",
    )
    due_at: datetime | None = Field(
        None, description="Due, local date-time, when the source's due date carries a time of day."
    )
    returned_at: datetime | None = Field(
        None,
        description="Result returned, local date-time, when the source's returned date carries a time of day.",
    )
    status_raw: str | None = Field(None, description="Status as the source writes it.")
    channel: Literal["1", "2", "3"] | None = Field(
        None, description="HinhThuc: 1 in person, 2 online, 3 post."
    )
    handling_unit: str | None = Field(None, description="Đơn vị xử lý in the old system.")
    fee: float | None = Field(None, description="Amount due: phí, lệ phí (VND).")
    amount_paid: float | None = Field(None, description="Amount paid (VND).")
    payment_date: date | None = Field(None, description="Day the fee was paid (local date).")
    payment_channel: str | None = Field(
        None,
        description="How it was paid: cash, bank_transfer, portal (the national portal's payment platform); "
        "source texts placed by mappings/value_codes.csv.",
    )
    receipt_number: str | None = Field(None, description="Số biên lai: the receipt (invoice) number.")


class Record(_Canonical):
    """A record the district kept (civil status, business household, permit, allowance beneficiary)."""

    record_type: RecordType = Field(description="Kind of record.")
    record_number: str = Field(description="Registration / book / permit number, unique per source and type.")
    registered_date: date | None = Field(None, description="Date of registration or issue.")
    subject_name: str | None = Field(None, description="The person or household the record is about.")
    subject_id: str | None = Field(None, description="Their CCCD/CMND, or the business's tax code.")
    subject_birth_date: date | None = Field(None, description="Their birth date.")
    subject_sex: str | None = Field(
        None, description="Giới tính: M or F (checked against the CCCD's digit 4; not stored in the target)."
    )
    related_name: str | None = Field(None, description="Second party (spouse, parent, declarant).")
    related_id: str | None = Field(None, description="Second party's ID number.")
    business_name: str | None = Field(None, description="Business household name.")
    amount: float | None = Field(None, description="Monthly allowance or registered capital (VND).")
    status_raw: str | None = Field(None, description="Status as the source writes it.")


TECHNICAL_COLUMNS: tuple[str, ...] = ("source_id", "source_row", "extras")
DOSSIER_FIELDS: tuple[str, ...] = tuple(f for f in Dossier.model_fields if f != "extras")
RECORD_FIELDS: tuple[str, ...] = tuple(f for f in Record.model_fields if f != "extras")
DATE_FIELDS: frozenset[str] = frozenset(
    {"received_date", "due_date", "returned_date", "registered_date", "subject_birth_date", "payment_date"}
)
# A date field → the field that keeps its time of day (handover.sources.cells.parse_date_time): both are read from
# the date field's source column, the time only when the value carries one; a profile never maps the time field.
TIME_OF_DAY_FIELDS: dict[str, str] = {
    "received_date": "received_at",
    "due_date": "due_at",
    "returned_date": "returned_at",
}
DERIVED_FIELDS: frozenset[str] = frozenset(TIME_OF_DAY_FIELDS.values())
ID_FIELDS: frozenset[str] = frozenset({"applicant_id", "subject_id", "related_id"})
PHONE_FIELDS: frozenset[str] = frozenset({"phone"})
SEX_FIELDS: frozenset[str] = frozenset({"applicant_sex", "subject_sex"})
NUMBER_FIELDS: frozenset[str] = frozenset({"fee", "amount_paid", "amount"})

# Columns the map stage adds.
MAPPED_COLUMNS: tuple[str, ...] = (
    "unit_status",  # UnitStatus
    "unit_method",  # code / exact_name / normalised_name / rule / decision
    "unit_relation",  # whole / part / part_area / unchanged / renamed / type_changed / ...
    "unit_candidates",  # JSON list of {"province_code","commune_code","name"} when split/ambiguous
    "unit_suggestions",  # JSON list of names when not_found
    "new_province_code",
    "new_commune_code",
    "new_commune_name",
    "status_code",  # 1..10 of the national portal, "" when unknown
    "handling_level",  # commune_pc / commune_bro / province_dept
    "handling_agency",  # name of the receiving body
    "due_flag",  # DueFlag
)


def fields_for(entity: Entity | str) -> tuple[str, ...]:
    return DOSSIER_FIELDS if Entity(entity) is Entity.DOSSIER else RECORD_FIELDS


def source_fields(entity: Entity | str) -> tuple[str, ...]:
    """The fields a source column can be mapped to (profiles, ``[sources.columns]``): all but the derived ones."""
    return tuple(f for f in fields_for(entity) if f not in DERIVED_FIELDS)


def natural_key_fields(entity: Entity | str) -> tuple[str, ...]:
    """Within one source system: dossier_code, or (record_type, record_number)."""
    return ("dossier_code",) if Entity(entity) is Entity.DOSSIER else ("record_type", "record_number")


class Finding(BaseModel):
    """One data-quality observation about one row (or a whole source when ``row`` is None)."""

    model_config = ConfigDict(frozen=True)

    source_id: str = Field(description="Source id from the batch config.")
    row: int | None = Field(
        None, description="Row number in the source (1-based, as a spreadsheet shows it)."
    )
    key: str | None = Field(None, description="Natural key of the row (dossier code / record number).")
    field: str | None = Field(None, description="Canonical field concerned.")
    check: str = Field(
        description="Stable check name, e.g. dossier_code_format, unit_split, id_leading_zero."
    )
    severity: Severity
    message_vi: str = Field(description="What officials read, in Vietnamese.")
    message_en: str = Field(description="The same in English, for mixed audiences and logs.")


# ---------------------------------------------------------------------------------------------------------
# Chunks: what flows between stages. DataFrames, not lists of models.
# ---------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Chunk:
    """One slice of one source, as it moves down the pipeline.

    ``frame`` columns: TECHNICAL_COLUMNS + the entity's fields (extract), + MAPPED_COLUMNS (map),
    + ``disposition`` and ``reason`` (validate). ``findings`` accumulate along the way.
    """

    source_id: str
    entity: Entity
    index: int  # 0-based chunk number within the source; resume is by (batch, source, index)
    frame: Any  # pandas.DataFrame (kept Any so importing models stays cheap)
    findings: list[Finding] = dataclasses.field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------
# Stage results
# ---------------------------------------------------------------------------------------------------------


class Counts(BaseModel):
    """Rows of a source (or a batch) by disposition: ``extracted = loaded + review + quarantined + excluded +
    duplicate`` when it balances."""

    extracted: int = 0
    loaded: int = 0
    review: int = 0
    quarantined: int = 0
    excluded: int = 0
    duplicate: int = 0

    def balanced(self) -> bool:
        return self.extracted == self.loaded + self.review + self.quarantined + self.excluded + self.duplicate

    def add(self, other: Counts) -> Counts:
        return Counts(**{k: getattr(self, k) + getattr(other, k) for k in Counts.model_fields})

    @classmethod
    def total(cls, parts: Iterable[Counts]) -> Counts:
        """The sum of per-source (or per-chunk) counts."""
        out = cls()
        for part in parts:
            out = out.add(part)
        return out


class NonDataLine(BaseModel):
    """One row of a source the reader did not take as data, and why."""

    row: int = Field(description="Row number in the source (1-based, as a spreadsheet or editor shows it).")
    rule: str = Field(description="title, blank, header, numbering, subtotal, total, signature.")
    text: str = Field("", description="The row's cells joined with ' | ', cut at 200 characters.")


class RowAccount(BaseModel):
    """Every physical row of a source: ``physical_rows = data_rows + non-data rows``, the non-data rows counted
    per rule and listed (at most :data:`MAX_LINES_PER_RULE` a rule)."""

    physical_rows: int = Field(description="Rows the reader read: records of a CSV, rows 1..last of a sheet.")
    data_rows: int = Field(description="Rows read as data (what the pipeline counts as extracted).")
    non_data: dict[str, int] = Field(default_factory=dict, description="rule → rows")
    lines: list[NonDataLine] = Field(default_factory=list, description="The non-data rows, by row number.")
    total_stated: int | None = Field(None, description="The count the total line states, when it states one.")

    @property
    def non_data_rows(self) -> int:
        return sum(self.non_data.values())

    def balanced(self) -> bool:
        return self.physical_rows == self.data_rows + self.non_data_rows

    def balances(self, counts: Counts) -> bool:
        """The whole balance of one source: ``physical = data + non-data``, ``data = extracted`` and
        ``extracted = loaded + review + quarantined + excluded + duplicate``."""
        return self.balanced() and self.data_rows == counts.extracted and counts.balanced()

    def summary(self) -> str:
        """``626 read = 612 data + 14 non-data (title 3, blank 5, header 1, total 1, signature 4)``"""
        rules = ", ".join(f"{rule} {n:,}" for rule, n in self.non_data.items())
        text = f"{self.physical_rows:,} read = {self.data_rows:,} data + {self.non_data_rows:,} non-data"
        return f"{text} ({rules})" if rules else text


MAX_LINES_PER_RULE = 50
EXPECTED_RULES = frozenset({"title", "blank", "header"})  # the non-data rows every printed export has


class SourceFingerprint(BaseModel):
    source_id: str
    kind: str
    location: str = Field(description="File path or database URL with the password hidden.")
    entity: Entity
    sha256: str = Field(description="SHA-256 of the file bytes, or of the query's rows for SQL sources.")
    size_bytes: int | None = None
    rows: RowAccount | None = Field(None, description="Every physical row accounted for (after reading).")


class StageTiming(BaseModel):
    stage: str
    seconds: float


class UnitHandover(BaseModel):
    """What one round newly handed over to one receiving unit, and the record it issued."""

    code: str | None = Field(description="The new commune's code.")
    name: str | None = None
    dossiers: int
    records: int
    round: int = Field(
        description="Which hand-over to this unit it is: 1 the first record, 2 its first supplement."
    )
    record_number: str = Field(description="The number printed on the record (…/BB-BGHS, …/BB-BGHS-BS1).")


class HandoverRound(BaseModel):
    """A batch of the same sources (not rolled back), with what it newly handed over."""

    batch_id: str
    status: str
    started_at: datetime | None = Field(None, description="UTC.")
    finished_at: datetime | None = Field(None, description="UTC.")
    dossiers: int
    records: int
    units: list[UnitHandover] = Field(default_factory=list)


class BatchResult(BaseModel):
    """What :func:`handover.pipeline.run.run_batch` returns: the whole batch in numbers."""

    batch_id: str
    status: Literal["finished", "dry_run", "gate_failed"]
    target: str
    started_at: datetime
    finished_at: datetime
    per_source: dict[str, Counts]
    total: Counts
    sources: list[SourceFingerprint]
    chunks_skipped: int = Field(0, description="Chunks already committed by an earlier (crashed) run.")
    new_rows: int = Field(0, description="Rows this run inserted into the target.")
    conflicts: int = 0
    findings: dict[str, int] = Field(default_factory=dict, description="check name → count")
    fingerprint: str | None = Field(None, description="SHA-256 of the batch's loaded set.")
    reports: dict[str, str] = Field(default_factory=dict, description="report kind → path")
    timings: list[StageTiming] = Field(default_factory=list)
    notices: list[str] = Field(
        default_factory=list, description="Things the user should know (stale lock taken)."
    )
    rules: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Each split rule of the batch (file, line, old commune, keyword, new commune) and the rows "
        "it decided: 0 means its keyword never matched.",
    )
    attachments: dict[str, Any] | None = Field(
        None,
        description="Sources with scanned files: the store, the manifest rows this run wrote (files_recorded), "
        "files copied, found in place (a re-run), and orphans removed (handover.attachments).",
    )
    rounds: list[HandoverRound] = Field(
        default_factory=list,
        description="The batches of the same sources up to this one (the earlier rounds, then this one), each "
        "with the dossiers and records it newly handed over and the record per receiving unit.",
    )
