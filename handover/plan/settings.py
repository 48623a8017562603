"""``EXPORTS_DIR/plan.toml``: what the planner cannot infer from the exports folder (target, batch id pattern,
province, per-district and per-source keys)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handover.errors import ConfigError

_STRICT = ConfigDict(extra="forbid")

SETTINGS_FILE = "plan.toml"
DEFAULT_BATCH_ID = "{province_code}-{district_code}-{district_slug}"


class DistrictOverride(BaseModel):
    """``[districts."<sub-folder or file group>"]``: what the name does not say."""

    model_config = _STRICT

    district_code: str | None = Field(None, description="The old district code (3 digits) this folder holds.")
    batch_id: str | None = Field(None, description="The batch id, instead of the pattern's.")
    skip: bool = Field(False, description="Leave this folder out of the plan (listed as undecided).")


class SourceOverride(BaseModel):
    """``[sources."<path>"]`` or ``[sources."<file.db>#<table>"]``: keys of a batch's [[sources]] entry."""

    model_config = _STRICT

    skip: bool = Field(False, description="Not a source of the batch (e.g. a look-up table of a database).")
    entity: Literal["dossier", "record"] | None = None
    profile: str | None = None
    columns: dict[str, str] | None = None
    record_type: str | None = None
    sheet: str | None = None
    header_row: int | None = None
    encoding: str | None = None
    delimiter: str | None = None
    multiline_fields: bool | None = None
    query: str | None = None
    row_id: str | None = None
    base_table: str | None = None
    count_query: str | None = None


class PlanSettingsHeader(BaseModel):
    model_config = _STRICT

    target: str | None = Field(None, description="SQLAlchemy URL of the target every batch loads into.")
    batch_id: str = Field(
        DEFAULT_BATCH_ID,
        description="Batch id pattern: {province_code}, {district_code}, {district_slug}, {province_slug}.",
    )
    province: str | None = Field(
        None, description="Old province (code or name): district names are matched in it only."
    )


class PlanSettings(BaseModel):
    """``EXPORTS_DIR/plan.toml``: what the planner cannot infer from the folder."""

    model_config = _STRICT

    plan: PlanSettingsHeader = Field(default_factory=PlanSettingsHeader)
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Tables copied into every batch configuration ([thresholds], [mapping], [report] ...).",
    )
    districts: dict[str, DistrictOverride] = Field(default_factory=dict)
    sources: dict[str, SourceOverride] = Field(default_factory=dict)


def load_settings(exports_dir: Path) -> PlanSettings:
    """``EXPORTS_DIR/plan.toml`` if there is one, else the defaults."""
    path = exports_dir / SETTINGS_FILE
    if not path.is_file():
        return PlanSettings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return PlanSettings.model_validate(raw)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"'{path}' is not valid UTF-8 TOML: {exc}.", file=str(path), hint="Fix the line named."
        ) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(
            f"'{path}': {where}: {first['msg'].removeprefix('Value error, ')}.",
            file=str(path),
            column=where,
            hint="Fix that key; the keys of plan.toml are described in README.md (Many districts).",
        ) from exc
