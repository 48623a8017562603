"""Officials' decisions from the workbook's review sheet, checked against the review rows they decide.

A decision names a source, a row key (a dossier code, or ``record_type/record_number`` for a record) and the
new commune chosen. It is accepted only when that source and key are a review row of the batch it answers (the
target database's ledger) and the commune is allowed for that row: one of the row's split candidates, or, for a
row without candidates (old unit not found), a new commune of the new province its old province became.

:func:`read_workbook_decisions` reads the decided rows of the sheet ``Cần xem xét`` (headers found by name, so
column order and title rows do not matter); :func:`check_decisions` checks decisions against review rows;
:func:`import_review` does both and writes the decisions CSV; :func:`check_run_decisions` is the same check at the
start of a run, against the earlier batches of the run's sources.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handover.errors import MapError
from handover.keys import canonical_key
from handover.text import clean
from handover.units.reference import Reference
from handover.units.rules import Decision

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

REVIEW_SHEET = "Cần xem xét"
SUMMARY_SHEET = "Tổng hợp"
BATCH_LABEL = "Mã đợt"
CSV_COLUMNS = ("source_system", "dossier_code", "new_commune_code", "note")
# header texts (folded to lower case) naming each column the import needs, Vietnamese and English
_HEADERS = {
    "source": {"nguồn", "source_system", "source"},
    "key": {"mã hồ sơ / khóa", "dossier_code", "key", "mã hồ sơ"},
    "decision": {"quyết định (mã xã mới)", "new_commune_code", "quyết định"},
}
_CODE = re.compile(r"^\s*(\d{1,5})(?:\D.*)?$", re.S)
_SHOWN = 12  # allowed communes listed in a message


@dataclass(frozen=True)
class ReviewRow:
    """One review row of the ledger: what a decision may answer."""

    batch_id: str
    source_id: str
    source_row: int
    entity: str
    key: str
    unit_status: str | None
    old_province_code: str | None
    candidates: tuple[str, ...]


@dataclass
class WorkbookDecisions:
    """The decided rows of a workbook's review sheet, and the batch its summary sheet names."""

    path: Path
    batch_id: str | None
    decisions: list[Decision] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # decision cells that are not a commune code


@dataclass
class ImportResult:
    """What ``handover review import`` did."""

    workbook: Path
    batch_id: str
    out: Path
    decisions: list[Decision]
    records: int  # decisions that answer a record row


def where(decision: Decision) -> str:
    """Where a decision was written: a sheet row of a workbook, a line of a CSV."""
    if decision.file.suffix.lower() == ".xlsx":
        return f"{decision.file.name}, sheet “{REVIEW_SHEET}” row {decision.line}"
    return f"{decision.file.name} line {decision.line}"


