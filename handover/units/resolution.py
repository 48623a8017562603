"""What the unit resolver answers: the old unit recognised and the new commune(s) it went to.

The answer is a :class:`Resolution`: ``unique`` (one new commune, with the method), ``split`` (the old commune
was divided: every candidate, never a silent pick), ``ambiguous`` (the name fits several old communes) or
``not_found`` (with up to three suggestions, never applied). Province rule files and a person's decisions
turn a split into ``unique`` (methods ``rule`` and ``decision``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from handover.units.reference import Target

Status = Literal["unique", "split", "ambiguous", "not_found"]
Method = Literal["code", "exact_name", "normalised_name", "rule", "decision"]


class OldRef(BaseModel):
    """The old (legacy-scheme) unit the input was recognised as."""

    province_code: str | None = Field(None, description="Old province code, 2 digits.")
    district_code: str | None = Field(None, description="Old district code, 3 digits.")
    commune_code: str | None = Field(None, description="Old commune code, 5 digits.")
    name: str | None = Field(None, description="Official legacy name.")


class NewRef(BaseModel):
    """A new (2025-scheme) commune, with how the old unit entered it."""

    province_code: str = Field(description="New province code, 2 digits.")
    commune_code: str = Field(description="New commune code, 5 digits.")
    name: str = Field(description="Official name of the new commune.")
    relation: str | None = Field(None, description="whole, part, part_area, ... (crosswalk relation).")


class Resolution(BaseModel):
    """The resolver's answer for one input."""

    status: Status = Field(description="unique, split, ambiguous or not_found.")
    old: OldRef | None = Field(None, description="The old unit recognised, if any.")
    new: list[NewRef] = Field(default_factory=list, description="The new commune(s): one if unique.")
    method: Method | None = Field(None, description="How the unique answer was reached.")
    suggestions: list[str] = Field(default_factory=list, description="Nearest names; never applied.")
    reason: str | None = Field(None, description="Why not unique, in plain words (not in the JSON shape).")
    elsewhere: str | None = Field(
        None,
        description="When not found because the commune lies in another district than the one given: its full "
        "name with its district and province (not in the JSON shape).",
    )

    def to_json_dict(self) -> dict[str, Any]:
        """The issue's JSON shape: status, old, new, method, suggestions."""
        return {
            "status": self.status,
            "old": self.old.model_dump() if self.old else None,
            "new": [n.model_dump() for n in self.new],
            "method": self.method,
            "suggestions": list(self.suggestions),
        }


def new_ref(t: Target) -> NewRef:
    """A crosswalk target as the new commune of an answer."""
    return NewRef(
        province_code=t.province_code, commune_code=t.commune_code, name=t.name, relation=t.relation
    )
