"""Extract stage: open every source up front (so a bad header stops the batch before anything is written),
fingerprint it, and stream its canonical chunks. The readers live in :mod:`handover.sources`; given a folder, a
file source is read from a private snapshot (:mod:`handover.sources.snapshot`), checked against the original
by :func:`check_unchanged` before anything is loaded."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from handover.config import SourceConfig
from handover.models import Chunk, SourceFingerprint

if TYPE_CHECKING:
    from handover.sources import SourceReader
    from handover.sources.snapshot import Snapshot


@dataclasses.dataclass
class OpenSource:
    config: SourceConfig
    reader: SourceReader
    snapshot: Snapshot | None = None

    @property
    def fingerprint(self) -> SourceFingerprint:
        return self.reader.fingerprint

    def chunks(self) -> Iterator[Chunk]:
        return self.reader.chunks()

    def accounted(self) -> SourceFingerprint:
        """The fingerprint with every physical row accounted for (after :meth:`chunks` has been read)."""
        return self.fingerprint.model_copy(update={"rows": self.reader.row_account()})


def open_sources(
    sources: list[SourceConfig], chunk_size: int, snapshot_dir: Path | None = None
) -> list[OpenSource]:
    """Open and check every source (file sources from a snapshot in ``snapshot_dir`` when given); raises
    :class:`handover.errors.SourceError` on the first bad one."""
    from handover.sources import open_source
    from handover.sources.snapshot import take

    out = []
    for n, cfg in enumerate(sources):
        snap = take(cfg, snapshot_dir / str(n)) if snapshot_dir is not None else None
        out.append(OpenSource(cfg, open_source(cfg, chunk_size, snap), snap))
    return out


def check_unchanged(sources: list[OpenSource]) -> None:
    """SourceError when a source file changed since its snapshot was taken (see :mod:`handover.sources.snapshot`)."""
    from handover.sources.snapshot import check_unchanged as check

    for src in sources:
        if src.snapshot is not None:
            check(src.snapshot)