def commune_code(value: Any) -> str | None:
    """The 5-digit code of a decision cell: ``2905``, ``"02905"`` or ``"02905 - Xã Bảo Thắng"``; ``None`` when the
    cell holds no code."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    match = _CODE.match(str(value))
    return match.group(1).zfill(5) if match else None


def _fold_header(value: Any) -> str:
    return " ".join(clean(str(value)).lower().split()) if value is not None else ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return clean(str(value)).strip()


def read_workbook_decisions(path: Path) -> WorkbookDecisions:
    """The decided rows of the review sheet of ``path`` (a workbook this tool wrote, filled by an official).

    Rows above the header rows, rows without a source or key and rows whose decision cell is empty are skipped.
    A decision cell that holds no commune code is listed in ``problems`` with its sheet row.
    """
    from openpyxl import load_workbook

    path = Path(path)
    if not path.is_file():
        raise MapError(f"The workbook {path} does not exist.", file=str(path), hint="Check the path given.")
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip / XML errors of a damaged or non-Excel file
        raise MapError(
            f"The workbook {path.name} cannot be read as .xlsx: {exc}",
            file=str(path),
            hint="Open it in Excel or LibreOffice and save it again as .xlsx.",
        ) from exc
    try:
        if REVIEW_SHEET not in wb.sheetnames:
            raise MapError(
                f"The workbook {path.name} has no sheet “{REVIEW_SHEET}”.",
                file=str(path),
                hint="Give the reconciliation workbook of the batch (reports/<batch>-doi-soat.xlsx).",
            )
        result = WorkbookDecisions(path, _batch_id(wb))
        columns: dict[str, int] = {}
        for number, cells in enumerate(wb[REVIEW_SHEET].iter_rows(values_only=True), 1):
            found = {
                role: i
                for i, value in enumerate(cells)
                for role, names in _HEADERS.items()
                if _fold_header(value) in names
            }
            if len(found) == len(_HEADERS):  # a header row (Vietnamese, then English): data follow
                columns = found
                continue
            if not columns:
                continue  # title and instruction rows
            source = _text(_cell(cells, columns["source"]))
            key = canonical_key(_text(_cell(cells, columns["key"])))
            raw = _cell(cells, columns["decision"])
            if not source or not key or raw is None or _text(raw) == "":
                continue  # undecided (or not a data row)
            code = commune_code(raw)
            if code is None:
                result.problems.append(
                    f"row {number}: the decision {_text(raw)!r} for {source} {key} is not a commune code "
                    "(5 digits, e.g. 02905)"
                )
                continue
            result.decisions.append(Decision(path, number, source, key, code, ""))
        if not columns:
            raise MapError(
                f"The sheet “{REVIEW_SHEET}” of {path.name} has no header row naming the columns source_system, "
                "dossier_code and new_commune_code.",
                file=str(path),
                hint="Give the workbook as the tool wrote it (the header rows must stay).",
            )
        return result
    finally:
        wb.close()


def _cell(cells: Sequence[Any], i: int) -> Any:
    return cells[i] if i < len(cells) else None


def _batch_id(wb: Any) -> str | None:
    """The batch id on the summary sheet's ``Mã đợt (batch)`` line (the first value right of the label)."""
    if SUMMARY_SHEET not in wb.sheetnames:
        return None
    for cells in wb[SUMMARY_SHEET].iter_rows(max_row=30, values_only=True):
        if cells and isinstance(cells[0], str) and cells[0].strip().startswith(BATCH_LABEL):
            return next((_text(v) for v in cells[1:] if _text(v)), None)
    return None


# ---------------------------------------------------------------------------------------------------------
# review rows and the communes each allows
# ---------------------------------------------------------------------------------------------------------


def review_rows(
    conn: Connection,
    *,
    batch_id: str | None = None,
    sources: Iterable[str] | None = None,
    exclude_batch: str | None = None,
    keys: Iterable[str] | None = None,
) -> dict[tuple[str, str], ReviewRow]:
    """Review rows of the ledger by (source, key): of ``batch_id``, or of every batch of ``sources`` but
    ``exclude_batch``; only ``keys`` when given. A key reviewed by several batches keeps the latest row read."""
    from sqlalchemy import select

    from handover.target.lookup import key_conditions
    from handover.target.schema import ledger

    c = ledger.c
    base = select(
        c.batch_id,
        c.source_id,
        c.source_row,
        c.entity,
        c.natural_key,
        c.unit_status,
        c.old_province_code,
        c.candidates,
    ).where(c.disposition == "review", c.natural_key.is_not(None))
    if batch_id is not None:
        base = base.where(c.batch_id == batch_id)
    if sources is not None:
        base = base.where(c.source_id.in_(sorted(set(sources))))
    if exclude_batch is not None:
        base = base.where(c.batch_id != exclude_batch)
    wanted = sorted(set(keys)) if keys is not None else None
    stmts = (
        [base]
        if wanted is None
        else [base.where(part) for part in key_conditions(conn, c.natural_key, wanted)]
    )
    out: dict[tuple[str, str], ReviewRow] = {}
    for stmt in stmts:
        for row in conn.execute(stmt.order_by(c.batch_id, c.source_id, c.source_row)):
            out[(row.source_id, row.natural_key)] = ReviewRow(
                row.batch_id,
                row.source_id,
                int(row.source_row),
                row.entity,
                row.natural_key,
                row.unit_status,
                row.old_province_code,
                candidate_codes(row.candidates),
            )
    return out


def candidate_codes(text: str | None) -> tuple[str, ...]:
    """The new commune codes of a ledger row's ``candidates`` (JSON text), in order, each once."""
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return ()
    items = value if isinstance(value, list) else [value]
    codes = [item.get("commune_code") for item in items if isinstance(item, dict)]
    return tuple(dict.fromkeys(code for code in codes if code))


