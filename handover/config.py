"""Batch configuration: one TOML file describes one batch.

Relative paths in the file are resolved against the file's own folder, so a batch folder can be moved whole.
``handover init`` writes a commented example (:data:`handover.config_example.EXAMPLE_TOML`); who signs
the handover records (``[report.parties]``) is :class:`handover.parties.PartiesConfig`.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from annotated_types import Ge, Le
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from handover.errors import ConfigError
from handover.models import Entity
from handover.parties import PartiesConfig

_STRICT = ConfigDict(extra="forbid")
ID_RULE = "1 to 100 letters, digits, '-', '_' or '.', starting with a letter or a digit"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_id(value: str) -> str:
    """A batch or source id: stored in 100-character columns, shown in file names and spreadsheets, typed
    on the command line (so never starting with '-', '=', '+' or '@')."""
    ok = 0 < len(value) <= 100 and value[0].isalnum() and all(c.isalnum() or c in "-_." for c in value)
    if not ok:
        raise ValueError("not a valid id")
    return value


def _not_bool(value: Any) -> Any:
    """TOML ``true``/``false`` where a number belongs: refused (pydantic would read it as 1/0)."""
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is not a number")
    return value


class AttachmentsConfig(BaseModel):
    """Where a dossier source's scanned files are: a column naming them, or a folder per dossier code."""

    model_config = _STRICT

    column: str | None = Field(
        None,
        description="Source header whose cells name each dossier's files (several separated by ';'), relative "
        "to the source file's folder (a SQL source: the batch file's folder).",
    )
    folder: str | None = Field(
        None,
        description='Folder of each dossier\'s files, with {dossier_code} in it, e.g. "scans/{dossier_code}/", '
        "relative to the source file's folder (a SQL source: the batch file's folder); every file in it counts.",
    )
    required: bool | Annotated[int, Field(ge=1, le=1000)] = Field(
        False,
        description="false: missing files are warnings; true: every named file and at least one must be there; "
        "n: at least n readable files. A dossier short of it is quarantined (finding attachment_missing).",
        json_schema_extra={"allowed": "true, false or a whole number from 1 to 1000"},
    )

    @model_validator(mode="after")
    def _one_way(self) -> AttachmentsConfig:
        if (self.column is None) == (self.folder is None):
            raise ValueError('give either column = "..." or folder = "...{dossier_code}..."')
        if self.folder is not None and "{dossier_code}" not in self.folder:
            raise ValueError('folder must contain {dossier_code}, e.g. "scans/{dossier_code}/"')
        return self


