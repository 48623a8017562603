"""A disk spool between validate and load.

The quality gate must see every row before anything is loaded, and memory must stay flat, so validated chunks
are written to a private folder (inside the run's work folder, :mod:`handover.workdir`) and read back one at a
time by the load stage.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from handover.errors import HandoverError
from handover.models import Chunk


class Spool:
    """Reserve a file per chunk in order, write each, then iterate them in that order. Use as a context
    manager (removes its folder)."""

    def __init__(self, parent: Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="handover-spool-", dir=parent))
        self._paths: list[Path] = []

    def reserve(self) -> Path:
        """The file of the next chunk in order, to be written (by :meth:`write`) before the spool is read."""
        path = self.dir / f"{len(self._paths):06d}.pkl"
        self._paths.append(path)
        return path

    @staticmethod
    def write(path: Path, item: object) -> None:
        """Write a chunk to ``path``; a HandoverError when the disk refuses."""
        try:
            with path.open("wb") as fh:
                pickle.dump(item, fh, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError as exc:
            raise HandoverError(
                f"could not write the work file {path}: {exc.strerror or exc}",
                hint=f"free disk space where {path.parent.parent} is (the work folder; set HANDOVER_WORK_DIR or "
                "TMPDIR to use another one) and run the same command again: chunks already committed are kept",
                file=str(path),
            ) from exc

    def __len__(self) -> int:
        return len(self._paths)

    def paths(self) -> list[Path]:
        """The chunk files, in order."""
        return list(self._paths)

    @staticmethod
    def read(path: Path) -> Any:
        with path.open("rb") as fh:
            return pickle.load(fh)  # our own file, written by write()

    def __iter__(self) -> Iterator[Chunk]:
        for path in self._paths:
            yield self.read(path)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
