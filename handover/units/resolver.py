"""Resolve an old address (codes or names as typed) to the new commune(s) it went to.

The answer is a :class:`Resolution`: ``unique`` (one new commune, with the method), ``split`` (the old commune
was divided: every candidate, never a silent pick), ``ambiguous`` (the name fits several old communes) or
``not_found`` (with up to three suggestions, never applied). Province rule files and a person's decisions
turn a split into ``unique`` (methods ``rule`` and ``decision``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pydantic import BaseModel, Field

from handover.errors import MapError
from handover.text import clean, fold
from handover.units.names import (
    COMMUNE_TYPES,
    DISTRICT_TYPES,
    PREFIX_WORDS,
    PROVINCE_TYPES,
    NameKey,
    has_marks,
    name_variants,
    official_key,
    split_address,
)
from handover.units.reference import OldUnit, Reference, Target
from handover.units.rules import Decision, Rule, load_decisions, load_rules, rule_text

if TYPE_CHECKING:
    import pandas as pd

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


class _Entry(NamedTuple):
    code: str
    toned: str
    type: str | None
    district: str
    province: str


FRAME_INPUTS = (
    "address",
    "village",
    "old_province_code",
    "old_district_code",
    "old_commune_code",
    "old_province_name",
    "old_district_name",
    "old_commune_name",
    "source_system",
    "dossier_code",
)
_KEY_INPUTS = (
    "address",
    "old_province_name",
    "old_district_name",
    "old_commune_name",
    "old_province_code",
    "old_district_code",
    "old_commune_code",
    "village",
    "source_system",
    "dossier_code",
)
FRAME_OUTPUTS = (
    "unit_status",
    "unit_method",
    "unit_relation",
    "unit_candidates",
    "unit_suggestions",
    "unit_elsewhere",
    "old_province_code",
    "old_district_code",
    "old_commune_code",
    "old_commune_name",
    "new_province_code",
    "new_commune_code",
    "new_commune_name",
)


def normalise_code(value: object, width: int) -> str | None:
    """``2938`` / ``"2938.0"`` / ``" 02938 "`` → ``"02938"``; empty → ``None``; non-digits kept as typed."""
    if _missing(value):
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


def _missing(value: object) -> bool:
    """None, NaN, pandas' NA / NaT: an empty cell."""
    return (
        value is None
        or (isinstance(value, float) and value != value)
        or type(value).__name__ in ("NAType", "NaTType")
    )


def _text(value: object) -> str | None:
    if _missing(value):
        return None
    text = clean(value)
    return text or None


class _Index:
    """Name indexes of provinces, districts and communes: folded key → entries."""

    def __init__(self, ref: Reference) -> None:
        self.provinces: dict[str, list[_Entry]] = {}
        self.new_provinces: dict[str, set[str]] = {}
        self.districts: dict[str, list[_Entry]] = {}
        self.communes: dict[str, list[_Entry]] = {}
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
    def _add(index: dict[str, list[_Entry]], key: NameKey, code: str, district: str, province: str) -> None:
        index.setdefault(key.folded, []).append(_Entry(code, key.toned, key.type, district, province))


def _match(index: dict[str, list[_Entry]], text: str, types: set[str], keep: Any = None) -> list[_Entry]:
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


def _only_prefix(text: str) -> bool:
    """True when ``text`` is only unit-type words ("Phường", "TT."): not a name left of a peeled suffix."""
    return all(word in PREFIX_WORDS for word in fold(text).split())


