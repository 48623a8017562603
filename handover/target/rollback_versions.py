"""The versions a rollback moves: a version read back from JSON (:func:`from_json`), written back into its rows
(:func:`restore`), given to the batches that had kept it (:func:`mark_kept`, :func:`give_kept_versions`); see
:mod:`handover.target.rollback` for the rules."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Date, DateTime, Table, bindparam, update
from sqlalchemy.exc import DBAPIError

from handover.errors import LoadError
from handover.models import Entity
from handover.target import schema
from handover.target.hashing import content_columns, content_hash, table_for
from handover.target.lookup import history_rows, ledger_rows, target_rows
from handover.target.writers import uses_copy

if TYPE_CHECKING:
    from handover.target.rollback import RollbackResult


def from_json(table: Any, data: dict[str, Any]) -> dict[str, Any]:
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


def restore(conn: Connection, table: Table, params: list[dict[str, Any]]) -> None:
    """Put the versions in ``params`` (all setting the same columns; ``_id`` names the row) back into their
    rows. PostgreSQL (psycopg): the versions are COPYed into a temporary table and written by one ``UPDATE …
    FROM`` it, faster than a statement per row (benchmarks/RESULTS.md); other databases, and a role that may not create temporary tables: an ``UPDATE`` per row, sent as
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


def by_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Parameter sets grouped by the columns they set: one executemany per group."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[frozenset(row)].append(row)
    return list(groups.values())


def json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def version_payload(row: Mapping[str, Any], entity: Entity) -> str:
    """A version's content columns as the loader writes a kept version into the ledger's ``payload``: JSON, keys
    sorted, dates as ISO text."""
    return json.dumps(
        {c: json_value(row.get(c)) for c in content_columns(entity)}, ensure_ascii=False, sort_keys=True
    )


def _kept_reason(digest: str) -> str:
    """The ledger's reason for a row kept at another version (as the loader words it)."""
    return f"Giữ bản đã nạp {digest[:12]} / kept loaded version {digest[:12]}"


def mark_kept(
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
    for other, source_row, key, digest in ledger_rows(
        conn,
        (lg.batch_id, lg.source_row, lg.natural_key, lg.content_hash),
        entity,
        source_id,
        displaced,
        lg.batch_id.in_(others),
        lg.disposition == "loaded",
        lg.action == "unchanged",
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


def give_kept_versions(
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
        values = from_json(table, json.loads(payload)) if payload else {}
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
    for entry in history_rows(
        conn, (h.id, h.natural_key, h.content_hash, h.row_json, h.replaced_by_batch), entity, source_id, kept
    ):
        oldest.setdefault(entry.natural_key, entry)
    plain = sorted(key for key in kept if key not in oldest)
    current = target_rows(conn, entity, source_id, plain)
    displaced: dict[str, tuple[str, str, int | None]] = {}
    for key in plain:
        displaced[key] = (current[key]["content_hash"], kept[key][1], None)
    for key, entry in oldest.items():
        displaced[key] = (entry.content_hash, kept[key][1], order.get(entry.replaced_by_batch))

    def replaced(wanted: list[str]) -> dict[str, str]:
        return {
            key: version_payload(
                current[key] if key in current else from_json(table, json.loads(oldest[key].row_json)),
                entity,
            )
            for key in wanted
        }

    mark_kept(conn, entity, source_id, displaced, replaced, others, order, result)
    rows = [
        {"_id": ids[key], **versions[key], "content_hash": kept[key][1], "updated_batch_id": None}
        for key in plain
    ]
    for params in by_columns(rows):
        restore(conn, table, params)
    entries = []
    for key, entry in oldest.items():
        stored = json.loads(entry.row_json)
        stored.update({c: json_value(v) for c, v in versions[key].items()})
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
