"""The load stage's database side: one chunk, one transaction.

:meth:`Loader.load_chunk` writes, in a single transaction, the chunk's new target rows, the updates its conflict
policy allows (previous versions to ``history``), one ``ledger`` row for *every* row of the chunk, the chunk's
findings, the manifest rows of the scanned files of the dossiers it loads (copied into the attachment store just
before, :mod:`handover.attachments`), and the ``chunks`` progress row. A crash (SIGKILL, power loss) therefore leaves the whole chunk or none
of it, and a resumed run skips exactly the chunks whose progress row exists.

A loaded row's fate is decided by its natural key (``source_system`` + dossier code, or record type + number):

* already loaded by *this* batch (an earlier chunk or row) with the same content → disposition ``duplicate``;
  with different content → ``quarantined`` with an error finding ``dossier_code_unique``;
* absent from the target → inserted (action ``inserted``);
* present with the same content hash → ``unchanged``;
* present with another hash → a ``content_conflict`` warning, then policy ``keep`` (action ``conflict_kept``, the
  delivered version kept in the ledger's payload) or ``update`` (old version to ``history``, action ``updated``).

The look-ups by key skip the keys a batch certainly has not loaded while no other batch's rows of the source
are in the target (:mod:`~handover.target.keyfilter`).

Values the target cannot hold (an invalid ISO date, a non-number fee, text longer than its column, an empty key)
quarantine the row with an error finding ``load_value_invalid`` instead of failing the batch.
``source_system`` of every row is the chunk's source id.

What the ledger and the findings keep of a held-back row fits any target: its JSON payload is capped to the
target's TEXT (:mod:`~handover.target.limits`; cut fields listed under ``_truncated``), control characters in its
key, unit names and reasons are made visible (NUL → ␀). A chunk the database refuses all the same raises a
:class:`LoadError` naming the source row, its key and the field where the driver says.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal
from unicodedata import is_normalized
from unicodedata import normalize as _normalize

from pydantic import BaseModel, Field
from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Text,
    any_,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import SQLAlchemyError

import handover
from handover.errors import ConfigError, LoadError
from handover.faults import checkpoint
from handover.keys import natural_key, natural_key_list
from handover.models import (
    DISPOSITIONS,
    MAPPED_COLUMNS,
    Chunk,
    Counts,
    Entity,
    Finding,
    Severity,
    SourceFingerprint,
    fields_for,
)
from handover.redact import mask_url, scrub
from handover.target import schema, writers
from handover.target.db import WalCheckpointer
from handover.target.hashing import (
    content_columns,
    fingerprint_lines,
    hash_columns,
    key_columns,
    loaded_fingerprint,
    table_for,
)
from handover.target.keyfilter import KeyFilter
from handover.target.limits import load_limits
from handover.text import excerpt, nfc, visible_controls

if TYPE_CHECKING:
    from handover.attachments.store import AttachmentStore

# What the per-chunk look-ups filter on (the loader's "already loaded?", "already in this batch?" and resume
# checks): the statistics PostgreSQL needs while a batch loads.
_LOOKUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "ledger": ("batch_id", "source_id", "source_row", "natural_key", "entity", "disposition"),
    "dossiers": ("source_system", "dossier_code"),
    "records": ("source_system", "record_type", "record_number"),
}

try:
    from pandas import NA as _NA
    from pandas import NaT as _NAT
except ImportError:  # pragma: no cover
    _NA = _NAT = object()

log = logging.getLogger("handover.target.loader")
_IN_SLICE = 900
_SEED_PER = 50_000  # keys a resumed batch reads at a time into its key filter
_UNIT_LEDGER_LIMITS = {
    c.name: getattr(c.type, "length", None)
    for c in schema.ledger.columns
    if c.name.startswith(("old_", "new_")) or c.name == "unit_status"
}
_UNIT_LEDGER_COLUMNS = tuple(_UNIT_LEDGER_LIMITS)
_MESSAGE_CHARS = 4000  # a finding's message as the findings table keeps it (within any target's TEXT)


def _row_account_columns(source: SourceFingerprint) -> dict[str, Any]:
    """``batch_sources.physical_rows`` and ``non_data_json`` (the whole :class:`RowAccount`) of a source."""
    account = source.rows
    if account is None:
        return {"physical_rows": None, "non_data_json": None}
    return {"physical_rows": account.physical_rows, "non_data_json": account.model_dump_json()}


def utcnow() -> datetime:
    """Naive UTC timestamp, the form every DateTime column of the target holds."""
    return datetime.now(UTC).replace(tzinfo=None)


class ChunkLoadResult(BaseModel):
    """What one :meth:`Loader.load_chunk` did."""

    source_id: str
    chunk_index: int
    counts: Counts = Field(description="Rows per final disposition (extracted = all rows of the chunk).")
    inserted: int = Field(0, description="Rows new to the target.")
    unchanged: int = Field(0, description="Loaded rows already in the target with the same content.")
    updated: int = Field(0, description="Conflicting rows updated (policy update; history kept).")
    conflicts: int = Field(0, description="Loaded rows whose key exists with other content.")
    findings: list[Finding] = Field(default_factory=list, description="Findings the loader added.")
    skipped: bool = Field(False, description="The chunk had been committed before: nothing written.")


# ---------------------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    """None, NaN, pandas NA / NaT."""
    if value is None:
        return True
    kind = type(value)
    if kind is str:
        return False
    if kind is float:
        return value != value
    try:
        return bool(value != value) or value is _NA or value is _NAT
    except (TypeError, ValueError):  # pd.NA compares to NA
        return True


def _text(value: Any) -> str | None:
    if type(value) is str:
        return (value if value.isascii() else _normalize("NFC", value)) or None
    if _missing(value):
        return None
    return nfc(str(value)) or None


def _as_date(value: Any) -> date | None:
    if _missing(value) or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if len(text) != 10:
        raise ValueError(text)
    return date.fromisoformat(text)


def _as_datetime(value: Any) -> datetime | None:
    """A local wall time (naive: Asia/Ho_Chi_Minh, what :func:`handover.sources.cells.local_time` gives) to the
    second; an aware value is refused (the extract converts zones, the target stores no zone)."""
    if _missing(value) or value == "":
        return None
    if isinstance(value, datetime):
        out = value
    elif isinstance(value, date):
        raise ValueError(value)
    else:
        text = str(value).strip()
        if len(text) != 19:
            raise ValueError(text)
        out = datetime.fromisoformat(text)
    if out.tzinfo is not None or out.microsecond:
        raise ValueError(value)
    return out


def _as_number(value: Any) -> float | None:
    if _missing(value) or value == "":
        return None
    number = float(value)
    if math.isinf(number) or math.isnan(number):
        raise ValueError(value)
    return number


def _converter(column: Any) -> tuple[Any, str]:
    kind = column.type
    if isinstance(kind, Date):
        return _as_date, "an ISO date (YYYY-MM-DD)"
    if isinstance(kind, DateTime):
        return _as_datetime, "a local date-time (YYYY-MM-DDTHH:MM:SS)"
    if isinstance(kind, Float):
        return _as_number, "a number"
    if isinstance(kind, Integer):
        return (lambda v: None if _missing(v) else int(v)), "a whole number"
    if column.name == "extras":
        return _json_text, "JSON text"
    return _text, "text"


def _json_text(value: Any) -> str | None:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else None
    return _text(value)


def _jsonable(value: Any) -> Any:
    if _missing(value):
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


_PAYLOAD_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str)
_escape_json = json.encoder.encode_basestring  # a JSON string as _PAYLOAD_ENCODER writes it


def _payload(record: dict[str, Any]) -> str:
    return _PAYLOAD_ENCODER.encode({k: _jsonable(v) for k, v in record.items()})


def _json_values(values: list[Any]) -> list[str]:
    """Each value as :func:`_payload` writes it inside the object (once per distinct value where exact)."""
    encode = _PAYLOAD_ENCODER.encode
    distinct = _memo_safe(values)
    if distinct is None:
        return [encode(_jsonable(v)) for v in values]
    memo = {v: encode(_jsonable(v)) for v in distinct}
    return list(map(memo.__getitem__, values))


def _payloads(frame: Any, columns: Sequence[str], positions: list[int]) -> list[str]:
    """:func:`_payload` of the rows at ``positions`` (their ``columns``), built column by column."""
    if not columns:
        return ["{}"] * len(positions)
    names = sorted(columns)
    part = frame.iloc[positions]
    template = "{" + ", ".join(_escape_json(name).replace("%", "%%") + ": %s" for name in names) + "}"
    encoded = [_json_values(_column_values(part, name, len(positions))) for name in names]
    return [template % row for row in zip(*encoded, strict=True)]


_TRUNCATED = "_truncated"  # payload key: field → its length in characters, for each field cut to fit


def _capped_payload(payload: str | None, limit: int) -> str | None:
    """A held-back row's JSON payload fitting ``limit`` UTF-8 bytes (the target's TEXT cell): when it is longer,
    every text value above a common length is cut to it and ends in "…" (the longest length that fits), and the
    key ``_truncated`` lists each cut field with its full length in characters. Still a JSON object."""
    if payload is None or len(payload) * 4 <= limit or len(payload.encode()) <= limit:
        return payload
    data = json.loads(payload)
    texts = {k: v for k, v in data.items() if isinstance(v, str)}
    lengths = {k: len(v) for k, v in texts.items()}

    def cut_to(size: int) -> str:
        cut = {k: n for k, n in lengths.items() if n > size}
        return _PAYLOAD_ENCODER.encode({**data, **{k: texts[k][:size] + "…" for k in cut}, _TRUNCATED: cut})

    low, high, best = 0, max(lengths.values(), default=0), None
    while low <= high:
        middle = (low + high) // 2
        text = cut_to(middle)
        if len(text.encode()) <= limit:
            best, low = text, middle + 1
        else:
            high = middle - 1
    return best if best is not None else _PAYLOAD_ENCODER.encode({_TRUNCATED: lengths})


def _printable(values: list[Any]) -> list[Any]:
    """Text values with their control characters made visible (NUL → ␀, :func:`~handover.text.visible_controls`):
    what the ledger and the findings keep of a held-back row's cells, which no database refuses."""
    if "".join(v for v in values if type(v) is str).isprintable():
        return values
    return [visible_controls(v) if type(v) is str else v for v in values]