class SourceConfig(BaseModel):
    """One old district system's export: a CSV, a spreadsheet, or a SQL table/query."""

    model_config = _STRICT

    id: str = Field(
        description="Short id, unique in the batch; stored as source_system on every row.",
        json_schema_extra={"allowed": ID_RULE},
    )
    kind: Literal["csv", "xlsx", "xls", "sql"] = Field(description="How to read it.")
    entity: Entity = Field(Entity.DOSSIER, description="dossier (pending procedure) or record.")
    path: Path | None = Field(None, description="File path (csv/xlsx/xls), relative to the config file.")
    encoding: str | None = Field(
        None,
        description="csv: utf-8, utf-16, cp1258, tcvn3, vni ...; omit to detect (the decision is reported).",
    )
    delimiter: str | None = Field(None, description="csv: field separator; omit to detect.")
    multiline_fields: bool = Field(
        False,
        description="csv: values may span many lines (long quoted notes); otherwise a value running over more "
        "than 4 lines, or over 1,000 characters and 10x its column's typical length, is refused as a quote "
        "left open.",
    )
    sheet: str | None = Field(None, description="xlsx/xls: sheet name; omit for the first visible sheet.")
    header_row: int | None = Field(
        None, ge=1, le=1_048_576, description="1-based header row (1 = the first line); omit to detect."
    )
    url: str | None = Field(None, description="sql: SQLAlchemy URL of the district database (read only).")
    table: str | None = Field(None, description="sql: table to read.")
    query: str | None = Field(None, description="sql: SELECT to read instead of a table.")
    row_id: str | None = Field(
        None,
        description="sql: the column holding each row's identity in the district system (positive whole numbers); "
        "default: the table's single-column integer primary key, else the row's position in the result.",
    )
    base_table: str | None = Field(
        None,
        description="sql: the district system's own table the balance starts from (SELECT count(*)), so that rows "
        "a query's JOIN or WHERE leaves out show as a difference.",
    )
    count_query: str | None = Field(
        None,
        description="sql: a SELECT returning the one number the balance starts from, instead of base_table.",
    )
    profile: str | None = Field(None, description="Name of a header profile in mappings/profiles/.")
    columns: dict[str, str] = Field(
        default_factory=dict, description="Source header → canonical field; wins over the profile."
    )
    record_type: str | None = Field(None, description="record sources: the record type of every row.")
    old_province_code: str | None = Field(None, description="Legacy province code rows default to.")
    old_district_code: str | None = Field(None, description="Legacy district code rows default to.")
    attachments: AttachmentsConfig | None = Field(
        None,
        description="dossier sources: the scanned files of each dossier, copied into the target's attachment "
        "store (README: Attachments).",
    )

    @model_validator(mode="after")
    def _check_kind(self) -> SourceConfig:
        if self.attachments is not None and self.entity is not Entity.DOSSIER:
            raise ValueError(f"source '{self.id}': attachments belong to dossier sources only")
        if self.kind in ("csv", "xlsx", "xls") and self.path is None:
            raise ValueError(f"source '{self.id}': kind '{self.kind}' needs path = \"...\"")
        if self.kind == "sql" and (not self.url or not (self.table or self.query)):
            raise ValueError(f"source '{self.id}': kind 'sql' needs url and either table or query")
        if self.base_table and self.count_query:
            raise ValueError(f"source '{self.id}': give base_table or count_query, not both")
        return self

    @field_validator("id")
    @classmethod
    def _id_chars(cls, value: str, info: ValidationInfo) -> str:
        # checked when read from a batch file; `sources inspect` names its source after any file name
        return check_id(value) if info.context and info.context.get("batch_file") else value

    @field_validator("header_row", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return _not_bool(value)

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 1 or value in '"\r\n'):
            raise ValueError(f'{value!r} is not a separator: give one character, e.g. "," ";" "\\t" "|"')
        return value

    @field_validator("old_province_code", "old_district_code")
    @classmethod
    def _digits(cls, value: str | None, info: Any) -> str | None:
        width = 2 if info.field_name == "old_province_code" else 3
        if value is not None and not re.fullmatch(rf"[0-9]{{1,{width}}}", value):  # shorter: zero-padded
            example = "10" if width == 2 else "086"
            raise ValueError(
                f"'{value}' is not a code of up to {width} digits (write it quoted, e.g. \"{example}\")"
            )
        return value


class TargetConfig(BaseModel):
    model_config = _STRICT

    url: str = Field("sqlite:///target.db", description="SQLAlchemy URL of the target service database.")
    conflict_policy: Literal["keep", "update"] = Field(
        "keep",
        description="A loaded key whose content changed: keep the loaded version, or update (history kept).",
    )
    attachments: Path | None = Field(
        None,
        description="Folder of the attachment store (the sources' scanned files, README: Attachments), relative "
        "to the config file; default beside a SQLite target: <target file name>-attachments.",
    )


class MappingConfig(BaseModel):
    model_config = _STRICT

    rules: list[Path] = Field(
        default_factory=list, description="Province rule files for split communes (CSV)."
    )
    decisions: list[Path] = Field(default_factory=list, description="Manual per-row decisions (CSV, .xlsx).")
    procedures: Path | None = Field(None, description="Routing table; default: the shipped procedures.csv.")
    dir: Path | None = Field(
        None,
        description="The province's own mappings folder (written by: handover mappings export DIR), read instead "
        "of the shipped mappings/ for units, procedures, statuses, profiles...; its files' hashes are part of "
        "the batch's configuration hash.",
    )
    statuses: list[Path] = Field(
        default_factory=list,
        description="Status files of the batch (columns raw,code,pending,note, as mappings/statuses.csv): "
        "vendor status texts; a text named here wins over the shipped line.",
    )


