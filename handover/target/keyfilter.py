"""A fixed-size Bloom filter of the natural keys a batch has loaded, so that the loader looks up in the database
only the keys it may have loaded before.

While a batch fills a target that holds no row of a source from any other batch, a key of that source can be in
the target only if this batch loaded it (an earlier chunk, or an earlier run of the same batch). The loader then
asks the filter first: a key it has never been given is certainly new, and needs neither the target's nor the
ledger's look-up; only the keys the filter may hold (the batch's real repeats, and a few false positives) are
looked up as before (figures in benchmarks/RESULTS.md). :class:`LoadedKeys` asks once per source and run whether
another batch has rows of it. Another batch that starts loading the same source while this one runs is seen only
when a key both deliver meets the target's unique index: nothing of that chunk is written, the loader finds the
other batch's rows (:meth:`LoadedKeys.overtaken`), stops using the filter for the source and loads the chunk
again, looking every key up (``Loader.load_chunk``).

The filter's size is fixed (:data:`DEFAULT_BITS`, 16 MB), so memory does not grow with the batch: more keys only
raise the share of false positives, which cost a look-up each, never a wrong answer. With three hash functions
the share is about 1 in 90,000 at 1M keys, 1 in 850 at 5M and 1 in 125 at 10M.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import Connection, Engine, literal, select
from sqlalchemy.exc import SQLAlchemyError

from handover.keys import natural_key
from handover.keys_sql import key_columns
from handover.models import Entity
from handover.target.hashing import table_for

DEFAULT_BITS = 1 << 27  # 16 MB
_HASHES = 3
_SEED_PER = 50_000  # keys a resumed batch reads at a time into its key filter


class KeyFilter:
    """Keys seen so far (strings, each under a scope such as source and entity); no false negatives."""

    def __init__(self, bits: int = DEFAULT_BITS) -> None:
        if bits < 64 or bits & (bits - 1):
            raise ValueError("bits must be a power of two, at least 64")
        self._mask = np.uint64(bits - 1)
        self._bits = np.zeros(bits // 8, dtype=np.uint8)
        self.added = 0

    def _positions(self, scope: str, keys: Sequence[str]) -> np.ndarray:
        """Each key's bit positions, shape (len(keys), 3): double hashing of Python's 64-bit string hash, which
        is stable within a process (the filter never leaves it)."""
        hashes = np.fromiter((hash((scope, k)) for k in keys), dtype=np.int64, count=len(keys)).view(
            np.uint64
        )
        low = hashes & np.uint64(0xFFFFFFFF)
        high = (hashes >> np.uint64(32)) | np.uint64(1)
        steps = np.arange(_HASHES, dtype=np.uint64)
        return (low[:, None] + steps[None, :] * high[:, None]) & self._mask

    def add(self, scope: str, keys: Sequence[str]) -> None:
        if not keys:
            return
        positions = self._positions(scope, keys).ravel()
        np.bitwise_or.at(
            self._bits, positions >> np.uint64(3), (1 << (positions & np.uint64(7))).astype(np.uint8)
        )
        self.added += len(keys)

    def may_hold(self, scope: str, keys: Sequence[str]) -> list[bool]:
        """For each key: False when it was certainly never added under ``scope``, True when it may have been."""
        if not keys:
            return []
        positions = self._positions(scope, keys)
        hit = (self._bits[positions >> np.uint64(3)] >> (positions & np.uint64(7)).astype(np.uint8)) & 1
        return hit.all(axis=1).tolist()


class LoadedKeys:
    """The keys one batch has loaded, per source and entity, while the filter answers for them: while the target
    holds no row of the source that another batch loaded (see the module text)."""

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        self._keys: KeyFilter | None = None  # created by the first source the filter answers for
        self._answers: dict[str, bool] = {}  # scope → the filter answers for it

    def for_source(self, conn: Connection, entity: Entity, source_id: str) -> tuple[KeyFilter | None, str]:
        """The key filter when it answers for this source's rows of ``entity`` (asked once per source), and the
        scope to ask it under. The first time, the keys this batch loaded in an earlier run (a resumed batch)
        go into it."""
        scope = scope_of(source_id, entity)
        answers = self._answers.get(scope)
        if answers is None:
            answers = self._answers[scope] = not self._other_batch_rows(conn, entity, source_id)
            if answers:
                if self._keys is None:
                    self._keys = KeyFilter()
                table = table_for(entity)
                own = select(*key_columns(entity, table)).where(
                    table.c.source_system == source_id, table.c.batch_id == self.batch_id
                )
                result = conn.execute(own.execution_options(yield_per=_SEED_PER))
                for part in result.mappings().partitions():
                    self._keys.add(scope, [natural_key(entity, row) for row in part])  # type: ignore[misc]
        return (self._keys if answers else None), scope

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

    def overtaken(self, engine: Engine, exc: SQLAlchemyError, entity: Entity, source_id: str) -> bool:
        """After a chunk failed on a unique key: whether the filter answered for its source and another batch
        has loaded rows of that source since. If so the filter stops answering for the source, and the chunk
        can be loaded again."""
        scope = scope_of(source_id, entity)
        integrity = engine.dialect.loaded_dbapi.IntegrityError
        if not self._answers.get(scope) or not isinstance(getattr(exc, "orig", None), integrity):
            return False
        try:
            with engine.connect() as conn:
                overtaken = self._other_batch_rows(conn, entity, source_id)
        except SQLAlchemyError:
            return False  # the chunk's own error is the one to show
        if overtaken:
            self._answers[scope] = False
        return overtaken


def scope_of(source_id: str, entity: Entity | str) -> str:
    """The key filter's scope for one source's rows of one entity."""
    return f"{source_id}\x1f{Entity(entity).value}"
