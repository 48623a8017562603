"""Natural keys across the chunks of a batch, decided in pass 1, before the quality gate.

The validator decides duplicates and key conflicts inside one chunk. :class:`BatchKeys` carries that decision
across chunks, in the main process, in chunk order, so that the dry run, the gate and the load count every row
the same way whatever the chunk size:

* a row to load whose key an earlier row of the same source loads, with the same content → ``duplicate``;
* with other content → both rows ``quarantined``, each with the key-conflict error finding the validator gives
  inside a chunk (``dossier_code_unique`` / ``record_number_unique``); every later row with that key too, unless
  it repeats a row exactly.

An earlier chunk is already in its spool file: its changes wait in :attr:`BatchKeys.pending` and
:meth:`BatchKeys.apply` writes them into the spooled chunks before the gate. A resumed run skips committed
chunks, so their keys are not seen here; the loader still finds those in the target's ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def content_digests(frame: Any, entity: Entity, positions: Any) -> list[int]:
    """What "the same content" means for two rows of a batch with one key: a 64-bit hash of the entity's
    source fields (``fields_for``), the same inside a chunk (the validator) and across chunks."""
    import pandas as pd

    from handover.models import fields_for

    columns = [c for c in fields_for(entity) if c in frame.columns]
    sub = frame.iloc[positions][columns].astype("object")
    return pd.util.hash_pandas_object(sub, index=False).tolist()


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
    row: int
    digest: int | None  # None: the key is in conflict
    place: tuple[Path, int] | None  # spool file and position of the row that loads it, while it does


@dataclass
class BatchKeys:
    """The keys every source of a batch loads so far (see the module text)."""

    seen: dict[tuple[str, str], _First] = field(default_factory=dict)
    pending: dict[Path, dict[int, tuple[str, str, list[Finding]]]] = field(default_factory=dict)

    def take(
        self, source_id: str, entity: Entity, path: Path, found: ChunkKeys
    ) -> tuple[Counts, list[Finding]]:
        """Decide the rows of one chunk (in chunk order); return the change to the source's counts and the
        findings made, which :meth:`apply` also writes into the spooled chunks."""
        delta = {"loaded": 0, "duplicate": 0, "quarantined": 0}
        made: list[Finding] = []
        for key in found.conflicted:
            first = self.seen.get((source_id, key))
            if first is None:
                self.seen[(source_id, key)] = _First(0, None, None)
            elif first.digest is not None:
                self._conflict(source_id, entity, key, first, None, delta, made)
        for pos, key, digest, row in zip(found.positions, found.keys, found.digests, found.rows, strict=True):
            first = self.seen.get((source_id, key))
            if first is None:
                self.seen[(source_id, key)] = _First(row, digest, (path, pos))
                continue
            if first.digest == digest:
                self._set(path, pos, Disposition.DUPLICATE.value, _duplicate_reason(first.row), [])
                delta["loaded"] -= 1
                delta["duplicate"] += 1
                continue
            self._conflict(source_id, entity, key, first, (path, pos, row), delta, made)
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
            self._set(*first.place, Disposition.QUARANTINED.value, _conflict_reason(other), [finding])
            made.append(finding)
            delta["loaded"] -= 1
            delta["quarantined"] += 1
            first.place = None
        first.digest = None
        if later is not None:
            path, pos, row = later
            finding = _conflict_finding(source_id, entity, key, row, first.row or None)
            self._set(
                path, pos, Disposition.QUARANTINED.value, _conflict_reason(first.row or None), [finding]
            )
            made.append(finding)
            delta["loaded"] -= 1
            delta["quarantined"] += 1

    def _set(self, path: Path, pos: int, disposition: str, reason: str, findings: list[Finding]) -> None:
        self.pending.setdefault(path, {})[pos] = (disposition, reason, findings)

    def apply(self, read: Callable[[Path], Any], write: Callable[[Path, Any], None]) -> int:
        """Write the pending decisions into their spooled chunks; return the number of chunks rewritten."""
        for path, changes in self.pending.items():
            chunk = read(path)
            frame = chunk.frame
            disposition = frame["disposition"].tolist()
            reason = frame["reason"].tolist()
            for pos, (disp, why, findings) in changes.items():
                disposition[pos] = disp
                reason[pos] = why
                chunk.findings.extend(findings)
            frame["disposition"] = disposition
            frame["reason"] = reason
            write(path, chunk)
        done = len(self.pending)
        self.pending = {}
        return done


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