class ChecksConfig(BaseModel):
    model_config = _STRICT

    population: Path | None = Field(
        None,
        description="Population extract to match applicants and subjects against (CSV with a header: ID, name, "
        "birth date; columns so_dinh_danh/ho_ten/ngay_sinh or id/name/birth_date), relative to the config file. "
        "Read once per batch into memory (about 155 bytes a row, in each validating process); its SHA-256 is "
        "part of the configuration hash.",
    )


class Thresholds(BaseModel):
    model_config = _STRICT

    max_error_share: Annotated[float, Field(ge=0, le=1)] = Field(
        0.2, description="Stop before loading when more than this share of rows has an error finding."
    )
    due_soon_days: Annotated[int, Field(ge=0, le=365)] = Field(
        5, description="Working days after the handover date within which a dossier counts as due soon."
    )
    handover_date: str = Field(
        "2025-07-01",
        description="Day the districts stopped (ISO date).",
        json_schema_extra={"allowed": 'a real date written "YYYY-MM-DD", e.g. "2025-07-01"'},
    )
    days_off: list[date] = Field(
        default_factory=list,
        description="The province's own days off (ISO dates), besides Vietnam's public holidays, when working "
        "days are counted.",
        json_schema_extra={"allowed": 'a list of real dates written "YYYY-MM-DD", e.g. ["2025-07-15"]'},
    )

    @field_validator("max_error_share", "due_soon_days", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return _not_bool(value)

    @field_validator("handover_date", mode="before")
    @classmethod
    def _real_date(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            raise ValueError("a date and time: give the date only")
        if isinstance(value, date):  # an unquoted TOML date
            return value.isoformat()
        if isinstance(value, str):
            try:
                if not _ISO_DATE.fullmatch(value):
                    raise ValueError
                date.fromisoformat(value)
            except ValueError:
                raise ValueError("not a date") from None
        return value


class BatchSection(BaseModel):
    model_config = _STRICT

    id: str = Field(
        description="Batch id: letters, digits, '-', '_', '.' (the key for resume and rollback).",
        json_schema_extra={"allowed": ID_RULE},
    )
    description: str = ""
    chunk_size: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        20_000, description="Rows per chunk: one transaction each; memory grows with it, not with the input."
    )
    workers: Literal["auto"] | Annotated[int, Field(ge=0, le=64)] = Field(
        "auto",
        description="No longer used (a batch works in one process; `handover run-many` runs batches side by "
        "side). Accepted as before so that batch files that set it still load, and kept in the configuration "
        "hash so that their batches resume and re-run as the same configuration.",
        json_schema_extra={"allowed": '"auto" or a whole number from 0 to 64'},
    )

    @field_validator("id")
    @classmethod
    def _id_chars(cls, value: str) -> str:
        return check_id(value)

    @field_validator("chunk_size", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return _not_bool(value)

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, value: Any) -> Any:
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 64):
            return value
        raise ValueError("not a number of worker processes")


# run_batch's notice for a batch file that sets batch.workers
WORKERS_IGNORED = (
    "batch.workers is no longer used: a batch works in one process (run batches side by side with "
    "`handover run-many`). Leave it in the batch file while this batch id is in use: it is part of the "
    "batch's configuration hash."
)


class ReportConfig(BaseModel):
    model_config = _STRICT

    dir: Path = Field(Path("reports"), description="Folder for the workbook and the HTML report.")
    parties: PartiesConfig = Field(
        default_factory=PartiesConfig,
        exclude=True,  # who signs does not change the batch: not part of its configuration hash
        description="Place and representatives printed on the handover records.",
    )


