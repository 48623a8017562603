"""Typed names and codes → units of the reference: input normalisation, the name indexes and name matching.

A name is matched through its variants (:func:`~handover.units.names.name_variants`: unit-type prefix, folded
and toned keys); a type prefix given must agree, and only a text typed with diacritics chooses between names
that differ only in their tone marks.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from handover.text import clean, fold
from handover.units.names import PREFIX_WORDS, NameKey, has_marks, name_variants, official_key, split_address
from handover.units.reference import Reference


class Entry(NamedTuple):
    """One unit under a name of an index."""

    code: str
    toned: str
    type: str | None
    district: str
    province: str


def normalise_code(value: object, width: int) -> str | None:
    """``2938`` / ``"2938.0"`` / ``" 02938 "`` → ``"02938"``; empty → ``None``; non-digits kept as typed."""
    if missing(value):
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if value.is_integer():
            value = int(value)
    text = clean(value)
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    if not text:
        return None
    return text.zfill(width) if text.isdigit() and len(text) <= width else text


def missing(value: object) -> bool:
    """None, NaN, pandas' NA / NaT: an empty cell."""
    return (
        value is None
        or (isinstance(value, float) and value != value)
        or type(value).__name__ in ("NAType", "NaTType")
    )


def cell_text(value: object) -> str | None:
    """A typed text cleaned (white space collapsed, NFC); empty or missing → ``None``."""
    if missing(value):
        return None
    text = clean(value)
    return text or None


class NameIndex:
    """Name indexes of provinces, districts and communes: folded key → entries."""

    def __init__(self, ref: Reference) -> None:
        self.provinces: dict[str, list[Entry]] = {}
        self.new_provinces: dict[str, set[str]] = {}
        self.districts: dict[str, list[Entry]] = {}
        self.communes: dict[str, list[Entry]] = {}
        self.commune_keys: dict[str, str] = {}  # code → folded bare name (suggestions)
        for code, name in ref.provinces.items():
            key = official_key(name)
            self._add(self.provinces, key, code, "", code)
            words = key.folded.split()
            if len(words) >= 3:  # "TP HCM", "BR-VT": initials of long names, as people write them
                initials = "".join(w[0] for w in words)
                self._add(self.provinces, NameKey(initials, initials, key.type), code, "", code)
        for code, name in ref.new_provinces.items():
            key = official_key(name)
            self.new_provinces.setdefault(key.folded, set()).update(
                ref.new_province_members.get(code, {code})
            )
        for code, (name, province) in ref.districts.items():
            self._add(self.districts, official_key(name), code, code, province)
        for unit in ref.old.values():
            key = official_key(unit.name, unit.type)
            self._add(self.communes, key, unit.code, unit.district_code, unit.province_code)
            self.commune_keys[unit.code] = key.folded
        # Other official spellings (the conversion table's) name their unit too, unless the spelling would name
        # two units of one district: then it is listed in alias_conflicts and never used.
        self.alias_conflicts: list[dict[str, Any]] = []
        for code, spellings in ref.aliases.items():
            unit = ref.old[code]
            for name, source in spellings:
                key = official_key(name, unit.type)
                named = {
                    e.code for e in self.communes.get(key.folded, ()) if e.district == unit.district_code
                }
                if code in named:
                    continue  # spelt otherwise only in its tone marks: the official entry already matches it
                others = sorted(named)
                if others:
                    self.alias_conflicts.append(
                        {"code": code, "alias": name, "source": source, "also_names": others}
                    )
                    continue
                self._add(self.communes, key, code, unit.district_code, unit.province_code)

    @staticmethod
    def _add(index: dict[str, list[Entry]], key: NameKey, code: str, district: str, province: str) -> None:
        index.setdefault(key.folded, []).append(Entry(code, key.toned, key.type, district, province))


def match_entries(index: dict[str, list[Entry]], text: str, types: set[str], keep: Any = None) -> list[Entry]:
    """Entries of ``index`` the typed ``text`` names (type prefix honoured, tone key breaks ties)."""
    for variant in name_variants(text):
        if variant.type and variant.type not in types:
            continue
        entries = index.get(variant.folded, ())
        if keep is not None:
            entries = [e for e in entries if keep(e)]
        if not entries:
            continue
        entries = list(entries)
        if variant.type:
            entries = [e for e in entries if e.type == variant.type] or entries
        if len(entries) > 1 and (variant.toned != variant.folded or has_marks(text)):
            # Only a text typed with diacritics can choose between "Sơn Hà" and "Sơn Hạ".
            entries = [e for e in entries if e.toned == variant.toned] or entries
        return entries
    return []


def only_prefix(text: str) -> bool:
    """True when ``text`` is only unit-type words ("Phường", "TT."): not a name left of a peeled suffix."""
    return all(word in PREFIX_WORDS for word in fold(text).split())


def scopes(strict: set[str] | None, broad: set[str] | None) -> list[set[str] | None]:
    """The province scopes to try in turn: the strict one, then the broad one (``None``: anywhere)."""
    if strict is None:
        return [None]
    if broad is None or broad == strict:
        return [strict]
    return [strict, broad]


def below_unit(address: str | None) -> list[str]:
    """The parts of an address before its first administrative unit ("Số 5 phố Kim Mã, Phường Kim Mã, ..." →
    ["Số 5 phố Kim Mã"]): what a split rule may match when codes, not the address, placed the row."""
    out: list[str] = []
    for part in split_address(address) if address else []:
        if any(key.type for key in name_variants(part)):
            break
        out.append(part)
    return out
