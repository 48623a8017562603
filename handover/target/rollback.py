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
The batch's rows are read a page at a time (:data:`_PAGE`), so a rollback's memory does not grow with the batch
(``benchmarks/rollback_bench.py`` reports its peak).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from functools import partial
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr
from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Engine,
    Row,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from handover.errors import BatchNotFoundError, LoadError
from handover.faults import checkpoint
from handover.models import Entity
from handover.redact import mask_url
from handover.target import attachments, schema
from handover.target.hashing import content_columns, content_hash, key_columns, table_for
from handover.target.loader import utcnow
from handover.target.locks import batch_lock
from handover.target.writers import uses_copy

_SLICE = 900
_PAGE = 5000  # rows read at a time from the ledger and the target: the rollback's memory does not grow


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


def _from_json(table: Any, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in table.columns:
        if column.name == "id" or column.name not in data:
            continue
        value = data[column.name]
        if value is not None and isinstance(column.type, DateTime):
            value = datetime.fromisoformat(value)
        elif value is not None and isinstance(column.type, Date):
            value = date.fromisoformat(value[:10])
        out[column.name] = value
    return out


def _chunks(values: list[Any]) -> Any:
    for start in range(0, len(values), _SLICE):
        yield values[start : start + _SLICE]


def _pages(conn: Connection, statement: Select[Any]) -> Iterator[Sequence[Row[Any]]]:
    """The rows of ``statement`` as last committed, :data:`_PAGE` at a time, read on a connection of its own
    beside ``conn``, whose transaction changes the tables while they are read: memory stays flat however many
    rows the batch has. (SQLite's write-ahead log, PostgreSQL's and InnoDB's row versions let that connection
    read while ``conn`` writes.)"""
    with conn.engine.connect() as reader:
        yield from reader.execution_options(yield_per=_PAGE).execute(statement).partitions()


def _rollback(conn: Connection, batch_id: str, result: RollbackResult) -> None:
    lg = schema.ledger.c
    order = _load_order(conn)
    others = [b for b in _known_batches(conn) if b != batch_id]
    deleted: dict[str, int] = defaultdict(int)
    restored: dict[str, int] = defaultdict(int)
    updates = select(lg.entity, lg.source_id, lg.natural_key).where(
        lg.batch_id == batch_id, lg.disposition == "loaded", lg.action == "updated"
    )
    for page in _pages(conn, updates):
        updated: dict[tuple[str, str], list[str]] = defaultdict(list)
        for entity, source_id, key in page:
            updated[(entity, source_id)].append(key)
        for (entity_name, source_id), keys in sorted(updated.items()):
            _undo_updates(
                conn, batch_id, Entity(entity_name), source_id, keys, others, order, result, deleted, restored
            )
    for entity in Entity:
        _release_rows(conn, batch_id, entity, others, order, result, deleted)
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


def _undo_updates(
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
    rollback (its version became the row's first): :func:`_release_rows` handles it. The batches that found
    this batch's version ``unchanged`` now kept another's (:func:`_mark_kept`). Keys are read and written a
    slice at a time (``ix_history_key``), not one by one."""
    table = table_for(entity)
    h = schema.history.c
    for part in _chunks(sorted(set(keys))):
        entries: dict[str, list[Any]] = defaultdict(list)  # key → its history entries, oldest first
        for entry in conn.execute(
            select(h.id, h.natural_key, h.replaced_by_batch, h.row_json, h.content_hash)
            .where(h.entity == entity.value, h.source_system == source_id, h.natural_key.in_(part))
            .order_by(h.id)
        ):
            entries[entry.natural_key].append(entry)
        rows = {r["_key"]: r for r in _target_rows(conn, entity, source_id, part)}
        restores: list[dict[str, Any]] = []
        repoints: list[dict[str, Any]] = []
        gone: list[int] = []
        displaced: dict[str, tuple[str, str, int | None]] = {}  # see _mark_kept
        stored_versions: dict[str, str] = {}  # key → this batch's version, where a later entry holds it
        for key in part:
            chain = entries.get(key, [])
            at = max((i for i, e in enumerate(chain) if e.replaced_by_batch == batch_id), default=None)
            if at is None:
                continue
            mine = chain[at]
            current = rows.get(key)
            if current is not None and current["updated_batch_id"] == batch_id:
                values = _from_json(table, json.loads(mine.row_json))
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
        _mark_kept(conn, entity, source_id, displaced, versions, others, order, result)
        for params in _by_columns(restores):
            _restore(conn, table, params)
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
    out = {
        k: _version_payload(_from_json(table, json.loads(stored[k])), entity) for k in wanted if k in stored
    }
    for row in _full_rows(conn, entity, source_id, [k for k in wanted if k not in stored]):
        out[row["_key"]] = _version_payload(row, entity)
    return out


def _restore(conn: Connection, table: Table, params: list[dict[str, Any]]) -> None:
    """Put the versions in ``params`` (all setting the same columns; ``_id`` names the row) back into their
    rows. PostgreSQL (psycopg): the versions are COPYed into a temporary table and written by one ``UPDATE …
    FROM`` it, about half a rollback's time faster than a statement per row (benchmarks/RESULTS.md, eighth
    session); other databases, and a role that may not create temporary tables: an ``UPDATE`` per row, sent as
    one executemany."""
    if len(params) > 1 and uses_copy(conn):
        quote = conn.dialect.identifier_preparer.quote
        columns = [c for c in params[0] if c != "_id"]
        types = ", ".join(f"{quote(c)} {table.c[c].type.compile(dialect=conn.dialect)}" for c in columns)
        temp = quote("rollback_restore")
        if _created(conn, f"CREATE TEMPORARY TABLE {temp} ({quote('_id')} BIGINT PRIMARY KEY, {types})"):
            statement = f"COPY {temp} ({', '.join(quote(c) for c in ['_id', *columns])}) FROM STDIN"
            raw = conn.connection.driver_connection
            assert raw is not None
            try:
                with raw.cursor() as cursor, cursor.copy(statement) as copy:
                    for row in params:
                        copy.write_row([row["_id"], *(row[c] for c in columns)])
            except conn.dialect.loaded_dbapi.Error as exc:  # as any other statement's error
                raise DBAPIError(statement, None, exc) from exc
            sets = ", ".join(f"{quote(c)} = r.{quote(c)}" for c in columns)
            conn.exec_driver_sql(
                f"UPDATE {quote(table.name)} AS t SET {sets} FROM {temp} AS r WHERE t.id = r.{quote('_id')}"
            )
            conn.exec_driver_sql(f"DROP TABLE {temp}")
            return
    # no .values(): the SET clause is the parameters' columns ("_id" is no column, it binds the WHERE)
    conn.execute(update(table).where(table.c.id == bindparam("_id")), params)


def _created(conn: Connection, create: str) -> bool:
    """Run ``create`` in a savepoint: False when the database refuses it (a role without the TEMPORARY
    privilege), the transaction going on as before."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(create)
    except DBAPIError:
        return False
    return True


def _by_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Parameter sets grouped by the columns they set: one executemany per group."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[frozenset(row)].append(row)
    return list(groups.values())


def _release_rows(
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
    # The rows' ids and keys never change here; a row's updated_batch_id may (:func:`_undo_updates` ran in this
    # transaction), so it is read on ``conn`` where it is needed.
    owned = select(table.c.id, table.c.source_system, *key_columns(table)).where(table.c.batch_id == batch_id)
    for page in _pages(conn, owned):
        by_source: dict[str, list[tuple[int, str]]] = defaultdict(list)  # source → (id, key)
        for row_id, source_id, *key in page:
            by_source[source_id].append((row_id, "/".join(key)))
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
    """:func:`_release_rows` for one page of one source's owned rows: (id, natural key) each."""
    table = table_for(entity)
    lg, h = schema.ledger.c, schema.history.c
    heirs: dict[str, str] = {}
    met: dict[
        str, tuple[str, str, str | None]
    ] = {}  # key → the heir's action, hash and payload (conflict_kept)
    # the other batches named one by one: the look-up then runs on ix_ledger_batch_key
    for part in _chunks(sorted({key for _id, key in rows}) if others else []):
        for other, key, action, digest, payload in conn.execute(
            select(lg.batch_id, lg.natural_key, lg.action, lg.content_hash, lg.payload).where(
                lg.batch_id.in_(others),
                lg.source_id == source_id,
                lg.entity == entity.value,
                lg.disposition == "loaded",
                lg.natural_key.in_(part),
            )
        ):
            if key not in heirs or order.get(other, 1 << 30) < order.get(heirs[key], 1 << 30):
                heirs[key] = other
                met[key] = (action, digest, payload if action == "conflict_kept" else None)
    ids_delete = [row_id for row_id, key in rows if key not in heirs]
    for part in _chunks(ids_delete):
        conn.execute(delete(table).where(table.c.id.in_(part)))
    deleted[table.name] += len(ids_delete)
    passed: dict[str, list[int]] = defaultdict(list)
    for row_id, key in rows:
        if key in heirs:
            passed[heirs[key]].append(row_id)
    for heir, ids in sorted(passed.items()):
        for part in _chunks(ids):
            conn.execute(update(table).where(table.c.id.in_(part)).values(batch_id=heir))
        result.rows_kept_for_other_batches += len(ids)
    first: dict[str, tuple[int, str]] = {}  # key → its oldest history entry (id, replaced by)
    for part in _chunks(sorted(heirs)):
        for entry_id, key, replaced_by in conn.execute(
            select(h.id, h.natural_key, h.replaced_by_batch).where(
                h.entity == entity.value, h.source_system == source_id, h.natural_key.in_(part)
            )
        ):
            if key not in first or entry_id < first[key][0]:
                first[key] = (entry_id, replaced_by)
    # the oldest entry replaced by the heir held this batch's version alone; the heir's is now the first
    firsts = {key: entry_id for key, (entry_id, replaced_by) in first.items() if replaced_by == heirs[key]}
    for part in _chunks(sorted(firsts.values())):
        conn.execute(delete(schema.history).where(h.id.in_(part)))
    if firsts:
        deleted["history"] += len(firsts)
    # the rows whose version is now the heir's own (it updated them): no update on record any more
    own_version: dict[str, list[int]] = defaultdict(list)  # heir → row ids
    for row_id, key in rows:
        if key in firsts:
            own_version[heirs[key]].append(row_id)
    for heir, ids in sorted(own_version.items()):
        for part in _chunks(ids):
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
        _give_kept_versions(conn, batch_id, entity, source_id, row_ids, kept, others, order, result)


def _target_rows(
    conn: Connection, entity: Entity, source_id: str, keys: list[str], *, full: bool = False
) -> list[dict[str, Any]]:
    """The target rows of ``source_id`` with these natural keys (``_key`` added): their ids, owners, hash and
    key, or every column (``full``)."""
    table = table_for(entity)
    columns = (
        list(table.columns)
        if full
        else [
            table.c.id,
            table.c.batch_id,
            table.c.updated_batch_id,
            table.c.content_hash,
            *key_columns(table),
        ]
    )
    if entity is Entity.DOSSIER:
        column, lookup = table.c.dossier_code, sorted(set(keys))
    else:
        column, lookup = table.c.record_number, sorted({k.split("/", 1)[1] for k in keys})
    wanted = set(keys)
    key_names = [c.name for c in key_columns(table)]
    out = []
    for part in _chunks(lookup):
        for row in conn.execute(
            select(*columns).where(table.c.source_system == source_id, column.in_(part))
        ).mappings():
            key = "/".join(row[name] for name in key_names)
            if key in wanted:
                out.append({**row, "_key": key})
    return out


def _full_rows(conn: Connection, entity: Entity, source_id: str, keys: list[str]) -> list[dict[str, Any]]:
    return _target_rows(conn, entity, source_id, keys, full=True) if keys else []


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def _version_payload(row: Mapping[str, Any], entity: Entity) -> str:
    """A version's content columns as the loader writes a kept version into the ledger's ``payload``: JSON, keys
    sorted, dates as ISO text."""
    return json.dumps(
        {c: _json_value(row.get(c)) for c in content_columns(entity)}, ensure_ascii=False, sort_keys=True
    )


def _kept_reason(digest: str) -> str:
    """The ledger's reason for a row kept at another version (as the loader words it)."""
    return f"Giữ bản đã nạp {digest[:12]} / kept loaded version {digest[:12]}"


def _mark_kept(
    conn: Connection,
    entity: Entity,
    source_id: str,
    displaced: dict[str, tuple[str, str, int | None]],
    versions: Callable[[list[str]], dict[str, str]],
    others: list[str],
    order: dict[str, int],
    result: RollbackResult,
) -> None:
    """The versions in ``displaced`` leave the target (key → hash of the version that goes, hash of the one
    that takes its place, and the load rank before which a batch can have met the version that goes, None for
    any): the other batches whose ledger found that version ``unchanged`` delivered a version that is no longer
    there. As if the rolled-back batch had never run they would have kept another's: their action becomes
    ``conflict_kept``, with their version (``versions`` gives it, read before the version goes) in their
    payload, so that a later rollback can give it back to them. Call it before the versions are replaced."""
    if not displaced or not others:
        return
    lg = schema.ledger.c
    found: list[tuple[str, int, str]] = []  # batch, source row, key
    for part in _chunks(sorted(displaced)):
        for other, source_row, key, digest in conn.execute(
            select(lg.batch_id, lg.source_row, lg.natural_key, lg.content_hash).where(
                lg.batch_id.in_(others),
                lg.source_id == source_id,
                lg.entity == entity.value,
                lg.disposition == "loaded",
                lg.action == "unchanged",
                lg.natural_key.in_(part),
            )
        ):
            going, _coming, before = displaced[key]
            if digest == going and (before is None or order.get(other, 1 << 30) < before):
                found.append((other, source_row, key))
    if not found:
        return
    payloads = versions(sorted({key for _b, _r, key in found}))
    changes = [
        {
            "_batch": other,
            "_row": source_row,
            "action": "conflict_kept",
            "payload": payloads[key],
            "reason": _kept_reason(displaced[key][1]),
        }
        for other, source_row, key in found
    ]
    conn.execute(
        update(schema.ledger).where(
            lg.batch_id == bindparam("_batch"), lg.source_id == source_id, lg.source_row == bindparam("_row")
        ),
        changes,
    )
    result.ledger_rows_now_kept += len(changes)


def _give_kept_versions(
    conn: Connection,
    batch_id: str,
    entity: Entity,
    source_id: str,
    ids: dict[str, int],
    kept: dict[str, tuple[str, str, str | None]],
    others: list[str],
    order: dict[str, int],
    result: RollbackResult,
) -> None:
    """The rows passed to an heir that had kept them at this batch's version (``kept``: key → heir, the hash
    and the payload of the heir's ledger row, action ``conflict_kept``) take the heir's own version: had this
    batch never run, the heir would have inserted it. Where a later batch has updated the row since, the row
    stays as that batch left it, and the version it replaced (the row's first, in the key's oldest history
    entry) becomes the heir's instead. ``ids``: key → row id."""
    table = table_for(entity)
    h = schema.history.c
    columns = content_columns(entity)
    versions: dict[str, dict[str, Any]] = {}
    for key, (heir, digest, payload) in kept.items():
        values = _from_json(table, json.loads(payload)) if payload else {}
        if not payload or content_hash(values, entity) != digest:
            raise LoadError(
                f"batch '{heir}' kept the version of batch '{batch_id}' of {entity.value} {key} (source "
                f"'{source_id}'), and its ledger holds no complete copy of its own version to give back",
                hint="nothing was changed; roll back batch "
                f"'{heir}' first (handover rollback {heir}), then this one, and load '{heir}' again",
                batch=batch_id,
                source=source_id,
            )
        versions[key] = {c: values.get(c) for c in columns}
    oldest: dict[str, Any] = {}  # key → its oldest history entry
    for part in _chunks(sorted(kept)):
        for entry in conn.execute(
            select(h.id, h.natural_key, h.content_hash, h.row_json, h.replaced_by_batch)
            .where(h.entity == entity.value, h.source_system == source_id, h.natural_key.in_(part))
            .order_by(h.id)
        ):
            oldest.setdefault(entry.natural_key, entry)
    plain = sorted(key for key in kept if key not in oldest)
    current = {row["_key"]: row for row in _full_rows(conn, entity, source_id, plain)}
    displaced: dict[str, tuple[str, str, int | None]] = {}
    for key in plain:
        displaced[key] = (current[key]["content_hash"], kept[key][1], None)
    for key, entry in oldest.items():
        displaced[key] = (entry.content_hash, kept[key][1], order.get(entry.replaced_by_batch))

    def replaced(wanted: list[str]) -> dict[str, str]:
        return {
            key: _version_payload(
                current[key] if key in current else _from_json(table, json.loads(oldest[key].row_json)),
                entity,
            )
            for key in wanted
        }

    _mark_kept(conn, entity, source_id, displaced, replaced, others, order, result)
    rows = [
        {"_id": ids[key], **versions[key], "content_hash": kept[key][1], "updated_batch_id": None}
        for key in plain
    ]
    for params in _by_columns(rows):
        _restore(conn, table, params)
    entries = []
    for key, entry in oldest.items():
        stored = json.loads(entry.row_json)
        stored.update({c: _json_value(v) for c, v in versions[key].items()})
        stored.update(content_hash=kept[key][1], batch_id=kept[key][0], updated_batch_id=None)
        entries.append(
            {
                "_id": entry.id,
                "row_json": json.dumps(stored, ensure_ascii=False, sort_keys=True),
                "content_hash": kept[key][1],
            }
        )
    if entries:
        conn.execute(update(schema.history).where(h.id == bindparam("_id")), entries)
    result.rows_given_heir_version += len(kept)


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