def new_provinces_of(ref: Reference, old_province_code: str | None) -> set[str]:
    """The new province(s) (2025 scheme) an old province became; an unknown code maps to itself."""
    if not old_province_code:
        return set()
    found = {new for new, olds in ref.new_province_members.items() if old_province_code in olds}
    return found or {old_province_code}


def allowed_communes(row: ReviewRow, ref: Reference) -> list[str]:
    """The new communes a decision may name for ``row``: its split candidates, or (no candidates) every new
    commune of the new province its old province became."""
    if row.candidates:
        return list(row.candidates)
    provinces = new_provinces_of(ref, row.old_province_code)
    return sorted(code for code, (province, _, _) in ref.new_communes.items() if province in provinces)


def _commune_text(ref: Reference, code: str) -> str:
    province, name, _ = ref.new_communes.get(code, ("", "", ""))
    if not name:
        return f"{code} (không có trong danh mục xã mới / not a new commune)"
    return f"{code} {name}, {ref.new_provinces.get(province, province)}"


def _choices(ref: Reference, row: ReviewRow, allowed: list[str]) -> str:
    shown = ", ".join(
        f"{code} {ref.new_communes.get(code, ('', ''))[1]}".strip() for code in allowed[:_SHOWN]
    )
    if row.candidates:
        return f"one of the row's candidates: {shown}"
    provinces = ", ".join(
        sorted(ref.new_provinces.get(p, p) for p in new_provinces_of(ref, row.old_province_code))
    )
    more = f' … ({len(allowed)} in all: handover units lookup "<name>")' if len(allowed) > _SHOWN else ""
    return f"a new commune of {provinces or 'the same province'}: {shown}{more}"


def check_decisions(
    decisions: Sequence[Decision],
    rows: dict[tuple[str, str], ReviewRow],
    ref: Reference,
    *,
    of_what: str,
) -> tuple[list[Decision], list[str]]:
    """(the accepted decisions, one per row, and the problems) of ``decisions`` checked against ``rows``.

    Problems: a source and key that are no review row (``of_what`` says of which batch), a commune not allowed for
    the row, and a row decided twice with different communes. Each names where the decision was written, the value
    and the allowed choices."""
    problems: list[str] = []
    accepted: dict[tuple[str, str], Decision] = {}
    keys_of: dict[str, list[str]] = {}
    for source, key in rows:
        keys_of.setdefault(source, []).append(key)
    for d in decisions:
        ident = (d.source_system, d.dossier_code)
        row = rows.get(ident)
        if row is None:
            near = difflib.get_close_matches(d.dossier_code, keys_of.get(d.source_system, []), n=3)
            if d.source_system not in keys_of:
                near_sources = difflib.get_close_matches(d.source_system, list(keys_of), n=3)
                guess = (
                    f"; sources with review rows: {', '.join(near_sources or sorted(keys_of)[:5]) or 'none'}"
                )
            else:
                guess = f"; did you mean {', '.join(near)}?" if near else ""
            problems.append(
                f"{where(d)}: {d.source_system} {d.dossier_code!r} is not a review row of {of_what}{guess}"
            )
            continue
        allowed = allowed_communes(row, ref)
        if d.new_commune_code not in allowed:
            problems.append(
                f"{where(d)}: {d.source_system} {d.dossier_code}: new commune "
                f"{_commune_text(ref, d.new_commune_code)} is not allowed; expected {_choices(ref, row, allowed)}"
            )
            continue
        previous = accepted.get(ident)
        if previous is not None:
            if previous.new_commune_code != d.new_commune_code:
                problems.append(
                    f"{where(d)}: {d.source_system} {d.dossier_code} is decided twice with different communes: "
                    f"{previous.new_commune_code} ({where(previous)}) and {d.new_commune_code}"
                )
            continue
        accepted[ident] = d
    return list(accepted.values()), problems


