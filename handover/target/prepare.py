"""A chunk's load prepared without the database (:func:`prepare_chunk`): every row's target values, natural key
and content hash, the rows the target cannot hold quarantined (``load_value_invalid``), the payloads of the rows
already held back, and the rows encoded for the target's :class:`~handover.target.writers.Wire`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import String

from handover.errors import LoadError
from handover.keys import key_field, natural_key_list
from handover.models import DISPOSITIONS, MAPPED_COLUMNS, Chunk, Entity, Finding, Severity, fields_for
from handover.target import schema, writers
from handover.target.hashing import content_columns, hash_columns, table_for
from handover.target.limits import load_limits
from handover.target.values import (
    RawColumns,
    as_number,
    as_texts,
    capped_payload,
    convert_column,
    converter,
    float_column,
    payloads_json,
    pick,
)
from handover.text import excerpt, visible_controls

# the ledger's unit columns a chunk fills from its frame, with their lengths
_UNIT_LEDGER_LIMITS = {
    c.name: getattr(c.type, "length", None)
    for c in schema.ledger.columns
    if c.name.startswith(("old_", "new_")) or c.name == "unit_status"
}


@dataclasses.dataclass
class PreparedChunk:
    """What the load of one chunk needs that depends on the chunk alone, not on the database: every row's
    target values, natural key, content hash, the ``load_value_invalid`` quarantines, the payloads of the rows
    already held back, and the rows encoded for the target's :class:`~handover.target.writers.Wire` (the target
    row of every row, the ledger columns the load does not decide). :func:`prepare_chunk` builds it."""

    chunk: Chunk  # its frame with a 0..n-1 index
    entity: Entity
    dispositions: list[str]
    reasons: list[str | None]
    source_rows: list[int]
    converted: dict[str, list[Any]]
    keys: list[str | None]
    hashes: list[str | None]
    own: list[Finding]
    raw: RawColumns  # the frame's columns as Python values, each read once
    payload_columns: list[str]
    payloads: list[str | None]
    key_order: list[int]  # the rows by natural key (no key first): the order the ledger rows are written in
    wire: writers.Wire
    target_rows: writers.Encoded  # content columns + content_hash of each row to load (None for the others)
    ledger_rows: writers.Encoded  # every row's ledger columns but those the load decides or the batch gives

    @property
    def frame(self) -> Any:
        return self.chunk.frame


def prepare_chunk(chunk: Chunk, wire: writers.Wire) -> PreparedChunk:
    """The part of a chunk's load that needs no database, its rows encoded for ``wire`` (see
    :class:`PreparedChunk`)."""
    frame = chunk.frame.reset_index(drop=True)
    chunk = dataclasses.replace(chunk, frame=frame)  # sent to the main process once, not as two frames
    entity = Entity(chunk.entity)
    n = len(frame)
    for needed in ("source_row", "disposition"):
        if needed not in frame.columns:
            raise LoadError(
                f"chunk {chunk.index} of source '{chunk.source_id}' has no '{needed}' column",
                hint="this is a bug in the pipeline: report it with the command you ran",
                source=chunk.source_id,
            )
    dispositions = list(map(str, frame["disposition"].tolist()))
    unknown = sorted(set(dispositions) - set(DISPOSITIONS))
    if unknown:
        raise LoadError(
            f"chunk {chunk.index} of source '{chunk.source_id}' has unknown dispositions {unknown}",
            hint="this is a bug in the pipeline: report it with the command you ran",
            source=chunk.source_id,
        )
    raw = RawColumns(frame)
    reasons: list[str | None] = as_texts(raw("reason"))
    source_rows = list(map(int, frame["source_row"].tolist()))
    own: list[Finding] = []
    table = table_for(entity)
    columns = content_columns(entity)

    # 1. Target values of every row (needed for keys of all rows; checked only for loaded ones).
    # Column by column, each conversion once per distinct value.
    converted: dict[str, list[Any]] = {}
    invalid: dict[int, tuple[str, str]] = {}
    for name in columns:
        if name == "source_system":
            converted[name] = [chunk.source_id] * n
            continue
        column = table.c[name]
        convert, expected = converter(column)
        limit = getattr(column.type, "length", None) if isinstance(column.type, String) else None
        numbers = float_column(frame, name) if convert is as_number and name in frame.columns else None
        if numbers is not None:
            out, failed = numbers
            too_long: list[int] = []
            values = frame[name].tolist() if failed else []
        else:
            values = raw(name)
            out, failed, too_long = convert_column(values, convert, limit, text_only=raw.text_only(name))
        for i in failed:
            if dispositions[i] == "loaded" and i not in invalid:
                invalid[i] = (name, f"'{excerpt(values[i])}' is not {expected}")
        for i in too_long:
            if dispositions[i] == "loaded":
                invalid.setdefault(i, (name, f"longer than {limit} characters"))
        converted[name] = out
    keys = natural_key_list(entity, converted)
    for i, d in enumerate(dispositions):
        if d == "loaded" and keys[i] is None and i not in invalid:
            invalid[i] = (
                key_field(entity),
                "the natural key is empty",
            )
    for i, (field, problem) in sorted(invalid.items()):
        dispositions[i] = "quarantined"
        reasons[i] = (
            f"Giá trị không ghi được vào CSDL đích ({field}: {problem}) / target cannot hold {field}: {problem}"
        )
        own.append(
            Finding(
                source_id=chunk.source_id,
                row=source_rows[i],
                key=keys[i],
                field=field,
                check="load_value_invalid",
                severity=Severity.ERROR,
                message_vi=f"Giá trị trường {field} không ghi được vào CSDL đích: {problem}.",
                message_en=f"The target cannot hold the value of {field}: {problem}.",
            )
        )
    hashes: list[str | None] = [None] * n
    to_hash = [i for i, d in enumerate(dispositions) if d == "loaded"]
    picked = {c: pick(converted[c], to_hash) for c in columns}
    distinct = _distinct_sets(picked) if wire.copy else None  # for the hashes and the COPY text
    if to_hash:
        for i, digest in zip(to_hash, hash_columns(picked, columns, distinct=distinct), strict=True):
            hashes[i] = digest
    ledger_units = {
        name: as_texts(raw(name), limit, visible=True, text_only=raw.text_only(name))
        for name, limit in _UNIT_LEDGER_LIMITS.items()
    }
    payload_columns = [c for c in (*fields_for(entity), *MAPPED_COLUMNS, "extras") if c in frame.columns]
    payloads: list[str | None] = [None] * n
    held = [i for i in range(n) if dispositions[i] != "loaded"]
    if held:
        cap = load_limits(wire.name).text_max_bytes
        for i, payload in zip(held, payloads_json(raw, payload_columns, held), strict=True):
            payloads[i] = capped_payload(payload, cap)
    ledger_part = {
        "source_row": source_rows,
        "natural_key": [
            None if not k else k[:250] if d == "loaded" else visible_controls(k[:250])
            for k, d in zip(keys, dispositions, strict=True)
        ],
        "content_hash": hashes,
        **ledger_units,
        "candidates": as_texts(raw("unit_candidates"), text_only=raw.text_only("unit_candidates")),
    }
    return PreparedChunk(
        chunk=chunk,
        entity=entity,
        dispositions=dispositions,
        reasons=reasons,
        source_rows=source_rows,
        converted=converted,
        keys=keys,
        hashes=hashes,
        own=own,
        raw=raw,
        payload_columns=payload_columns,
        payloads=payloads,
        key_order=sorted(range(n), key=[k or "" for k in keys].__getitem__),
        wire=wire,
        target_rows=writers.encode(
            wire, table, {**picked, "content_hash": pick(hashes, to_hash)}, distinct=distinct
        ).spread(to_hash, n),
        ledger_rows=writers.encode(wire, schema.ledger, ledger_part),
    )


def _distinct_sets(columns: dict[str, list[Any]]) -> dict[str, set[Any]]:
    """The set of each column's values (the columns of unhashable values left out)."""
    out = {}
    for name, values in columns.items():
        try:
            out[name] = set(values)
        except TypeError:
            continue
    return out
