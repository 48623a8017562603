"""The loader's Bloom filter of loaded keys: never a false negative, scopes kept apart, size fixed."""

from __future__ import annotations

import pytest

from handover.target.keyfilter import KeyFilter


def test_every_added_key_is_held_and_most_others_are_not() -> None:
    keys = [f"H48-{i:07d}" for i in range(200_000)]
    filt = KeyFilter(bits=1 << 22)
    for start in range(0, len(keys), 20_000):
        filt.add("bt\x1fdossier", keys[start : start + 20_000])
    assert filt.added == 200_000
    assert all(filt.may_hold("bt\x1fdossier", keys))
    others = [f"H49-{i:07d}" for i in range(200_000)]
    false_positives = sum(filt.may_hold("bt\x1fdossier", others))
    # 200,000 keys in 4 Mbit with 3 hashes: (1 - e^(-3n/m))^3 ≈ 0.0024, about 470 of 200,000
    assert false_positives < 1_500
    assert sum(filt.may_hold("other\x1fdossier", keys)) < 1_500  # the same keys under another scope


def test_empty_and_invalid_input() -> None:
    filt = KeyFilter(bits=64)
    assert filt.may_hold("s", []) == []
    filt.add("s", [])
    assert filt.added == 0 and filt.may_hold("s", ["a"]) == [False]
    filt.add("s", ["a", "a"])
    assert filt.may_hold("s", ["a"]) == [True]
    with pytest.raises(ValueError, match="power of two"):
        KeyFilter(bits=1000)
