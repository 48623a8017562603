"""The auditors' self-contained HTML transfer report, read back from the target database.

Batch metadata (and, for a later round of its sources, every round with what it newly handed over to each
unit and the record's number), source fingerprints, every physical row of each source (read = data +
non-data, each non-data row listed with its rule), the balance per source and in total counted twice
(``chunks`` and ``ledger``), great-expectations results, findings per check, and the loaded-set fingerprint as
stored and as recomputed now, with the command and SQL an auditor uses to recompute it. One file: inline CSS, no script, no
external asset. Everything is escaped (jinja2 autoescape). No row's personal data (names, IDs, phones) is shown;
the text of the non-data rows (titles, totals, signature blocks) is, with ID and phone numbers masked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from handover.errors import writing
from handover.models import Counts
from handover.reports.queries.batch import Shared, batch_info, guarded, ledger_tally, row_account, total
from handover.reports.queries.batch import sources as source_rows
from handover.reports.queries.held import findings_per_check
from handover.reports.queries.rounds import later_rounds
from handover.reports.workbook.labels import COUNT_KEYS, DISPOSITION_VI
from handover.reports.workbook.parties import round_record_number
from handover.target.attachments import manifest_summary
from handover.target.counts import chunk_counts
from handover.target.hashing import DATETIME_COLUMNS, OPTIONAL_COLUMNS, RECOMPUTE_SCRIPT, loaded_fingerprint

TEMPLATE = "transfer.html.j2"
FINGERPRINT_SQL = """\
SELECT entity, source_id, natural_key, content_hash
FROM ledger
WHERE batch_id = :batch_id AND disposition = 'loaded';
-- join the four columns with '|', end each line with LF, sort the lines by their UTF-8 bytes, SHA-256 the whole"""
FINGERPRINT_RULE = (
    "SHA-256 over the lines 'entity|source_system|natural_key|content_hash' + LF (UTF-8), one per ledger row of "
    "the batch with disposition 'loaded', sorted by byte order"
)
# the report names the function that recomputed the fingerprint: the loader's own definition
FINGERPRINT_IMPL = f"{loaded_fingerprint.__module__}.{loaded_fingerprint.__qualname__}"


def _counts(c: Counts) -> dict[str, Any]:
    return {**c.model_dump(), "balanced": c.balanced()}


def report_context(conn: Any, batch_id: str, shared: Shared | None = None) -> dict[str, Any]:
    """Everything the template shows, from the database. Also what ``--json`` could print. ``shared``: the
    batch's aggregates, when the workbook reads them too (:func:`handover.reports.write_reports`)."""
    shared = Shared() if shared is None else shared
    info = batch_info(conn, batch_id)
    sources = source_rows(conn, batch_id)
    # first what only this report reads: the workbook, written meanwhile, reads the shared counts
    recomputed = loaded_fingerprint(conn, batch_id)
    chunked = shared.get(conn, chunk_counts, batch_id)
    ledger = shared.get(conn, ledger_tally, batch_id).sources
    balance = []
    for source_id in sorted(set(chunked) | set(ledger)):
        c, led = chunked.get(source_id, Counts()), ledger.get(source_id, Counts())
        balance.append(
            {"source_id": source_id, "chunks": _counts(c), "ledger": _counts(led), "equal": c == led}
        )
    tc, tl = total(chunked), total(ledger)
    balance.append({"source_id": None, "chunks": _counts(tc), "ledger": _counts(tl), "equal": tc == tl})
    rows_mismatch = [
        s["source_id"]
        for s in sources
        if s.get("rows_extracted") is not None
        and s["rows_extracted"] != ledger.get(s["source_id"], Counts()).extracted
    ]
    # every physical row: read = data + non-data, and data = extracted (the ledger's count)
    for s in sources:
        account = row_account(s)
        extracted = ledger.get(s["source_id"], Counts())
        s["account"] = account
        s["physical_ok"] = account.balances(extracted) if account else None
        s["blank_rows"] = [line.row for line in account.lines if line.rule == "blank"] if account else []
        s["listed"] = [line for line in account.lines if line.rule != "blank"] if account else []
    rounds = shared.get(conn, later_rounds, batch_id)
    gx = [g for g in info.summary.get("gx") or [] if isinstance(g, dict)]
    rules = [r for r in info.summary.get("rules") or [] if isinstance(r, dict)]
    fp_match = info.fingerprint is not None and info.fingerprint == recomputed
    verdict = (
        fp_match
        and not rows_mismatch
        and all(s["physical_ok"] is not False for s in sources)
        and all(b["equal"] and b["chunks"]["balanced"] and b["ledger"]["balanced"] for b in balance)
    )
    return {
        "info": info,
        "sources": sources,
        "balance": balance,
        "rows_mismatch": rows_mismatch,
        "count_keys": COUNT_KEYS,
        "labels_vi": DISPOSITION_VI,
        "fp_recomputed": recomputed,
        "fp_impl": FINGERPRINT_IMPL,
        "fp_match": fp_match,
        "fp_rule": FINGERPRINT_RULE,
        "fp_sql": FINGERPRINT_SQL,
        "recompute_script": RECOMPUTE_SCRIPT,
        "optional_columns": sorted(OPTIONAL_COLUMNS),
        "datetime_columns": sorted(DATETIME_COLUMNS),
        "gx": gx,
        "findings": shared.get(conn, findings_per_check, batch_id),
        "rules": rules,
        "attachments": manifest_summary(conn, batch_id),
        "rounds": rounds if len(rounds) > 1 else [],  # a later round: every round of its sources
        "record_number": round_record_number,
        "verdict": verdict,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


def render_html(context: dict[str, Any]) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(TEMPLATE).render(**context)


def read_context(engine: Engine, batch_id: str, shared: Shared | None = None) -> dict[str, Any]:
    """:func:`report_context` on a connection of its own, database errors as :class:`ReportError`."""
    with guarded("the batch"), engine.connect() as conn:
        return report_context(conn, batch_id, shared)


def save_html(context: dict[str, Any], path: Path) -> Path:
    """Render ``context`` and write it to ``path``."""
    path = Path(path)
    text = render_html(context)
    with writing(path, "the HTML report", "Choose a folder you can write to (--out)."):
        path.write_text(text, encoding="utf-8")
    return path


def write_html(engine: Engine, batch_id: str, path: Path) -> Path:
    """Write the HTML transfer report of ``batch_id`` to ``path`` from the target database."""
    return save_html(read_context(engine, batch_id), path)
