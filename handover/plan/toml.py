"""A small TOML writer: the plan and the batch configurations ``handover plan`` writes."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        value = value.as_posix()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(doc: dict[str, Any], prefix: str = "") -> str:
    """A TOML document of plain values, tables and arrays of tables (``None`` values are left out)."""
    lines: list[str] = []
    tables: list[str] = []
    for key, value in doc.items():
        name = f"{prefix}.{_key(key)}" if prefix else _key(key)
        if value is None:
            continue
        if isinstance(value, dict):
            tables.append(f"[{name}]\n" + dump_toml(value, name))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.extend(f"[[{name}]]\n" + dump_toml(v, name) for v in value)
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    text = "\n".join(lines) + ("\n" if lines else "")
    return text + "".join(("\n" if text or i else "") + t for i, t in enumerate(tables))