class UnitResolver:
    """Old address → new commune(s), from the reference in ``mappings/units/`` plus rule and decision files."""

    def __init__(
        self, reference: Reference, rules: Sequence[Rule] = (), decisions: Iterable[Decision] = ()
    ) -> None:
        self.ref = reference
        self.index = _index_for(reference)
        self.rules = list(rules)
        self.rules_by_old: dict[str, list[int]] = {}
        for i, rule in enumerate(self.rules):
            self.rules_by_old.setdefault(rule.old_commune_code, []).append(i)
        self.rule_matches = [0] * len(self.rules)
        self.decisions: dict[tuple[str, str], Decision] = {
            (d.source_system, d.dossier_code): d for d in decisions
        }

    @classmethod
    def load(
        cls,
        rules: Sequence[Path] = (),
        decisions: Sequence[Path] = (),
        *,
        folder: Path | None = None,
    ) -> UnitResolver:
        """The resolver on the shipped reference (or ``folder``), with rule and decision files validated."""
        from handover.resources import mappings_dir

        ref = _load_reference(Path(folder or mappings_dir() / "units"))
        loaded_rules: list[Rule] = []
        for path in rules:
            loaded_rules += load_rules(Path(path), ref)
        loaded_decisions: list[Decision] = []
        for path in decisions:
            loaded_decisions += load_decisions(Path(path), ref)
        seen: dict[tuple[str, str], Decision] = {}
        for d in loaded_decisions:
            key = (d.source_system, d.dossier_code)
            if key in seen and seen[key].new_commune_code != d.new_commune_code:
                raise MapError(
                    f"Two decisions for dossier {d.dossier_code} of {d.source_system} disagree: "
                    f"{seen[key].new_commune_code} and {d.new_commune_code}.",
                    file=str(d.file),
                    row=d.line,
                    column="new_commune_code",
                    hint=f"Keep one decision per dossier (the other is in {seen[key].file} line {seen[key].line}).",
                )
            seen[key] = d
        return cls(ref, loaded_rules, loaded_decisions)

    # ------------------------------------------------------------------------------------------------------
    def resolve(
        self,
        address: str | None = None,
        *,
        province: str | None = None,
        district: str | None = None,
        commune: str | None = None,
        province_code: object = None,
        district_code: object = None,
        commune_code: object = None,
        village: str | None = None,
        source_system: str | None = None,
        dossier_code: str | None = None,
    ) -> Resolution:
        """Resolve one input; codes win over names. See the module docstring for the statuses."""
        res, rule_ids = self._resolve(
            _text(address),
            _text(province),
            _text(district),
            _text(commune),
            normalise_code(province_code, 2),
            normalise_code(district_code, 3),
            normalise_code(commune_code, 5),
            _text(village),
            _text(source_system),
            _text(dossier_code),
        )
        for i in rule_ids:
            self.rule_matches[i] += 1
        return res

    def rule_report(self) -> list[dict[str, Any]]:
        """Every loaded rule with the number of rows it decided (0 = never matched: check the keyword)."""
        return [
            {
                "file": str(rule.file),
                "line": rule.line,
                "old_commune_code": rule.old_commune_code,
                "keyword": rule.keyword,
                "new_commune_code": rule.new_commune_code,
                "matches": self.rule_matches[i],
            }
            for i, rule in enumerate(self.rules)
        ]

    # ------------------------------------------------------------------------------------------------------
    def _resolve(
        self,
        address: str | None,
        province: str | None,
        district: str | None,
        commune: str | None,
        province_code: str | None,
        district_code: str | None,
        commune_code: str | None,
        village: str | None,
        source_system: str | None,
        dossier_code: str | None,
    ) -> tuple[Resolution, list[int]]:
        res, leftover = self._resolve_unit(
            address, province, district, commune, province_code, district_code, commune_code
        )
        if (
            res.status == "not_found"
            and res.old is None
            and address
            and split_address(address) != split_address(address, cut=False)
        ):
            # "xa tam xa huyen dong anh ha noi": cutting at unit words broke a name; read it whole instead
            retry, rest = self._resolve_unit(
                address, province, district, commune, province_code, district_code, commune_code, whole=True
            )
            if retry.status != "not_found":
                res, leftover = retry, rest
        rule_ids: list[int] = []
        if res.status == "split" and res.old and res.old.commune_code in self.rules_by_old:
            # the address parts finer than the commune (or the whole address when codes placed the row) and the
            # village: a province's street rules name streets in the address
            res, rule_ids = self._apply_rules(res, [*(leftover or _below_unit(address)), village or ""])
        if source_system and dossier_code and self.decisions:
            decision = self.decisions.get((source_system, dossier_code))
            if decision is not None:
                res = self._apply_decision(res, decision)
        return res, rule_ids

    def _apply_rules(self, res: Resolution, texts: list[str]) -> tuple[Resolution, list[int]]:
        text = f" {rule_text(' '.join(t for t in texts if t))} "
        ids = [i for i in self.rules_by_old[res.old.commune_code] if f" {self.rules[i].key} " in text]  # type: ignore[union-attr]
        chosen = {self.rules[i].new_commune_code for i in ids}
        if len(chosen) != 1:
            if len(chosen) > 1:
                res.reason = f"rules disagree: {', '.join(sorted(chosen))}"
            return res, []
        code = chosen.pop()
        new = [n for n in res.new if n.commune_code == code]
        return Resolution(status="unique", old=res.old, new=new, method="rule"), ids

    def _apply_decision(self, res: Resolution, decision: Decision) -> Resolution:
        code = decision.new_commune_code
        candidates = [n.commune_code for n in res.new]
        if res.status in ("unique", "split") and code not in candidates:
            raise MapError(
                f"The decision for dossier {decision.dossier_code} names new commune {code}, which is not one of "
                f"this row's candidates ({', '.join(candidates)}).",
                file=str(decision.file),
                row=decision.line,
                column="new_commune_code",
                hint="Correct the decision to one of the candidates, or remove it.",
            )
        province, name, _ = self.ref.new_communes[code]
        relation = next((n.relation for n in res.new if n.commune_code == code), None)
        return Resolution(
            status="unique",
            old=res.old,
            new=[NewRef(province_code=province, commune_code=code, name=name, relation=relation)],
            method="decision",
        )

    def _from_unit(self, unit: OldUnit, method: Method) -> Resolution:
        targets = self.ref.targets.get(unit.code, [])
        successor = self.ref.successors.get(unit.code)
        if not targets and successor:
            targets = self.ref.targets.get(successor, [])
        old = OldRef(
            province_code=unit.province_code,
            district_code=unit.district_code,
            commune_code=unit.code,
            name=unit.name,
        )
        new = [_new_ref(t) for t in targets]
        if not new:
            return Resolution(
                status="not_found",
                old=old,
                reason=f"old commune {unit.code} is not in the conversion table (changed before July 2025)",
            )
        note = (
            f"renumbered before July 2025: followed code {successor} of the conversion table"
            if (successor and unit.code not in self.ref.targets)
            else None
        )
        if len(new) == 1:
            return Resolution(status="unique", old=old, new=new, method=method, reason=note)
        return Resolution(
            status="split",
            old=old,
            new=new,
            reason=f"old commune {unit.code} was split among {len(new)} new communes",
        )

    def _resolve_unit(
        self,
        address: str | None,
        province: str | None,
        district: str | None,
        commune: str | None,
        province_code: str | None,
        district_code: str | None,
        commune_code: str | None,
        whole: bool = False,
    ) -> tuple[Resolution, list[str]]:
        ref = self.ref
        # 1. codes win over names
        if commune_code:
            unit = ref.old.get(commune_code)
            if unit is not None:
                if district_code and unit.district_code != district_code:
                    return self._contradiction(unit, "district", district_code), []
                if province_code and unit.province_code != province_code:
                    return self._contradiction(unit, "province", province_code), []
                return self._from_unit(unit, "code"), []
            if not (address or commune):
                return Resolution(
                    status="not_found", reason=f"old commune code {commune_code} is not in the reference"
                ), []
        if district_code and not (address or commune) and district_code in ref.district_targets:
            targets = ref.district_targets[district_code]
            old = OldRef(province_code=province_code, district_code=district_code)
            return Resolution(status="unique", old=old, new=[_new_ref(t) for t in targets], method="code"), []

        # 2. names: scope from codes and explicit names, the rest from the address, right to left
        parts = split_address(address, cut=not whole) if address else []
        strict: set[str] | None = {province_code} if province_code else None
        broad: set[str] | None = strict
        if strict is None and province:
            strict, broad = self._province(province)
        elif strict is None and parts:
            found = self._take(parts, lambda text: self._province(text))
            if found is not None and (len(found[1]) > 0 or commune or district):
                (strict, broad), parts = found
        districts: set[str] | None = {district_code} if district_code else None
        if districts is None and district:
            districts = self._districts(district, strict, broad) or None
        elif districts is None and parts:
            found = self._take(parts, lambda text: self._districts(text, strict, broad) or None)
            if found is not None and (len(found[1]) > 0 or commune):
                districts, parts = found

        if commune:
            entries, rest, text = self._commune(commune, strict, broad, districts), parts, commune
        else:
            entries, rest, text = [], parts, (parts[-1] if parts else "")
            for j in range(len(parts) - 1, -1, -1):
                entries = self._commune(parts[j], strict, broad, districts)
                if entries:
                    rest, text = parts[:j], parts[j]
                    break
        if len(entries) == 1:
            unit = ref.old[entries[0].code]
            exact = clean(text) in (unit.name, unit.name[len(unit.type) :].strip())
            return self._from_unit(unit, "exact_name" if exact else "normalised_name"), rest
        if len(entries) > 1:
            names = [self._full_name(ref.old[e.code]) for e in entries]
            return Resolution(
                status="ambiguous",
                suggestions=names,
                reason=f"the name fits {len(entries)} old communes; give the district or province",
            ), rest
        if districts and len(districts) == 1 and not text:
            code = next(iter(districts))
            if code in ref.district_targets:
                old = OldRef(province_code=province_code, district_code=code)
                return Resolution(
                    status="unique",
                    old=old,
                    new=[_new_ref(t) for t in ref.district_targets[code]],
                    method="code",
                ), rest
        if commune_code:
            reason = f"old commune code {commune_code} is not in the reference and the name did not match"
        else:
            reason = "no old commune of that name in the scope given" if text else "no commune name given"
        if text and districts:
            # the name is a commune of another district (of the same province first): say which
            found = self._commune(text, strict, broad, None)
            if len(found) == 1:
                unit = ref.old[found[0].code]
                return Resolution(
                    status="not_found",
                    reason=f"{unit.name} belongs to district {unit.district_code}, not to the district given "
                    f"({', '.join(sorted(districts))})",
                    suggestions=[self._full_name(unit)],
                    elsewhere=f"{self._full_name(unit)} ({unit.code})",
                ), parts
        return Resolution(
            status="not_found", suggestions=self._suggest(text, strict, broad, districts), reason=reason
        ), parts

    # ------------------------------------------------------------------------------------------------------
    def _contradiction(self, unit: OldUnit, level: str, given: str) -> Resolution:
        actual = unit.district_code if level == "district" else unit.province_code
        return Resolution(
            status="not_found",
            reason=f"commune code {unit.code} belongs to {level} {actual}, not to the {level} code given ({given})",
            suggestions=[self._full_name(unit)],
            elsewhere=f"{self._full_name(unit)} ({unit.code})",
        )

    def _province(self, text: str) -> tuple[set[str], set[str]] | None:
        entries = _match(self.index.provinces, text, PROVINCE_TYPES)
        broad: set[str] = set()
        for variant in name_variants(text):
            if variant.type and variant.type not in PROVINCE_TYPES:
                continue
            broad |= self.index.new_provinces.get(variant.folded, set())
            if broad:
                break
        strict = {e.code for e in entries}
        if not strict and not broad:
            return None
        return (strict or broad), (strict | broad)

    def _districts(self, text: str, strict: set[str] | None, broad: set[str] | None) -> set[str]:
        for scope in _scopes(strict, broad):
            keep = None if scope is None else (lambda e, s=scope: e.province in s)
            entries = _match(self.index.districts, text, DISTRICT_TYPES, keep)
            if entries:
                return {e.code for e in entries}
        return set()

    def _commune(
        self, text: str, strict: set[str] | None, broad: set[str] | None, districts: set[str] | None
    ) -> list[_Entry]:
        for scope in _scopes(strict, broad):

            def keep(e: _Entry, s: set[str] | None = scope) -> bool:
                return (districts is None or e.district in districts) and (s is None or e.province in s)

            entries = _match(self.index.communes, text, COMMUNE_TYPES, keep)
            if len(entries) > 1:
                # A unit renumbered between January and July is listed twice under one name: keep the January
                # one (it follows its successor), else the one the conversion table knows.
                followed = {self.ref.successors.get(e.code) for e in entries}
                entries = [e for e in entries if e.code not in followed] or entries
                if len(entries) > 1:
                    entries = [e for e in entries if e.code in self.ref.targets] or entries
            if entries:
                return entries
        return []

    @staticmethod
    def _take(parts: list[str], matcher: Any) -> tuple[Any, list[str]] | None:
        """Match the last part (or the last words of it) with ``matcher``; return (match, remaining parts)."""
        last = parts[-1]
        found = matcher(last)
        if found:
            return found, parts[:-1]
        words = last.split()
        for k in range(min(len(words) - 1, 5), 0, -1):
            head = " ".join(words[:-k])
            if _only_prefix(head):
                continue
            found = matcher(" ".join(words[-k:]))
            if found:
                return found, [*parts[:-1], head]
        return None

    def _full_name(self, unit: OldUnit) -> str:
        return f"{unit.name}, {unit.district_name}, {unit.province_name}"

    def _suggest(
        self, text: str, strict: set[str] | None, broad: set[str] | None, districts: set[str] | None
    ) -> list[str]:
        if not text:
            return []
        query = name_variants(text)[0].folded
        scope_key = (
            None if districts is None else frozenset(districts),
            None if broad is None else frozenset(broad),
        )
        cache = self.__dict__.setdefault("_suggest_cache", {})
        hit = cache.get((query, scope_key))
        if hit is not None:
            return list(hit)
        from rapidfuzz import fuzz, process

        hits = process.extract(
            query, self._suggest_choices(scope_key), scorer=fuzz.WRatio, limit=3, score_cutoff=50
        )
        names = [self._full_name(self.ref.old[code]) for _key, _score, code in hits]
        if len(cache) < 100_000:
            cache[(query, scope_key)] = tuple(names)
        return names

    def _suggest_choices(
        self, scope_key: tuple[frozenset[str] | None, frozenset[str] | None]
    ) -> dict[str, str]:
        """Old communes (code → folded name) in the scope, in reference order; built once per scope."""
        scopes = self.__dict__.setdefault("_suggest_scopes", {})
        choices = scopes.get(scope_key)
        if choices is None:
            districts, scope = scope_key
            old = self.ref.old
            choices = {
                code: key
                for code, key in self.index.commune_keys.items()
                if (districts is None or old[code].district_code in districts)
                and (scope is None or old[code].province_code in scope)
            }
            if not choices:
                choices = self.index.commune_keys
            if len(scopes) < 10_000:
                scopes[scope_key] = choices
        return choices

    def resolve_many(self, addresses: Iterable[str]) -> Iterable[Resolution]:
        """Resolve addresses one by one, in order, each distinct address once (streams: any length)."""
        cache: dict[str, Resolution] = {}
        for address in addresses:
            res = cache.get(address)
            if res is None:
                res = self.resolve(address)
                if len(cache) < 200_000:
                    cache[address] = res
            elif res.method == "rule":
                self.resolve(address)  # keep rule match counts per row
            yield res

    # ------------------------------------------------------------------------------------------------------
    def resolve_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Resolve every row of ``df`` (columns of :data:`FRAME_INPUTS`, any may be absent).

        Each distinct input is resolved once; the result has the same index and the :data:`FRAME_OUTPUTS`
        columns (lists as JSON text).
        """
        import numpy as np
        import pandas as pd

        n = len(df)
        columns: dict[str, pd.Series] = {}
        for name in FRAME_INPUTS:
            if name in df.columns:
                columns[name] = df[name]
        if self.decisions and "source_system" in columns and "dossier_code" in columns:
            ss = columns["source_system"].map(_text)
            dc = columns["dossier_code"].map(_text)
            wanted = pd.Series(
                [(a, b) in self.decisions for a, b in zip(ss.tolist(), dc.tolist(), strict=True)],
                index=df.index,
            )
            columns["source_system"] = ss.where(wanted, None)
            columns["dossier_code"] = dc.where(wanted, None)
        else:
            columns.pop("source_system", None)
            columns.pop("dossier_code", None)

        group = np.zeros(n, dtype=np.int64)
        for series in columns.values():
            codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
            group = group * (len(uniques) + 1) + (codes + 1)
            group, _ = pd.factorize(group)
        group = np.asarray(group, dtype=np.int64)
        n_groups = int(group.max()) + 1 if n else 0
        first = np.full(n_groups, -1, dtype=np.int64)
        first[group[::-1]] = np.arange(n - 1, -1, -1)
        counts = np.bincount(group, minlength=n_groups) if n else np.zeros(0, dtype=np.int64)

        values = {name: series.to_numpy(dtype=object) for name, series in columns.items()}

        def get(name: str, i: int) -> Any:
            array = values.get(name)
            return None if array is None else array[i]

        out: dict[str, list[Any]] = {name: [None] * n_groups for name in FRAME_OUTPUTS}
        # distinct inputs repeat from chunk to chunk: their rows are kept (bounded) for the next chunks
        memo: dict[tuple[Any, ...], tuple[dict[str, Any], list[int]]] = self.__dict__.setdefault(
            "_frame_memo", {}
        )
        names = [name for name in _KEY_INPUTS if name in values]
        arrays = [values[name] for name in names]
        raw_memo: dict[tuple[Any, ...], Any] = self.__dict__.setdefault("_frame_raw_memo", {})
        for g in range(n_groups):
            i = int(first[g])
            # the raw cells, when all text, find an earlier chunk's answer without cleaning them again
            raw = (*names, *(a[i] for a in arrays))
            plain = all(v is None or type(v) is str for v in raw)
            found = raw_memo.get(raw) if plain else None
            if found is not None:
                row, rule_ids = found
                for r in rule_ids:
                    self.rule_matches[r] += int(counts[g])
                for name, value in row.items():
                    out[name][g] = value
                continue
            key = (
                _text(get("address", i)),
                _text(get("old_province_name", i)),
                _text(get("old_district_name", i)),
                _text(get("old_commune_name", i)),
                normalise_code(get("old_province_code", i), 2),
                normalise_code(get("old_district_code", i), 3),
                normalise_code(get("old_commune_code", i), 5),
                _text(get("village", i)),
                _text(get("source_system", i)),
                _text(get("dossier_code", i)),
            )
            found = memo.get(key)
            if found is None:
                res, rule_ids = self._resolve(*key)
                found = (_frame_row(res), rule_ids)
                if len(memo) < 200_000:
                    memo[key] = found
            if plain and len(raw_memo) < 200_000:
                raw_memo[raw] = found
            row, rule_ids = found
            for r in rule_ids:
                self.rule_matches[r] += int(counts[g])
            for name, value in row.items():
                out[name][g] = value
        data = {}
        for name in FRAME_OUTPUTS:
            array = np.empty(n_groups, dtype=object)
            array[:] = out[name]
            data[name] = pd.Series(array[group], index=df.index, dtype=object)
        return pd.DataFrame(data, index=df.index)


def _frame_row(res: Resolution) -> dict[str, Any]:
    unique = res.status == "unique"
    new = res.new[0] if unique and res.new else None
    return {
        "unit_status": res.status,
        "unit_method": res.method,
        "unit_relation": new.relation if new else None,
        "unit_candidates": json.dumps(
            [
                {"province_code": n.province_code, "commune_code": n.commune_code, "name": n.name}
                for n in res.new
            ],
            ensure_ascii=False,
        ),
        "unit_suggestions": json.dumps(res.suggestions, ensure_ascii=False),
        "unit_elsewhere": res.elsewhere,
        "old_province_code": res.old.province_code if res.old else None,
        "old_district_code": res.old.district_code if res.old else None,
        "old_commune_code": res.old.commune_code if res.old else None,
        "old_commune_name": res.old.name if res.old else None,
        "new_province_code": new.province_code if new else None,
        "new_commune_code": new.commune_code if new else None,
        "new_commune_name": new.name if new else None,
    }


def _new_ref(t: Target) -> NewRef:
    return NewRef(
        province_code=t.province_code, commune_code=t.commune_code, name=t.name, relation=t.relation
    )


def _scopes(strict: set[str] | None, broad: set[str] | None) -> list[set[str] | None]:
    if strict is None:
        return [None]
    if broad is None or broad == strict:
        return [strict]
    return [strict, broad]


_INDEXES: dict[int, tuple[Reference, _Index]] = {}
_CACHE_VERSION = "1"


def _index_for(ref: Reference) -> _Index:
    cached = _INDEXES.get(id(ref))
    if cached is None or cached[0] is not ref:
        _INDEXES.clear()
        cached = (ref, _Index(ref))
        _INDEXES[id(ref)] = cached
    return cached[1]


def cache_dir() -> Path:
    """Where the parsed reference is cached between runs (``HANDOVER_CACHE_DIR`` or the user cache folder)."""
    if os.environ.get("HANDOVER_CACHE_DIR"):
        return Path(os.environ["HANDOVER_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "handover"


def _load_reference(folder: Path) -> Reference:
    """The reference in ``folder``: from this process, else a pickle keyed on the files' SHA-256, else parsed."""
    import hashlib
    import pickle

    from handover.units.reference import _CACHE, REFERENCE_FILES, stamp

    key = stamp(folder)
    if key in _CACHE:
        return _CACHE[key]
    digest = hashlib.sha256(_CACHE_VERSION.encode())
    for module in ("reference.py", "resolver.py", "names.py"):  # the code that shapes the cached objects
        digest.update((Path(__file__).parent / module).read_bytes())
    for name in REFERENCE_FILES:
        digest.update((folder / name).read_bytes())
    path = cache_dir() / f"units-{digest.hexdigest()[:32]}.pickle"
    try:
        with path.open("rb") as fh:
            ref, index = pickle.load(fh)
        if isinstance(ref, Reference) and isinstance(index, _Index):
            _INDEXES.clear()
            _INDEXES[id(ref)] = (ref, index)
            _CACHE.clear()
            _CACHE[key] = ref
            return ref
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, ValueError, TypeError):
        pass
    ref = Reference.load(folder)
    index = _index_for(ref)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            pickle.dump((ref, index), fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    except OSError:
        pass  # a read-only home folder only costs speed
    return ref


def _below_unit(address: str | None) -> list[str]:
    """The parts of an address before its first administrative unit ("Số 5 phố Kim Mã, Phường Kim Mã, ..." →
    ["Số 5 phố Kim Mã"]): what a split rule may match when codes, not the address, placed the row."""
    out: list[str] = []
    for part in split_address(address) if address else []:
        if any(key.type for key in name_variants(part)):
            break
        out.append(part)
    return out
