"""Undo one batch, driven by its ledger (``handover rollback BATCH_ID``).

* Versions the batch wrote over another batch's (ledger action ``updated``): the replaced version is restored
  from ``history``; if a later batch updated the row again, the row stays and that later batch's history entry
  is pointed at the restored version instead.
* Rows the batch owns (``batch_id``: it inserted them, or an earlier rollback passed them to it): deleted,
  unless another batch's ledger also marks that key loaded (it re-delivered the same row, or updated it); then
  the row stays and passes to the earliest such batch. If that batch is the one that updated the row first,
  the row's first version was the rolled-back batch's alone, and its history entry goes: rolling that batch
  back later removes the row instead of bringing the rolled-back version back.
* When that earliest batch had kept the row at the rolled-back batch's version (policy keep, action
  ``conflict_kept``), the row takes that batch's own version, from its ledger payload (checked against its
  content hash): had the rolled-back batch never run, that batch would have inserted it. If a later batch has
  updated the row since, the row stays as that batch left it and the version it replaced (the key's oldest
  history entry) becomes the heir's.
* Whenever a version leaves the target (given back, restored over, passed over), the other batches whose ledger
  found it ``unchanged`` are marked ``conflict_kept`` with their version in their payload, so that rolling
  back the one that now holds the row gives them their version in turn.
* Actions ``unchanged`` / ``conflict_kept`` of rows it does not own: nothing in the target was written by it.

Whatever the order in which the batches touching one key are rolled back, the target ends as if the
rolled-back batches had never run (tested for chains of three batches with policies update and keep, every
order). One case stays apart: a batch of policy update that found the rolled-back version ``unchanged`` would
have updated the row over the heir's version; it is marked ``conflict_kept`` instead (its policy is not
recorded). "Earliest" is the order
in which the batches last began loading (their ``started`` / ``restarted`` events), not their timestamps.

Then its ``ledger``, ``findings``, ``chunks`` and attachment manifest (``dossier_attachments``) rows are deleted,
the batch is marked ``rolled_back`` and a ``batch_events`` row records the figures. After the commit, the files of
its manifest and of its journal that no other batch's manifest row names are removed from the attachment store
(:func:`handover.target.attachments.prune`); rolling back again removes any a killed rollback left. Rolling back a batch already rolled back changes nothing and says when
that was, with its figures. Everything happens in one transaction, under the batch lock. A dry run
runs the very same steps and rolls the transaction back, so it reports exactly the figures a real run would.
The batch's rows are read a page at a time (:data:`~handover.target.rollback_rows.PAGE`), so a rollback's memory does not grow with the batch
(``benchmarks/rollback_bench.py`` reports its peak).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr
from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from handover.errors import BatchNotFoundError, LoadError
from handover.faults import checkpoint
from handover.models import Entity
from handover.redact import mask_url
from handover.target import attachments, schema
from handover.target.locks import batch_lock
from handover.target.rollback_rows import release_rows, undo_all_updates
from handover.target.values import utcnow


class RollbackResult(BaseModel):
    """What a rollback removed and restored (or would, for a dry run)."""

    batch_id: str
    dry_run: bool
    status_before: str = Field(description="Batch status before the rollback.")
    rows_deleted: dict[str, int] = Field(default_factory=dict, description="table → rows deleted")
    rows_restored: dict[str, int] = Field(
        default_factory=dict, description="table → rows put back to the version this batch replaced"
    )
    rows_kept_for_other_batches: int = Field(
        0, description="rows this batch inserted that another batch also loaded: kept, passed to that batch"
    )
    superseded_updates: int = Field(
        0,
        description="rows this batch updated that a later batch updated again: kept as the later batch left them",
    )
    rows_given_heir_version: int = Field(
        0,
        description="rows another batch had kept at this batch's version (policy keep): they now hold that "
        "batch's own version, from its ledger",
    )
    ledger_rows_now_kept: int = Field(
        0,
        description="ledger rows of other batches that found a version of this batch 'unchanged': now "
        "'conflict_kept', their version in their payload",
    )
    already_rolled_back: bool = Field(
        False, description="The batch had been rolled back before: nothing done."
    )
    rolled_back_at: datetime | None = Field(None, description="When the batch was rolled back (UTC).")
    lock_taken_over: str | None = Field(
        None, description="The stale lock of a dead process taken over, if any."
    )
    attachment_files_removed: int = Field(
        0,
        description="files of the attachment store removed: the batch's, unless another batch's manifest row "
        "names them (a dry run: those it would remove)",
    )
    _paths: list[str] = PrivateAttr(default_factory=list)  # the batch's stored files, for after the commit


def _known_batches(conn: Connection) -> list[str]:
    return list(
        conn.execute(select(schema.batches.c.batch_id).order_by(schema.batches.c.started_at)).scalars()
    )


def _load_order(conn: Connection) -> dict[str, int]:
    """Batch id → its rank in the order the batches last began loading: the id of each one's last ``started``
    or ``restarted`` event (ids never tie; MariaDB's DATETIME holds whole seconds)."""
    e = schema.batch_events.c
    last = func.max(e.id)
    rows = conn.execute(
        select(e.batch_id, last)
        .where(e.event.in_(("started", "restarted")))
        .group_by(e.batch_id)
        .order_by(last)
    )
    return {batch: rank for rank, (batch, _id) in enumerate(rows)}


def _rollback(conn: Connection, batch_id: str, result: RollbackResult) -> None:
    order = _load_order(conn)
    others = [b for b in _known_batches(conn) if b != batch_id]
    deleted: dict[str, int] = defaultdict(int)
    restored: dict[str, int] = defaultdict(int)
    undo_all_updates(conn, batch_id, others, order, result, deleted, restored)
    for entity in Entity:
        release_rows(conn, batch_id, entity, others, order, result, deleted)
    for table in (schema.ledger, schema.findings, schema.chunks):
        deleted[table.name] += conn.execute(delete(table).where(table.c.batch_id == batch_id)).rowcount
    # the attachment manifest; its files go after the commit (rollback_batch), those no other row names
    paths = attachments.batch_paths(conn, batch_id)
    manifest_rows = attachments.delete_rows(conn, batch_id)
    if manifest_rows:  # a batch without attachments shows no such table
        deleted["dossier_attachments"] += manifest_rows
        result.attachment_files_removed = len(attachments.files_to_remove(conn, batch_id, paths))
    result._paths = paths
    conn.execute(
        update(schema.batches).where(schema.batches.c.batch_id == batch_id).values(status="rolled_back")
    )
    result.rows_deleted = dict(sorted(deleted.items()))
    result.rows_restored = dict(sorted(restored.items()))
    detail = result.model_dump(
        include={"rows_deleted", "rows_restored", "rows_kept_for_other_batches", "rows_given_heir_version"}
    )
    conn.execute(
        insert(schema.batch_events).values(
            batch_id=batch_id, event="rolled_back", at=utcnow(), detail=json.dumps(detail, sort_keys=True)
        )
    )


def _already_rolled_back(conn: Connection, batch_id: str, dry_run: bool) -> RollbackResult:
    """The result of a rollback of a batch rolled back before: nothing done; when, and the figures then (from
    its last ``rolled_back`` event)."""
    e = schema.batch_events.c
    event = conn.execute(
        select(e.at, e.detail)
        .where(e.batch_id == batch_id, e.event == "rolled_back")
        .order_by(e.id.desc())
        .limit(1)
    ).first()
    figures: dict[str, Any] = {}
    if event is not None and event.detail:
        try:
            figures = json.loads(event.detail)
        except ValueError:
            figures = {}
    known = {name: figures[name] for name in RollbackResult.model_fields if name in figures}
    return RollbackResult(
        batch_id=batch_id,
        dry_run=dry_run,
        status_before="rolled_back",
        already_rolled_back=True,
        rolled_back_at=event.at if event is not None else None,
        **known,
    )


def _remove_files(engine: Engine, batch_id: str, paths: Sequence[str]) -> int:
    """After a rollback's commit: remove the batch's attachment files (its manifest's ``paths`` and its journal's)
    that no manifest row names, in each store it recorded, and forget its journal; the number removed."""
    with engine.connect() as conn:
        roots = attachments.store_roots(conn, batch_id)
    return sum(attachments.prune(engine, root, batch_id, paths, forget=True) for root in roots)


def rollback_batch(engine: Engine, batch_id: str, *, dry_run: bool = False) -> RollbackResult:
    """Undo ``batch_id`` (see the module text); ``dry_run`` reports the same figures and changes nothing.

    A batch rolled back before is left as it is: the result says so (``already_rolled_back``, when, and the
    figures of that rollback). A lock left by a rollback or run that died is taken over (``lock_taken_over``).
    """
    shown = mask_url(engine.url)
    try:
        with engine.connect() as conn:
            status = conn.execute(
                select(schema.batches.c.status).where(schema.batches.c.batch_id == batch_id)
            ).scalar()
            known = _known_batches(conn)
        if status is None:
            listed = ", ".join(known) if known else "(none)"
            raise BatchNotFoundError(
                f"there is no batch '{batch_id}' in this target; known batches: {listed}",
                hint="check the batch id: handover db status --db URL lists them",
                batch=batch_id,
                url=shown,
            )
        if status == "rolled_back":
            with engine.connect() as conn:
                done = _already_rolled_back(conn, batch_id, dry_run)
            if not dry_run:  # files a rollback killed after its commit left behind
                with batch_lock(engine, batch_id):
                    done.attachment_files_removed = _remove_files(engine, batch_id, [])
            return done
        result = RollbackResult(batch_id=batch_id, dry_run=dry_run, status_before=status)
        with batch_lock(engine, batch_id) as lock, engine.connect() as conn:
            result.lock_taken_over = lock.took_over
            conn.begin()
            status = conn.execute(
                select(schema.batches.c.status).where(schema.batches.c.batch_id == batch_id)
            ).scalar()
            if status == "rolled_back":  # by another process, between the look above and the lock
                conn.rollback()
                again = _already_rolled_back(conn, batch_id, dry_run)
                again.lock_taken_over = lock.took_over
                return again
            _rollback(conn, batch_id, result)
            checkpoint("rollback.inside")  # crash drills: everything undone, nothing committed
            if dry_run:
                conn.rollback()
            else:
                conn.commit()
            if not dry_run:  # under the lock: a re-run of the batch cannot copy meanwhile
                checkpoint("rollback.files")  # crash drills: committed, the files not yet removed
                result.attachment_files_removed = _remove_files(engine, batch_id, result._paths)
        return result
    except SQLAlchemyError as exc:
        raise LoadError(
            f"the target database refused the rollback of batch '{batch_id}': {getattr(exc, 'orig', exc)}",
            hint="nothing was changed; check the database and run the rollback again",
            batch=batch_id,
            url=shown,
        ) from exc
