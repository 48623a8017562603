"""The unit reference read from ``mappings/units/`` (built by :mod:`handover.units.build`).

Read with the csv module (no pandas) and kept in memory once per process, keyed on the files' size and
modification time, so a second :meth:`Reference.load` costs nothing.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from handover.errors import UnitReferenceError

REFERENCE_FILES = ("old_units.csv", "new_provinces.csv", "new_communes.csv", "crosswalk.csv")


class OldUnit(NamedTuple):
    """A commune of the legacy scheme (before 1 July 2025)."""

    province_code: str
    province_name: str
    district_code: str
    district_name: str
    code: str
    name: str
    type: str
    in_january_list: bool


class Target(NamedTuple):
    """A new commune (2025 scheme) an old unit went to, and how."""

    province_code: str
    commune_code: str
    name: str
    relation: str


@dataclass
class Reference:
    """Everything of ``mappings/units/`` the resolver needs, as plain dictionaries."""

    folder: Path
    old: dict[str, OldUnit] = field(default_factory=dict)
    new_provinces: dict[str, str] = field(default_factory=dict)
    new_communes: dict[str, tuple[str, str, str]] = field(
        default_factory=dict
    )  # code → (province, name, type)
    targets: dict[str, list[Target]] = field(default_factory=dict)  # old commune code → new communes
    district_targets: dict[str, list[Target]] = field(default_factory=dict)  # districts without communes
    districts: dict[str, tuple[str, str]] = field(default_factory=dict)  # code → (name, province code)
    provinces: dict[str, str] = field(default_factory=dict)  # old province code → name
    new_province_members: dict[str, set[str]] = field(default_factory=dict)  # new → old province codes
    successors: dict[str, str] = field(default_factory=dict)  # renumbered Jan→Jul: January code → later code
    # other official spellings of an old commune: code → [(name, where it is written)]
    aliases: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> Reference:
        """Read (or take from the in-process cache) the reference in ``folder``."""
        key = stamp(folder)
        cached = _CACHE.get(key)
        if cached is None:
            cached = cls._read(folder)
            _CACHE.clear()
            _CACHE[key] = cached
        return cached

    @classmethod
    def _read(cls, folder: Path) -> Reference:
        ref = cls(folder=folder)
        for row in _rows(folder / "old_units.csv"):
            unit = OldUnit(
                row["province_code"],
                row["province_name"],
                row["district_code"],
                row["district_name"],
                row["commune_code"],
                row["commune_name"],
                row["commune_type"],
                row["in_january_list"] == "1",
            )
            ref.old[unit.code] = unit
            ref.districts.setdefault(unit.district_code, (unit.district_name, unit.province_code))
            ref.provinces.setdefault(unit.province_code, unit.province_name)
        for row in _rows(folder / "new_provinces.csv"):
            ref.new_provinces[row["province_code"]] = row["name"]
        for row in _rows(folder / "new_communes.csv"):
            ref.new_communes[row["commune_code"]] = (row["province_code"], row["name"], row["type"])
        members: dict[str, set[str]] = defaultdict(set)
        from handover.units.names import official_key

        for line, row in enumerate(_rows(folder / "crosswalk.csv"), start=2):
            spelt, unit = row["old_commune_name"], ref.old.get(row["old_commune_code"])
            # the conversion table's spelling of a unit the list names otherwise ("N.T", old spellings)
            if (
                unit is not None
                and spelt
                and spelt != unit.name
                and official_key(spelt, unit.type).toned != official_key(unit.name, unit.type).toned
            ):
                known = ref.aliases.setdefault(unit.code, [])
                if all(name != spelt for name, _ in known):
                    known.append((spelt, f"crosswalk.csv line {line} (conversion table of 2025-07-01)"))
            new_code = row["new_commune_code"]
            province, name, _type = ref.new_communes.get(new_code, (row["new_province_code"], "", ""))
            target = Target(province, new_code, name, row["relation"])
            old_code = row["old_commune_code"]
            if old_code:
                bucket = ref.targets.setdefault(old_code, [])
            elif not row["old_commune_name"]:
                bucket = ref.district_targets.setdefault(row["old_district_code"], [])
            else:
                continue  # an old unit without code (e.g. a coastal strip): nothing can name it
            if all(t.commune_code != new_code for t in bucket):
                bucket.append(target)
            members[row["new_province_code"]].add(row["old_province_code"])
        ref.new_province_members = dict(members)
        # A January unit missing from the conversion table whose district holds exactly one unit of the same
        # name that only the conversion table knows was renumbered between January and July: follow it.
        from handover.text import fold

        only_conversion: dict[tuple[str, str], list[str]] = defaultdict(list)
        for unit in ref.old.values():
            if not unit.in_january_list:
                only_conversion[(unit.district_code, fold(unit.name))].append(unit.code)
        for unit in ref.old.values():
            if unit.in_january_list and unit.code not in ref.targets:
                twins = only_conversion.get((unit.district_code, fold(unit.name)), [])
                if len(twins) == 1:
                    ref.successors[unit.code] = twins[0]
        return ref


_CACHE: dict[tuple, Reference] = {}


def stamp(folder: Path) -> tuple:
    """In-process cache key of a reference folder: its path and each file's size and modification time."""
    folder = Path(folder)
    parts = []
    for name in REFERENCE_FILES:
        path = folder / name
        if not path.is_file():
            raise UnitReferenceError(
                f"The unit reference file {name} is missing.",
                file=str(path),
                hint="Run: handover units build (needs the statistics-office tables), or reinstall the package.",
            )
        st = path.stat()
        parts.append((name, st.st_mtime_ns, st.st_size))
    return (str(folder.resolve()), tuple(parts))


def _rows(path: Path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))
