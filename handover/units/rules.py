"""Province rule files (split communes by village keyword) and manual decision files (per dossier).

Both are CSV, UTF-8, validated on load against the reference: every target must be a candidate of its old
commune (rules) or a new commune (decisions). Problems raise :class:`handover.errors.MapError` with the file,
line, column, bad value and what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from handover.errors import MapError
from handover.keys import canonical_key
from handover.tables import read_csv_table
from handover.text import fold
from handover.units.reference import Reference

RULE_COLUMNS = ("old_commune_code", "keyword", "new_commune_code")
DECISION_COLUMNS = ("source_system", "dossier_code", "new_commune_code")
_CODE5 = re.compile(r"^\d{5}$")


def rule_text(text: str) -> str:
    """The normalised text rules are matched on: folded, numbers unpadded ("Thôn 03" → "thon 3")."""
    return " ".join(str(int(w)) if w.isdigit() else w for w in fold(text).split())


@dataclass(frozen=True)
class Rule:
    """One line of a province rule file: in ``old_commune_code``, text containing ``keyword`` → new commune."""

    file: Path
    line: int
    old_commune_code: str
    keyword: str
    key: str
    new_commune_code: str


@dataclass(frozen=True)
class Decision:
    """One line of a decisions file: this dossier goes to ``new_commune_code``, as a person decided."""

    file: Path
    line: int
    source_system: str
    dossier_code: str
    new_commune_code: str
    note: str


def _read(path: Path, required: tuple[str, ...], what: str) -> list[tuple[int, dict[str, str]]]:
    return read_csv_table(path, required, what)


def load_rules(path: Path, ref: Reference) -> list[Rule]:
    """Read and validate a province rule file (columns old_commune_code, keyword, new_commune_code)."""
    rules: list[Rule] = []
    seen: dict[tuple[str, str], Rule] = {}
    for line, row in _read(path, RULE_COLUMNS, "rule"):
        old, keyword, new = row["old_commune_code"], row["keyword"], row["new_commune_code"]

        def bad(column: str, value: str, expected: str, line: int = line) -> MapError:
            return MapError(
                f"Rule file line {line}, column {column}: {value!r} is not valid; expected {expected}.",
                file=str(path),
                row=line,
                column=column,
                hint="Correct the rule file and run again.",
            )

        if old.isdigit() and len(old) < 5:
            old = old.zfill(5)
        if not _CODE5.match(old) or old not in ref.targets:
            raise bad("old_commune_code", old, "a 5-digit old commune code of the conversion table")
        if not rule_text(keyword):
            raise bad("keyword", keyword, "a village or street keyword (e.g. 'Thôn 3')")
        candidates = [t.commune_code for t in ref.targets[old]]
        if new.isdigit() and len(new) < 5:
            new = new.zfill(5)
        if new not in candidates:
            raise bad(
                "new_commune_code",
                new,
                f"one of the new communes old commune {old} went to: {', '.join(candidates)}",
            )
        rule = Rule(path, line, old, keyword, rule_text(keyword), new)
        previous = seen.get((old, rule.key))
        if previous and previous.new_commune_code != new:
            raise bad(
                "new_commune_code",
                new,
                f"{previous.new_commune_code}, as line {previous.line} says for the same keyword",
            )
        seen[(old, rule.key)] = rule
        rules.append(rule)
    return rules


def load_decisions(path: Path, ref: Reference) -> list[Decision]:
    """Read and validate a decisions file (columns source_system, dossier_code, new_commune_code[, note]); dossier
    codes in canonical form (:func:`handover.keys.canonical_key`), as the extract stage writes them. For a record
    row, ``dossier_code`` holds its key ``record_type/record_number``. A workbook (``.xlsx``) is read as its
    review sheet's decided rows (:func:`handover.units.decisions.read_workbook_decisions`)."""
    if Path(path).suffix.lower() == ".xlsx":
        return _workbook_decisions(Path(path), ref)
    decisions: list[Decision] = []
    for line, row in _read(path, DECISION_COLUMNS, "decisions"):
        new = row["new_commune_code"]
        if new.isdigit() and len(new) < 5:
            new = new.zfill(5)
        for column in ("source_system", "dossier_code"):
            if not row[column]:
                raise MapError(
                    f"Decisions file line {line}, column {column} is empty; expected a value.",
                    file=str(path),
                    row=line,
                    column=column,
                    hint="Every decision names its source system and dossier code.",
                )
        if new not in ref.new_communes:
            raise MapError(
                f"Decisions file line {line}, column new_commune_code: {new!r} is not valid; expected the "
                "5-digit code of a new commune (2025 scheme).",
                file=str(path),
                row=line,
                column="new_commune_code",
                hint='Look the commune up with: handover units lookup "<name>" --json',
            )
        decisions.append(
            Decision(
                path,
                line,
                row["source_system"],
                canonical_key(row["dossier_code"]) or "",
                new,
                row.get("note", ""),
            )
        )
    return decisions


def _workbook_decisions(path: Path, ref: Reference) -> list[Decision]:
    from handover.units.decisions import read_workbook_decisions, refuse, where

    read = read_workbook_decisions(path)
    problems = list(read.problems)
    problems += [
        f"{where(d)}: {d.new_commune_code!r} is not the code of a new commune (2025 scheme)"
        for d in read.decisions
        if d.new_commune_code not in ref.new_communes
    ]
    if problems:
        raise refuse(
            problems,
            path,
            what="not commune codes",
            hint='Correct those cells of the review sheet; look a commune up with: handover units lookup "<name>"',
        )
    return read.decisions
