"""Who signs the handover records (biên bản bàn giao): ``[report.parties]`` of a batch configuration, printed on
each record; what is not given is left blank to fill by hand."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_STRICT = ConfigDict(extra="forbid")


class Representative(BaseModel):
    """A party's representative on the handover record; what is not given is left blank to fill by hand."""

    model_config = _STRICT

    name: str = Field("", description="Họ và tên (full name).")
    position: str = Field("", description="Chức vụ (position).")


class PartiesConfig(BaseModel):
    """Who signs the handover records (biên bản bàn giao): printed on each record, blanks when not given."""

    model_config = _STRICT

    place: str = Field("", description='Place written before the date, e.g. "Lào Cai" ("Lào Cai, ngày ...").')
    giving: Representative = Field(
        default_factory=Representative, description="The giving side's (the old district's) representative."
    )
    receiving: Representative = Field(
        default_factory=Representative,
        description="The receiving side's representative, for every commune not listed under communes.",
    )
    communes: dict[str, Representative] = Field(
        default_factory=dict,
        description='The receiving side\'s representative per new commune code, e.g. "02905" = { name = "..." }.',
    )

    @field_validator("communes")
    @classmethod
    def _codes(cls, value: dict[str, Representative]) -> dict[str, Representative]:
        for code in value:
            if not re.fullmatch(r"[0-9]{5}", code):
                raise ValueError(
                    f"'{code}' is not a new commune code of 5 digits (write it quoted, e.g. \"02905\")"
                )
        return value

    departments: dict[str, Representative] = Field(
        default_factory=dict,
        description="The receiving side's representative per provincial department that receives routed dossiers, "
        'by its name as the routing table writes it (handling_agency), e.g. "Sở Công Thương" = { name = "..." }.',
    )

    @field_validator("departments")
    @classmethod
    def _department_names(cls, value: dict[str, Representative]) -> dict[str, Representative]:
        from handover.text import ascii_slug, clean

        named: dict[str, Representative] = {}
        seen: dict[str, str] = {}
        for name, rep in value.items():
            key = clean(name)
            if not key:
                raise ValueError(
                    "a department needs its name, as the routing table writes it (handling_agency)"
                )
            slug = ascii_slug(key)
            if slug in seen:
                raise ValueError(f"'{seen[slug]}' and '{key}' name the same department: give it once")
            seen[slug] = key
            named[key] = rep
        return named
