"""Report files that officials may have edited are never written over.

Each report file the tool writes (the workbook, the HTML report, the findings CSV) gets a record of its SHA-256
beside it: a hidden file ``.<name>.sha256`` in ``sha256sum`` format (``sha256sum -c`` checks it), named so that
nobody takes it for a report. The record lives beside the file, not in the target database, because the file's
identity is its place on disk: ``handover report --out`` may write anywhere, from a read-only database.

Before a report is written, :func:`place` picks where: the usual name when that file does not exist or is still
byte-identical to what the tool wrote; otherwise (an official typed decisions into it, or no record says the tool
wrote it) the file is kept as it is and the next free versioned name is used, ``<stem> (2)<suffix>``,
``<stem> (3)<suffix>`` and so on (a versioned file the tool wrote and nobody edited is reused). After writing,
:func:`record` stores the new file's hash.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

__all__ = ["Placement", "edited_notice", "place", "record", "record_path", "sha256_of"]


class Placement(NamedTuple):
    path: Path  # where to write
    kept: tuple[Path, ...]  # edited files left as they are (the usual name first)


def sha256_of(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_path(path: Path) -> Path:
    """The hidden hash record of a report file: ``.<name>.sha256`` in the same folder."""
    return path.with_name(f".{path.name}.sha256")


def _recorded(path: Path) -> str | None:
    try:
        text = record_path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    first = text.split(maxsplit=1)
    return first[0].lower() if first else None


def _unchanged(path: Path) -> bool:
    """True when ``path`` is missing or byte-identical to what the tool recorded writing there."""
    if not path.exists():
        return True
    recorded = _recorded(path)
    return recorded is not None and path.is_file() and sha256_of(path) == recorded


def _version(path: Path, n: int) -> Path:
    return path if n == 1 else path.with_name(f"{path.stem} ({n}){path.suffix}")


def place(path: Path) -> Placement:
    """Where to write the report ``path``: itself, or the first versioned name whose file is missing or unedited."""
    kept: list[Path] = []
    n = 1
    while not _unchanged(candidate := _version(Path(path), n)):
        kept.append(candidate)
        n += 1
    return Placement(candidate, tuple(kept))


def record(path: Path) -> None:
    """Store the SHA-256 of the file the tool just wrote at ``path`` beside it."""
    record_path(path).write_text(f"{sha256_of(path)}  {path.name}\n", encoding="utf-8")


def edited_notice(placement: Placement) -> str | None:
    """What the user reads when an edited file was kept (Vietnamese, then English); None when none was."""
    if not placement.kept:
        return None
    kept = ", ".join(str(p) for p in placement.kept)
    return (
        f"Tệp {kept} đã được sửa sau khi công cụ ghi: giữ nguyên; tệp mới là {placement.path}. "
        f"/ The file {kept} was edited since the tool wrote it: kept; the new one is {placement.path}."
    )
