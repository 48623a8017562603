"""Routing tables: which body now handles a procedure, and what a status text means.

Both are data the province can edit: ``mappings/procedures.csv`` (procedure → handling level and agency) and
``mappings/statuses.csv`` (status texts and numbers → the national portal's status code 1..10). Lookups are
vectorised: each distinct value is resolved once per chunk, then mapped onto the rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handover.errors import MapError
from handover.tables import read_csv_table
from handover.text import clean, fold

if TYPE_CHECKING:
    import pandas as pd

HandlingLevel = Literal["commune_pc", "commune_bro", "province_dept"]
DEFAULT_LEVEL: str = "commune_pc"
DEFAULT_AGENCY: str = "UBND xã/phường (mặc định)"

_CODE = re.compile(r"^\d\.\d{6}$")
_CODE_PREFIX = r"^\s*(\d\.\d{6})(?:\b|$)"
_NAME_PREFIX = re.compile(r"^(thu tuc|tthc)\s+")
_NUMBER = re.compile(r"^\s*(\d{1,2})(?:\.0+)?\s*$")


class ProcedureRoute(BaseModel):
    """One line of ``procedures.csv``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    procedure_code: str = Field(
        "", description="National code 1.xxxxxx / 2.xxxxxx, without the agency suffix."
    )
    procedure_name: str = Field(
        description="Tên TTHC as in the national database (matched when the code is absent)."
    )
    sector: str = Field("", description="Lĩnh vực.")
    handling_level: HandlingLevel = Field(
        description="commune_pc (UBND xã), commune_bro (phòng đăng ký kinh doanh cấp xã), province_dept (sở)."
    )
    handling_agency: str = Field(description="Name of the receiving body, as officials write it.")
    legal_basis: str = Field("", description="Decree / decision the routing rests on.")
    confirmed: Literal["yes", "no"] = Field(
        description="yes when code and routing are confirmed by the basis."
    )
    note: str = Field("", description="Free remark (what is unconfirmed and why).")
    free: Literal["yes", "no"] = Field(
        "no",
        description="yes when the law exempts the procedure from fees (the basis in legal_basis / PROCEDURES.md): "
        "a fee on it is the fee_on_free_procedure warning. Optional column: absent means no.",
    )


COLUMNS: tuple[str, ...] = tuple(ProcedureRoute.model_fields)
REQUIRED_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c != "free")


def _default_path(name: str) -> Path:
    from handover.resources import mappings_dir

    return mappings_dir() / name


def _name_key(value: object) -> str:
    return _NAME_PREFIX.sub("", fold(clean(value)))


