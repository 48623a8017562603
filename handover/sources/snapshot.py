"""A file source is read from a private snapshot, so that what is loaded is exactly what was hashed.

:func:`take` copies the file into the run's work folder (:mod:`handover.workdir`) while hashing the bytes it
copies; the reader then reads only the copy, and the source's fingerprint (``SourceFingerprint.sha256``) is the
hash of those bytes. An export still being written when the batch starts, or rewritten while the batch reads it,
is caught twice: right after the copy (the original's size and modification time moved while it was copied),
and by :func:`check_unchanged` after pass 1 (every row validated, nothing loaded yet: the original's size and
SHA-256 must still be those of the copy). Either stops the batch with a :class:`~handover.errors.SourceError`
before anything is committed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from handover.errors import SourceError
from handover.sources.base import sha256_file

if TYPE_CHECKING:
    from handover.config import SourceConfig
    from handover.sources.base import SourceReader

_BLOCK = 8 << 20  # bytes per read: copying costs little more than hashing alone


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A source file's private copy, and what the original was when it was copied."""

    source_id: str
    original: Path
    copy: Path
    sha256: str  # of the copied bytes
    size: int
    mtime_ns: int  # the original's, before the copy

    def config(self, cfg: SourceConfig) -> SourceConfig:
        """``cfg`` reading the copy."""
        return cfg.model_copy(update={"path": self.copy})

    def attach(self, reader: SourceReader) -> None:
        """Make ``reader`` (built on :meth:`config`) name the original file and fingerprint the copied bytes."""
        from handover.models import SourceFingerprint

        reader.file = str(self.original)
        reader.report["file"] = str(self.original)
        reader._fingerprint = SourceFingerprint(
            source_id=reader.cfg.id,
            kind=reader.cfg.kind,
            location=str(self.original),
            entity=reader.entity,
            sha256=self.sha256,
            size_bytes=self.size,
        )


def changed_error(source_id: str, path: Path, what: str) -> SourceError:
    return SourceError(
        f"The source file '{path}' changed while the batch read it ({what}); nothing was loaded "
        "by this run. Tệp nguồn đã thay đổi trong khi đang được đọc; lần chạy này chưa nạp gì.",
        hint="Run again when the export is complete (the file is no longer being written or copied).",
        file=str(path),
        source=source_id,
    )


def take(cfg: SourceConfig, folder: Path) -> Snapshot | None:
    """Copy ``cfg.path`` into ``folder`` (under its own name: readers go by the extension) while hashing it.
    None when it is not a regular file that can be opened: the reader then says what is wrong with it."""
    path = cfg.path
    if path is None:
        return None
    try:
        before = os.stat(path)
        if not stat.S_ISREG(before.st_mode):
            return None
        src = path.open("rb")
    except OSError:
        return None
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    copy = folder / path.name
    digest = hashlib.sha256()
    size = 0
    with src:
        try:
            fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                while block := src.read(_BLOCK):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
        except OSError as exc:
            if exc.filename is not None and str(exc.filename) == str(path):
                return None  # a read error: the reader reports it
            raise SourceError(
                f"Could not copy the source file to the work folder {folder}: {exc.strerror or exc}.",
                hint="Free disk space there, or set HANDOVER_WORK_DIR to a folder with room for a copy of the "
                "sources, and run again.",
                file=str(path),
                source=cfg.id,
            ) from exc
    snap = Snapshot(cfg.id, path, copy, digest.hexdigest(), size, before.st_mtime_ns)
    after = _stat(path)
    if after is None or (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise changed_error(cfg.id, path, "it was being written while it was copied")
    if size != before.st_size:
        raise changed_error(cfg.id, path, f"{size} bytes read of {before.st_size}")
    return snap


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def check_unchanged(snap: Snapshot) -> None:
    """SourceError when the original file no longer holds what was copied (its size or SHA-256 differ; a new
    modification time alone, with the same bytes, is no change)."""
    now = _stat(snap.original)
    if now is None:
        raise changed_error(snap.source_id, snap.original, "it is no longer there")
    if now.st_size != snap.size:
        raise changed_error(snap.source_id, snap.original, f"{snap.size} bytes when read, {now.st_size} now")
    try:
        digest = sha256_file(snap.original)
    except OSError:
        raise changed_error(snap.source_id, snap.original, "it can no longer be read") from None
    if digest != snap.sha256:
        raise changed_error(snap.source_id, snap.original, "its SHA-256 differs from the bytes read")
