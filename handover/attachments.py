"""Scanned attachments: each dossier's files, found and hashed before the gate, copied into the target's store.

A dossier source names its files in its batch configuration (``[sources.attachments]``): a column whose cells
list paths (several separated by ``;``), or a folder per dossier code (``folder = "scans/{dossier_code}/"``, every
file in it). Relative paths are read from the source file's folder (a SQL source: the batch file's folder); a path
in a cell leading out of that folder (``..``, an absolute path, a link), or a link leading out of a dossier's
folder, is refused as unreadable: a source's cells are data and name no file elsewhere on the machine.

Pass 1 (:class:`AttachmentCheck`, in the main process, before a chunk is mapped) finds and hashes every file
(SHA-256) and puts the readable ones in the chunk's ``attachments`` column (a JSON list); it adds the findings

* ``attachment_missing``: a named file, or a dossier's folder, is not there;
* ``attachment_unreadable``: it is there but cannot be read (permissions, a folder where a file was named);
* ``attachment_duplicate_content``: a file has the same SHA-256 as a file read before it in the batch under
  another name or for another dossier (a warning: a scan filed twice, or with the wrong dossier).

``required`` decides their severity. ``false``: warnings, the dossier loads with the files there are; ``true``:
every named file and at least one must be there; a number ``n``: at least ``n`` readable files. A dossier short of
its requirement gets error findings, so the validate stage quarantines it (the ledger keeps the reason): it is
never loaded without its required files, and the gate counts it like any other error. Supply the files and load
it in a new batch (or roll the batch back and run it again).

Pass 2 (:class:`AttachmentStore`, called by the loader inside each chunk's transaction) copies the files of the
dossiers the chunk loads into the store and returns their manifest rows (``dossier_attachments``), committed with
the chunk. The layout is one folder per new commune and dossier::

    <store>/<new province>/<new commune>/<dossier code>/<first 12 hex digits of the SHA-256>-<file name>

(file and dossier names reduced to letters, digits, ``.``, ``-``, ``_`` and spaces; a dossier code that had to
be changed gets ``~`` and 8 hex digits of its own SHA-256, so two codes never share a folder). The name is derived
from the content, so a copy is crash-safe and never made twice:

1. the path is appended to the batch's journal (``<store>/.handover/journal/<batch>.txt``, fsync'd) first;
2. a file already at the final name with the right SHA-256 is used as it is (a re-run after a crash);
3. otherwise the file is copied to a temporary name (``<store>/.handover/tmp/<batch>/``), hashed as it is copied
   (a file that changed since pass 1 stops the load: :class:`~handover.errors.LoadError`), fsync'd, and renamed
   to its final name (atomic), then the folder is fsync'd.

Files are written owner-only (0600, folders 0700: scans of ID cards and forms are personal data); give the
service that serves them access explicitly. A crash leaves at most a temporary file, removed when the batch runs again (:meth:`AttachmentStore.open`), and
files of a chunk that did not commit, which the re-run finds in place. At the end of the batch, and by a rollback,
every journaled file that no manifest row names is removed (:func:`handover.target.attachments.prune`): no orphan
stays. The manifest is not part of the dossier's content hash nor of the loaded-set fingerprint; ``handover db
verify`` re-hashes the stored files (:func:`handover.target.attachments.verify_files`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handover.config import AttachmentsConfig, BatchConfig, SourceConfig
from handover.errors import ConfigError, LoadError
from handover.faults import checkpoint
from handover.models import Chunk, Entity, Finding, Severity

log = logging.getLogger("handover.attachments")
COLUMN = "attachments"  # the chunk column holding each dossier's readable files (JSON list of FoundFile)
META = ".handover"  # the store's own folder: journals and temporary files
_BLOCK = 1024 * 1024
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
        while block := fh.read(_BLOCK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Pass 1: name, find and hash each dossier's files
# ---------------------------------------------------------------------------------------------------------


def _folded(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()


class AttachmentCheck:
    """Pass 1 for the sources of a batch that name attachments (see the module text). One per batch, so that a
    duplicate content is found across chunks and sources."""

    def __init__(self, sources: Sequence[SourceConfig], config_path: Path | None) -> None:
        self.specs = {s.id: s.attachments for s in sources if s.attachments is not None}
        self.bases = {s.id: self._base(s, config_path) for s in sources}
        self._seen: dict[str, tuple[str, str, str]] = {}  # sha256 → (source, dossier code, name) first read

    @staticmethod
    def _base(source: SourceConfig, config_path: Path | None) -> Path:
        if source.path is not None:
            return Path(source.path).parent
        return config_path.parent if config_path is not None else Path.cwd()

    def wants(self, source_id: str) -> bool:
        return source_id in self.specs

    def check_chunk(self, chunk: Chunk, headers: Sequence[str | None] | None = None) -> Chunk:
        """Add the ``attachments`` column and the attachment findings to a dossier chunk (in place; returned).
        ``headers``: the source's unmapped headers, to refuse a ``column`` the source does not have."""
        import pandas as pd

        from handover.keys import natural_keys

        spec = self.specs.get(chunk.source_id)
        if spec is None or Entity(chunk.entity) is not Entity.DOSSIER:
            return chunk
        frame = chunk.frame
        if spec.column is not None and headers is not None:
            wanted = _folded(spec.column)
            if not any(h and _folded(h) == wanted for h in headers):
                listed = ", ".join(f"'{h}'" for h in headers if h) or "none"
                raise ConfigError(
                    f"Source '{chunk.source_id}': the attachments column '{spec.column}' is not among the source's "
                    f"columns that map to no field ({listed}).",
                    column=f"sources.{chunk.source_id}.attachments.column",
                    hint='Write the header exactly as the source has it, or use folder = "...{dossier_code}..."',
                )
        keys = natural_keys(frame, Entity.DOSSIER).tolist()
        extras = frame["extras"].tolist() if "extras" in frame.columns else [None] * len(frame)
        rows = frame["source_row"].tolist()
        found_column: list[str | None] = []
        rest: list[Any] = []
        for key, extra, row in zip(keys, extras, rows, strict=True):
            cell, others = self._cell(spec, extra)
            rest.append(others)
            found, findings = self._row(chunk.source_id, spec, key, cell, int(row))
            chunk.findings.extend(findings)
            found_column.append(
                json.dumps([f.as_json() for f in found], ensure_ascii=False) if found else None
            )
        frame[COLUMN] = pd.Series(found_column, index=frame.index, dtype=object)
        if spec.column is not None and "extras" in frame.columns:  # the files are not the dossier's content
            frame["extras"] = pd.Series(rest, index=frame.index, dtype=object)
        return chunk

    @staticmethod
    def _cell(spec: AttachmentsConfig, extra: Any) -> tuple[str | None, Any]:
        """The attachments cell of a row's ``extras`` (a column spec), and the extras without it, written as the
        reader writes them: the dossier's content hash is the one it has without the column."""
        if spec.column is None or not isinstance(extra, str) or extra in ("", "{}"):
            return None, extra
        values = json.loads(extra)
        wanted = _folded(spec.column)
        name = next((n for n in values if _folded(n) == wanted), None)
        if name is None:
            return None, extra
        cell = values.pop(name)
        return (None if cell is None else str(cell)), json.dumps(values, ensure_ascii=False)

    @staticmethod
    def _named(
        spec: AttachmentsConfig, base: Path, key: str, cell: str | None
    ) -> tuple[list[tuple[str, Path]], str | None]:
        """The files a row names, as (name, path) pairs, and for a folder spec the folder when it is absent (as
        the configuration names it, relative to the source's folder)."""
        if spec.column is not None:
            names = [n.strip() for n in str(cell or "").split(";") if n.strip()]
            return [(n, base / n.replace("\\", "/")) for n in dict.fromkeys(names)], None
        named = spec.folder.replace("{dossier_code}", key)  # type: ignore[union-attr]
        folder = base / named
        if not folder.is_dir():  # named as the configuration names it: no machine's path in a shared report
            return [], named
        files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        return [(p.relative_to(folder).as_posix(), p) for p in files], None

    def _row(
        self, source_id: str, spec: AttachmentsConfig, key: str | None, cell: str | None, row: int
    ) -> tuple[list[FoundFile], list[Finding]]:
        if key is None:
            return [], []  # no key: the validate stage quarantines the row
        if spec.folder is not None and ("/" in key or "\\" in key or key in (".", "..")):
            named: list[tuple[str, Path]] = []
            absent: str | None = spec.folder.replace("{dossier_code}", key)
        else:
            named, absent = self._named(spec, self.bases[source_id], key, cell)
        found: list[FoundFile] = []
        problems: list[tuple[str, str, str, str]] = []  # (check, name, vi, en)
        base = self.bases[source_id]
        if spec.folder is not None:  # the folder is configured; a link inside it leads nowhere else
            base = base / spec.folder.replace("{dossier_code}", key)
        inside = base.resolve()
        for name, path in named:
            if inside not in path.resolve().parents:  # a cell is data: it names no file outside its folder
                problems.append(
                    (
                        "attachment_unreadable",
                        name,
                        f"tệp đính kèm '{name}' nằm ngoài thư mục của nguồn dữ liệu",
                        f"attachment '{name}' is outside the source's folder",
                    )
                )
                continue
            try:
                size, digest = file_sha256(path)
            except FileNotFoundError:
                problems.append(
                    (
                        "attachment_missing",
                        name,
                        f"Không tìm thấy tệp đính kèm '{name}'",
                        f"attachment '{name}' not found",
                    )
                )
                continue
            except OSError as exc:
                why = exc.strerror or type(exc).__name__
                problems.append(
                    (
                        "attachment_unreadable",
                        name,
                        f"Không đọc được tệp đính kèm '{name}' ({why})",
                        f"attachment '{name}' cannot be read ({why})",
                    )
                )
                continue
            found.append(FoundFile(name=name, path=str(path.resolve()), size=size, sha256=digest))
        required = spec.required
        short = (required is True and (bool(problems) or not found)) or (
            not isinstance(required, bool) and len(found) < required
        )
        severity = Severity.ERROR if short else Severity.WARNING
        tail_vi = " (bắt buộc: hồ sơ bị cách ly)" if short else ""
        tail_en = " (required: the dossier is quarantined)" if short else ""
        out = [
            Finding(
                source_id=source_id,
                row=row,
                key=key,
                field=COLUMN,
                check=check,
                severity=severity,
                message_vi=f"Hồ sơ {key}: {vi[0].lower()}{vi[1:]}{tail_vi}.",
                message_en=f"Dossier {key}: {en}{tail_en}.",
            )
            for check, name, vi, en in problems
        ]
        if (short or absent) and not problems:
            if absent:
                what_vi, what_en = f"không có thư mục '{absent}'", f"folder '{absent}' does not exist"
            elif named:
                what_vi, what_en = "không có tệp nào đọc được", "no readable file"
            else:
                what_vi, what_en = "không có tệp nào", "no file named"
            if not isinstance(required, bool) and named:
                what_vi = f"chỉ có {len(found)} tệp, cần {required}"
                what_en = f"only {len(found)} file(s), {required} required"
            out.append(
                Finding(
                    source_id=source_id,
                    row=row,
                    key=key,
                    field=COLUMN,
                    check="attachment_missing",
                    severity=severity,
                    message_vi=f"Hồ sơ {key}: thiếu tệp đính kèm, {what_vi}{tail_vi}.",
                    message_en=f"Dossier {key}: attachments missing, {what_en}{tail_en}.",
                )
            )
        for f in found:
            first = self._seen.setdefault(f.sha256, (source_id, key, f.name))
            if first != (source_id, key, f.name):
                where = f"hồ sơ {first[1]}" if first[1] != key or first[0] != source_id else "cùng hồ sơ"
                out.append(
                    Finding(
                        source_id=source_id,
                        row=row,
                        key=key,
                        field=COLUMN,
                        check="attachment_duplicate_content",
                        severity=Severity.WARNING,
                        message_vi=f"Hồ sơ {key}: tệp '{f.name}' trùng nội dung với tệp '{first[2]}' ({where}).",
                        message_en=f"Dossier {key}: attachment '{f.name}' has the same content (SHA-256 "
                        f"{f.sha256[:12]}…) as '{first[2]}' of dossier {first[1]}.",
                    )
                )
        return found, out


