"""One chunk's load inside its transaction, step by step (:class:`ChunkLoad`; :meth:`Loader.load_chunk
<handover.target.loader.Loader.load_chunk>` runs the steps).

0. :func:`stored_result`: a chunk committed before is skipped; :func:`check_rows_not_loaded`: none of its rows is
   in the batch's ledger already (else the chunking changed);
1. :meth:`ChunkLoad.look_up_target`: which of the chunk's keys to load the target holds, with which content;
2. :meth:`ChunkLoad.mark_batch_repeats`: keys this batch has loaded already (earlier chunks, then earlier rows of
   this chunk) → ``duplicate``, or ``quarantined`` with a ``dossier_code_unique`` error when the content differs;
3. :meth:`ChunkLoad.decide_actions`: what each row to load does to the target (inserted, unchanged, conflict kept
   or updated, its old version to ``history``);
4. :meth:`ChunkLoad.write`: target rows, history, ledger and findings; then the attachments of the dossiers
   loaded (:meth:`ChunkLoad.attach`) and the ``chunks`` progress row (:meth:`ChunkLoad.commit_progress`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, insert, select

from handover.errors import LoadError
from handover.faults import checkpoint
from handover.keys import key_field
from handover.models import DISPOSITIONS, Chunk, Counts, Finding, Severity
from handover.target import schema, writers
from handover.target.hashing import content_columns, table_for
from handover.target.keyfilter import KeyFilter
from handover.target.limits import load_limits
from handover.target.lookup import IN_SLICE, ledger_rows, target_rows
from handover.target.prepare import PreparedChunk
from handover.target.values import (
    capped_payload,
    payload_json,
    payloads_json,
    pick,
    printable,
    row_json,
    utcnow,
)
from handover.text import visible_controls

if TYPE_CHECKING:
    from handover.attachments import AttachmentStore

_MESSAGE_CHARS = 4000  # a finding's message as the findings table keeps it (within any target's TEXT)


class ChunkLoadResult(BaseModel):
    """What one :meth:`Loader.load_chunk <handover.target.loader.Loader.load_chunk>` did."""

    source_id: str
    chunk_index: int
    counts: Counts = Field(description="Rows per final disposition (extracted = all rows of the chunk).")
    inserted: int = Field(0, description="Rows new to the target.")
    unchanged: int = Field(0, description="Loaded rows already in the target with the same content.")
    updated: int = Field(0, description="Conflicting rows updated (policy update; history kept).")
    conflicts: int = Field(0, description="Loaded rows whose key exists with other content.")
    findings: list[Finding] = Field(default_factory=list, description="Findings the loader added.")
    skipped: bool = Field(False, description="The chunk had been committed before: nothing written.")


@dataclass
class ChunkLoad:
    """The decisions of one chunk's load, made on ``conn`` (its transaction) from a :class:`PreparedChunk`."""

    conn: Connection
    batch_id: str
    conflict_policy: Literal["keep", "update"]
    p: PreparedChunk
    dispositions: list[str] = field(init=False)
    reasons: list[str | None] = field(init=False)
    own: list[Finding] = field(init=False)  # findings the load makes
    actions: list[str | None] = field(init=False)
    existing: dict[str, dict[str, Any]] = field(default_factory=dict)  # key → its target row (step 1)
    now: Any = field(default_factory=utcnow)
    fresh: list[int] = field(default_factory=list)  # positions of the rows to insert
    updates: list[dict[str, Any]] = field(default_factory=list)
    history_rows: list[dict[str, Any]] = field(default_factory=list)
    history_of: list[int] = field(default_factory=list)  # the chunk position of each history row
    conflict_payload: dict[int, str | None] = field(default_factory=dict)
    inserted: int = 0
    unchanged: int = 0
    updated: int = 0
    conflicts: int = 0

    def __post_init__(self) -> None:
        self.dispositions = list(self.p.dispositions)
        self.reasons = list(self.p.reasons)
        self.own = list(self.p.own)
        self.actions = [None] * len(self.p.frame)

    @property
    def source_id(self) -> str:
        return self.p.chunk.source_id

    def _loaded(self) -> list[int]:
        return [i for i, d in enumerate(self.dispositions) if d == "loaded"]

    def candidate_keys(self) -> list[str]:
        """The distinct keys of the rows to load, sorted."""
        return sorted({self.p.keys[i] for i in self._loaded()})  # type: ignore[misc]

    # -- 1. the target ----------------------------------------------------------------------------------------

    def look_up_target(self, key_filter: KeyFilter | None, scope: str) -> list[str]:
        """Which of the keys to load exist in the target, with which content (:attr:`existing`); one look-up
        serves steps 2 and 3. With a ``key_filter`` (no other batch has rows of this source in the target),
        only the keys it may hold are looked up. Returns the keys of the rows to load."""
        candidates = self.candidate_keys()
        lookup = candidates
        if key_filter is not None:
            maybe = key_filter.may_hold(scope, candidates)
            lookup = [k for k, held in zip(candidates, maybe, strict=True) if held]
        table = table_for(self.p.entity)
        self.existing = target_rows(
            self.conn,
            self.p.entity,
            self.source_id,
            lookup,
            [table.c.id, table.c.content_hash, table.c.batch_id],
        )
        return candidates

    # -- 2. keys this batch loaded already -----------------------------------------------------------------

    def mark_batch_repeats(self, candidates: list[str]) -> None:
        """Keys this batch has loaded already (earlier chunks, then earlier rows of this chunk). Every key a batch
        loaded has its row in the target (inserted, updated, or found there unchanged or kept), so only keys
        the target has are looked up in the ledger: none at all while a batch fills a new target."""
        p, lg = self.p, schema.ledger.c
        keys, hashes = p.keys, p.hashes
        seen: dict[str, str] = dict(
            ledger_rows(  # type: ignore[arg-type]
                self.conn,
                (lg.natural_key, lg.content_hash),
                p.entity,
                self.source_id,
                [k for k in candidates if k in self.existing],
                lg.batch_id == self.batch_id,
                lg.disposition == "loaded",
            )
        )
        for i in self._loaded():
            key = keys[i]
            assert key is not None
            if key not in seen:
                seen[key] = hashes[i]  # type: ignore[assignment]
                continue
            if seen[key] == hashes[i]:
                self.dispositions[i] = "duplicate"
                self.reasons[i] = (
                    "Trùng lặp hoàn toàn với dòng đã nạp trong đợt này / exact duplicate of a row this batch loaded"
                )
                continue
            self.dispositions[i] = "quarantined"
            self.reasons[i] = (
                "Trùng mã nhưng khác nội dung với dòng đã nạp trong đợt này / same key as a row this batch "
                "loaded, different content"
            )
            self.own.append(
                Finding(
                    source_id=self.source_id,
                    row=p.source_rows[i],
                    key=key,
                    field=key_field(p.entity),
                    check="dossier_code_unique",
                    severity=Severity.ERROR,
                    message_vi=f"Mã {key} xuất hiện hai lần trong đợt với nội dung khác nhau: dòng sau bị cách ly.",
                    message_en=f"Key {key} appears twice in the batch with different content: the later row is "
                    "quarantined.",
                )
            )

    def keys_to_load(self) -> list[str]:
        """The keys of the rows still to load (after step 2)."""
        return [self.p.keys[i] for i in self._loaded()]  # type: ignore[misc]

    # -- 3. what each row does to the target -----------------------------------------------------------------

    def decide_actions(self) -> None:
        """What each row to load does to the target: inserted, unchanged, or in conflict (a
        ``content_conflict`` warning, then kept or updated as the policy says, the old version to history)."""
        self.now = utcnow()
        for i in self._loaded():
            key = self.p.keys[i]
            found = self.existing.get(key)  # type: ignore[arg-type]
            if found is None:
                self.fresh.append(i)
                self.actions[i] = "inserted"
                self.inserted += 1
            elif found["content_hash"] == self.p.hashes[i]:
                self.actions[i] = "unchanged"
                self.unchanged += 1
            else:
                self._conflict(i, key, found)  # type: ignore[arg-type]
        self._read_replaced_versions()

    def _conflict(self, i: int, key: str, found: dict[str, Any]) -> None:
        p, keep = self.p, self.conflict_policy == "keep"
        values = {c: p.converted[c][i] for c in content_columns(p.entity)}
        self.conflicts += 1
        self.own.append(
            Finding(
                source_id=self.source_id,
                row=p.source_rows[i],
                key=key,
                check="content_conflict",
                severity=Severity.WARNING,
                message_vi=f"Mã {key} đã được nạp (đợt {found['batch_id']}) với nội dung khác; "
                + ("giữ bản đã nạp." if keep else "cập nhật, bản cũ lưu ở history."),
                message_en=f"Key {key} was loaded before (batch {found['batch_id']}) with other content; "
                + ("the loaded version is kept." if keep else "updated, the old version is kept in history."),
            )
        )
        if keep:
            self.actions[i] = "conflict_kept"
            self.conflict_payload[i] = capped_payload(
                payload_json(values), load_limits(p.wire.name).text_max_bytes
            )
            self.reasons[i] = (
                f"Giữ bản đã nạp {found['content_hash'][:12]} / kept loaded version {found['content_hash'][:12]}"
            )
            return
        self.actions[i] = "updated"
        self.updated += 1
        self.history_of.append(i)
        self.history_rows.append(
            {
                "entity": p.entity.value,
                "source_system": self.source_id,
                "natural_key": key,
                "content_hash": found["content_hash"],
                "row_json": found["id"],  # replaced by the full old row (_read_replaced_versions)
                "replaced_by_batch": self.batch_id,
                "replaced_at": self.now,
            }
        )
        self.updates.append(
            {
                "id": found["id"],
                **values,
                "content_hash": p.hashes[i],
                "updated_batch_id": self.batch_id,
                "loaded_at": self.now,
            }
        )

    def _read_replaced_versions(self) -> None:
        """The full old row of each history entry, as JSON."""
        table = table_for(self.p.entity)
        old_rows: dict[int, dict[str, Any]] = {}
        ids = [h["row_json"] for h in self.history_rows]
        for start in range(0, len(ids), IN_SLICE):
            part = ids[start : start + IN_SLICE]
            for row in self.conn.execute(select(table).where(table.c.id.in_(part))).mappings():
                old_rows[row["id"]] = dict(row)
        for h in self.history_rows:
            h["row_json"] = row_json(old_rows[h["row_json"]])

    # -- 4. writes ---------------------------------------------------------------------------------------------

    def write(self) -> None:
        """Target rows, history, ledger and findings, in the chunk's transaction. Rows go in in key order: each
        key index then takes the chunk as a run of neighbouring entries instead of one random page per row.
        Nothing reads the insertion order back: every listing has its own ORDER BY."""
        p, conn, n = self.p, self.conn, len(self.p.frame)
        keys, source_rows, wire = p.keys, p.source_rows, p.wire
        table = table_for(p.entity)
        fresh = sorted(self.fresh, key=keys.__getitem__)
        added = len(fresh)
        new_rows = writers.encode(
            wire,
            table,
            {
                "batch_id": [self.batch_id] * added,
                "updated_batch_id": [None] * added,
                "loaded_at": [self.now] * added,
            },
            text=p.target_rows.text,
        )
        with _naming(lambda k: (source_rows[fresh[k]], keys[fresh[k]])):
            writers.insert_encoded(conn, table, writers.joined(p.target_rows, fresh, new_rows))
        history_of = self.history_of
        with _naming(lambda k: (source_rows[history_of[k]], keys[history_of[k]])):
            writers.insert_rows(conn, schema.history, self.history_rows)
        writers.update_rows(conn, table, self.updates)
        order = p.key_order
        decided = writers.encode(
            wire,
            schema.ledger,
            {
                "batch_id": [self.batch_id] * n,
                "source_id": [self.source_id] * n,
                "entity": [p.entity.value] * n,
                "disposition": pick(self.dispositions, order),
                "action": pick(self.actions, order),
                "reason": [r[: _MESSAGE_CHARS * 2] if r else r for r in printable(pick(self.reasons, order))],
                "payload": pick(self._payloads(), order),
            },
            text=p.ledger_rows.text,
        )
        with _naming(lambda k: (source_rows[order[k]], keys[order[k]])):
            writers.insert_encoded(conn, schema.ledger, writers.joined(p.ledger_rows, order, decided))
        all_findings = [*p.chunk.findings, *self.own]
        with _naming(lambda k: (all_findings[k].row, all_findings[k].key)):
            writers.insert_rows(conn, schema.findings, [self._finding_row(f) for f in all_findings])

    def _payloads(self) -> list[str | None]:
        """Every row's ledger payload: the held-back rows' (prepared, or made for those steps 2 and 3 held
        back), and the delivered version of a row kept in conflict."""
        payloads = list(self.p.payloads)
        for i, payload in self.conflict_payload.items():
            payloads[i] = payload
        wanted = [i for i, d in enumerate(self.dispositions) if d != "loaded" and payloads[i] is None]
        if wanted:
            cap = load_limits(self.p.wire.name).text_max_bytes
            for i, payload in zip(
                wanted, payloads_json(self.p.raw, self.p.payload_columns, wanted), strict=True
            ):
                payloads[i] = capped_payload(payload, cap)
        return payloads

    def _finding_row(self, f: Finding) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "source_id": f.source_id,
            "source_row": f.row,
            "natural_key": visible_controls(f.key[:250]) if f.key else None,
            "field": f.field,
            "check_name": f.check,
            "severity": str(f.severity),
            "message_vi": visible_controls(f.message_vi[:_MESSAGE_CHARS]),
            "message_en": visible_controls(f.message_en[:_MESSAGE_CHARS]),
        }

    def attach(self, store: AttachmentStore) -> int:
        """The files of the dossiers loaded, copied into ``store`` before the chunk commits (their manifest rows
        with it); the number of manifest rows written."""
        from handover.target.attachments import attach_chunk

        return attach_chunk(
            self.conn, store, self.source_id, self.p.frame, self._loaded(), self.p.keys, self.now
        )

    def commit_progress(self) -> ChunkLoadResult:
        """The chunk's ``chunks`` progress row, the last write of its transaction; the chunk's result."""
        n, chunk = len(self.p.frame), self.p.chunk
        counts = Counts(extracted=n, **{d: self.dispositions.count(d) for d in DISPOSITIONS})
        checkpoint("load.inside")  # crash drills: rows, ledger and findings written, nothing committed
        self.conn.execute(
            insert(schema.chunks).values(
                batch_id=self.batch_id,
                source_id=chunk.source_id,
                chunk_index=chunk.index,
                rows=n,
                inserted=self.inserted,
                conflicts=self.conflicts,
                committed_at=self.now,
                **{d: getattr(counts, d) for d in DISPOSITIONS},
            )
        )
        return ChunkLoadResult(
            source_id=chunk.source_id,
            chunk_index=chunk.index,
            counts=counts,
            inserted=self.inserted,
            unchanged=self.unchanged,
            updated=self.updated,
            conflicts=self.conflicts,
            findings=self.own,
        )


