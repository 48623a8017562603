"""Undo one batch, driven by its ledger (``handover rollback BATCH_ID``).

For the batch's ledger rows with disposition ``loaded``:

* action ``inserted``: the target row is deleted, unless another batch's ledger also marks that key loaded
  (it re-delivered the same row, or updated it): then the row stays and passes to the earliest such batch;
* action ``updated``: the version it replaced is restored from ``history`` (if a later batch updated the row
  again, the row stays and that later batch's history entry is pointed at the restored version instead);
* actions ``unchanged`` / ``conflict_kept``: nothing in the target was written by this batch.

Then its ``ledger``, ``findings`` and ``chunks`` rows are deleted, the batch is marked ``rolled_back`` and a
``batch_events`` row records the figures. Everything happens in one transaction, under the batch lock. A dry run
runs the very same steps and rolls the transaction back, so it reports exactly the figures a real run would.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Date, DateTime, Engine, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from handover.errors import LoadError
from handover.models import Entity
from handover.target import schema
from handover.target.hashing import table_for
from handover.target.loader import utcnow
from handover.target.locks import batch_lock

_SLICE = 900


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


def _known_batches(conn: Connection) -> list[str]:
    return list(
        conn.execute(select(schema.batches.c.batch_id).order_by(schema.batches.c.started_at)).scalars()
    )


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


def _chunks(values: list[str]) -> Any:
    for start in range(0, len(values), _SLICE):
        yield values[start : start + _SLICE]


def _rollback(conn: Connection, batch_id: str, result: RollbackResult) -> None:
    lg = schema.ledger.c
    loaded = conn.execute(
        select(lg.entity, lg.source_id, lg.natural_key, lg.action).where(
            lg.batch_id == batch_id, lg.disposition == "loaded", lg.action.in_(("inserted", "updated"))
        )
    ).all()
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for entity, source_id, key, action in loaded:
        groups[(entity, source_id, action)].append(key)
    order = {b: i for i, b in enumerate(_known_batches(conn))}
    deleted: dict[str, int] = defaultdict(int)
    restored: dict[str, int] = defaultdict(int)
    for (entity_name, source_id, action), keys in sorted(groups.items()):
        entity = Entity(entity_name)
        table = table_for(entity)
        if action == "inserted":
            others: dict[str, str] = {}
            # the other batches named one by one: the look-up then runs on ix_ledger_batch_key
            other_batches = [b for b in order if b != batch_id]
            for part in _chunks(sorted(set(keys)) if other_batches else []):
                for other, key in conn.execute(
                    select(lg.batch_id, lg.natural_key).where(
                        lg.batch_id.in_(other_batches),
                        lg.source_id == source_id,
                        lg.entity == entity.value,
                        lg.disposition == "loaded",
                        lg.natural_key.in_(part),
                    )
                ).all():
                    if key not in others or order.get(other, 1 << 30) < order.get(others[key], 1 << 30):
                        others[key] = other
            ids_delete: list[int] = []
            for row in _target_rows(conn, entity, source_id, keys):
                if row["batch_id"] != batch_id:
                    continue
                owner = others.get(row["_key"])
                if owner is None:
                    ids_delete.append(row["id"])
                else:
                    conn.execute(update(table).where(table.c.id == row["id"]).values(batch_id=owner))
                    result.rows_kept_for_other_batches += 1
            for start in range(0, len(ids_delete), _SLICE):
                conn.execute(delete(table).where(table.c.id.in_(ids_delete[start : start + _SLICE])))
            deleted[table.name] += len(ids_delete)
        else:
            h = schema.history.c
            rows = {r["_key"]: r for r in _target_rows(conn, entity, source_id, keys)}
            for key in keys:
                mine = (
                    conn.execute(
                        select(schema.history)
                        .where(
                            h.entity == entity.value,
                            h.source_system == source_id,
                            h.natural_key == key,
                            h.replaced_by_batch == batch_id,
                        )
                        .order_by(h.id.desc())
                    )
                    .mappings()
                    .first()
                )
                if mine is None:
                    continue
                current = rows.get(key)
                if current is not None and current["updated_batch_id"] == batch_id:
                    values = _from_json(table, json.loads(mine["row_json"]))
                    conn.execute(update(table).where(table.c.id == current["id"]).values(**values))
                    restored[table.name] += 1
                else:
                    later = (
                        conn.execute(
                            select(h.id)
                            .where(
                                h.entity == entity.value,
                                h.source_system == source_id,
                                h.natural_key == key,
                                h.id > mine["id"],
                            )
                            .order_by(h.id)
                        )
                        .scalars()
                        .first()
                    )
                    if later is not None:
                        conn.execute(
                            update(schema.history)
                            .where(h.id == later)
                            .values(row_json=mine["row_json"], content_hash=mine["content_hash"])
                        )
                    result.superseded_updates += 1
                conn.execute(delete(schema.history).where(h.id == mine["id"]))
                deleted["history"] += 1
    for table in (schema.ledger, schema.findings, schema.chunks):
        deleted[table.name] += conn.execute(delete(table).where(table.c.batch_id == batch_id)).rowcount
    conn.execute(
        update(schema.batches).where(schema.batches.c.batch_id == batch_id).values(status="rolled_back")
    )
    result.rows_deleted = dict(sorted(deleted.items()))
    result.rows_restored = dict(sorted(restored.items()))
    detail = result.model_dump(include={"rows_deleted", "rows_restored", "rows_kept_for_other_batches"})
    conn.execute(
        insert(schema.batch_events).values(
            batch_id=batch_id, event="rolled_back", at=utcnow(), detail=json.dumps(detail, sort_keys=True)
        )
    )


def _target_rows(conn: Connection, entity: Entity, source_id: str, keys: list[str]) -> list[dict[str, Any]]:
    table = table_for(entity)
    if entity is Entity.DOSSIER:
        column, lookup = table.c.dossier_code, sorted(set(keys))
    else:
        column, lookup = table.c.record_number, sorted({k.split("/", 1)[1] for k in keys})
    wanted = set(keys)
    out = []
    for part in _chunks(lookup):
        for row in conn.execute(
            select(table.c.id, table.c.batch_id, table.c.updated_batch_id, *_key_columns(table)).where(
                table.c.source_system == source_id, column.in_(part)
            )
        ).mappings():
            record = dict(row)
            key = (
                record["dossier_code"]
                if entity is Entity.DOSSIER
                else f"{record['record_type']}/{record['record_number']}"
            )
            if key in wanted:
                record["_key"] = key
                out.append(record)
    return out


def _key_columns(table: Any) -> list[Any]:
    if table is schema.dossiers:
        return [table.c.dossier_code]
    return [table.c.record_type, table.c.record_number]


def rollback_batch(engine: Engine, batch_id: str, *, dry_run: bool = False) -> RollbackResult:
    """Undo ``batch_id`` (see the module text); ``dry_run`` reports the same figures and changes nothing."""
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            status = conn.execute(
                select(schema.batches.c.status).where(schema.batches.c.batch_id == batch_id)
            ).scalar()
            known = _known_batches(conn)
        if status is None:
            listed = ", ".join(known) if known else "(none)"
            raise LoadError(
                f"there is no batch '{batch_id}' in this target; known batches: {listed}",
                hint="check the batch id: handover db status --db URL lists them",
                batch=batch_id,
                url=shown,
            )
        if status == "rolled_back":
            raise LoadError(
                f"batch '{batch_id}' was already rolled back",
                hint="nothing to do; handover db status --db URL shows the batches",
                batch=batch_id,
                url=shown,
            )
        result = RollbackResult(batch_id=batch_id, dry_run=dry_run, status_before=status)
        with batch_lock(engine, batch_id), engine.connect() as conn:
            conn.begin()
            _rollback(conn, batch_id, result)
            if dry_run:
                conn.rollback()
            else:
                conn.commit()
        return result
    except SQLAlchemyError as exc:
        raise LoadError(
            f"the target database refused the rollback of batch '{batch_id}': {getattr(exc, 'orig', exc)}",
            hint="nothing was changed; check the database and run the rollback again",
            batch=batch_id,
            url=shown,
        ) from exc
