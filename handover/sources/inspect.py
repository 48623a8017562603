"""``handover sources inspect``: what the reader decided about one file, and five sample rows, from a bounded
sample of the file (at most :data:`SAMPLE_DATA_ROWS` data rows or :data:`SAMPLE_TEXT_CHARS` characters)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from handover.config import SourceConfig
from handover.errors import SourceError
from handover.models import ID_FIELDS, PHONE_FIELDS, Entity
from handover.safe import map_texts
from handover.sources import open_source
from handover.sources.files import check_regular_file, sniff_kind, suffix_kind
from handover.sources.profiles import REQUIRED, load_profile
from handover.text import mask_id

SAMPLE_ROWS = 5
SAMPLE_DATA_ROWS = 5_000  # data rows read at most: the statistics are from these
SAMPLE_TEXT_CHARS = 8_000_000  # characters of cell text read at most
MAX_VALUE_CHARS = 200  # characters shown of any one value
_CHUNK_ROWS = 500


def guess_kind(path: Path) -> str:
    """csv / xlsx / xls from the suffix, or from the first bytes when the suffix says nothing (the reader then
    goes by the bytes anyway, and reports an extension that does not match them)."""
    return suffix_kind(path) or sniff_kind(path) or "csv"


def _cap(value: Any) -> Any:
    """Every text of the report at most :data:`MAX_VALUE_CHARS` characters, the rest counted."""
    return map_texts(value, _capped)


def _capped(text: str) -> str:
    if len(text) <= MAX_VALUE_CHARS:
        return text
    return f"{text[:MAX_VALUE_CHARS]}… ({len(text):,} characters)"


def inspect_sql(
    url: str,
    *,
    table: str | None = None,
    query: str | None = None,
    row_id: str | None = None,
    base_table: str | None = None,
    count_query: str | None = None,
    profile: str | None = None,
    entity: str | None = None,
) -> dict[str, Any]:
    """The same report for a district database: a table or a SELECT, read read-only (nothing is written), with
    the row identity used and, given ``base_table``/``count_query``, the district system's own count."""
    if not (table or query) or (table and query):
        raise SourceError(
            "Inspecting a database needs a table or a query (one of them).",
            hint='Add --table ho_so, or --query "SELECT ...".',
        )
    reader = _open_as_first_entity(
        lambda ent, profile_name: SourceConfig(
            id="sql",
            kind="sql",
            entity=ent,
            url=url,
            table=table,
            query=query,
            row_id=row_id,
            base_table=base_table,
            count_query=count_query,
            profile=profile_name,
        ),
        profile,
        entity,
        _CHUNK_ROWS,
    )
    out = _run(reader)
    out["rows_account"] = reader.row_account().model_dump() if out["sample"]["complete"] else None
    return out


def inspect_settings(settings: dict[str, Any], *, chunk_size: int = _CHUNK_ROWS) -> dict[str, Any]:
    """The same report for a source given as :class:`SourceConfig` fields (``kind``, ``path`` or ``url`` with
    ``table``/``query``, and any of ``columns``, ``record_type``, ``header_row`` ...): what ``handover plan``
    decides a district's sources with. Without ``entity`` or ``profile`` it is read as a dossier list, then as
    a record list, as :func:`inspect_source` does."""
    fixed = {k: v for k, v in settings.items() if k not in ("entity", "profile", "id")}
    if fixed.get("path") is not None:
        check_regular_file(Path(fixed["path"]))
    reader = _open_as_first_entity(
        lambda ent, profile_name: SourceConfig(
            id=settings.get("id", "source"), entity=ent, profile=profile_name, **fixed
        ),
        settings.get("profile"),
        settings.get("entity"),
        min(chunk_size, _CHUNK_ROWS),
    )
    return _run(reader)


def _open_as_first_entity(make: Any, profile: str | None, entity: str | None, chunk_size: int) -> Any:
    """Open the source as the entity given (or the profile's), else as a dossier list and then as a record list:
    the first whose header and required column are found. ``make(entity, profile)`` builds its SourceConfig."""
    if entity:
        entities = [Entity(entity)]
    elif profile:
        entities = [load_profile(profile).entity]
    else:
        entities = [Entity.DOSSIER, Entity.RECORD]
    first_error: SourceError | None = None
    for ent in entities:
        cfg = make(ent, profile if profile and load_profile(profile).entity is ent else None)
        try:
            return open_source(cfg, chunk_size)
        except SourceError as exc:
            first_error = first_error or exc
            if exc.context.get("column") == REQUIRED[ent] or exc.message.startswith("No header row"):
                continue
            raise
    assert first_error is not None
    raise first_error


