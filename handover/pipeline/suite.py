"""The suites of the validate stage, ``checks/<entity>.toml``: their models and :func:`load_suite`, which refuses
an unknown expectation type or rule, bad arguments, a bad severity or a check name used twice with a
:class:`~handover.errors.ConfigError` naming the file and the check (checks/README.md describes every key)."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handover.errors import ConfigError
from handover.models import Entity, Severity
from handover.pipeline.expectations import expectation_problem
from handover.pipeline.rules import ALL_TEXT_COLUMNS, NEEDED_PARAMS, RULES, TABLE_RULES

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ExpectationSpec(BaseModel):
    """One great-expectations expectation of a suite."""

    model_config = _STRICT

    check: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Stable check name, the key of findings.")
    expectation: str = Field(
        description="GX 1.x expectation class, one of handover.pipeline.expectations.SUPPORTED."
    )
    column: str = Field(description="Canonical field the expectation is about.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Further arguments of the expectation.")
    severity: Severity = Field(description="error quarantines the row; warning only reports it.")
    message_vi: str = Field(description="Message officials read; may use {value} and {column}.")
    message_en: str = Field(description="The same in English.")


class CustomSpec(BaseModel):
    """One vectorised pandas rule of a suite."""

    model_config = _STRICT

    check: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Stable check name, the key of findings.")
    rule: str = Field(description="Name of a rule in handover.pipeline.rules.RULES.")
    columns: list[str] = Field(min_length=1, description="Canonical fields the rule reads (and reports on).")
    params: dict[str, Any] = Field(default_factory=dict, description="Rule parameters.")
    severity: Severity = Field(description="error quarantines the row; warning only reports it.")
    message_vi: str = Field(description="Message officials read; may use {value} and {column}.")
    message_en: str = Field(description="The same in English.")


class SuiteHeader(BaseModel):
    model_config = _STRICT

    name: str = Field(description="Suite name, shown in the GX summary.")
    entity: Entity = Field(description="dossier or record.")
    description: str = ""


class SuiteSpec(BaseModel):
    """A suite file: ``checks/<entity>.toml``."""

    model_config = _STRICT

    suite: SuiteHeader
    expectations: list[ExpectationSpec] = Field(default_factory=list)
    custom: list[CustomSpec] = Field(default_factory=list)


def load_suite(path: Path) -> SuiteSpec:
    """Read and validate one suite file (no GX import): ConfigError names the file and the check."""
    if not path.is_file():
        raise ConfigError(
            f"Check suite '{path}' does not exist.",
            file=str(path),
            hint="Restore it from the distribution (checks/dossier.toml, checks/record.toml).",
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"Check suite '{path.name}' is not valid UTF-8 TOML: {exc}.",
            file=str(path),
            hint="Fix the syntax at the line named.",
        ) from exc
    try:
        spec = SuiteSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        check = None
        if len(loc) >= 2 and isinstance(loc[1], int):
            try:
                check = raw[loc[0]][loc[1]].get("check")
            except (KeyError, IndexError, AttributeError, TypeError):
                check = None
        where = ".".join(str(p) for p in loc)
        raise ConfigError(
            f"Check suite '{path.name}': {where}: {first['msg']}.",
            file=str(path),
            column=where,
            check=check,
            hint="Compare with the shipped checks/dossier.toml; checks/README.md describes every key.",
        ) from exc
    seen: set[str] = set()
    for item in [*spec.expectations, *spec.custom]:
        if item.check in seen:
            raise ConfigError(
                f"Check suite '{path.name}': check name '{item.check}' is used twice.",
                file=str(path),
                check=item.check,
                hint="Give every expectation and custom rule its own check name.",
            )
        seen.add(item.check)
    for e in spec.expectations:
        problem = expectation_problem(e.expectation, e.kwargs)
        if problem:
            raise ConfigError(
                f"Check suite '{path.name}', check '{e.check}': {problem[0]}.",
                file=str(path),
                check=e.check,
                hint=problem[1],
            )
    for c in spec.custom:
        if c.rule not in RULES:
            raise ConfigError(
                f"Check suite '{path.name}', check '{c.check}': unknown rule '{c.rule}'.",
                file=str(path),
                check=c.check,
                hint=f"Use one of: {', '.join(sorted(RULES))}.",
            )
        for needed in NEEDED_PARAMS.get(c.rule, ()):
            if needed not in c.params:
                raise ConfigError(
                    f"Check suite '{path.name}', check '{c.check}': rule {c.rule} needs params.{needed}.",
                    file=str(path),
                    check=c.check,
                    hint=f'Add params = {{ {needed} = "<column>" }}.',
                )
        if c.rule == "date_order" and "after" not in c.params:
            raise ConfigError(
                f"Check suite '{path.name}', check '{c.check}': rule date_order needs params.after.",
                file=str(path),
                check=c.check,
                hint='Add params = { after = "received_date" }.',
            )
        if ALL_TEXT_COLUMNS in c.columns and (c.rule not in TABLE_RULES or c.columns != [ALL_TEXT_COLUMNS]):
            raise ConfigError(
                f"Check suite '{path.name}', check '{c.check}': columns = [\"*\"] (every text column of the "
                f"target) stands alone, and only for the rules {', '.join(sorted(TABLE_RULES))}.",
                file=str(path),
                check=c.check,
                hint='Name the columns, or write columns = ["*"] alone.',
            )
        problem = _params_problem(c.rule, c.params)
        if problem:
            raise ConfigError(
                f"Check suite '{path.name}', check '{c.check}': {problem}.",
                file=str(path),
                check=c.check,
                hint="checks/README.md lists each rule's params.",
            )
    return spec


def _params_problem(rule: str, params: dict[str, Any]) -> str | None:
    """What is wrong with the params of a number_range / date_range rule, if anything."""
    if rule == "control_characters" and params.get("which", "all") not in ("all", "nul", "other"):
        return f'params.which must be "all", "nul" or "other", not {params["which"]!r}'
    if rule == "number_range":
        for key in ("min", "max"):
            if key in params and (isinstance(params[key], bool) or not isinstance(params[key], int | float)):
                return f"params.{key} must be a number, not {params[key]!r}"
        if not ({"min", "max"} & set(params) or params.get("target") is True):
            return "rule number_range needs params.min, params.max or params.target = true"
    if rule == "date_range":
        for key in ("min", "max"):
            if key in params:
                try:
                    date.fromisoformat(str(params[key]))
                except ValueError:
                    return f"params.{key} must be a date written YYYY-MM-DD, not {params[key]!r}"
        years = params.get("max_years_after_handover")
        if years is not None and (isinstance(years, bool) or not isinstance(years, int) or years < 0):
            return f"params.max_years_after_handover must be a whole number of years, not {years!r}"
        if not ({"min", "max", "max_years_after_handover"} & set(params) or params.get("target") is True):
            return "rule date_range needs params.min, max, max_years_after_handover or target = true"
    return None


def suite_path(entity: Entity | str, checks_dir: Path | None = None) -> Path:
    """``<checks_dir>/<entity>.toml`` (default: the shipped ``checks/``)."""
    if checks_dir is None:
        from handover.resources import checks_dir as default_dir

        checks_dir = default_dir()
    return Path(checks_dir) / f"{Entity(entity).value}.toml"


def load_entity_suite(entity: Entity | str, checks_dir: Path | None = None) -> SuiteSpec:
    """:func:`load_suite` of the entity's suite file, which must be for that entity."""
    entity = Entity(entity)
    path = suite_path(entity, checks_dir)
    spec = load_suite(path)
    if spec.suite.entity is not entity:
        raise ConfigError(
            f"Check suite '{path.name}' is for entity '{spec.suite.entity}', not '{entity}'.",
            file=str(path),
            hint="Set [suite] entity to match the file name.",
        )
    return spec