def _read_csv(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    return read_csv_table(
        path,
        required,
        "routing table",
        missing_hint="Point [mapping] procedures to an existing CSV, or remove the key to use the shipped one.",
    )


@dataclass(frozen=True)
class ProcedureRouter:
    """Procedure → (handling level, handling agency), by code and then by normalised name."""

    routes: tuple[ProcedureRoute, ...]
    path: Path | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> ProcedureRouter:
        """Read and validate ``procedures.csv``; a bad line raises :class:`MapError` with file, row, column."""
        path = Path(path) if path is not None else _default_path("procedures.csv")
        routes: list[ProcedureRoute] = []
        seen_codes: dict[str, int] = {}
        for line, row in _read_csv(path, REQUIRED_COLUMNS):
            if not row.get("free", "x"):
                row = {k: v for k, v in row.items() if k != "free"}  # an empty cell: not free
            try:
                route = ProcedureRoute.model_validate(row)
            except ValidationError as exc:
                first = exc.errors()[0]
                column = str(first["loc"][0]) if first["loc"] else None
                raise MapError(
                    f"Routing table '{path.name}' line {line}, column '{column}': {first['msg']} "
                    f"(value '{row.get(column or '', '')}').",
                    file=str(path),
                    row=line,
                    column=column,
                    hint="handling_level is commune_pc, commune_bro or province_dept; confirmed and free are yes "
                    "or no.",
                ) from exc
            if route.procedure_code and not _CODE.match(route.procedure_code):
                raise MapError(
                    f"Routing table '{path.name}' line {line}: procedure code '{route.procedure_code}' "
                    "is not of the form 1.001612.",
                    file=str(path),
                    row=line,
                    column="procedure_code",
                    hint="Write the national code without the agency suffix, or leave it empty and give the name.",
                )
            if route.procedure_code in seen_codes:
                raise MapError(
                    f"Routing table '{path.name}' line {line}: procedure code '{route.procedure_code}' "
                    f"already on line {seen_codes[route.procedure_code]}.",
                    file=str(path),
                    row=line,
                    column="procedure_code",
                    hint="Keep one line per procedure code.",
                )
            if route.procedure_code:
                seen_codes[route.procedure_code] = line
            routes.append(route)
        return cls(routes=tuple(routes), path=path)

    def _lookups(self) -> tuple[dict[str, int], dict[str, int]]:
        by_code = {r.procedure_code: i for i, r in enumerate(self.routes) if r.procedure_code}
        by_name: dict[str, int] = {}
        for i, r in enumerate(self.routes):
            by_name.setdefault(_name_key(r.procedure_name), i)
        return by_code, by_name

    def route_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Columns handling_level, handling_agency, procedure_known, procedure_free for each row of ``df`` (same
        index).

        Uses ``procedure_code`` (the national part of a code with an agency suffix also matches), then the
        normalised ``procedure_name``; anything else goes to the commune People's Committee by default.
        """
        import numpy as np
        import pandas as pd

        by_code, by_name = self._lookups()
        n = len(df)
        # each distinct code or name is matched once, then spread to its rows by position (-1: not matched)
        idx = np.full(n, -1, dtype=np.int64)
        if "procedure_code" in df.columns and n:
            codes, uniq = pd.factorize(df["procedure_code"].astype(object))
            texts = pd.Series(uniq, dtype=object).astype("string")
            national = texts.str.extract(_CODE_PREFIX, expand=False)
            found = [
                by_code.get(c) if not pd.isna(c) and not pd.isna(t) else None
                for t, c in zip(texts, national, strict=True)
            ]
            table = np.array([-1 if f is None else f for f in found] + [-1], dtype=np.int64)
            idx = table[codes]
        if "procedure_name" in df.columns and n and (idx < 0).any():
            codes, uniq = pd.factorize(df["procedure_name"].astype(object))
            todo = (idx < 0) & (codes >= 0)
            if todo.any():
                texts = pd.Series(uniq, dtype=object).astype("string")
                table = np.full(len(uniq) + 1, -1, dtype=np.int64)
                for u in np.unique(codes[todo]):
                    if not pd.isna(texts.iat[u]):
                        hit = by_name.get(_name_key(texts.iat[u]))
                        table[u] = -1 if hit is None else hit
                idx = np.where(todo, table[codes], idx)
        known = idx >= 0
        levels = np.array([r.handling_level for r in self.routes] + [DEFAULT_LEVEL], dtype=object)
        agencies = np.array([r.handling_agency for r in self.routes] + [DEFAULT_AGENCY], dtype=object)
        free = np.array([r.free == "yes" for r in self.routes] + [False], dtype=bool)
        out = pd.DataFrame(index=df.index)
        out["handling_level"] = pd.Series(levels[idx], index=df.index, dtype=object)
        out["handling_agency"] = pd.Series(agencies[idx], index=df.index, dtype=object)
        out["procedure_known"] = known
        out["procedure_free"] = free[idx] & known
        return out


class StatusRow(BaseModel):
    """One line of ``statuses.csv``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    raw: str = Field(min_length=1, description="Status text or number as exports write it.")
    code: str = Field(pattern=r"^(?:[1-9]|10)$", description="National portal status code 1..10.")
    pending: Literal["yes", "no"] = Field(description="yes when a dossier with this status is still pending.")
    note: str = Field("", description="Free remark.")


class StatusKeyword(BaseModel):
    """One line of ``status_keywords.csv``: words that place a status text no exact line names."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    keyword: str = Field(
        min_length=1, description="Words to find in the status text (whole words, any case)."
    )
    code: str = Field(pattern=r"^(?:[1-9]|10)$", description="National portal status code 1..10.")
    weak: Literal["yes", "no"] = Field(
        "no", description="yes: counts only when no other keyword is found in the text."
    )
    note: str = Field("", description="Free remark.")


def _status_error(path: Path, line: int, exc: ValidationError, hint: str) -> MapError:
    first = exc.errors()[0]
    column = str(first["loc"][0]) if first["loc"] else None
    return MapError(
        f"Status table '{path.name}' line {line}, column '{column}': {first['msg']}.",
        file=str(path),
        row=line,
        column=column,
        hint=hint,
    )


@dataclass(frozen=True)
class StatusTable:
    """Status texts and numbers → portal code 1..10; which codes are pending.

    A text is placed by, in order: a number 1..10; its exact line (compared on :func:`handover.text.fold`:
    case, accents, punctuation and spacing ignored) in ``statuses.csv`` or a batch's own status files, which
    win over the shipped lines; the keywords of ``status_keywords.csv`` found in it as whole words. Keywords
    decide only when they agree: a keyword inside a longer one found at the same place counts as the longer one
    ("không tiếp nhận" is not "tiếp nhận"), a weak keyword counts only alone, and keywords that name different
    codes leave the text unplaced (``""``), as does a text no line or keyword names.
    """

    by_key: dict[str, str]
    pending_codes: frozenset[str]
    path: Path | None = None
    keywords: tuple[tuple[str, str, bool], ...] = ()  # (folded keyword, code, weak)
    extra_paths: tuple[Path, ...] = ()

    @classmethod
    def load(
        cls, path: Path | None = None, extra: list[Path] | tuple[Path, ...] = (), keywords: Path | None = None
    ) -> StatusTable:
        """Read and validate ``statuses.csv`` (MapError with file, row, column on a bad line), then each of the
        batch's ``extra`` status files (same columns; a text they name wins over the shipped line), then the
        keyword table."""
        path = Path(path) if path is not None else _default_path("statuses.csv")
        by_key: dict[str, str] = {}
        pending: dict[str, str] = {}
        for source in (path, *map(Path, extra)):
            seen: dict[str, str] = {}
            for line, row in _read_csv(source, tuple(StatusRow.model_fields)):
                try:
                    item = StatusRow.model_validate(row)
                except ValidationError as exc:
                    raise _status_error(source, line, exc, "code is 1..10; pending is yes or no.") from exc
                key = fold(item.raw)
                if key in seen and seen[key] != item.code:
                    raise MapError(
                        f"Status table '{source.name}' line {line}: '{item.raw}' already maps to code "
                        f"{seen[key]}.",
                        file=str(source),
                        row=line,
                        column="raw",
                        hint="Keep one code per status text (compared without accents and case).",
                    )
                if item.code in pending and pending[item.code] != item.pending:
                    raise MapError(
                        f"Status table '{source.name}' line {line}: code {item.code} is pending on one line "
                        "and not on another.",
                        file=str(source),
                        row=line,
                        column="pending",
                        hint="Give every line with the same code the same pending value (the shipped "
                        "statuses.csv: only 3, 7, 9 and 10 are finished).",
                    )
                seen[key] = item.code
                by_key[key] = item.code
                pending[item.code] = item.pending
        keywords_path = Path(keywords) if keywords is not None else _default_path("status_keywords.csv")
        found: list[tuple[str, str, bool]] = []
        for line, row in _read_csv(keywords_path, ("keyword", "code")):
            try:
                kw = StatusKeyword.model_validate(row)
            except ValidationError as exc:
                raise _status_error(keywords_path, line, exc, "code is 1..10; weak is yes or no.") from exc
            found.append((fold(kw.keyword), kw.code, kw.weak == "yes"))
        return cls(
            by_key=by_key,
            pending_codes=frozenset(c for c, p in pending.items() if p == "yes"),
            path=path,
            keywords=tuple(found),
            extra_paths=tuple(map(Path, extra)),
        )

    def code_of(self, value: object) -> str:
        """One status → '1'..'10', or '' when it cannot be placed."""
        text = clean(value)
        if not text:
            return ""
        m = _NUMBER.match(text)
        if m and 1 <= int(m.group(1)) <= 10:
            return str(int(m.group(1)))
        key = fold(text)
        return self.by_key.get(key) or self._by_keywords(key)

    def _by_keywords(self, key: str) -> str:
        padded = f" {key} "
        hits = [
            (padded.find(f" {kw} "), kw, code, weak)
            for kw, code, weak in self.keywords
            if f" {kw} " in padded
        ]
        # a keyword inside a longer keyword found over it counts as the longer one
        spans = [(start, start + len(kw)) for start, kw, _, _ in hits]
        kept = [
            (code, weak)
            for (start, kw, code, weak), (a, b) in zip(hits, spans, strict=True)
            if not any(c <= a and b <= d and (d - c) > (b - a) for c, d in spans)
        ]
        strong = {code for code, weak in kept if not weak}
        codes = strong or {code for code, _ in kept}
        return next(iter(codes)) if len(codes) == 1 else ""

    def code_frame(self, series: pd.Series) -> pd.Series:
        """Vectorised :meth:`code_of`: each distinct value is looked up once."""
        import numpy as np
        import pandas as pd

        codes, uniq = pd.factorize(series.astype("object"))  # missing cells: -1, the last entry ("")
        table = np.array([*(self.code_of(u) for u in uniq), self.code_of(None)], dtype=object)
        return pd.Series(table[codes], index=series.index, dtype=object)

    def is_pending(self, code: str) -> bool:
        return code in self.pending_codes