def refuse(problems: list[str], file: Path, *, what: str, hint: str) -> MapError:
    """One error listing every refused decision (first ten in full)."""
    shown = problems[:10]
    more = f"\n… and {len(problems) - 10} more" if len(problems) > 10 else ""
    return MapError(
        f"{len(problems)} decision(s) in {file.name} refused ({what}); nothing was written or loaded:\n"
        + "\n".join(f"  - {p}" for p in shown)
        + more,
        file=str(file),
        hint=hint,
    )


# ---------------------------------------------------------------------------------------------------------
# handover review import
# ---------------------------------------------------------------------------------------------------------


def import_review(
    workbook: Path, out: Path, db_url: str, *, batch_id: str | None = None, ref: Reference | None = None
) -> ImportResult:
    """Read the decided rows of ``workbook``'s review sheet, check each against the review rows of its batch in
    the target ``db_url`` (the batch named on the summary sheet, or ``batch_id``) and write the decisions CSV
    ``out``. Any refused decision raises :class:`MapError` listing them all, and nothing is written."""
    from handover.reports.queries.batch import batch_info
    from handover.target.db import make_engine, require_existing

    read = read_workbook_decisions(workbook)
    batch = batch_id or read.batch_id
    if not batch:
        raise MapError(
            f"The workbook {Path(workbook).name} does not name its batch (sheet “{SUMMARY_SHEET}”, line "
            f"“{BATCH_LABEL} (batch)”).",
            file=str(workbook),
            hint="Give the batch id: handover review import WORKBOOK.xlsx --batch BATCH_ID --db URL",
        )
    ref = ref or load_reference()
    require_existing(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            batch_info(conn, batch)  # BatchNotFoundError when the target does not hold the batch
            rows = review_rows(conn, batch_id=batch)
    finally:
        engine.dispose()
    accepted, problems = check_decisions(read.decisions, rows, ref, of_what=f"batch {batch}")
    problems = [f"{Path(workbook).name}, sheet “{REVIEW_SHEET}” {p}" for p in read.problems] + problems
    if problems:
        raise refuse(
            problems,
            Path(workbook),
            what=f"checked against the review rows of batch {batch}",
            hint="Correct those cells in the review sheet (a candidate of the row, or a commune of the same "
            "province for a unit not found) and run handover review import again.",
        )
    write_decisions_csv(accepted, out, batch)
    records = sum(1 for d in accepted if rows[(d.source_system, d.dossier_code)].entity == "record")
    return ImportResult(Path(workbook), batch, Path(out), accepted, records)


def write_decisions_csv(decisions: Sequence[Decision], out: Path, batch_id: str) -> None:
    """The decisions CSV (``source_system,dossier_code,new_commune_code,note``), UTF-8, one line per decision."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for d in decisions:
            note = f"{d.file.name} {REVIEW_SHEET} row {d.line}, batch {batch_id}"
            writer.writerow([d.source_system, d.dossier_code, d.new_commune_code, note])
    tmp.replace(out)


def load_reference() -> Reference:
    """The units reference shipped with the tool (``mappings/units``), against which decisions are checked."""
    from handover.resources import mappings_dir

    return Reference.load(mappings_dir() / "units")


# ---------------------------------------------------------------------------------------------------------
# at the start of a run
# ---------------------------------------------------------------------------------------------------------


def check_run_decisions(
    engine: Engine, decisions: Sequence[Decision], ref: Reference, *, sources: Iterable[str]
) -> None:
    """Refuse (:class:`MapError`) the run's decisions that answer no review row of an earlier batch of its
    ``sources`` in the target, or name a commune the row does not allow; checked before anything loads. The
    run's own batch counts too: a resumed run's ledger holds only what it committed, and a re-run under the same id
    with changed decisions is refused later as a changed configuration."""
    if not decisions:
        return
    with engine.connect() as conn:
        rows = review_rows(
            conn,
            sources=list(sources),
            keys={d.dossier_code for d in decisions},
        )
    _, problems = check_decisions(
        decisions, rows, ref, of_what="an earlier batch of this batch's sources in the target"
    )
    if problems:
        first = decisions[0].file
        raise refuse(
            problems,
            first,
            what="checked against the review rows of the earlier batches in the target",
            hint="Correct or remove those decisions (import them from the filled workbook with: handover review "
            "import WORKBOOK.xlsx --db URL) and run again.",
        )
