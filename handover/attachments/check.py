"""Pass 1 (:class:`AttachmentCheck`, in the main process, before a chunk is mapped): name, find and hash each
dossier's files, and the findings of the missing, unreadable and duplicated ones (see :mod:`handover.attachments`)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from handover.attachments.files import COLUMN, FoundFile, file_sha256
from handover.config import AttachmentsConfig, SourceConfig
from handover.errors import ConfigError
from handover.models import Chunk, Entity, Finding, Severity


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
