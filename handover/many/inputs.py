"""What ``run-many`` is given: a plan (``plan.toml`` or its folder) or batch configuration files, read into the
batches to run (:func:`read_inputs`)."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handover.errors import ConfigError

PLAN_FILE = "plan.toml"


@dataclass(frozen=True)
class PlannedBatch:
    """A batch to run: its configuration file, and what its plan entry (:class:`handover.plan.model.PlannedBatch`)
    says of it."""

    config: Path
    batch_id: str | None = None
    province_code: str | None = None
    district_code: str | None = None
    district_name: str | None = None


@dataclass
class ManyInputs:
    """What ``run-many`` was given: the batches in order, and the plan's exports it could not decide (not run)."""

    batches: list[PlannedBatch]
    undecided: list[dict[str, Any]] = field(default_factory=list)


def read_inputs(paths: Sequence[Path | str]) -> ManyInputs:
    """The batches named by ``paths``: a plan (``plan.toml``, or a folder holding one), or batch configuration
    files, in the order given (a plan's in its order)."""
    if not paths:
        raise ConfigError("Name a plan (plan.toml or its folder) or one or more batch configuration files.")
    batches: list[PlannedBatch] = []
    undecided: list[dict[str, Any]] = []
    for given in map(Path, paths):
        path = given / PLAN_FILE if given.is_dir() else given
        if given.is_dir() and not path.is_file():
            raise ConfigError(
                f"The folder {given} holds no {PLAN_FILE}.",
                file=str(given),
                hint="Name the plan folder `handover plan` wrote, its plan.toml, or batch configuration files.",
            )
        if not path.is_file():
            batches.append(PlannedBatch(config=path))  # fails alone, with the loader's message
            continue
        if _is_plan(path):
            plan = _load_plan(path)
            batches.extend(plan.batches)
            undecided.extend(plan.undecided)
        else:
            batches.append(PlannedBatch(config=path))
    return ManyInputs(batches, undecided)


def _is_plan(path: Path) -> bool:
    """A plan holds ``[plan]`` and ``[[batch]]`` entries; a batch configuration one ``[batch]`` table."""
    if path.name == PLAN_FILE:
        return True
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False  # a broken batch configuration fails alone, with the loader's message
    return "plan" in data or isinstance(data.get("batch"), list)


def _load_plan(path: Path) -> ManyInputs:
    """The batches of a plan (:func:`handover.plan.model.load_plan`), their configurations resolved."""
    from handover.plan.model import load_plan

    plan = load_plan(path)
    batches = [
        PlannedBatch(
            config=config,
            batch_id=entry.batch_id,
            province_code=entry.province_code,
            district_code=entry.district_code,
            district_name=entry.district_name,
        )
        for entry, config in zip(plan.batch, plan.config_paths(), strict=True)
    ]
    return ManyInputs(batches, [u.model_dump() for u in plan.undecided])
