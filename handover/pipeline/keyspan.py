"""Natural keys across the chunks of a batch, decided in pass 1, before the quality gate.

The validator decides duplicates and key conflicts inside one chunk. :class:`BatchKeys` carries that decision
across chunks, in the main process, in chunk order, so that the dry run, the gate and the load count every row
the same way whatever the chunk size:

* a row to load whose key an earlier row of the same source loads, with the same content → ``duplicate``;
* with other content → both rows ``quarantined``, each with the key-conflict error finding the validator gives
  inside a chunk (``dossier_code_unique`` / ``record_number_unique``); every later row with that key too, unless
  it repeats a row exactly.

The counts and findings change at once (the gate and the dry run see them); an earlier chunk is already in its
spool file, so its changed rows wait in :attr:`BatchKeys.pending` (a few numbers per row, :class:`_Pending`) and
:meth:`BatchKeys.settle` applies them to the chunk as the load reads it back, before the loader sees it. A
resumed run skips committed chunks, so their keys are not seen here; the loader still finds those in the
target's ledger.

Memory must not grow with the input, but the keys a batch has loaded must be known until its last chunk: they
are held as numpy columns per source (:class:`_SourceKeys`: a 128-bit digest of the key, the first row, its
content digest and spool place; about 50 bytes per key whatever its length), not as Python objects. Only the
rows whose key was seen before, or recurs in its chunk, are decided one by one.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from handover.keys import key_field, natural_keys
from handover.models import Chunk, Counts, Disposition, Entity, Finding, Severity

CONFLICT_CHECK = {Entity.DOSSIER: "dossier_code_unique", Entity.RECORD: "record_number_unique"}


@dataclass
class ChunkKeys:
    """The rows of one validated chunk the key check needs: those to load, and the keys already in conflict."""

    positions: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    digests: list[int] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    conflicted: set[str] = field(default_factory=set)


_MISSING_HASH = np.uint64(np.iinfo(np.uint64).max)  # a missing cell's hash, as pandas gives it


def content_digests(frame: Any, entity: Entity, positions: Any) -> list[int]:
    """What "the same content" means for two rows of a batch with one key: a 64-bit hash of the entity's
    source fields (``fields_for``), the same inside a chunk (the validator) and across chunks.

    The value of ``pd.util.hash_pandas_object(frame.iloc[positions][fields].astype(object), index=False)``,
    computed column by column without the sub-frame: each column's distinct values (``pd.factorize``; missing
    cells -1, hashed as pandas hashes them) hashed once with ``pd.util.hash_array`` (values other than text as
    an ``Index`` of them, as pandas' categories are), then the columns combined row by row as pandas combines
    them (CPython's tuple hash)."""
    import pandas as pd

    from handover.models import fields_for

    columns = [c for c in fields_for(entity) if c in frame.columns]
    at = np.asarray(positions, dtype=np.intp)
    out = np.full(len(at), 0x345678, dtype=np.uint64)
    mult = np.uint64(1000003)
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps, as intended
        for i, name in enumerate(columns):
            codes, uniques = pd.factorize(frame[name].to_numpy(dtype=object)[at])
            if pd.api.types.infer_dtype(uniques, skipna=False) != "string":
                # as pandas' categories: an Index of them (Timestamps hash as datetimes, whole numbers as such)
                uniques = np.asarray(pd.Index(uniques, copy=False))
            hashed = pd.util.hash_array(uniques, categorize=False)
            column = hashed.take(codes) if len(hashed) else np.zeros(len(at), dtype=np.uint64)
            column[codes < 0] = _MISSING_HASH
            out ^= column
            out *= mult
            mult += np.uint64(82520 + 2 * (len(columns) - i))
        out += np.uint64(97531)
    return out.tolist()


def chunk_keys(chunk: Chunk) -> ChunkKeys:
    """Key, content digest and source row of each row of ``chunk`` to load (computed where the chunk was
    validated, so the main process receives only these)."""
    entity = Entity(chunk.entity)
    frame = chunk.frame
    out = ChunkKeys(conflicted={f.key for f in chunk.findings if f.check == CONFLICT_CHECK[entity] and f.key})
    if not len(frame):
        return out
    keys = natural_keys(frame, entity).tolist()
    loading = (frame["disposition"] == Disposition.LOADED.value).to_numpy()
    picked = [i for i in range(len(frame)) if loading[i] and keys[i] is not None]
    if not picked:
        return out
    rows = frame["source_row"].tolist()
    out.positions = picked
    out.keys = [keys[i] for i in picked]
    out.digests = content_digests(frame, entity, picked)
    out.rows = [int(rows[i]) for i in picked]
    return out


@dataclass
class _First:
    """The first row of the batch that carried a key, as :meth:`BatchKeys.take` decides on it."""

    row: int
    digest: int | None  # None: the key is in conflict
    place: tuple[Path, int] | None  # spool file and position of the row that loads it, while it does


_NO_PLACE = -1
_KEY_SALTS = ("handover-keys-01", "handover-keys-02")  # 16 characters each: SipHash keys of the two halves


def key_digests(keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit SipHash digests of each key (128 bits: two different keys of one source share
    both with a probability about 1e-26 at 5M keys); the key store compares keys by them."""
    import pandas as pd

    values = np.asarray(keys, dtype=object)
    return tuple(pd.util.hash_array(values, hash_key=salt, categorize=False) for salt in _KEY_SALTS)  # type: ignore[return-value]


class _SourceKeys:
    """The keys one source has loaded so far, as numpy arrays: per key its 128-bit digest, its first row, the
    content digest of that row (or "in conflict") and the spool place of the row that loads it, while it does;
    about 50 bytes per key, whatever the key's length. Looked up through the first digest half, kept sorted
    (a merge per chunk); the second half confirms."""

    _FIELDS = (
        ("h2", np.uint64),
        ("row", np.int64),
        ("digest", np.uint64),
        ("conflict", np.bool_),
        ("file", np.int32),
        ("pos", np.int32),
    )

    def __init__(self) -> None:
        self.size = 0
        self.cols = {name: np.zeros(1024, dtype=dtype) for name, dtype in self._FIELDS}
        self.sorted_h1 = np.zeros(0, dtype=np.uint64)  # the first halves, sorted
        self.sorted_at = np.zeros(0, dtype=np.int64)  # the entry of each
        self._new_h1: list[np.ndarray] = []  # appended, not indexed yet
        self._new_at: list[np.ndarray] = []

    def find(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
        """The entry of each key (its two digest halves), -1 where none."""
        out = np.full(len(h1), -1, dtype=np.int64)
        if not len(self.sorted_h1) or not len(h1):
            return out
        left = np.searchsorted(self.sorted_h1, h1, side="left")
        right = np.searchsorted(self.sorted_h1, h1, side="right")
        for i in np.flatnonzero(right > left):  # first half known: the second half decides
            for at in self.sorted_at[left[i] : right[i]]:
                if self.cols["h2"][at] == h2[i]:
                    out[i] = at
                    break
        return out

    def append(self, h1: np.ndarray, values: dict[str, np.ndarray]) -> np.ndarray:
        """New entries (``values``: each given field's column; the others are set by :meth:`put`); their entry
        numbers. Call :meth:`index` after."""
        n = len(h1)
        need = self.size + n
        if need > len(self.cols["h2"]):
            grown = max(need, len(self.cols["h2"]) * 5 // 4)  # a quarter more: little slack at 5M keys
            for name, col in self.cols.items():
                bigger = np.zeros(grown, dtype=col.dtype)
                bigger[: self.size] = col[: self.size]
                self.cols[name] = bigger
        for name, col in values.items():
            self.cols[name][self.size : need] = col
        at = np.arange(self.size, need, dtype=np.int64)
        self.size = need
        self._new_h1.append(np.asarray(h1, dtype=np.uint64))
        self._new_at.append(at)
        return at

    def index(self) -> None:
        """Merge the entries appended since the last call into the sorted look-up."""
        if not self._new_h1:
            return
        h1, at = np.concatenate(self._new_h1), np.concatenate(self._new_at)
        self._new_h1, self._new_at = [], []
        order = np.argsort(h1, kind="stable")
        h1, at = h1[order], at[order]
        where = np.searchsorted(self.sorted_h1, h1, side="right")
        self.sorted_h1 = np.insert(self.sorted_h1, where, h1)
        self.sorted_at = np.insert(self.sorted_at, where, at)

    def get(self, at: int, files: list[Path]) -> _First:
        c = self.cols
        place = None if c["file"][at] == _NO_PLACE else (files[int(c["file"][at])], int(c["pos"][at]))
        return _First(int(c["row"][at]), None if c["conflict"][at] else int(c["digest"][at]), place)

    def put(self, at: int, first: _First, file_of: Callable[[Path], int]) -> None:
        c = self.cols
        c["row"][at] = first.row
        c["conflict"][at] = first.digest is None
        c["digest"][at] = 0 if first.digest is None else first.digest
        c["file"][at], c["pos"][at] = (
            (_NO_PLACE, 0) if first.place is None else (file_of(first.place[0]), first.place[1])
        )


_DUPLICATE, _CONFLICT = 0, 1  # what a pending row becomes
_NO_ROW = -1  # a conflict's other row, when none is known


@dataclass
class _Pending:
    """The rows of one spooled chunk decided after it was spooled, in the order decided (each row once): its
    position in the chunk, what it becomes (:data:`_DUPLICATE` or :data:`_CONFLICT`) and the other row named
    in its reason (the first row of its key; for a conflict :data:`_NO_ROW` when none). 13 bytes a row: the
    reason and the key-conflict finding are rebuilt from these and the chunk's own key and source row."""

    positions: array = field(default_factory=lambda: array("i"))
    kinds: array = field(default_factory=lambda: array("b"))
    others: array = field(default_factory=lambda: array("q"))


@dataclass
class BatchKeys:
    """The keys every source of a batch loads so far (see the module text). Memory: about 50 bytes per key to
    load, in numpy arrays (:class:`_SourceKeys`), plus 13 bytes per spooled row decided since
    (:class:`_Pending`) until the load reads its chunk."""

    sources: dict[str, _SourceKeys] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)  # the spool files the keys' places refer to
    file_no: dict[Path, int] = field(default_factory=dict)
    pending: dict[Path, _Pending] = field(default_factory=dict)

    def _file(self, path: Path) -> int:
        if path not in self.file_no:
            self.file_no[path] = len(self.files)
            self.files.append(path)
        return self.file_no[path]

    def take(
        self, source_id: str, entity: Entity, path: Path, found: ChunkKeys
    ) -> tuple[Counts, list[Finding]]:
        """Decide the rows of one chunk (in chunk order); return the change to the source's counts and the
        findings made; the rows of chunks already spooled (this one included) wait for :meth:`settle`.

        The rows whose key is new to the batch and once in the chunk are recorded column-wise; the others
        (a key seen before, or again in this chunk) are decided one by one, in chunk order."""
        store = self.sources.setdefault(source_id, _SourceKeys())
        delta = {"loaded": 0, "duplicate": 0, "quarantined": 0}
        made: list[Finding] = []
        # the entries this chunk creates, by key digest, until they are indexed at the end of the chunk
        fresh: dict[tuple[int, int], int] = {}

        def lookup(key_h: tuple[int, int]) -> int:
            at = fresh.get(key_h)
            if at is not None:
                return at
            return int(store.find(np.array([key_h[0]], np.uint64), np.array([key_h[1]], np.uint64))[0])

        def create(key_h: tuple[int, int], first: _First) -> None:
            at = int(
                store.append(np.array([key_h[0]], np.uint64), {"h2": np.array([key_h[1]], np.uint64)})[0]
            )
            store.put(at, first, self._file)
            fresh[key_h] = at

        if found.conflicted:
            conflicted = sorted(found.conflicted)
            c1, c2 = key_digests(conflicted)
            for key, key_h in zip(conflicted, zip(c1.tolist(), c2.tolist(), strict=True), strict=True):
                at = lookup(key_h)
                if at < 0:
                    create(key_h, _First(0, None, None))
                    continue
                first = store.get(at, self.files)
                if first.digest is not None:
                    self._conflict(source_id, entity, key, first, None, delta, made)
                    store.put(at, first, self._file)
        if found.keys:
            h1, h2 = key_digests(found.keys)
            known = store.find(h1, h2)
            # rows decided one by one: a key known before this chunk, or more than once in it, or among the
            # chunk's conflicted keys
            unique, counts = np.unique(h1, return_counts=True)
            repeated = np.isin(h1, unique[counts > 1])
            slow = (known >= 0) | repeated
            if fresh:
                in_fresh = np.fromiter(
                    ((a, b) in fresh for a, b in zip(h1.tolist(), h2.tolist(), strict=True)), bool, len(h1)
                )
                slow |= in_fresh
            quick = np.flatnonzero(~slow)
            if len(quick):
                positions = np.asarray(found.positions, dtype=np.int32)[quick]
                store.append(
                    h1[quick],
                    {
                        "h2": h2[quick],
                        "row": np.asarray(found.rows, dtype=np.int64)[quick],
                        "digest": np.asarray(found.digests, dtype=np.uint64)[quick],
                        "conflict": np.zeros(len(quick), bool),
                        "file": np.full(len(quick), self._file(path), np.int32),
                        "pos": positions,
                    },
                )
            for i in np.flatnonzero(slow).tolist():
                key_h = (int(h1[i]), int(h2[i]))
                pos, key, digest, row = found.positions[i], found.keys[i], found.digests[i], found.rows[i]
                at = lookup(key_h)
                if at < 0:
                    create(key_h, _First(row, digest, (path, pos)))
                    continue
                first = store.get(at, self.files)
                if first.digest == digest:
                    self._set(path, pos, _DUPLICATE, first.row)
                    delta["loaded"] -= 1
                    delta["duplicate"] += 1
                    continue
                self._conflict(source_id, entity, key, first, (path, pos, row), delta, made)
                store.put(at, first, self._file)
        store.index()
        counts = Counts(extracted=0, **delta)
        return counts, made

    def _conflict(
        self,
        source_id: str,
        entity: Entity,
        key: str,
        first: _First,
        later: tuple[Path, int, int] | None,
        delta: dict[str, int],
        made: list[Finding],
    ) -> None:
        if first.place is not None:  # the row that loaded the key so far: quarantined too
            other = later[2] if later else None
            finding = _conflict_finding(source_id, entity, key, first.row, other)
            self._set(*first.place, _CONFLICT, _NO_ROW if other is None else other)
            made.append(finding)
            delta["loaded"] -= 1
            delta["quarantined"] += 1
            first.place = None
        first.digest = None
        if later is not None:
            path, pos, row = later
            finding = _conflict_finding(source_id, entity, key, row, first.row or None)
            self._set(path, pos, _CONFLICT, first.row or _NO_ROW)
            made.append(finding)
            delta["loaded"] -= 1
            delta["quarantined"] += 1

    def _set(self, path: Path, pos: int, kind: int, other: int) -> None:
        todo = self.pending.get(path)
        if todo is None:
            todo = self.pending[path] = _Pending()
        todo.positions.append(pos)
        todo.kinds.append(kind)
        todo.others.append(other)

    def settle(self, path: Path, chunk: Chunk) -> Chunk:
        """``chunk``, read back from its spool file ``path``, with the decisions made on its rows after it was
        spooled: disposition, reason, and the key-conflict finding of each conflicting row (its key and row
        are the chunk's own). The decisions are forgotten: each spooled chunk is settled once, as it is read
        for the load."""
        todo = self.pending.pop(path, None)
        if todo is None:
            return chunk
        frame = chunk.frame
        entity = Entity(chunk.entity)
        disposition = frame["disposition"].tolist()
        reason = frame["reason"].tolist()
        source_rows = frame["source_row"]
        conflicting = [p for p, kind in zip(todo.positions, todo.kinds, strict=True) if kind == _CONFLICT]
        keys = dict(zip(conflicting, natural_keys(frame.iloc[conflicting], entity).tolist(), strict=True))
        for pos, kind, other in zip(todo.positions, todo.kinds, todo.others, strict=True):
            if kind == _DUPLICATE:
                disposition[pos] = Disposition.DUPLICATE.value
                reason[pos] = _duplicate_reason(other)
                continue
            named = None if other == _NO_ROW else other
            disposition[pos] = Disposition.QUARANTINED.value
            reason[pos] = _conflict_reason(named)
            row = int(source_rows.iat[pos])
            chunk.findings.append(_conflict_finding(chunk.source_id, entity, keys[pos], row, named))
        frame["disposition"] = disposition
        frame["reason"] = reason
        return chunk


def _duplicate_reason(first_row: int) -> str:
    return f"Trùng hoàn toàn với dòng {first_row} / exact duplicate of row {first_row}"


def _conflict_reason(other_row: int | None) -> str:
    if other_row is None:
        return "Trùng mã với dòng khác nội dung trong đợt / same key as other rows of the batch with other content"
    return (
        f"Trùng mã với dòng {other_row} nhưng khác nội dung / same key as row {other_row}, different content"
    )


def _conflict_finding(source_id: str, entity: Entity, key: str, row: int, other: int | None) -> Finding:
    where_vi = f" (dòng {other})" if other else ""
    where_en = f" (row {other})" if other else ""
    return Finding(
        source_id=source_id,
        row=row,
        key=key,
        field=key_field(entity),
        check=CONFLICT_CHECK[entity],
        severity=Severity.ERROR,
        message_vi=f"Mã {key} trùng với một dòng khác của nguồn{where_vi} nhưng nội dung khác: cần xác định "
        "bản đúng.",
        message_en=f"Key {key} is also on another row of the source{where_en} with other content: decide which "
        "is right.",
    )
