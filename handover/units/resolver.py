"""Resolve an old address (codes or names as typed) to the new commune(s) it went to.

The answer is a :class:`Resolution`: ``unique`` (one new commune, with the method), ``split`` (the old commune
was divided: every candidate, never a silent pick), ``ambiguous`` (the name fits several old communes) or
``not_found`` (with up to three suggestions, never applied). Province rule files and a person's decisions
turn a split into ``unique`` (methods ``rule`` and ``decision``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from handover.errors import MapError
from handover.text import clean
from handover.units.bulk import BulkResolving
from handover.units.cache import cached_reference, index_for
from handover.units.matching import (
    Entry,
    below_unit,
    cell_text,
    match_entries,
    normalise_code,
    only_prefix,
    scopes,
)
from handover.units.names import (
    COMMUNE_TYPES,
    DISTRICT_TYPES,
    PROVINCE_TYPES,
    name_variants,
    split_address,
)
from handover.units.reference import OldUnit, Reference
from handover.units.resolution import Method, NewRef, OldRef, Resolution, new_ref
from handover.units.rules import Decision, Rule, load_decisions, load_rules, rule_text


class UnitResolver(BulkResolving):
    """Old address → new commune(s), from the reference in ``mappings/units/`` plus rule and decision files."""

    def __init__(
        self, reference: Reference, rules: Sequence[Rule] = (), decisions: Iterable[Decision] = ()
    ) -> None:
        self.ref = reference
        self.index = index_for(reference)
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

        ref = cached_reference(Path(folder or mappings_dir() / "units"))
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
            cell_text(address),
            cell_text(province),
            cell_text(district),
            cell_text(commune),
            normalise_code(province_code, 2),
            normalise_code(district_code, 3),
            normalise_code(commune_code, 5),
            cell_text(village),
            cell_text(source_system),
            cell_text(dossier_code),
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
            res, rule_ids = self._apply_rules(res, [*(leftover or below_unit(address)), village or ""])
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
        new = [new_ref(t) for t in targets]
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
            return Resolution(status="unique", old=old, new=[new_ref(t) for t in targets], method="code"), []

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
                    new=[new_ref(t) for t in ref.district_targets[code]],
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
        entries = match_entries(self.index.provinces, text, PROVINCE_TYPES)
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
        for scope in scopes(strict, broad):
            keep = None if scope is None else (lambda e, s=scope: e.province in s)
            entries = match_entries(self.index.districts, text, DISTRICT_TYPES, keep)
            if entries:
                return {e.code for e in entries}
        return set()

    def _commune(
        self, text: str, strict: set[str] | None, broad: set[str] | None, districts: set[str] | None
    ) -> list[Entry]:
        for scope in scopes(strict, broad):

            def keep(e: Entry, s: set[str] | None = scope) -> bool:
                return (districts is None or e.district in districts) and (s is None or e.province in s)

            entries = match_entries(self.index.communes, text, COMMUNE_TYPES, keep)
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
            if only_prefix(head):
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
