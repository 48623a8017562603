"""Extract stage: open every source up front (so a bad header stops the batch before anything is written),
fingerprint it, and stream its canonical chunks. The readers live in :mod:`handover.sources`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

from handover.config import SourceConfig
from handover.models import Chunk, SourceFingerprint

if TYPE_CHECKING:
    from handover.sources import SourceReader


@dataclasses.dataclass
class OpenSource:
    config: SourceConfig
    reader: SourceReader

    @property
    def fingerprint(self) -> SourceFingerprint:
        return self.reader.fingerprint

    def chunks(self) -> Iterator[Chunk]:
        return self.reader.chunks()

    def accounted(self) -> SourceFingerprint:
        """The fingerprint with every physical row accounted for (after :meth:`chunks` has been read)."""
        return self.fingerprint.model_copy(update={"rows": self.reader.row_account()})


def open_sources(sources: list[SourceConfig], chunk_size: int) -> list[OpenSource]:
    """Open and check every source; raises :class:`handover.errors.SourceError` on the first bad one."""
    from handover.sources import open_source

    return [OpenSource(cfg, open_source(cfg, chunk_size)) for cfg in sources]
