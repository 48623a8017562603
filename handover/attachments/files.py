"""An attachment as both passes see it: a found file (:class:`FoundFile`), a batch's store, the store's names for a
dossier's files, and a file's SHA-256."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handover.errors import ConfigError

if TYPE_CHECKING:
    from handover.config import BatchConfig

COLUMN = "attachments"  # the chunk column holding each dossier's readable files (JSON list of FoundFile)
META = ".handover"  # the store's own folder: journals and temporary files
BLOCK_SIZE = 1024 * 1024
_NAME_CHARS = 120
_UNSAFE = re.compile(r"[^\w.\- ]+")


@dataclass(frozen=True)
class FoundFile:
    """A readable file of a dossier, as pass 1 found it."""

    name: str  # as the source names it (the cell's text, or its path inside the dossier's folder)
    path: str  # absolute path read
    size: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "size": self.size, "sha256": self.sha256}


def store_root(cfg: BatchConfig) -> Path | None:
    """The attachment store of a batch: ``[target] attachments``, else ``<target file>-attachments`` beside a
    SQLite target; ``None`` when neither (a ConfigError is raised when a source then names attachments)."""
    if cfg.target.attachments is not None:
        return Path(cfg.target.attachments)
    prefix = "sqlite:///"
    url = cfg.target.url
    if url.startswith(prefix) and ":memory:" not in url:
        db = Path(url[len(prefix) :].split("?", 1)[0])
        return db.with_name(db.name.rsplit(".", 1)[0] + "-attachments")
    return None


def uses_attachments(cfg: BatchConfig) -> bool:
    return any(s.attachments is not None for s in cfg.sources)


def require_store(cfg: BatchConfig) -> Path:
    """The store of a batch whose sources name attachments; ConfigError when the target is not SQLite and no
    store is given."""
    root = store_root(cfg)
    if root is None:
        raise ConfigError(
            "The sources name attachments, but the batch has no attachment store.",
            file=str(cfg.config_path),
            column="target.attachments",
            hint='Give the folder to copy them into under [target], e.g. attachments = "attachments"',
        )
    return root


def safe_name(text: str, limit: int = _NAME_CHARS) -> str:
    """``text`` as one path component: NFC, letters, digits, ``.``, ``-``, ``_`` and spaces (others ``_``), no
    leading dot, at most ``limit`` characters (the extension kept), ``file`` when nothing is left."""
    text = unicodedata.normalize("NFC", text).strip()
    text = _UNSAFE.sub("_", text).strip(" ").lstrip(".") or "file"
    if len(text) > limit:
        stem, dot, ext = text.rpartition(".")
        keep_ext = dot and 0 < len(ext) <= 10
        text = stem[: limit - len(ext) - 1] + "." + ext if keep_ext else text[:limit]
    return text


def dossier_folder(code: str) -> str:
    """The folder name of a dossier code: the code itself when it is a safe name, else its safe name with ``~``
    and 8 hex digits of the code's SHA-256 (two codes never share a folder)."""
    safe = safe_name(code, 100)
    if safe == code:
        return safe
    return f"{safe}~{hashlib.sha256(code.encode()).hexdigest()[:8]}"


def stored_path(province: str | None, commune: str | None, code: str, file: FoundFile) -> str:
    """Where the store keeps ``file`` of dossier ``code`` (relative, with ``/``; see the module text)."""
    base = Path(file.name.replace("\\", "/")).name or file.name
    parts = [safe_name(province or "_", 10), safe_name(commune or "_", 10), dossier_folder(code)]
    return "/".join([*parts, f"{file.sha256[:12]}-{safe_name(base)}"])


def file_sha256(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of the file at ``path`` (OSError when it cannot be read)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(BLOCK_SIZE):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def files_of(value: Any) -> list[FoundFile]:
    """The files of a row's ``attachments`` cell (none when empty)."""
    if not isinstance(value, str) or not value:
        return []
    return [FoundFile(**item) for item in json.loads(value)]
