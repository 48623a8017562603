"""``handover db verify``: check a batch's ledger against the target rows, both ways, from the rows themselves.

Ledger → target: for every ledger row of the batch with disposition ``loaded`` the target row with that key is read
back and its content hash recomputed from its stored values (:func:`handover.target.hashing.content_hash`):

* the row must exist (else: ``missing from the target``, a deleted row);
* the recomputed hash must equal the row's stored ``content_hash`` (else the row was changed outside handover);
* where the row still holds the version this batch delivered (action inserted / unchanged / updated and no later
  batch updated it), it must equal the ledger's hash, and that recomputed hash goes into the fingerprint;
  otherwise (``conflict_kept``, or superseded by a later batch) the ledger's hash does.

Target → ledger: every row of ``dossiers`` and ``records`` that carries the batch's id (``batch_id`` or
``updated_batch_id``) must be one of the keys its ledger marks loaded (else: a row added outside handover).

Attachments (``dossier_attachments``, :mod:`handover.attachments`): every file of the batch's manifest is read back
from the store and re-hashed; a file missing or changed, a manifest row of a dossier the ledger does not mark
loaded, or a file the batch's journal lists that no manifest row names is a problem naming the dossier and the file.

The recomputed fingerprint must equal ``batches.fingerprint``, and the ledger must balance against the ``chunks``
progress rows, per source: extracted = loaded + review + quarantined + excluded + duplicate.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, or_, select

from handover.errors import BatchNotFoundError, VerificationError
from handover.keys import shown_key
from handover.keys_sql import key_columns
from handover.models import Counts, Entity
from handover.target import schema
from handover.target.attachments import ATTACHMENT_PROBLEMS, verify_files
from handover.target.counts import chunk_counts, ledger_counts
from handover.target.hashing import content_hash, fingerprint_lines, table_for
from handover.target.lookup import target_rows


class RowProblem(BaseModel):
    entity: str
    source_system: str
    natural_key: str
    problem: str
    expected: str | None = None
    found: str | None = None


class VerifyResult(BaseModel):
    """What :func:`verify_batch` found: rows checked, fingerprints stored and recomputed, row problems, balance."""

    batch_id: str
    status: str
    rows_checked: int = 0
    stored_fingerprint: str | None = None
    recomputed_fingerprint: str = ""
    fingerprint_ok: bool = False
    problems: list[RowProblem] = Field(default_factory=list)
    ledger: dict[str, Counts] = Field(default_factory=dict, description="source → counts from the ledger")
    chunks: dict[str, Counts] = Field(
        default_factory=dict, description="source → counts from the chunks rows"
    )
    balance_ok: bool = False
    attachments_checked: int = Field(0, description="files of the batch's attachment manifest re-hashed")

    @property
    def rows_outside_ledger(self) -> int:
        """Target rows carrying the batch id that its ledger does not mark loaded."""
        return sum(p.problem == NOT_IN_LEDGER for p in self.problems)

    @property
    def attachment_problems(self) -> int:
        """Problems with the batch's attachment files (:func:`handover.target.attachments.verify_files`)."""
        return sum(p.problem.startswith(ATTACHMENT_PROBLEMS) for p in self.problems)

    @property
    def ok(self) -> bool:
        return self.fingerprint_ok and self.balance_ok and not self.problems

    def mismatch_error(self) -> VerificationError | None:
        """The error ``handover db verify`` shows (exit 8) when the target does not match; None when it does."""
        if self.ok:
            return None
        files = self.attachment_problems
        rows = len(self.problems) - files
        return VerificationError(
            f"batch {self.batch_id}: the target does not match the batch's ledger "
            f"({rows} row problem(s), "
            + (f"{files} attachment file problem(s), " if files else "")
            + f"fingerprint {'ok' if self.fingerprint_ok else 'differs'}, "
            f"balance {'ok' if self.balance_ok else 'differs'})",
            hint="find who changed the target; handover rollback undoes a batch from its ledger",
            batch=self.batch_id,
        )


MISSING = "missing from the target (deleted outside handover)"
CHANGED = "stored hash differs from the row's content (changed outside handover)"
NOT_LOADED_VERSION = "row differs from the version this batch loaded"
NOT_IN_LEDGER = "carries the batch id but is not in the batch's ledger (added outside handover)"


