"""Source profiles: which Vietnamese header variants mean which canonical field (``mappings/profiles/*.toml``).

A profile lists, per field, the header texts seen in district exports (with and without diacritics,
abbreviations, the portal's DongBoHoSoMC names). Matching is on :func:`handover.text.fold` keys, so
"Mã hồ sơ", "MA HO SO" and "Ma ho so" meet; a key without spaces also matches "MaHoSo".
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from handover.errors import SourceError
from handover.models import Entity, source_fields
from handover.resources import mappings_dir
from handover.text import fold

DEFAULT_PROFILE = {Entity.DOSSIER: "dossier-vi", Entity.RECORD: "record-vi"}
REQUIRED = {Entity.DOSSIER: "dossier_code", Entity.RECORD: "record_number"}


class FieldHeaders(BaseModel):
    model_config = ConfigDict(extra="forbid")

    headers: list[str] = Field(min_length=1, description="Header texts that mean this field.")
    comment: str = Field("", description="Where the variants were seen (provenance).")


class Profile(BaseModel):
    """One profile file: ``[profile]`` name/entity/description and ``[fields.<field>]`` header lists."""

    model_config = ConfigDict(extra="forbid")

    name: str
    entity: Entity
    description: str = ""
    fields: dict[str, FieldHeaders]

    @model_validator(mode="after")
    def _known_fields(self) -> Profile:
        known = set(source_fields(self.entity))
        unknown = sorted(set(self.fields) - known)
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)} for entity {self.entity.value}")
        seen: dict[str, str] = {}
        for field, spec in self.fields.items():
            for header in spec.headers:
                key = fold(header)
                if key in seen and seen[key] != field:
                    raise ValueError(f"header '{header}' is listed for both {seen[key]} and {field}")
                seen[key] = field
        return self

    def lookup(self) -> dict[str, str]:
        """Folded header key (and its space-less form) → field."""
        out: dict[str, str] = {}
        for field, spec in self.fields.items():
            for header in spec.headers:
                out.setdefault(fold(header), field)
                out.setdefault(fold(header).replace(" ", ""), field)
        return out


def available_profiles() -> list[str]:
    return sorted(p.stem for p in (mappings_dir() / "profiles").glob("*.toml"))


def load_profile(name: str) -> Profile:
    """Read ``mappings/profiles/<name>.toml`` (of the batch's mappings folder); an unknown name or a bad file is a
    :class:`SourceError`."""
    return _load_profile(name, mappings_dir())


@cache
def _load_profile(name: str, folder: Path) -> Profile:
    path = folder / "profiles" / f"{name}.toml"
    if not path.is_file():
        raise SourceError(
            f"Unknown source profile '{name}'.",
            column="profile",
            hint=f"Use one of: {', '.join(available_profiles())} (files in mappings/profiles/), "
            "or map the headers yourself in [sources.columns].",
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        meta = raw.get("profile", {})
        return Profile.model_validate({**meta, "fields": raw.get("fields", {})})
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise SourceError(
            f"Source profile '{name}' is invalid: {exc}".splitlines()[0],
            file=str(path),
            hint="Fix the profile file; every field needs headers = [...] and must be a canonical field.",
        ) from exc
