"""The rows a rollback changes: the versions the batch wrote over another batch's (:func:`undo_updates`) and
the rows it owns (:func:`release_rows`), read a page at a time (:func:`pages`); see
:mod:`handover.target.rollback` for the rules."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, Select, bindparam, delete, select, update

from handover.keys import natural_key
from handover.keys_sql import key_columns
from handover.models import Entity
from handover.target import schema
from handover.target.hashing import table_for
from handover.target.lookup import history_rows, ledger_rows, target_rows
from handover.target.rollback_versions import (
    by_columns,
    from_json,
    give_kept_versions,
    mark_kept,
    restore,
    version_payload,
)

if TYPE_CHECKING:
    from handover.target.rollback import RollbackResult

SLICE = 900  # ids per IN list
PAGE = 5000  # rows read at a time from the ledger and the target: the rollback's memory does not grow


def slices(values: list[Any]) -> Any:
    for start in range(0, len(values), SLICE):
        yield values[start : start + SLICE]


def pages(conn: Connection, statement: Select[Any]) -> Iterator[Sequence[Row[Any]]]:
    """The rows of ``statement`` as last committed, :data:`PAGE` at a time, read on a connection of its own
    beside ``conn``, whose transaction changes the tables while they are read: memory stays flat however many
    rows the batch has. (SQLite's write-ahead log, PostgreSQL's and InnoDB's row versions let that connection
    read while ``conn`` writes.)"""
    with conn.engine.connect() as reader:
        yield from reader.execution_options(yield_per=PAGE).execute(statement).partitions()


def undo_all_updates(
    conn: Connection,
    batch_id: str,
    others: list[str],
    order: dict[str, int],
    result: RollbackResult,
    deleted: dict[str, int],
    restored: dict[str, int],
) -> None:
    """:func:`undo_updates` for every key the batch updated (its ledger's action ``updated``), a page at a time."""
    lg = schema.ledger.c
    updates = select(lg.entity, lg.source_id, lg.natural_key).where(
        lg.batch_id == batch_id, lg.disposition == "loaded", lg.action == "updated"
    )
    for page in pages(conn, updates):
        updated: dict[tuple[str, str], list[str]] = defaultdict(list)
        for entity, source_id, key in page:
            updated[(entity, source_id)].append(key)
        for (entity_name, source_id), keys in sorted(updated.items()):
            undo_updates(
                conn, batch_id, Entity(entity_name), source_id, keys, others, order, result, deleted, restored
            )


def undo_updates(
    conn: Connection,
    batch_id: str,
    entity: Entity,
    source_id: str,
    keys: list[str],
    others: list[str],
    order: dict[str, int],
    result: RollbackResult,
    deleted: dict[str, int],
    restored: dict[str, int],
) -> None:
    """The versions ``batch_id`` wrote over another batch's: the replaced version goes back into the row (its
    owner, ``batch_id``, stays what it is now), or, when a later batch updated the row again, into that later
    batch's history entry. A key without this batch's history entry was passed to this batch by an earlier
    rollback (its version became the row's first): :func:`release_rows` handles it. The batches that found
    this batch's version ``unchanged`` now kept another's (:func:`mark_kept`). Keys are read and written a
    slice at a time (``ix_history_key``), not one by one."""
    table = table_for(entity)
    h = schema.history.c
    owners = [table.c.id, table.c.batch_id, table.c.updated_batch_id, table.c.content_hash]
    for part in slices(sorted(set(keys))):
        entries: dict[str, list[Any]] = defaultdict(list)  # key → its history entries, oldest first
        for entry in history_rows(
            conn,
            (h.id, h.natural_key, h.replaced_by_batch, h.row_json, h.content_hash),
            entity,
            source_id,
            part,
        ):
            entries[entry.natural_key].append(entry)
        rows = target_rows(conn, entity, source_id, part, owners)
        restores: list[dict[str, Any]] = []
        repoints: list[dict[str, Any]] = []
        gone: list[int] = []
        displaced: dict[str, tuple[str, str, int | None]] = {}  # see mark_kept
        stored_versions: dict[str, str] = {}  # key → this batch's version, where a later entry holds it
        for key in part:
            chain = entries.get(key, [])
            at = max((i for i, e in enumerate(chain) if e.replaced_by_batch == batch_id), default=None)
            if at is None:
                continue
            mine = chain[at]
            current = rows.get(key)
            if current is not None and current["updated_batch_id"] == batch_id:
                values = from_json(table, json.loads(mine.row_json))
                values.pop("batch_id", None)  # the row's owner: a rollback may have passed it on since
                if values.get("updated_batch_id") == current["batch_id"]:  # the owner's version: its insert
                    values["updated_batch_id"] = None
                restores.append({"_id": current["id"], **values})
                displaced[key] = (current["content_hash"], mine.content_hash, None)
            else:
                if at + 1 < len(chain):
                    later = chain[at + 1]
                    repoints.append(
                        {"_id": later.id, "row_json": mine.row_json, "content_hash": mine.content_hash}
                    )
                    stored_versions[key] = later.row_json
                    displaced[key] = (
                        later.content_hash,
                        mine.content_hash,
                        order.get(later.replaced_by_batch),
                    )
                result.superseded_updates += 1
            gone.append(mine.id)

        versions = partial(_versions_of, conn, entity, source_id, stored_versions)
        mark_kept(conn, entity, source_id, displaced, versions, others, order, result)
        for params in by_columns(restores):
            restore(conn, table, params)
        if restores:
            restored[table.name] += len(restores)
        if repoints:
            conn.execute(update(schema.history).where(h.id == bindparam("_id")), repoints)
        if gone:
            conn.execute(delete(schema.history).where(h.id.in_(gone)))
            deleted["history"] += len(gone)


def _versions_of(
    conn: Connection, entity: Entity, source_id: str, stored: dict[str, str], wanted: list[str]
) -> dict[str, str]:
    """The payload of each wanted key's version that goes: the row's stored in ``stored`` (key → history
    ``row_json``), else the target row as it is now."""
    table = table_for(entity)
    out = {k: version_payload(from_json(table, json.loads(stored[k])), entity) for k in wanted if k in stored}
    for key, row in target_rows(conn, entity, source_id, [k for k in wanted if k not in stored]).items():
        out[key] = version_payload(row, entity)
    return out


def release_rows(
    conn: Connection,
    batch_id: str,
    entity: Entity,
    others: list[str],
    order: dict[str, int],
    result: RollbackResult,
    deleted: dict[str, int],
) -> None:
    """The rows ``batch_id`` owns (it inserted them, or an earlier rollback passed them to it): deleted, unless
    another batch's ledger also marks the key loaded; then the row passes to the earliest such batch. When that
    batch is the one that replaced the row's first version (it updated the row), the first version was this
    batch's alone: its history entry goes too, so that rolling that batch back later removes the row instead
    of bringing back a rolled-back version."""
    table = table_for(entity)
    # The rows' ids and keys never change here; a row's updated_batch_id may (:func:`undo_updates` ran in this
    # transaction), so it is read on ``conn`` where it is needed.
    keys = key_columns(entity, table)
    names = [c.name for c in keys]
    owned = select(table.c.id, table.c.source_system, *keys).where(table.c.batch_id == batch_id)
    for page in pages(conn, owned):
        by_source: dict[str, list[tuple[int, str]]] = defaultdict(list)  # source → (id, key)
        for row_id, source_id, *parts in page:
            key = natural_key(entity, dict(zip(names, parts, strict=True)))
            by_source[source_id].append((row_id, key))  # type: ignore[arg-type]
        for source_id, rows in sorted(by_source.items()):
            _release_source_rows(conn, batch_id, entity, source_id, rows, others, order, result, deleted)


def _release_source_rows(
    conn: Connection,
    batch_id: str,
    entity: Entity,
    source_id: str,
    rows: list[tuple[int, str]],
    others: list[str],
    order: dict[str, int],
    result: RollbackResult,
    deleted: dict[str, int],
) -> None:
    """:func:`release_rows` for one page of one source's owned rows: (id, natural key) each."""
    table = table_for(entity)
    lg, h = schema.ledger.c, schema.history.c
    heirs: dict[str, str] = {}
    met: dict[
        str, tuple[str, str, str | None]
    ] = {}  # key → the heir's action, hash and payload (conflict_kept)
    # the other batches named one by one: the look-up then runs on ix_ledger_batch_key
    for other, key, action, digest, payload in ledger_rows(
        conn,
        (lg.batch_id, lg.natural_key, lg.action, lg.content_hash, lg.payload),
        entity,
        source_id,
        [key for _id, key in rows] if others else [],
        lg.batch_id.in_(others),
        lg.disposition == "loaded",
    ):
        if key not in heirs or order.get(other, 1 << 30) < order.get(heirs[key], 1 << 30):
            heirs[key] = other
            met[key] = (action, digest, payload if action == "conflict_kept" else None)
    ids_delete = [row_id for row_id, key in rows if key not in heirs]
    for part in slices(ids_delete):
        conn.execute(delete(table).where(table.c.id.in_(part)))
    deleted[table.name] += len(ids_delete)
    passed: dict[str, list[int]] = defaultdict(list)
    for row_id, key in rows:
        if key in heirs:
            passed[heirs[key]].append(row_id)
    for heir, ids in sorted(passed.items()):
        for part in slices(ids):
            conn.execute(update(table).where(table.c.id.in_(part)).values(batch_id=heir))
        result.rows_kept_for_other_batches += len(ids)
    first: dict[str, tuple[int, str]] = {}  # key → its oldest history entry (id, replaced by)
    for entry_id, key, replaced_by in history_rows(
        conn, (h.id, h.natural_key, h.replaced_by_batch), entity, source_id, heirs
    ):
        if key not in first or entry_id < first[key][0]:
            first[key] = (entry_id, replaced_by)
    # the oldest entry replaced by the heir held this batch's version alone; the heir's is now the first
    firsts = {key: entry_id for key, (entry_id, replaced_by) in first.items() if replaced_by == heirs[key]}
    for part in slices(sorted(firsts.values())):
        conn.execute(delete(schema.history).where(h.id.in_(part)))
    if firsts:
        deleted["history"] += len(firsts)
    # the rows whose version is now the heir's own (it updated them): no update on record any more
    own_version: dict[str, list[int]] = defaultdict(list)  # heir → row ids
    for row_id, key in rows:
        if key in firsts:
            own_version[heirs[key]].append(row_id)
    for heir, ids in sorted(own_version.items()):
        for part in slices(ids):
            conn.execute(
                update(table)
                .where(table.c.id.in_(part), table.c.updated_batch_id == heir)
                .values(updated_batch_id=None)
            )
    kept = {
        key: (heirs[key], digest, payload)
        for key, (action, digest, payload) in met.items()
        if action == "conflict_kept"
    }
    if kept:
        row_ids = {key: row_id for row_id, key in rows if key in kept}
        give_kept_versions(conn, batch_id, entity, source_id, row_ids, kept, others, order, result)
