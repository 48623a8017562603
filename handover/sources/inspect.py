"""``handover sources inspect``: what the reader decided about one file, and five sample rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from handover.config import SourceConfig
from handover.errors import SourceError
from handover.models import ID_FIELDS, PHONE_FIELDS, Entity
from handover.sources import open_source
from handover.sources.excel_reader import OLE_MAGIC
from handover.sources.profiles import REQUIRED, load_profile
from handover.text import mask_id

SAMPLE_ROWS = 5


def guess_kind(path: Path) -> str:
    """csv / xlsx / xls from the suffix, or from the first bytes when the suffix says nothing."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix == ".xls":
        return "xls"
    if suffix in (".csv", ".txt", ".tsv", ".tab"):
        return "csv"
    try:
        with path.open("rb") as fh:
            magic = fh.read(8)
    except OSError:
        return "csv"
    if magic.startswith(b"PK\x03\x04"):
        return "xlsx"
    if magic == OLE_MAGIC:
        return "xls"
    return "csv"


def inspect_source(
    path: str | Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    profile: str | None = None,
    entity: str | None = None,
    chunk_size: int = 5000,
) -> dict[str, Any]:
    """Read the whole file as the pipeline would (nothing is written) and return the reader's report,
    the number of data rows, finding counts and five sample rows with ID and phone numbers masked
    (unmapped columns are listed by header only: they may hold personal data)."""
    path = Path(path)
    if not path.exists():
        raise SourceError(
            f"The file '{path}' does not exist.", file=str(path), hint="Check the path and try again."
        )
    kind = guess_kind(path)
    if entity:
        entities = [Entity(entity)]
    elif profile:
        entities = [load_profile(profile).entity]
    else:
        entities = [Entity.DOSSIER, Entity.RECORD]
    first_error: SourceError | None = None
    for ent in entities:
        cfg = SourceConfig(
            id=path.stem,
            kind=kind,  # type: ignore[arg-type]
            entity=ent,
            path=path,
            encoding=encoding,
            sheet=sheet,
            profile=profile if profile and load_profile(profile).entity is ent else None,
        )
        try:
            reader = open_source(cfg, chunk_size)
        except SourceError as exc:
            first_error = first_error or exc
            retry = exc.context.get("column") == REQUIRED[ent] or exc.message.startswith("No header row")
            if retry:
                continue
            raise
        return _run(reader)
    assert first_error is not None
    raise first_error


def _run(reader: Any) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    findings: dict[str, int] = {}
    for chunk in reader.chunks():
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
    out = dict(reader.report)
    out["findings"] = findings
    out["samples"] = samples
    out["sha256"] = reader.fingerprint.sha256
    return out
