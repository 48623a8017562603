"""What a target database can store: text lengths, dates and amounts, per database.

The numbers are data, in ``checks/target_limits.toml``: a ``[common]`` section every target gets, and one section
per database with what that database takes itself; a value is held to the smaller of the two. The length of each
VARCHAR(n) column comes from the table definitions (:mod:`handover.target.schema`). The validate stage's
target-limit checks read :class:`TargetLimits` (so that a database never refuses a chunk for its content), and
the loader caps the JSON payload of held-back rows to :attr:`TargetLimits.text_max_bytes`.
"""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import date
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handover.errors import ConfigError
from handover.models import Entity

_STRICT = ConfigDict(extra="forbid")
LIMITS_FILE = "target_limits.toml"
# SQLAlchemy backend names that share a section
_ALIASES = {"mariadb": "mysql"}


class _Section(BaseModel):
    model_config = _STRICT

    label: str = Field(description="How messages name the database.")
    text_max_bytes: int = Field(gt=0, description="Largest free-text (TEXT) cell, in UTF-8 bytes.")
    date_min: date = Field(description="Earliest date a DATE column holds.")
    date_max: date = Field(description="Latest date a DATE column holds.")
    amount_max: float = Field(gt=0, description="Largest absolute amount a DOUBLE column holds (exactly).")
    refuses_nul: bool = Field(False, description="Text cannot hold U+0000.")


class _LimitsFile(BaseModel):
    model_config = _STRICT

    common: _Section
    databases: dict[str, _Section] = Field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ColumnLimit:
    """How long one text column's value may be on a target."""

    name: str
    chars: int | None  # VARCHAR(n): characters
    bytes: int | None  # TEXT: UTF-8 bytes
    free_text: bool  # a TEXT column: tab, line feed and carriage return are text there


@dataclasses.dataclass(frozen=True)
class TargetLimits:
    """The limits a value is held to on one target (the smaller of ``[common]`` and the database's own)."""

    dialect: str  # sqlite, postgresql, mysql, or "" (not known: [common] alone)
    label: str  # "MariaDB/MySQL", ...
    text_max_bytes: int
    date_min: date
    date_max: date
    amount_max: float
    refuses_nul: bool
    common: frozenset[str] = frozenset()  # the limits [common] sets below the database's own

    def label_for(self, *limits: str) -> str:
        """How a message names where ``limits`` come from: the database, or the cap every target gets."""
        if self.common & set(limits):
            return f"{self.label}; giới hạn chung mọi CSDL đích / the cap every target gets"
        return self.label

    def text_columns(self, entity: Entity | str) -> dict[str, ColumnLimit]:
        """Every text column the target table of ``entity`` stores from a row (all but the technical columns
        and ``source_system``, which is the source id), with its limit."""
        from sqlalchemy import String

        from handover.target.hashing import content_columns, table_for

        table = table_for(entity)
        out: dict[str, ColumnLimit] = {}
        for name in content_columns(entity):
            column = table.c[name]
            if name == "source_system" or not isinstance(column.type, String):
                continue
            length = column.type.length
            if length:
                out[name] = ColumnLimit(name, length, None, False)
            else:
                out[name] = ColumnLimit(name, None, self.text_max_bytes, True)
        return out


def limits_path() -> Path:
    from handover.resources import checks_dir

    return checks_dir() / LIMITS_FILE


@cache
def _read(path: Path) -> _LimitsFile:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"Cannot read the target limits '{path}': {exc}.",
            file=str(path),
            hint="Restore checks/target_limits.toml from the distribution.",
        ) from exc
    try:
        return _LimitsFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"Target limits '{path.name}': {where}: {first['msg']}.",
            file=str(path),
            column=where,
            hint="Compare with the shipped checks/target_limits.toml.",
        ) from exc


def load_limits(dialect: str | None, path: Path | None = None) -> TargetLimits:
    """The limits of a target of ``dialect`` (SQLAlchemy's name: sqlite, postgresql, mysql/mariadb; None or
    another name: ``[common]`` alone)."""
    spec = _read(path or limits_path())
    name = _ALIASES.get(dialect or "", dialect or "")
    own = spec.databases.get(name)
    common = spec.common
    if own is None:  # not a database the file knows: [common] alone
        return TargetLimits(
            dialect=name,
            label=name or common.label,
            text_max_bytes=common.text_max_bytes,
            date_min=common.date_min,
            date_max=common.date_max,
            amount_max=common.amount_max,
            refuses_nul=False,
            common=frozenset({"text_max_bytes", "date_min", "date_max", "amount_max"})
            if name
            else frozenset(),
        )
    # the limits [common] sets below the database's own
    capped = {
        key
        for key in ("text_max_bytes", "date_max", "amount_max")
        if getattr(common, key) < getattr(own, key)
    }
    if common.date_min > own.date_min:
        capped.add("date_min")
    return TargetLimits(
        dialect=name,
        label=own.label,
        text_max_bytes=min(own.text_max_bytes, common.text_max_bytes),
        date_min=max(own.date_min, common.date_min),
        date_max=min(own.date_max, common.date_max),
        amount_max=min(own.amount_max, common.amount_max),
        refuses_nul=own.refuses_nul,
        common=frozenset(capped),
    )


def limits_for_url(url: str | None) -> TargetLimits:
    """The limits of the target at ``url`` (no connection made; an unparsable URL: ``[common]`` alone, the
    load stage reports the URL itself)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    dialect = None
    if url:
        try:
            dialect = make_url(url).get_backend_name()
        except (ArgumentError, ValueError):
            dialect = None
    return load_limits(dialect)
