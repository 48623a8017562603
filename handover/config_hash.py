"""The identity of a batch's configuration: what decides a batch's outcome besides its sources, hashed. A batch
id is bound to it (``batches.config_sha256``): a changed configuration needs a new batch id."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from handover.config import BatchConfig


def config_sha256(cfg: BatchConfig) -> str:
    """SHA-256 of what decides a batch's outcome besides its sources: the meaning of the batch file (its parsed
    settings, :func:`config_meaning`: comments, spacing and key order do not count) and the contents of every
    rule, decision and routing file it names, and of every file of its own mappings folder (``[mapping] dir``).
    A batch id is bound to it (a changed configuration needs a new batch id)."""
    digest = hashlib.sha256(config_meaning(cfg).encode())
    return _named_files_digest(cfg, digest)


def config_meaning(cfg: BatchConfig) -> str:
    """The batch configuration as canonical JSON: every setting with its default filled in, keys sorted, and
    paths under the batch file's folder written relative to it (the same batch in another folder means the
    same). An unset ``[checks]`` section is left out: batches recorded before it existed keep their hash."""
    import json

    base = str(cfg.config_path.parent) if cfg.config_path else None

    def relative(value: object) -> object:
        if isinstance(value, dict):
            return {k: relative(v) for k, v in value.items()}
        if isinstance(value, list):
            return [relative(v) for v in value]
        if isinstance(value, str) and base:
            for prefix in ("", "sqlite:///"):
                if value.startswith(prefix + base + os.sep):
                    return prefix + Path(value[len(prefix + base) + 1 :]).as_posix()
        return value

    data = cfg.model_dump(mode="json")
    if not any(data.get("checks", {}).values()):  # [checks] unset: the meaning batches recorded before it had
        data.pop("checks", None)
    if data.get("target", {}).get("attachments") is None:  # likewise the attachment store and sources' files
        data.get("target", {}).pop("attachments", None)
    for source in data.get("sources", []):
        if source.get("attachments") is None:
            source.pop("attachments", None)
    return json.dumps(relative(data), sort_keys=True, ensure_ascii=False)


def legacy_config_sha256(cfg: BatchConfig) -> str:
    """:func:`config_sha256` as batches begun before it hashed the meaning recorded it: the batch file's bytes
    instead of its meaning. A batch recorded with it is the same configuration when this still matches."""
    digest = hashlib.sha256()
    if cfg.config_path and cfg.config_path.is_file():
        digest.update(cfg.config_path.read_bytes())
    else:
        digest.update(cfg.model_dump_json().encode())
    return _named_files_digest(cfg, digest)


def _named_files_digest(cfg: BatchConfig, digest: Any) -> str:
    """Add the contents of every file the configuration names to ``digest``; its hex value."""
    for path in [*cfg.mapping.rules, *cfg.mapping.decisions, cfg.mapping.procedures, *cfg.mapping.statuses]:
        if path is not None and path.is_file():
            digest.update(b"\0" + str(path.name).encode() + b"\0" + path.read_bytes())
    population = cfg.checks.population
    if population is not None and population.is_file():
        digest.update(b"\0population\0" + hashlib.sha256(population.read_bytes()).hexdigest().encode())
    if cfg.mapping.dir is not None:
        from handover.resources import mappings_digest

        digest.update(b"\0mappings\0" + mappings_digest(cfg.mapping.dir).encode())
    return digest.hexdigest()
