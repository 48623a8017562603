"""A fixed-size Bloom filter of the natural keys a batch has loaded, so that the loader looks up in the database
only the keys it may have loaded before.

While a batch fills a target that holds no row of a source from any other batch, a key of that source can be in
the target only if this batch loaded it (an earlier chunk, or an earlier run of the same batch). The loader then
asks the filter first: a key it has never been given is certainly new, and needs neither the target's nor the
ledger's look-up; only the keys the filter may hold (the batch's real repeats, and a few false positives) are
looked up as before. At 1M dossiers into PostgreSQL the look-ups were 4 s of the load (benchmarks/RESULTS.md,
seventh session). The loader asks once per source and run whether another batch has rows of it. Another batch
that starts loading the same source while this one runs is seen only when a key both deliver meets the target's
unique index: nothing of that chunk is written, the loader finds the other batch's rows, stops using the filter
for the source and loads the chunk again, looking every key up (``Loader.load_chunk``).

The filter's size is fixed (:data:`DEFAULT_BITS`, 16 MB), so memory does not grow with the batch: more keys only
raise the share of false positives, which cost a look-up each, never a wrong answer. With three hash functions
the share is about 1 in 90,000 at 1M keys, 1 in 850 at 5M and 1 in 125 at 10M.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_BITS = 1 << 27  # 16 MB
_HASHES = 3


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
