"""Pass 1 of a batch, chunk by chunk in this process: map → validate → spool file, with what the run needs of
each chunk (counts, findings, rows each expectation flagged, keys) handed back as a :class:`ChunkOutcome`.

A batch works in one process; batches run side by side as separate processes (``handover run-many``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handover.faults import checkpoint
from handover.models import DISPOSITIONS, Chunk, Counts, Entity, Finding
from handover.pipeline.keyspan import BatchKeys, ChunkKeys, chunk_keys
from handover.pipeline.spool import Spool

if TYPE_CHECKING:
    from handover.pipeline.map import MapSettings
    from handover.pipeline.validate import ValidationSettings, Validator


@dataclasses.dataclass
class ChunkOutcome:
    """What pass 1 did with one chunk (the chunk itself is in its spool file)."""

    source_id: str
    index: int
    rows: int
    counts: Counts
    findings: list[Finding]
    flagged: dict[str, int]  # check → rows of this chunk each expectation flagged (Validator.last_flagged)
    seconds: dict[str, float]  # stage → seconds spent on this chunk
    path: Path | None = None  # its spool file
    keys: ChunkKeys | None = None  # the rows to load and their keys, for the batch-wide key check


def chunk_counts(frame: Any) -> Counts:
    vc = frame["disposition"].value_counts()
    return Counts(extracted=len(frame), **{d: int(vc.get(d, 0)) for d in DISPOSITIONS})


class Pass1:
    """Maps and validates every chunk handed to :meth:`submit`, writes it to its spool file and gives back its
    :class:`ChunkOutcome`. The validators are built on first use: a resumed batch may have nothing left to
    validate."""

    def __init__(
        self, settings: MapSettings, spool: Spool, validation: ValidationSettings | None = None
    ) -> None:
        self.settings = settings
        self.validation = validation  # the target's limits and the handover date, for the checks
        self.spool = spool
        self.validators: dict[Entity, Validator] = {}

    def validator(self, entity: Entity) -> Validator:
        from handover.pipeline.validate import Validator

        if entity not in self.validators:
            self.validators[entity] = Validator.load(entity, settings=self.validation)
        return self.validators[entity]

    def submit(self, chunk: Chunk) -> ChunkOutcome:
        """Map, validate and spool ``chunk``; its outcome."""
        from handover.pipeline.map import map_chunk

        start = time.perf_counter()
        chunk = map_chunk(chunk, self.settings)
        mapped = time.perf_counter()
        checkpoint("validate")
        validator = self.validator(Entity(chunk.entity))
        chunk = validator.validate_chunk(chunk)
        path = self.spool.reserve()
        keys = chunk_keys(chunk)
        Spool.write(path, chunk)
        return ChunkOutcome(
            source_id=chunk.source_id,
            index=chunk.index,
            rows=len(chunk.frame),
            counts=chunk_counts(chunk.frame),
            findings=chunk.findings,
            flagged=dict(validator.last_flagged),
            seconds={"map": mapped - start, "validate": time.perf_counter() - mapped},
            path=path,
            keys=keys,
        )

    def for_load(self, keys: BatchKeys | None = None) -> Iterator[Chunk]:
        """The spooled chunks in order, for pass 2 (the loader prepares each), each read once and settled with
        the batch-wide key decisions made on its rows after it was spooled (:meth:`BatchKeys.settle`)."""
        for path in self.spool.paths():
            chunk = Spool.read(path)
            yield chunk if keys is None else keys.settle(path, chunk)