class BatchConfig(BaseModel):
    """One batch's configuration, read from its TOML file by :func:`load_config` (paths made absolute)."""

    model_config = _STRICT

    batch: BatchSection
    target: TargetConfig = TargetConfig()
    mapping: MappingConfig = MappingConfig()
    checks: ChecksConfig = ChecksConfig()
    thresholds: Thresholds = Thresholds()
    report: ReportConfig = ReportConfig()
    sources: list[SourceConfig] = Field(min_length=1)
    config_path: Path | None = Field(None, exclude=True, description="Where it was read from.")

    @model_validator(mode="after")
    def _unique_sources(self) -> BatchConfig:
        seen: set[str] = set()
        for s in self.sources:
            if s.id in seen:
                raise ValueError(f"two sources have id '{s.id}': ids must be unique")
            seen.add(s.id)
        return self


def _resolve(base: Path, p: Path | None) -> Path | None:
    if p is None:
        return None
    p = p.expanduser()
    return p if p.is_absolute() else (base / p)


def _resolve_sqlite(base: Path, url: str) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def _allowed(loc: tuple[int | str, ...]) -> str | None:
    """What the key at ``loc`` (a pydantic error location) accepts, in words: its ``allowed`` note, or the
    range of its ``ge``/``le`` bounds; ``None`` for a key without either."""
    model: Any = BatchConfig
    field: FieldInfo | None = None
    for part in loc:
        fields = getattr(model, "model_fields", {})
        if not isinstance(part, str) or part not in fields:
            continue  # a list index or a union member
        field = fields[part]
        model = field.annotation
        if get_origin(model) is list:
            model = get_args(model)[0]
    if field is None:
        return None
    extra = field.json_schema_extra
    if isinstance(extra, dict) and extra.get("allowed"):
        return str(extra["allowed"])
    low = next((m.ge for m in field.metadata if isinstance(m, Ge)), None)
    high = next((m.le for m in field.metadata if isinstance(m, Le)), None)
    if low is None and high is None:
        return None
    kind = "a number" if field.annotation is float else "a whole number"
    if high is None:
        return f"{kind} of at least {low:,}"
    return f"{kind} from {low:,} to {high:,}" if low is not None else f"{kind} up to {high:,}"


def load_config(path: str | Path) -> BatchConfig:
    """Read and validate a batch TOML file; every error names the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"Batch configuration '{path}' does not exist.",
            file=str(path),
            hint="Check the path, or write an example with: handover init batch.toml",
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"Batch configuration '{path}' is not UTF-8 text.", file=str(path), hint="Save it as UTF-8."
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"Batch configuration '{path}' is not valid TOML: {exc}.",
            file=str(path),
            hint="Fix the syntax at the line named; compare with: handover init example.toml",
        ) from exc
    try:
        cfg = BatchConfig.model_validate(raw, context={"batch_file": str(path)})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        message = first["msg"].removeprefix("Value error, ")
        allowed = _allowed(first["loc"])
        if allowed:
            given = first.get("input")
            shown = f"{given!r}"[:60] if isinstance(given, str) else str(given).lower()
            message += f" (allowed: {allowed}; found: {shown})"
        raise ConfigError(
            f"Batch configuration '{path}': {where}: {message}{more}.",
            file=str(path),
            column=where,
            hint="Fix that key; every key is described in README.md (Configuration) and in: handover init",
        ) from exc
    base = path.resolve().parent
    cfg.config_path = path.resolve()
    cfg.target.url = _resolve_sqlite(base, cfg.target.url)
    cfg.report.dir = _resolve(base, cfg.report.dir)  # type: ignore[assignment]
    cfg.mapping.rules = [_resolve(base, p) for p in cfg.mapping.rules]  # type: ignore[misc]
    cfg.mapping.decisions = [_resolve(base, p) for p in cfg.mapping.decisions]  # type: ignore[misc]
    cfg.mapping.procedures = _resolve(base, cfg.mapping.procedures)
    cfg.mapping.dir = _resolve(base, cfg.mapping.dir)
    cfg.mapping.statuses = [_resolve(base, p) for p in cfg.mapping.statuses]  # type: ignore[misc]
    cfg.checks.population = _resolve(base, cfg.checks.population)
    cfg.target.attachments = _resolve(base, cfg.target.attachments)
    for s in cfg.sources:
        s.path = _resolve(base, s.path)
        if s.url:
            s.url = _resolve_sqlite(base, s.url)
    return cfg
