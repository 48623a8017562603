"""The plan: ``PLAN_DIR/plan.toml``, its model, how it is read (:func:`load_plan`) and written (:func:`plan_text`)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from handover.config import check_id
from handover.errors import ConfigError
from handover.plan.toml import dump_toml

_STRICT = ConfigDict(extra="forbid")


class PlanHeader(BaseModel):
    """The ``[plan]`` table: where the plan came from and the target its batches load into."""

    model_config = _STRICT

    created_from: str = Field(description="Absolute path of the exports folder the plan was made from.")
    target: str | None = Field(None, description="SQLAlchemy URL of the target every batch loads into.")


class PlannedBatch(BaseModel):
    """One ``[[batch]]``: an old district's batch configuration."""

    model_config = _STRICT

    batch_id: str = Field(description="The batch id written in the configuration's [batch] id.")
    config: Path = Field(description="The batch configuration, relative to the plan's folder.")
    province_code: str = Field(description="Old (pre-2025) province code, 2 digits.")
    district_code: str = Field(description="Old district code, 3 digits.")
    district_name: str = Field(description="The district's name in the reference, e.g. Huyện Bảo Thắng.")

    @field_validator("batch_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_id(value)

    @field_validator("province_code")
    @classmethod
    def _province(cls, value: str) -> str:
        if not (len(value) == 2 and value.isdigit()):
            raise ValueError(f"'{value}' is not a province code of 2 digits")
        return value

    @field_validator("district_code")
    @classmethod
    def _district(cls, value: str) -> str:
        if not (len(value) == 3 and value.isdigit()):
            raise ValueError(f"'{value}' is not a district code of 3 digits")
        return value


class Undecided(BaseModel):
    """One ``[[undecided]]``: a file or folder of the exports that got no configuration, and why."""

    model_config = _STRICT

    path: str = Field(description="The file or folder, relative to the exports folder.")
    reason: str = Field(description="Why, and what to do (Vietnamese, then English).")


class Plan(BaseModel):
    """The whole ``plan.toml``; :attr:`folder` (not in the file) is where it was read from."""

    model_config = _STRICT

    plan: PlanHeader
    batch: list[PlannedBatch] = Field(default_factory=list)
    undecided: list[Undecided] = Field(default_factory=list)
    folder: Path | None = Field(None, exclude=True, description="The plan's folder (set by load_plan).")

    @model_validator(mode="after")
    def _unique(self) -> Plan:
        seen: set[str] = set()
        for b in self.batch:
            if b.batch_id in seen:
                raise ValueError(f"batch id '{b.batch_id}' is listed twice")
            seen.add(b.batch_id)
        return self

    @property
    def batches(self) -> list[PlannedBatch]:
        return self.batch

    def config_paths(self) -> list[Path]:
        """The batch configurations, absolute (resolved against the plan's folder)."""
        base = self.folder or Path.cwd()
        return [(base / b.config).resolve() for b in self.batch]


def load_plan(path: str | Path) -> Plan:
    """Read and validate ``plan.toml`` (or the plan folder holding it); errors name the file and the key."""
    path = Path(path)
    if path.is_dir():
        path = path / "plan.toml"
    if not path.is_file():
        raise ConfigError(
            f"Plan '{path}' does not exist.",
            file=str(path),
            hint="Write one with: handover plan EXPORTS_DIR --out PLAN_DIR",
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"Plan '{path}' is not valid UTF-8 TOML: {exc}.",
            file=str(path),
            hint="Fix the line named, or write the plan again with: handover plan",
        ) from exc
    try:
        plan = Plan.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(
            f"Plan '{path}': {where}: {message}.",
            file=str(path),
            column=where,
            hint="Fix that key, or write the plan again with: handover plan",
        ) from exc
    plan.folder = path.resolve().parent
    return plan


def plan_text(plan: Plan) -> str:
    """``plan.toml`` as written by ``handover plan``."""
    doc: dict[str, Any] = {"plan": plan.plan.model_dump(exclude_none=True)}
    if plan.batch:
        doc["batch"] = [{**b.model_dump(), "config": b.config.as_posix()} for b in plan.batch]
    if plan.undecided:
        doc["undecided"] = [u.model_dump() for u in plan.undecided]
    head = (
        "# Written by `handover plan`: one [[batch]] per old district (config relative to this folder), one\n"
        "# [[undecided]] per file or folder that got no configuration, with the reason. Run: handover run-many "
        "plan.toml\n\n"
    )
    return head + dump_toml(doc)