def _rows_outside_ledger(
    conn: Connection, batch_id: str, ledger_keys: dict[tuple[str, str], set[str]]
) -> list[RowProblem]:
    """Target → ledger: rows carrying ``batch_id`` (inserted or last updated by it) whose key the batch's ledger
    does not mark loaded."""
    problems: list[RowProblem] = []
    for entity in Entity:
        table = table_for(entity)
        keys = key_columns(entity, table)
        names = [c.name for c in keys]
        stmt = select(table.c.source_system, *keys).where(
            or_(table.c.batch_id == batch_id, table.c.updated_batch_id == batch_id)
        )
        for source_id, *parts in conn.execute(stmt):
            # a row added outside handover with an empty key part has no natural key: named as stored
            key = shown_key(entity, dict(zip(names, parts, strict=True)))
            if key not in ledger_keys.get((entity.value, source_id), ()):
                problems.append(
                    RowProblem(
                        entity=entity.value, source_system=source_id, natural_key=key, problem=NOT_IN_LEDGER
                    )
                )
    return problems


def verify_batch(engine: Engine, batch_id: str, *, attachments: Path | None = None) -> VerifyResult:
    """Recompute and compare (see the module text); changes nothing. ``attachments``: the attachment store's
    folder, when it is no longer where the batch recorded it."""
    lg = schema.ledger.c
    with engine.connect() as conn:
        batch = (
            conn.execute(select(schema.batches).where(schema.batches.c.batch_id == batch_id))
            .mappings()
            .first()
        )
        if batch is None:
            known = ", ".join(conn.execute(select(schema.batches.c.batch_id)).scalars()) or "(none)"
            raise BatchNotFoundError(
                f"there is no batch '{batch_id}' in this target; known batches: {known}",
                hint="check the batch id: handover db status --db URL lists them",
                batch=batch_id,
            )
        result = VerifyResult(
            batch_id=batch_id, status=batch["status"], stored_fingerprint=batch["fingerprint"]
        )
        loaded = conn.execute(
            select(lg.entity, lg.source_id, lg.natural_key, lg.content_hash, lg.action).where(
                lg.batch_id == batch_id, lg.disposition == "loaded"
            )
        ).all()
        groups: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
        for entity, source_id, key, digest, action in loaded:
            groups[(entity, source_id)].append((key, digest, action))
        lines: list[tuple[str, str, str, str]] = []
        for (entity_name, source_id), items in sorted(groups.items()):
            entity = Entity(entity_name)
            rows = target_rows(conn, entity, source_id, [k for k, _, _ in items])
            for key, digest, action in items:
                result.rows_checked += 1
                where = {"entity": entity_name, "source_system": source_id, "natural_key": key}
                row = rows.get(key)
                if row is None:
                    result.problems.append(RowProblem(**where, problem=MISSING, expected=digest))
                    lines.append((entity_name, source_id, key, ""))
                    continue
                recomputed = content_hash(row, entity)
                if recomputed != row["content_hash"]:
                    result.problems.append(
                        RowProblem(**where, problem=CHANGED, expected=row["content_hash"], found=recomputed)
                    )
                superseded = row["updated_batch_id"] not in (None, batch_id)
                ours = action in ("inserted", "unchanged", "updated") and not superseded
                if ours and recomputed != digest:
                    result.problems.append(
                        RowProblem(**where, problem=NOT_LOADED_VERSION, expected=digest, found=recomputed)
                    )
                lines.append((entity_name, source_id, key, recomputed if ours else digest))
        result.problems += _rows_outside_ledger(
            conn, batch_id, {(e, s): {k for k, _, _ in items} for (e, s), items in groups.items()}
        )
        dossiers_loaded = {(s, k) for (e, s), items in groups.items() if e == "dossier" for k, _, _ in items}
        result.attachments_checked, found = verify_files(conn, batch_id, dossiers_loaded, attachments)
        result.problems += [RowProblem(**p) for p in found]
        result.recomputed_fingerprint = fingerprint_lines(lines)
        result.fingerprint_ok = result.recomputed_fingerprint == result.stored_fingerprint
        result.ledger.update(ledger_counts(conn, batch_id))
        result.chunks.update(chunk_counts(conn, batch_id))
        result.balance_ok = result.ledger == result.chunks and all(
            c.balanced() for c in result.chunks.values()
        )
    return result