def _row_json(row: dict[str, Any]) -> str:
    return json.dumps(
        {k: _jsonable(v) for k, v in row.items()}, ensure_ascii=False, sort_keys=True, default=str
    )


def _column_values(frame: Any, name: str, n: int) -> list[Any]:
    """A column's values as Python objects, ``None`` for missing ones (NaN, NA, NaT); all ``None`` if absent."""
    if name not in frame.columns:
        return [None] * n
    column = frame[name]
    values = column.to_numpy(dtype=object)
    missing = column.isna().to_numpy()
    if missing.any():
        values = values.copy()
        values[missing] = None
    return values.tolist()


def _memo_safe(values: Sequence[Any]) -> set[Any] | None:
    """The distinct values when converting once per distinct value is exact (one type, no zero), else None."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if len(kinds) > 1:  # 1 == 1.0 == True, but their texts differ
        return None
    try:
        distinct = set(values)
    except TypeError:  # unhashable (dict, list)
        return None
    if 0 in distinct:  # 0.0 == -0.0
        return None
    return distinct


def _convert_column(
    raw: list[Any], convert: Any, limit: int | None
) -> tuple[list[Any], list[int], list[int]]:
    """``convert`` applied to every value (once per distinct value where exact).

    Returns the converted values (None where conversion failed), the positions that failed, and the positions
    whose text is longer than ``limit``.
    """
    distinct = _memo_safe(raw)
    results: Iterable[Any]  # every converted value, each at least once (for the length check)
    if distinct is None:
        out: list[Any] = [None] * len(raw)
        failed = []
        for i, value in enumerate(raw):
            try:
                out[i] = convert(value)
            except (TypeError, ValueError):
                failed.append(i)
        results = out
    elif convert is _text and _nfc_texts(distinct):
        out = [v or None for v in raw]
        failed = []
        results = distinct
    else:
        memo: dict[Any, Any] = {}
        bad = set()
        for value in distinct:
            try:
                memo[value] = convert(value)
            except (TypeError, ValueError):
                memo[value] = None
                bad.add(value)
        out = list(map(memo.__getitem__, raw))
        failed = [i for i, v in enumerate(raw) if v in bad] if bad else []
        results = memo.values()
    too_long: list[int] = []
    if limit and max(map(len, filter(None, results)), default=0) > limit:
        too_long = [i for i, v in enumerate(out) if v is not None and len(v) > limit]
    return out, failed, too_long


def _numbers(frame: Any, name: str) -> tuple[list[Any], list[int]] | None:
    """A float/int column as floats without a Python call per value: (values, non-finite positions)."""
    import numpy as np

    column = frame[name]
    kind = column.dtype
    if getattr(kind, "kind", None) not in ("f", "i", "u"):
        return None
    if column.isna().any():
        return None  # nullable integers (pd.NA): the general path
    array = column.to_numpy(dtype=np.float64)
    finite = np.isfinite(array)
    values = array.tolist()
    failed = []
    if not finite.all():
        nan = np.isnan(array)
        for i in np.flatnonzero(nan).tolist():
            values[i] = None
        failed = np.flatnonzero(~finite & ~nan).tolist()
    return values, failed


def _pick(values: Sequence[Any], positions: Sequence[int]) -> list[Any]:
    """``values`` at ``positions`` (in that order)."""
    return list(map(values.__getitem__, positions))


def _nfc_texts(distinct: set[Any]) -> bool:
    """True when every value is text already in NFC (or None): then ``_text(v)`` is ``v or None``."""
    strings = [v for v in distinct if v is not None] if None in distinct else list(distinct)
    try:
        joined = "|".join(strings)  # "|" never composes: NFC of the join = join of the NFCs
    except TypeError:  # not all text
        return False
    return joined.isascii() or is_normalized("NFC", joined)


def _texts(raw: list[Any], limit: int | None = None) -> list[str | None]:
    """:func:`_text` of every value, cut to ``limit`` characters when given."""

    def one(value: Any) -> str | None:
        text = _text(value)
        return text[:limit] if text and limit else text

    distinct = _memo_safe(raw)
    if distinct is None:
        return [one(v) for v in raw]
    if _nfc_texts(distinct) and not (limit and max(map(len, filter(None, distinct)), default=0) > limit):
        return [v or None for v in raw]
    memo = {v: one(v) for v in distinct}
    return list(map(memo.__getitem__, raw))


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
    reasons: list[str | None] = _texts(_column_values(frame, "reason", n))
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
        convert, expected = _converter(column)
        limit = getattr(column.type, "length", None) if isinstance(column.type, String) else None
        numbers = _numbers(frame, name) if convert is _as_number and name in frame.columns else None
        if numbers is not None:
            out, failed = numbers
            too_long: list[int] = []
            raw = frame[name].tolist() if failed else []
        else:
            raw = _column_values(frame, name, n)
            out, failed, too_long = _convert_column(raw, convert, limit)
        for i in failed:
            if dispositions[i] == "loaded" and i not in invalid:
                invalid[i] = (name, f"'{excerpt(raw[i])}' is not {expected}")
        for i in too_long:
            if dispositions[i] == "loaded":
                invalid.setdefault(i, (name, f"longer than {limit} characters"))
        converted[name] = out
    keys = natural_key_list(entity, converted)
    for i, d in enumerate(dispositions):
        if d == "loaded" and keys[i] is None and i not in invalid:
            invalid[i] = (
                "dossier_code" if entity is Entity.DOSSIER else "record_number",
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
    picked = {c: _pick(converted[c], to_hash) for c in columns}
    if to_hash:
        for i, digest in zip(to_hash, hash_columns(picked, columns), strict=True):
            hashes[i] = digest
    ledger_units = {
        name: _printable(_texts(_column_values(frame, name, n), limit))
        for name, limit in _UNIT_LEDGER_LIMITS.items()
    }
    payload_columns = [c for c in (*fields_for(entity), *MAPPED_COLUMNS, "extras") if c in frame.columns]
    payloads: list[str | None] = [None] * n
    held = [i for i in range(n) if dispositions[i] != "loaded"]
    if held:
        cap = load_limits(wire.name).text_max_bytes
        for i, payload in zip(held, _payloads(frame, payload_columns, held), strict=True):
            payloads[i] = _capped_payload(payload, cap)
    ledger_part = {
        "source_row": source_rows,
        "natural_key": [
            None if not k else k[:250] if d == "loaded" else visible_controls(k[:250])
            for k, d in zip(keys, dispositions, strict=True)
        ],
        "content_hash": hashes,
        **ledger_units,
        "candidates": _texts(_column_values(frame, "unit_candidates", n)),
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
        payload_columns=payload_columns,
        payloads=payloads,
        key_order=sorted(range(n), key=[k or "" for k in keys].__getitem__),
        wire=wire,
        target_rows=writers.encode(wire, table, {**picked, "content_hash": _pick(hashes, to_hash)}).spread(
            to_hash, n
        ),
        ledger_rows=writers.encode(wire, schema.ledger, ledger_part),
    )


# ---------------------------------------------------------------------------------------------------------
# The loader
# ---------------------------------------------------------------------------------------------------------


class Loader:
    """Loads one batch into one target, chunk by chunk (see the module text)."""

    def __init__(
        self,
        engine: Engine,
        batch_id: str,
        conflict_policy: Literal["keep", "update"] = "keep",
        attachments: AttachmentStore | None = None,
    ) -> None:
        if conflict_policy not in ("keep", "update"):
            raise LoadError(
                f"unknown conflict policy '{conflict_policy}'",
                hint='set target.conflict_policy to "keep" or "update"',
            )
        self.engine = engine
        self.batch_id = batch_id
        self.conflict_policy = conflict_policy
        # the store the files of loaded dossiers are copied into, with the chunk (handover.attachments)
        self.attachments = attachments
        self.attachment_rows = 0  # manifest rows this loader has written
        self._written = 0  # rows this loader has written (chunks not skipped)
        self._chunks_loaded = 0  # chunks this loader has loaded (not skipped)
        self._finished_before = False  # the batch was finished when begun, with no source added
        self._checkpointer: WalCheckpointer | None = None  # SQLite: started by the first chunk
        self._analyze_at = 1  # PostgreSQL: refresh the planner's statistics once _written reaches this
        self._keys: KeyFilter | None = None  # the keys this batch loaded, while no other batch's are there
        self._filtered: dict[str, bool] = {}  # source and entity → the filter answers for them

    # -- errors -------------------------------------------------------------------------------------------

    def _db_error(self, what: str, exc: SQLAlchemyError, **context: Any) -> LoadError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return LoadError(
            f"the target database refused {what}: {detail[0] if detail else type(exc).__name__}",
            hint="nothing of it was written; fix the cause and run the same command again (committed chunks "
            "are kept)",
            batch=self.batch_id,
            url=mask_url(self.engine.url),
            **context,
        )

    def _refused(self, chunk: Chunk, exc: writers.RowsRefused) -> LoadError:
        """The error of a chunk the database refused, naming the source row (its number in the source, its key,
        and the field when the driver says) instead of a position in the chunk: from the driver when it names
        the row (PostgreSQL's COPY), else found by trying the rows again (:func:`~handover.target.writers.
        locate_refused`, nothing written)."""
        where = f"chunk {chunk.index} of source '{chunk.source_id}'"
        found = writers.locate_refused(self.engine, exc) if exc.row_of is not None else None
        if found is None:
            return self._db_error(where, exc, source=chunk.source_id, chunk=chunk.index)
        index, error = found
        row, key = exc.row_of(index)  # type: ignore[misc]
        if row is None:  # a finding about the whole source
            return self._db_error(where, error, source=chunk.source_id, chunk=chunk.index)  # type: ignore[arg-type]
        key = excerpt(key, 60) if key else None
        field = writers.refused_field(error)
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()
        named = f"row {row}" + (f" (key {key})" if key else "") + (f", field {field}" if field else "")
        return LoadError(
            f"the target database refused {named} of source '{chunk.source_id}' (table {exc.table.name}, chunk "
            f"{chunk.index}): {detail[0] if detail else type(error).__name__}",
            hint=f"nothing of the chunk was written; correct row {row} of source '{chunk.source_id}'"
            + (f" (field {field})" if field else "")
            + " and run the same command again (committed chunks are kept). If the row looks right, the target "
            "holds a rule the checks do not know (a constraint or a trigger added to it): report it with this "
            "message",
            batch=self.batch_id,
            url=self.engine.url.render_as_string(hide_password=True),
            source=chunk.source_id,
            row=row,
            column=field,
            key=key,
            chunk=chunk.index,
        )

    def _event(self, conn: Connection, event: str, detail: str | None = None) -> None:
        conn.execute(
            insert(schema.batch_events).values(
                batch_id=self.batch_id, event=event, at=utcnow(), detail=detail
            )
        )

    # -- batch --------------------------------------------------------------------------------------------

    def begin_batch(
        self,
        description: str,
        config_sha256: str,
        sources: Sequence[SourceFingerprint],
        *,
        same_as: str | None = None,
    ) -> set[tuple[str, int]]:
        """Record the batch as running; return the (source_id, chunk_index) already committed (resume).

        ``same_as``: another hash of the same configuration (the earlier way of hashing it); a batch recorded
        with it is not refused as changed, and gets ``config_sha256`` recorded instead."""
        try:
            with self.engine.begin() as conn:
                return self._begin(conn, description, config_sha256, sources, same_as)
        except SQLAlchemyError as exc:
            raise self._db_error("the start of the batch", exc) from exc

    def _source_rows(self, sources: Iterable[SourceFingerprint]) -> list[dict[str, Any]]:
        return [
            {
                "batch_id": self.batch_id,
                "source_id": s.source_id,
                "kind": s.kind,
                "entity": str(s.entity),
                "location": s.location,
                "sha256": s.sha256,
                "size_bytes": s.size_bytes,
                "rows_extracted": None,
                "complete": 0,
                **_row_account_columns(s),
            }
            for s in sources
        ]

    def _begin(
        self,
        conn: Connection,
        description: str,
        config_sha256: str,
        sources: Sequence[SourceFingerprint],
        same_as: str | None = None,
    ) -> set[tuple[str, int]]:
        b = schema.batches
        row = conn.execute(select(b.c.status).where(b.c.batch_id == self.batch_id)).first()
        fresh = {
            "status": "running",
            "description": description,
            "config_sha256": config_sha256,
            "started_at": utcnow(),
            "finished_at": None,
            "fingerprint": None,
            "summary_json": None,
            "tool_version": handover.__version__,
        }
        if row is None:
            conn.execute(insert(b).values(batch_id=self.batch_id, **fresh))
            writers.insert_rows(conn, schema.batch_sources, self._source_rows(sources))
            self._event(conn, "started", f"{len(sources)} source(s)")
            return set()
        status = row[0]
        bs = schema.batch_sources
        if status == "rolled_back":
            conn.execute(bs.delete().where(bs.c.batch_id == self.batch_id))
            conn.execute(update(b).where(b.c.batch_id == self.batch_id).values(**fresh))
            writers.insert_rows(conn, bs, self._source_rows(sources))
            self._event(conn, "restarted", "the batch had been rolled back: loading it again from the start")
            return set()
        before_config = conn.execute(select(b.c.config_sha256).where(b.c.batch_id == self.batch_id)).scalar()
        if before_config and same_as and before_config == same_as and config_sha256:
            conn.execute(update(b).where(b.c.batch_id == self.batch_id).values(config_sha256=config_sha256))
            before_config = config_sha256
        if before_config and config_sha256 and before_config != config_sha256:
            raise ConfigError(
                f"the configuration of batch {self.batch_id} changed since it started (the batch file, or a "
                f"rule, decision or routing file it names): SHA-256 was {before_config}, is now {config_sha256}",
                hint="a batch is bound to its configuration so that re-runs change nothing: give the batch a new "
                f"id to apply the change (rows already loaded stay; decided rows are added), or roll it back "
                f"first: handover rollback {self.batch_id}",
                batch=self.batch_id,
            )
        recorded = dict(
            conn.execute(select(bs.c.source_id, bs.c.sha256).where(bs.c.batch_id == self.batch_id)).all()
        )
        for source in sources:
            before = recorded.get(source.source_id)
            if before is not None and before != source.sha256:
                raise LoadError(
                    f"source '{source.source_id}' changed since batch {self.batch_id} started: "
                    f"SHA-256 was {before}, is now {source.sha256}",
                    hint="the source changed since this batch started: give the batch a new id (conflicts will "
                    f"be reported) or roll it back: handover rollback {self.batch_id}",
                    source=source.source_id,
                    batch=self.batch_id,
                )
        added = [s for s in sources if s.source_id not in recorded]
        writers.insert_rows(conn, bs, self._source_rows(added))
        for source in sources:  # a batch begun before the rows were accounted for gets its account now
            if source.source_id in recorded and source.rows is not None:
                conn.execute(
                    update(bs)
                    .where(bs.c.batch_id == self.batch_id, bs.c.source_id == source.source_id)
                    .where(bs.c.physical_rows.is_(None))
                    .values(**_row_account_columns(source))
                )
        c = schema.chunks.c
        done = {
            (s, int(i))
            for s, i in conn.execute(
                select(c.source_id, c.chunk_index).where(c.batch_id == self.batch_id)
            ).all()
        }
        if status == "finished" and not added:
            self._finished_before = True
            self._event(conn, "resumed", f"already finished: {len(done)} chunk(s) committed, nothing to load")
        else:
            conn.execute(
                update(b)
                .where(b.c.batch_id == self.batch_id)
                .values(status="running", finished_at=None, config_sha256=config_sha256)
            )
            self._event(conn, "resumed", f"{len(done)} chunk(s) already committed")
        return done

    def finish_batch(self, summary: dict[str, Any]) -> str:
        """Mark the batch finished; returns the loaded-set fingerprint (see :mod:`handover.target.hashing`).

        A re-run of a batch that was already finished and loaded nothing leaves the batch row as it was (its
        status, finish time and summary): only an event records the re-run."""
        self.close()
        if self._finished_before and not self._chunks_loaded:
            try:
                with self.engine.connect() as conn:
                    return loaded_fingerprint(conn, self.batch_id)
            except SQLAlchemyError as exc:
                raise self._db_error("the end of the batch", exc) from exc
        self._refresh_statistics()
        try:
            with self.engine.begin() as conn:
                fingerprint = loaded_fingerprint(conn, self.batch_id)
                c = schema.chunks.c
                per_source = dict(
                    conn.execute(
                        select(c.source_id, func.sum(c.rows))
                        .where(c.batch_id == self.batch_id)
                        .group_by(c.source_id)
                    ).all()
                )
                bs = schema.batch_sources
                for source_id, rows in per_source.items():
                    conn.execute(
                        update(bs)
                        .where(bs.c.batch_id == self.batch_id, bs.c.source_id == source_id)
                        .values(rows_extracted=int(rows or 0), complete=1)
                    )
                b = schema.batches
                conn.execute(
                    update(b)
                    .where(b.c.batch_id == self.batch_id)
                    .values(
                        status="finished",
                        finished_at=utcnow(),
                        fingerprint=fingerprint,
                        summary_json=json.dumps(summary, ensure_ascii=False, default=str, sort_keys=True),
                    )
                )
                self._event(conn, "finished", f"fingerprint {fingerprint}")
                return fingerprint
        except SQLAlchemyError as exc:
            raise self._db_error("the end of the batch", exc) from exc

    def _refresh_statistics(self, *, lookups_only: bool = False) -> None:
        """After a bulk load the planner's row estimates are stale (autovacuum has not run yet): without fresh
        ones PostgreSQL picks nested loops over the ledger for the report queries (minutes instead of a
        second at 100k rows). Cheap: ANALYZE samples. ``lookups_only`` (during the load, PostgreSQL): the
        tables the per-chunk look-ups read, and only the columns they filter on (the table's row count is
        refreshed all the same): 0.44 s instead of 1.59 s at 300k rows, the wide text columns are not read."""
        tables = ("ledger", "findings", "dossiers", "records", "chunks")
        backend = self.engine.dialect.name
        try:
            if backend == "postgresql":
                if lookups_only:
                    what = ", ".join(f"{t} ({', '.join(columns)})" for t, columns in _LOOKUP_COLUMNS.items())
                else:
                    what = ", ".join(tables)
                with self.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE " + what)
            elif backend in ("mysql", "mariadb"):
                with self.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE TABLE " + ", ".join(tables)).all()
        except SQLAlchemyError as exc:  # statistics only speed things up: never fail a batch for them
            log.warning("could not refresh the planner statistics: %s", exc)

    def fail_batch(self, message: str) -> None:
        """Mark the batch failed (committed chunks stay: running it again resumes). Never raises."""
        self.close()
        try:
            with self.engine.begin() as conn:
                b = schema.batches
                conn.execute(update(b).where(b.c.batch_id == self.batch_id).values(status="failed"))
                self._event(conn, "failed", scrub(message)[:4000])
        except SQLAlchemyError as exc:  # the original error matters more
            log.warning("could not record the failure of batch %s: %s", self.batch_id, exc)

    # -- chunks -------------------------------------------------------------------------------------------

    def load_chunk(self, chunk: Chunk) -> ChunkLoadResult:
        """Load one chunk in one transaction (see the module text)."""
        try:
            try:
                with self._chunk_transaction() as conn:
                    result = self._load(conn, chunk)
            except SQLAlchemyError as exc:
                if not self._filter_overtaken(exc, chunk):
                    raise
                # Another batch began loading this source during the run, and a key it delivered met a key the
                # filter had let through unlooked: nothing of the chunk was written. Again, looking up every key.
                with self._chunk_transaction() as conn:
                    result = self._load(conn, chunk)
        except writers.RowsRefused as exc:
            raise self._refused(chunk, exc) from exc
        except SQLAlchemyError as exc:
            raise self._db_error(
                f"chunk {chunk.index} of source '{chunk.source_id}'",
                exc,
                source=chunk.source_id,
                chunk=chunk.index,
            ) from exc
        if not result.skipped:
            self._chunks_loaded += 1
            self._written += result.counts.extracted
            if self._written >= self._analyze_at and self.engine.dialect.name == "postgresql":
                # Without statistics (a new or fast-growing table; autovacuum analyses a minute later at best)
                # PostgreSQL takes the per-chunk key look-ups as returning one row and reads the batch's whole
                # ledger for each chunk: 0.6 s per look-up at 500,000 ledger rows instead of 0.04 ms. ANALYZE
                # samples (≈ 0.3 s), each time the rows written have doubled: a few times per batch.
                self._refresh_statistics(lookups_only=True)
                self._analyze_at = 2 * self._written
        return result

    @contextmanager
    def _chunk_transaction(self) -> Iterator[Connection]:
        """A chunk's transaction. SQLite: without the connection's own WAL checkpoints, which a thread runs
        after the commit instead (:class:`~handover.target.db.WalCheckpointer`)."""
        if self._checkpointer is None and self.engine.dialect.name == "sqlite":
            self._checkpointer = WalCheckpointer.for_engine(self.engine)
        if self._checkpointer is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self.engine.connect() as conn, self._checkpointer.deferred(conn), conn.begin():
            yield conn
        self._checkpointer.poke()

    def close(self) -> None:
        """Stop the checkpoint thread, if any (after a batch's last chunk; :meth:`finish_batch` and
        :meth:`fail_batch` call it). Loading another chunk starts it again."""
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None

    def _check_rows_not_loaded(self, conn: Connection, chunk: Chunk, source_rows: list[int]) -> None:
        """A row of this chunk already in this batch's ledger means the chunking changed since the batch began."""
        if not source_rows:
            return
        lg = schema.ledger.c
        mine = set(source_rows)
        present = conn.execute(
            select(lg.source_row).where(
                lg.batch_id == self.batch_id,
                lg.source_id == chunk.source_id,
                lg.source_row.between(min(source_rows), max(source_rows)),
            )
        ).scalars()
        clash = next((r for r in present if r in mine), None)
        if clash is not None:
            raise LoadError(
                f"row {clash} of source '{chunk.source_id}' is already in batch {self.batch_id}, but chunk "
                f"{chunk.index} is not: the chunking changed since the batch started",
                hint="run with the chunk_size the batch started with, or roll it back and run it again: "
                f"handover rollback {self.batch_id}",
                source=chunk.source_id,
                row=clash,
            )

    def _stored_result(self, conn: Connection, chunk: Chunk) -> ChunkLoadResult | None:
        c = schema.chunks.c
        row = (
            conn.execute(
                select(schema.chunks).where(
                    c.batch_id == self.batch_id, c.source_id == chunk.source_id, c.chunk_index == chunk.index
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

    def _load(self, conn: Connection, chunk: Chunk) -> ChunkLoadResult:
        stored = self._stored_result(conn, chunk)
        if stored is not None:
            return stored
        wire = writers.Wire.of(conn)
        p = prepare_chunk(chunk, wire)
        frame, entity, n = p.frame, p.entity, len(p.frame)
        dispositions, reasons, own = list(p.dispositions), list(p.reasons), list(p.own)
        source_rows, keys, hashes = p.source_rows, p.keys, p.hashes
        self._check_rows_not_loaded(conn, chunk, source_rows)
        actions: list[str | None] = [None] * n
        table = table_for(entity)
        columns = content_columns(entity)

        # 2. The target: which of these keys exist, with which content. One look-up serves steps 3 and 4. While
        # no other batch has rows of this source in the target, only keys the filter may hold are looked up.
        candidate_keys = sorted({keys[i] for i in range(n) if dispositions[i] == "loaded"})
        scope = _filter_scope(chunk.source_id, entity)
        key_filter = self._key_filter(conn, entity, chunk.source_id, scope)
        lookup = candidate_keys
        if key_filter is not None:
            maybe = key_filter.may_hold(scope, candidate_keys)
            lookup = [k for k, held in zip(candidate_keys, maybe, strict=True) if held]
        existing = self._existing(conn, entity, chunk.source_id, lookup)

        # 3. Keys this batch has loaded already (earlier chunks, then earlier rows of this chunk). Every key a
        # batch loaded has its row in the target (inserted, updated, or found there unchanged or kept), so only
        # keys the target has are looked up in the ledger: none at all while a batch fills a new target
        # (PostgreSQL, 1M rows: 4 s of look-ups; benchmarks/RESULTS.md, seventh session).
        lg = schema.ledger.c
        seen: dict[str, str] = {}
        for part in _key_filters(conn, lg.natural_key, [k for k in candidate_keys if k in existing]):
            seen.update(
                conn.execute(
                    select(lg.natural_key, lg.content_hash).where(
                        lg.batch_id == self.batch_id,
                        lg.source_id == chunk.source_id,
                        lg.entity == entity.value,
                        lg.disposition == "loaded",
                        part,
                    )
                ).all()
            )
        for i in range(n):
            if dispositions[i] != "loaded":
                continue
            key = keys[i]
            assert key is not None
            if key not in seen:
                seen[key] = hashes[i]  # type: ignore[assignment]
                continue
            if seen[key] == hashes[i]:
                dispositions[i] = "duplicate"
                reasons[i] = (
                    "Trùng lặp hoàn toàn với dòng đã nạp trong đợt này / exact duplicate of a row this batch loaded"
                )
            else:
                dispositions[i] = "quarantined"
                reasons[i] = (
                    "Trùng mã nhưng khác nội dung với dòng đã nạp trong đợt này / same key as a row this batch "
                    "loaded, different content"
                )
                own.append(
                    Finding(
                        source_id=chunk.source_id,
                        row=source_rows[i],
                        key=key,
                        field="dossier_code" if entity is Entity.DOSSIER else "record_number",
                        check="dossier_code_unique",
                        severity=Severity.ERROR,
                        message_vi=f"Mã {key} xuất hiện hai lần trong đợt với nội dung khác nhau: dòng sau bị cách ly.",
                        message_en=f"Key {key} appears twice in the batch with different content: the later row is "
                        "quarantined.",
                    )
                )

        # 4. What each row to load does to the target.
        to_load = [i for i in range(n) if dispositions[i] == "loaded"]
        if key_filter is not None:
            key_filter.add(scope, [keys[i] for i in to_load])  # type: ignore[misc]
        now = utcnow()
        fresh: list[int] = []
        updates: list[dict[str, Any]] = []
        history_rows: list[dict[str, Any]] = []
        history_of: list[int] = []  # the chunk position of each history row
        conflict_payload: dict[int, str] = {}
        inserted = unchanged = updated = conflicts = 0
        for i in to_load:
            key = keys[i]
            found = existing.get(key)  # type: ignore[arg-type]
            if found is None:
                fresh.append(i)
                actions[i] = "inserted"
                inserted += 1
            elif found["content_hash"] == hashes[i]:
                actions[i] = "unchanged"
                unchanged += 1
            else:
                values = {c: p.converted[c][i] for c in columns}
                conflicts += 1
                own.append(
                    Finding(
                        source_id=chunk.source_id,
                        row=source_rows[i],
                        key=key,
                        check="content_conflict",
                        severity=Severity.WARNING,
                        message_vi=f"Mã {key} đã được nạp (đợt {found['batch_id']}) với nội dung khác; "
                        + (
                            "giữ bản đã nạp."
                            if self.conflict_policy == "keep"
                            else "cập nhật, bản cũ lưu ở history."
                        ),
                        message_en=f"Key {key} was loaded before (batch {found['batch_id']}) with other content; "
                        + (
                            "the loaded version is kept."
                            if self.conflict_policy == "keep"
                            else "updated, the old version is kept in history."
                        ),
                    )
                )
                if self.conflict_policy == "keep":
                    actions[i] = "conflict_kept"
                    conflict_payload[i] = _capped_payload(
                        _payload(values), load_limits(wire.name).text_max_bytes
                    )
                    reasons[i] = (
                        f"Giữ bản đã nạp {found['content_hash'][:12]} / kept loaded version {found['content_hash'][:12]}"
                    )
                else:
                    actions[i] = "updated"
                    updated += 1
                    history_of.append(i)
                    history_rows.append(
                        {
                            "entity": entity.value,
                            "source_system": chunk.source_id,
                            "natural_key": key,
                            "content_hash": found["content_hash"],
                            "row_json": found["id"],  # replaced by the full old row below
                            "replaced_by_batch": self.batch_id,
                            "replaced_at": now,
                        }
                    )
                    updates.append(
                        {
                            "id": found["id"],
                            **values,
                            "content_hash": hashes[i],
                            "updated_batch_id": self.batch_id,
                            "loaded_at": now,
                        }
                    )

        old_rows: dict[int, dict[str, Any]] = {}
        ids = [h["row_json"] for h in history_rows]
        for start in range(0, len(ids), _IN_SLICE):
            part = ids[start : start + _IN_SLICE]
            for row in conn.execute(select(table).where(table.c.id.in_(part))).mappings():
                old_rows[row["id"]] = dict(row)
        for h in history_rows:
            h["row_json"] = _row_json(old_rows[h["row_json"]])

        # 5. Writes: target rows, history, ledger, findings, progress — one transaction. Rows go in in key
        # order: each key index then takes the chunk as a run of neighbouring entries instead of one random
        # page per row (SQLite, 1M ledger rows: 34 → 27 s; benchmarks/RESULTS.md). Nothing reads the
        # insertion order back: every listing has its own ORDER BY.
        fresh.sort(key=keys.__getitem__)
        added = len(fresh)
        new_rows = writers.encode(
            wire,
            table,
            {
                "batch_id": [self.batch_id] * added,
                "updated_batch_id": [None] * added,
                "loaded_at": [now] * added,
            },
            text=p.target_rows.text,
        )
        with _naming(lambda k: (source_rows[fresh[k]], keys[fresh[k]])):
            writers.insert_encoded(conn, table, writers.joined(p.target_rows, fresh, new_rows))
        with _naming(lambda k: (source_rows[history_of[k]], keys[history_of[k]])):
            writers.insert_rows(conn, schema.history, history_rows)
        writers.update_rows(conn, table, updates)
        payloads = list(p.payloads)
        for i, payload in conflict_payload.items():
            payloads[i] = payload
        wanted = [i for i in range(n) if dispositions[i] != "loaded" and payloads[i] is None]
        if wanted:  # held back by the steps above
            cap = load_limits(wire.name).text_max_bytes
            for i, payload in zip(wanted, _payloads(frame, p.payload_columns, wanted), strict=True):
                payloads[i] = _capped_payload(payload, cap)
        order = p.key_order
        decided = writers.encode(
            wire,
            schema.ledger,
            {
                "batch_id": [self.batch_id] * n,
                "source_id": [chunk.source_id] * n,
                "entity": [entity.value] * n,
                "disposition": _pick(dispositions, order),
                "action": _pick(actions, order),
                "reason": [r[: _MESSAGE_CHARS * 2] if r else r for r in _printable(_pick(reasons, order))],
                "payload": _pick(payloads, order),
            },
            text=p.ledger_rows.text,
        )
        with _naming(lambda k: (source_rows[order[k]], keys[order[k]])):
            writers.insert_encoded(conn, schema.ledger, writers.joined(p.ledger_rows, order, decided))
        all_findings = [*chunk.findings, *own]
        with _naming(lambda k: (all_findings[k].row, all_findings[k].key)):
            writers.insert_rows(conn, schema.findings, [self._finding_row(f) for f in all_findings])
        counts = Counts(extracted=n, **{d: dispositions.count(d) for d in DISPOSITIONS})
        if self.attachments is not None and entity is Entity.DOSSIER:
            from handover.target.attachments import attach_chunk

            # the files of the dossiers loaded, in place before the chunk commits (its manifest rows with it)
            final = [i for i in range(n) if dispositions[i] == "loaded"]
            self.attachment_rows += attach_chunk(
                conn, self.attachments, chunk.source_id, frame, final, keys, now
            )
        checkpoint("load.inside")  # crash drills: rows, ledger and findings written, nothing committed
        conn.execute(
            insert(schema.chunks).values(
                batch_id=self.batch_id,
                source_id=chunk.source_id,
                chunk_index=chunk.index,
                rows=n,
                inserted=inserted,
                conflicts=conflicts,
                committed_at=now,
                **{d: getattr(counts, d) for d in DISPOSITIONS},
            )
        )
        return ChunkLoadResult(
            source_id=chunk.source_id,
            chunk_index=chunk.index,
            counts=counts,
            inserted=inserted,
            unchanged=unchanged,
            updated=updated,
            conflicts=conflicts,
            findings=own,
        )

    def _key_filter(self, conn: Connection, entity: Entity, source_id: str, scope: str) -> KeyFilter | None:
        """The key filter, when it answers for this source's rows of ``entity``: the target holds none from
        another batch (asked once per source; see :mod:`~handover.target.keyfilter`). The first time, the keys
        this batch loaded in an earlier run (a resumed batch) go into it."""
        answers = self._filtered.get(scope)
        if answers is None:
            answers = self._filtered[scope] = not self._other_batch_rows(conn, entity, source_id)
            if answers:
                if self._keys is None:
                    self._keys = KeyFilter()
                table = table_for(entity)
                own = select(*key_columns(table)).where(
                    table.c.source_system == source_id, table.c.batch_id == self.batch_id
                )
                result = conn.execute(own.execution_options(yield_per=_SEED_PER))
                for part in result.mappings().partitions():
                    self._keys.add(scope, [natural_key(entity, row) for row in part])  # type: ignore[misc]
        return self._keys if answers else None

    def _other_batch_rows(self, conn: Connection, entity: Entity, source_id: str) -> bool:
        """Whether the target holds rows of ``source_id`` (``entity``) that another batch loaded."""
        table = table_for(entity)
        return (
            conn.execute(
                select(literal(1))
                .where(table.c.source_system == source_id, table.c.batch_id != self.batch_id)
                .limit(1)
            ).first()
            is not None
        )

    def _filter_overtaken(self, exc: SQLAlchemyError, chunk: Chunk) -> bool:
        """After a chunk failed on a unique key: whether the key filter answered for its source and another
        batch has loaded rows of that source since (see :mod:`~handover.target.keyfilter`). If so the filter
        stops answering for the source, and the chunk can be loaded again."""
        scope = _filter_scope(chunk.source_id, chunk.entity)
        integrity = self.engine.dialect.loaded_dbapi.IntegrityError
        if not self._filtered.get(scope) or not isinstance(getattr(exc, "orig", None), integrity):
            return False
        try:
            with self.engine.connect() as conn:
                overtaken = self._other_batch_rows(conn, chunk.entity, chunk.source_id)
        except SQLAlchemyError:
            return False  # the chunk's own error is the one to show
        if overtaken:
            self._filtered[scope] = False
        return overtaken

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

    def _existing(
        self, conn: Connection, entity: Entity, source_id: str, keys: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Target rows of ``source_id`` with these natural keys: key → id, key columns, hash, batch ids."""
        table = table_for(entity)
        wanted_columns = [
            table.c.id,
            table.c.content_hash,
            table.c.batch_id,
            *key_columns(table),
        ]
        found: dict[str, dict[str, Any]] = {}
        if entity is Entity.DOSSIER:
            lookup = sorted(set(keys))
            column = table.c.dossier_code
        else:
            lookup = sorted({k.split("/", 1)[1] for k in keys})
            column = table.c.record_number
        wanted = set(keys)
        for part in _key_filters(conn, column, lookup):
            for row in conn.execute(
                select(*wanted_columns).where(table.c.source_system == source_id, part)
            ).mappings():
                record = dict(row)
                key = natural_key(entity, record)
                if key in wanted:
                    found[key] = record  # type: ignore[index]
        return found


@contextmanager
def _naming(row_of: Callable[[int], tuple[int | None, str | None]]) -> Iterator[None]:
    """Around a write of a chunk's rows: a refusal (:class:`~handover.target.writers.RowsRefused`) learns which
    source row (and natural key) each written row is."""
    try:
        yield
    except writers.RowsRefused as exc:
        exc.row_of = row_of
        raise


def _filter_scope(source_id: str, entity: Entity) -> str:
    """The key filter's scope for one source's rows of one entity."""
    return f"{source_id}\x1f{entity.value}"


def _key_filters(conn: Connection, column: Any, values: Sequence[str]) -> Iterable[Any]:
    """``column IN values`` as few conditions as the database takes.

    PostgreSQL: one ``= ANY(array)`` with the array sent as a single text parameter (the server splits it);
    SQLite: one
    ``IN (SELECT value FROM json_each(:json))`` with the values as one JSON parameter; others: ``IN`` lists of at
    most 900 values.
    """
    if not values:
        return
    if conn.dialect.name == "postgresql":
        joined = "\x1f".join(values)
        if joined.count("\x1f") == len(values) - 1:  # one text parameter, split by the server: fast to send
            yield column == any_(
                func.string_to_array(literal(joined, Text), literal("\x1f", Text), type_=ARRAY(String))
            )
        else:
            yield column == any_(literal(list(values), ARRAY(String)))
        return
    if conn.dialect.name == "sqlite":
        listed = func.json_each(literal(json.dumps(list(values), ensure_ascii=False), String)).table_valued(
            "value"
        )
        yield column.in_(select(listed.c.value))
        return
    for start in range(0, len(values), _IN_SLICE):
        yield column.in_(values[start : start + _IN_SLICE])


__all__ = ["ChunkLoadResult", "Loader", "PreparedChunk", "fingerprint_lines", "prepare_chunk", "utcnow"]
