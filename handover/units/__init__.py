"""The old → new administrative-unit reference (``mappings/units/``), the resolver, rules and decisions."""

from handover.units.build import build_reference
from handover.units.reference import Reference
from handover.units.resolution import NewRef, OldRef, Resolution
from handover.units.resolver import UnitResolver

__all__ = ["NewRef", "OldRef", "Reference", "Resolution", "UnitResolver", "build_reference"]