def files_of(value: Any) -> list[FoundFile]:
    """The files of a row's ``attachments`` cell (none when empty)."""
    if not isinstance(value, str) or not value:
        return []
    return [FoundFile(**item) for item in json.loads(value)]


# ---------------------------------------------------------------------------------------------------------
# Pass 2: the store
# ---------------------------------------------------------------------------------------------------------


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
                while block := src.read(_BLOCK):
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


# ---------------------------------------------------------------------------------------------------------
# Sample scans
# ---------------------------------------------------------------------------------------------------------


def write_sample_pdfs(folder: Path, codes: Iterable[str], *, per_dossier: int = 2) -> dict[str, list[Path]]:
    """Write ``per_dossier`` tiny one-page PDF files for each dossier code under ``folder/<code>/`` (the layout
    of ``folder = "<folder>/{dossier_code}/"``); returns code → files. Each file's content names its dossier and
    page, so no two are alike."""
    out: dict[str, list[Path]] = {}
    for code in codes:
        target = Path(folder) / code
        target.mkdir(parents=True, exist_ok=True)
        out[code] = []
        for page in range(1, per_dossier + 1):
            path = target / f"scan-{page}.pdf"
            path.write_bytes(_tiny_pdf(f"{code} p{page}"))
            out[code].append(path)
    return out


def _tiny_pdf(text: str) -> bytes:
    """A valid one-page PDF showing ``text`` (ASCII; others replaced by '?')."""
    shown = (
        text.encode("ascii", "replace").decode().replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    )
    stream = f"BT /F1 18 Tf 72 720 Td ({shown}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body = b"%PDF-1.4\n"
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(body))
        body += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    body += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return body
