"""Pass 2 (:class:`AttachmentStore`, called by the loader inside each chunk's transaction): copy the files of the
dossiers a chunk loads into the store, crash-safe (see :mod:`handover.attachments`); the batch's journal; removing
stored files."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from handover.attachments.files import BLOCK_SIZE, META, FoundFile, file_sha256
from handover.errors import LoadError
from handover.faults import checkpoint

log = logging.getLogger("handover.attachments")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def journal_path(root: Path, batch_id: str) -> Path:
    return root / META / "journal" / f"{batch_id}.txt"


def journaled(root: Path, batch_id: str) -> list[str]:
    """The stored paths a batch's journal lists (each once, in order)."""
    path = journal_path(root, batch_id)
    if not path.is_file():
        return []
    return list(dict.fromkeys(line for line in path.read_text(encoding="utf-8").splitlines() if line))


class AttachmentStore:
    """The attachment store as one batch writes to it (see the module text). :meth:`open` before the load."""

    def __init__(self, root: Path, batch_id: str) -> None:
        self.root = Path(root)
        self.batch_id = batch_id
        self.tmp = self.root / META / "tmp" / batch_id
        self.journal = journal_path(self.root, batch_id)
        self.copied = 0  # files copied by this run
        self.reused = 0  # files found in place (same SHA-256)

    def open(self) -> AttachmentStore:
        """Create the store's folders and remove the temporary files a killed run of this batch left (the
        batch lock makes them this batch's alone)."""
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.journal.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            for leftover in self.tmp.iterdir():
                leftover.unlink()
        except OSError as exc:
            raise LoadError(
                f"the attachment store '{self.root}' cannot be written: {exc.strerror or exc}",
                hint="check the folder and its permissions ([target] attachments), then run the same command again",
                batch=self.batch_id,
            ) from exc
        return self

    def _note(self, paths: Iterable[str]) -> None:
        text = "".join(f"{p}\n" for p in paths)
        if not text:
            return
        with self.journal.open("a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    def place(self, files: Sequence[tuple[str, FoundFile]]) -> None:
        """Copy each (stored path, file) into the store unless it is there already with its SHA-256."""
        self._note(rel for rel, _ in files)
        for rel, file in files:
            final = self.root / rel
            if final.is_file():
                with contextlib.suppress(OSError):
                    if file_sha256(final)[1] == file.sha256:
                        self.reused += 1
                        continue
            self._copy(Path(file.path), final, file)

    def _copy(self, source: Path, final: Path, file: FoundFile) -> None:
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = self.tmp / f"{file.sha256[:16]}-{os.getpid()}.part"
        digest = hashlib.sha256()
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # scans hold personal data
            with source.open("rb") as src, os.fdopen(fd, "wb") as out:
                while block := src.read(BLOCK_SIZE):
                    digest.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise LoadError(
                f"attachment '{file.name}' could not be copied into the store: {exc.strerror or exc}",
                hint="nothing of the chunk was committed; fix the cause and run the same command again",
                batch=self.batch_id,
                file=str(source),
            ) from exc
        if digest.hexdigest() != file.sha256:
            temp.unlink(missing_ok=True)
            raise LoadError(
                f"attachment '{file.name}' changed since the batch read it (SHA-256 was {file.sha256[:12]}…, is "
                f"now {digest.hexdigest()[:12]}…)",
                hint="nothing of the chunk was committed; run the same command again once the scans are no longer "
                "being changed",
                batch=self.batch_id,
                file=str(source),
            )
        checkpoint("attachments.copy")  # crash drills: copied to its temporary name, not yet in place
        os.replace(temp, final)
        _fsync_dir(final.parent)
        self.copied += 1


def remove_files(root: Path, paths: Iterable[str]) -> int:
    """Delete the stored files ``paths`` (relative to ``root``) that exist, and the folders they leave empty
    (up to the root); the number of files deleted. A file that cannot be deleted is left (logged): the next
    rollback of the batch tries again."""
    removed = 0
    root = Path(root)
    for rel in paths:
        path = root / rel
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("could not remove %s from the attachment store: %s", path, exc.strerror or exc)
            continue
        removed += 1
        parent = path.parent
        while parent != root and root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
    return removed
