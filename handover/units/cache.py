"""The parsed reference and its name index, kept in this process and pickled between runs."""

from __future__ import annotations

import os
from pathlib import Path

from handover.units.matching import NameIndex
from handover.units.reference import Reference

_INDEXES: dict[int, tuple[Reference, NameIndex]] = {}
_CACHE_VERSION = "1"


def index_for(ref: Reference) -> NameIndex:
    """The name index of ``ref``, built once (the last reference's is kept)."""
    cached = _INDEXES.get(id(ref))
    if cached is None or cached[0] is not ref:
        _INDEXES.clear()
        cached = (ref, NameIndex(ref))
        _INDEXES[id(ref)] = cached
    return cached[1]


def cache_dir() -> Path:
    """Where the parsed reference is cached between runs (``HANDOVER_CACHE_DIR`` or the user cache folder)."""
    if os.environ.get("HANDOVER_CACHE_DIR"):
        return Path(os.environ["HANDOVER_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "handover"


def cached_reference(folder: Path) -> Reference:
    """The reference in ``folder``: from this process, else a pickle keyed on the files' SHA-256, else parsed."""
    import hashlib
    import pickle

    from handover.units.reference import _CACHE, REFERENCE_FILES, stamp

    key = stamp(folder)
    if key in _CACHE:
        return _CACHE[key]
    digest = hashlib.sha256(_CACHE_VERSION.encode())
    for module in ("reference.py", "matching.py", "names.py"):  # the code that shapes the cached objects
        digest.update((Path(__file__).parent / module).read_bytes())
    for name in REFERENCE_FILES:
        digest.update((folder / name).read_bytes())
    path = cache_dir() / f"units-{digest.hexdigest()[:32]}.pickle"
    try:
        with path.open("rb") as fh:
            ref, index = pickle.load(fh)
        if isinstance(ref, Reference) and isinstance(index, NameIndex):
            _INDEXES.clear()
            _INDEXES[id(ref)] = (ref, index)
            _CACHE.clear()
            _CACHE[key] = ref
            return ref
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, ValueError, TypeError):
        pass
    ref = Reference.load(folder)
    index = index_for(ref)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            pickle.dump((ref, index), fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    except OSError:
        pass  # a read-only home folder only costs speed
    return ref