def inspect_source(
    path: str | Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    profile: str | None = None,
    entity: str | None = None,
    chunk_size: int = 5000,
    multiline_fields: bool = False,
) -> dict[str, Any]:
    """Open the file as the pipeline would (the same up-front checks; nothing is written), read a bounded sample
    of its data rows, and return the reader's report, the data rows and finding counts of the sample (``sample``
    says whether it is the whole file), and five sample rows with ID and phone numbers masked (unmapped columns
    are listed by header only: they may hold personal data). Every text is cut to 200 characters with its
    length."""
    path = Path(path)
    check_regular_file(path)
    kind = guess_kind(path)
    reader = _open_as_first_entity(
        lambda ent, profile_name: SourceConfig(
            id=path.stem,
            kind=kind,  # type: ignore[arg-type]
            entity=ent,
            path=path,
            encoding=encoding,
            sheet=sheet,
            multiline_fields=multiline_fields,
            profile=profile_name,
        ),
        profile,
        entity,
        min(chunk_size, _CHUNK_ROWS),
    )
    return _run(reader)


def _run(reader: Any) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    findings: dict[str, int] = {}
    rows = chars = 0
    complete = True
    chunks = reader.chunks()
    for chunk in chunks:
        for f in chunk.findings:
            findings[f.check] = findings.get(f.check, 0) + 1
        if len(samples) < SAMPLE_ROWS:
            frame = chunk.frame.head(SAMPLE_ROWS - len(samples))
            for rec in frame.to_dict(orient="records"):
                row = {"source_row": int(rec["source_row"])}
                for key, value in rec.items():
                    if key in ("source_id", "source_row", "source_system", "extras") or value is None:
                        continue
                    if key in ID_FIELDS or key in PHONE_FIELDS:
                        value = mask_id(str(value))
                    row[key] = value
                samples.append(row)
        rows += len(chunk.frame)
        chars += _text_size(chunk.frame)
        if rows >= SAMPLE_DATA_ROWS or chars >= SAMPLE_TEXT_CHARS:
            complete = next(chunks, None) is None
            break
    chunks.close()
    out = dict(reader.report)
    out["findings"] = findings
    out["samples"] = samples
    out["sample"] = {
        "complete": complete,
        "data_rows_read": out.get("data_rows", rows),
        "note": "the whole file was read"
        if complete
        else f"a sample: the first {out.get('data_rows', rows):,} data rows (inspect stops after "
        f"{SAMPLE_DATA_ROWS:,} rows or {SAMPLE_TEXT_CHARS // 1_000_000} million characters); data rows, "
        "footer lines and warnings are counted in it only; `handover run --dry-run` reads everything",
    }
    out["sha256"] = reader.fingerprint.sha256
    out["missing"] = missing_fields(reader)
    return _cap(out)


# What a row needs besides its key to reach the right commune and person: (what, fields any of which will do).
WATCHED: dict[Entity, tuple[tuple[str, tuple[str, ...]], ...]] = {
    Entity.DOSSIER: (
        ("the dossier code", ("dossier_code",)),
        ("the old commune", ("old_commune_code", "old_commune_name", "address")),
        ("the applicant", ("applicant_name",)),
    ),
    Entity.RECORD: (
        ("the record number", ("record_number",)),
        ("the old commune", ("old_commune_code", "old_commune_name", "address")),
        ("the person registered", ("subject_name",)),
    ),
}
_CONSEQUENCE = {
    "the old commune": "every row will go to review (no commune to hand it to)",
    "the applicant": "rows will load without the applicant's name",
    "the person registered": "rows will load without the person's name",
}


def missing_fields(reader: Any) -> list[dict[str, Any]]:
    """The things no column maps to (the old commune, the applicant, the key), each with the likeliest unmapped
    column: the header closest to the profile's variants for those fields (rapidfuzz, token set ratio ≥ 60)."""
    from rapidfuzz import fuzz

    from handover.text import fold

    mapped = {c["field"] for c in reader.report.get("columns", []) if c.get("field")}
    variants: dict[str, list[str]] = {}
    for key, field in load_profile(reader.report.get("profile") or "").lookup().items():
        variants.setdefault(field, []).append(key)
    unmapped = [c for c in reader.report.get("columns", []) if not c.get("field") and c.get("source")]
    out: list[dict[str, Any]] = []
    for what, fields in WATCHED.get(reader.entity, ()):
        if mapped & set(fields):
            continue
        best: tuple[float, dict[str, Any], str] | None = None
        for column in unmapped:
            header = fold(column["source"])
            for field in fields:
                for variant in variants.get(field, []):
                    score = fuzz.token_set_ratio(header, variant)
                    if score >= 60 and (best is None or score > best[0]):
                        best = (score, column, field)
        item: dict[str, Any] = {
            "what": what,
            "fields": list(fields),
            "consequence": _CONSEQUENCE.get(what, "the source cannot be read"),
        }
        if best is not None:
            score, column, field = best
            item["suggestion"] = {
                "column": column.get("column"),
                "header": column["source"],
                "field": field,
                "score": round(score),
                "config": f'"{column["source"]}" = "{field}"',
            }
        out.append(item)
    return out


def _text_size(frame: Any) -> int:
    """Characters of text in a chunk's frame (what reading it cost, roughly)."""
    total = 0
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object:
            total += int(values.map(lambda v: len(v) if isinstance(v, str) else 0).sum())
    return total
