"""What a source path is, before any reader opens it: a regular file (not a folder, pipe or device), and which
format its bytes hold whatever its name says (OLE2 → ``.xls``, a zip with ``xl/workbook.xml`` → ``.xlsx``,
anything else → text)."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path
from typing import Any

from handover.errors import SourceError
from handover.models import Finding, Severity

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
KIND_LABELS = {"csv": "CSV/text", "xlsx": "Excel .xlsx", "xls": "Excel 97–2003 .xls"}
_SUFFIX_KIND = {
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".xls": "xls",
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".tab": "csv",
}
_NAME_THE_FILE = "Name the export file itself in the batch config (path = ...) or on the command line."
_NOT_A_FILE = (
    (stat.S_ISDIR, "is a folder, not a file", "Name the export file inside that folder (path = ...)."),
    (
        stat.S_ISFIFO,
        "is a named pipe (FIFO), not a file",
        "Save the export to a regular file first (a pipe can be read only once) and name that file.",
    ),
    (stat.S_ISCHR, "is a character device, not a file", _NAME_THE_FILE),
    (stat.S_ISBLK, "is a block device, not a file", _NAME_THE_FILE),
    (stat.S_ISSOCK, "is a socket, not a file", _NAME_THE_FILE),
)


def check_regular_file(path: Path, source: str | None = None) -> None:
    """Raise SourceError unless ``path`` is a regular file (symbolic links followed), naming what it is
    instead: missing, a folder, a named pipe, a device or a socket. Nothing is opened (a pipe would block)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SourceError(
            f"The source file '{path}' does not exist.",
            hint="Check the path in the batch config (relative paths start at the config file's folder).",
            file=str(path),
            source=source,
        ) from None
    except OSError as exc:
        raise SourceError(
            f"The source file '{path}' cannot be read: {exc.strerror}.",
            hint="Check the file's permissions and the folders above it, or copy it to a local folder.",
            file=str(path),
            source=source,
        ) from None
    if stat.S_ISREG(mode):
        return
    what, step = next(
        ((w, st) for test, w, st in _NOT_A_FILE if test(mode)),
        ("is not a regular file", _NAME_THE_FILE),
    )
    raise SourceError(
        f"The source '{path}' {what}.",
        hint=step,
        file=str(path),
        source=source,
    )


def sniff_kind(path: Path) -> str | None:
    """``xls``, ``xlsx`` or ``csv`` from the file's first bytes; None for a zip that is not a workbook or
    cannot be opened (the reader named in the config says why)."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(8)
    except OSError:
        return None
    if magic == OLE_MAGIC:
        return "xls"
    if magic.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as zf:
                names = {n.lower() for n in zf.namelist()}
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
        return "xlsx" if "xl/workbook.xml" in names else None
    return "csv"


def suffix_kind(path: Path) -> str | None:
    """The kind a file's extension announces (``.xlsx`` → xlsx ...), None for other extensions."""
    return _SUFFIX_KIND.get(path.suffix.lower())


def kind_mismatch(path: Path, configured: str, found: str) -> str | None:
    """The English sentence saying the extension or the configured kind was wrong, or None."""
    by_suffix = suffix_kind(path)
    if found == configured and by_suffix in (None, found):
        return None
    named = (
        f"named '{path.suffix}'" if by_suffix and by_suffix != found else f'configured kind = "{configured}"'
    )
    return f"The file is {named} but holds {KIND_LABELS[found]} data: it was read as {KIND_LABELS[found]}."


def kind_findings(report: dict[str, Any], source_id: str) -> list[Finding]:
    """The warning finding for a file whose name or configured kind did not match its content (or none)."""
    note = report.get("kind_warning")
    if not note:
        return []
    found = KIND_LABELS.get(report.get("kind", ""), report.get("kind", ""))
    return [
        Finding(
            source_id=source_id,
            row=None,
            check="file_kind_mismatch",
            severity=Severity.WARNING,
            message_vi=f"Đuôi tệp hoặc loại tệp (kind) khai trong cấu hình không khớp nội dung: tệp chứa dữ liệu "
            f"{found}, đã được đọc theo đúng nội dung.",
            message_en=note,
        )
    ]


__all__ = ["OLE_MAGIC", "check_regular_file", "kind_findings", "kind_mismatch", "sniff_kind", "suffix_kind"]