def check_rows_not_loaded(conn: Connection, batch_id: str, chunk: Chunk, source_rows: list[int]) -> None:
    """Before a chunk's load: a row of it already in batch ``batch_id``'s ledger means the chunking changed since
    the batch began (:class:`LoadError`)."""
    if not source_rows:
        return
    lg = schema.ledger.c
    mine = set(source_rows)
    present = conn.execute(
        select(lg.source_row).where(
            lg.batch_id == batch_id,
            lg.source_id == chunk.source_id,
            lg.source_row.between(min(source_rows), max(source_rows)),
        )
    ).scalars()
    clash = next((r for r in present if r in mine), None)
    if clash is not None:
        raise LoadError(
            f"row {clash} of source '{chunk.source_id}' is already in batch {batch_id}, but chunk "
            f"{chunk.index} is not: the chunking changed since the batch started",
            hint="run with the chunk_size the batch started with, or roll it back and run it again: "
            f"handover rollback {batch_id}",
            source=chunk.source_id,
            row=clash,
        )


def stored_result(conn: Connection, batch_id: str, chunk: Chunk) -> ChunkLoadResult | None:
    """What the load of ``chunk`` did when batch ``batch_id`` committed it before (its ``chunks`` progress row;
    ``skipped``), else ``None``."""
    c = schema.chunks.c
    row = (
        conn.execute(
            select(schema.chunks).where(
                c.batch_id == batch_id, c.source_id == chunk.source_id, c.chunk_index == chunk.index
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    counts = Counts(extracted=row["rows"], **{d: row[d] for d in DISPOSITIONS})
    return ChunkLoadResult(
        source_id=chunk.source_id,
        chunk_index=chunk.index,
        counts=counts,
        inserted=row["inserted"],
        conflicts=row["conflicts"],
        skipped=True,
    )


@contextmanager
def _naming(row_of: Callable[[int], tuple[int | None, str | None]]) -> Iterator[None]:
    """Around a write of a chunk's rows: a refusal (:class:`~handover.target.writers.RowsRefused`) learns which
    source row (and natural key) each written row is."""
    try:
        yield
    except writers.RowsRefused as exc:
        exc.row_of = row_of
        raise
