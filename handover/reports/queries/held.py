"""Rows held back (quarantined with their findings, held for review with their candidates), content conflicts,
and the findings counted per check."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, and_, func, select

from handover.reports.queries.batch import loads_or_none
from handover.reports.queries.streams import stream_dicts, stream_rows
from handover.target.schema import findings, ledger

CONFLICT_CHECK = "content_conflict"


@dataclasses.dataclass(frozen=True)
class HeldRow:
    """A quarantined row with every finding about it."""

    source_id: str
    source_row: int
    entity: str
    natural_key: str | None
    old_commune_name: str | None
    reason: str | None
    findings: tuple[dict[str, Any], ...]


_FINDING_KEYS = ("field", "check_name", "severity", "message_vi", "message_en")


def iter_quarantined(conn: Connection, batch_id: str) -> Iterator[HeldRow]:
    """Quarantined ledger rows, each with its findings.

    Two streamed queries merged on the ledger key: the quarantined rows, and the findings joined to them
    (driven from ``findings``, whose index does not cover ``source_row``: an outer join from the ledger would
    scan a source's findings once per row). Both are sorted by the same key (unique per batch) on the same
    database, so the findings arrive in the order of their rows. The findings query runs on a connection of
    its own: some drivers stream only one query per connection.
    """
    c, f = ledger.c, findings.c
    held = (
        select(c.source_id, c.source_row, c.entity, c.natural_key, c.old_commune_name, c.reason)
        .where(c.batch_id == batch_id, c.disposition == "quarantined")
        .order_by(c.source_id, c.source_row)
    )
    found = (
        select(f.source_id, f.source_row, *(getattr(f, k) for k in _FINDING_KEYS))
        .select_from(
            findings.join(
                ledger,
                and_(c.batch_id == f.batch_id, c.source_id == f.source_id, c.source_row == f.source_row),
            )
        )
        .where(f.batch_id == batch_id, c.disposition == "quarantined")
        .order_by(f.source_id, f.source_row, f.id)
    )
    with conn.engine.connect() as other:
        found_rows = stream_rows(other, found)
        try:
            head = next(found_rows, None)
            for source_id, source_row, entity, natural_key, old_commune_name, reason in stream_rows(
                conn, held
            ):
                items = []
                while head is not None and head[0] == source_id and head[1] == source_row:
                    items.append(dict(zip(_FINDING_KEYS, head[2:], strict=True)))
                    head = next(found_rows, None)
                yield HeldRow(
                    source_id=source_id,
                    source_row=source_row,
                    entity=entity,
                    natural_key=natural_key,
                    old_commune_name=old_commune_name,
                    reason=reason,
                    findings=tuple(items),
                )
        finally:
            found_rows.close()


def iter_review(conn: Connection, batch_id: str) -> Iterator[dict[str, Any]]:
    """Review rows (unit split / ambiguous / not found) with candidates decoded (``candidates_json``: as
    stored), by source and row."""
    c = ledger.c
    stmt = (
        select(
            c.source_id,
            c.source_row,
            c.entity,
            c.natural_key,
            c.reason,
            c.unit_status,
            c.old_district_code,
            c.old_district_name,
            c.old_commune_code,
            c.old_commune_name,
            c.old_province_code,
            c.candidates,
            c.payload,
        )
        .where(c.batch_id == batch_id, c.disposition == "review")
        .order_by(c.source_id, c.source_row)
    )
    for row in stream_dicts(conn, stmt):
        payload = loads_or_none(row.pop("payload"))
        payload = payload if isinstance(payload, dict) else {}
        row["candidates_json"] = row["candidates"]
        row["candidates"] = candidate_list(loads_or_none(row["candidates"]))
        row["suggestions"] = candidate_list(
            loads_or_none(payload.get("unit_suggestions")) or payload.get("unit_suggestions")
        )
        row["village"] = payload.get("village")
        yield row


def candidate_list(value: Any) -> list[str]:
    """Candidates as the ledger stores them (dicts with commune_code/name, or plain names) → display strings."""
    if not value:
        return []
    if isinstance(value, dict | str):
        value = [value]
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            code = item.get("commune_code") or item.get("code") or item.get("new_commune_code")
            name = item.get("name") or item.get("commune_name") or item.get("new_commune_name")
            out.append(" ".join(str(v) for v in (code, name) if v))
        elif item is not None:
            out.append(str(item))
    return [o for o in out if o]


def iter_conflicts(conn: Connection, batch_id: str) -> Iterator[dict[str, Any]]:
    """``content_conflict`` findings: the same key arrived with different content."""
    f = findings.c
    stmt = (
        select(f.source_id, f.source_row, f.natural_key, f.field, f.severity, f.message_vi, f.message_en)
        .where(f.batch_id == batch_id, f.check_name == CONFLICT_CHECK)
        .order_by(f.source_id, f.source_row, f.id)
    )
    return stream_dicts(conn, stmt)


def findings_per_check(conn: Connection, batch_id: str) -> list[dict[str, Any]]:
    """Findings of the batch counted per check and severity, with one example message each."""
    f = findings.c
    stmt = (
        select(
            f.check_name,
            f.severity,
            func.count(),
            func.count(func.distinct(f.source_row)),
            func.min(f.message_vi),
            func.min(f.message_en),
        )
        .where(f.batch_id == batch_id)
        .group_by(f.check_name, f.severity)
        .order_by(f.check_name, f.severity)
    )
    return [
        {"check": c, "severity": s, "count": int(n), "rows": int(r), "example_vi": vi, "example_en": en}
        for c, s, n, r, vi, en in conn.execute(stmt)
    ]
