"""The notices' message templates (``mappings/notices/sms.txt`` and ``email.txt``, editable by a province),
read and checked: readable UTF-8, only known placeholders."""

from __future__ import annotations

import dataclasses
import string
import unicodedata
from pathlib import Path

from handover.errors import ConfigError

PLACEHOLDERS: dict[str, str] = {
    "ho_ten": "applicant's name",
    "ma_ho_so": "dossier code",
    "thu_tuc": "procedure name",
    "don_vi_moi": "the new handling unit (new commune, or provincial department)",
    "dia_chi_don_vi": "the new handling unit's address",
    "han_tra": "due date dd/mm/yyyy (or 'chưa có hẹn trả')",
    "don_vi_cu": "where the dossier was filed: old commune and district",
}
SUBJECT_PREFIX = "Tiêu đề:"


@dataclasses.dataclass(frozen=True)
class Templates:
    """The message templates: ``sms`` (one line), ``email_subject`` and ``email_body``."""

    sms: str
    email_subject: str
    email_body: str
    folder: Path

    @property
    def sms_unaccented(self) -> bool:
        """An SMS template written without diacritics gets its values without them too (stays GSM-7)."""
        return all(ord(ch) < 128 for ch in self.sms)


def templates_dir() -> Path:
    """``notices/`` of the mappings in use, or the shipped one when that copy predates it."""
    from handover.resources import mappings_dir, shipped_mappings_dir

    folder = mappings_dir() / "notices"
    return folder if folder.is_dir() else shipped_mappings_dir() / "notices"


def _template(path: Path) -> str:
    try:
        text = unicodedata.normalize("NFC", path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Cannot read the notice template {path}: {exc}",
            hint="Restore it from the shipped mappings/notices/ (UTF-8 text with {placeholders}).",
            file=str(path),
        ) from exc
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ConfigError(
            f"The notice template {path} has an unbalanced brace: {exc}",
            hint="Write placeholders as {ma_ho_so}; a literal brace as {{ or }}.",
            file=str(path),
        ) from exc
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        raise ConfigError(
            f"The notice template {path} uses unknown placeholders: {', '.join(unknown)}.",
            hint="Use only: "
            + ", ".join("{" + k + "}" for k in PLACEHOLDERS)
            + " (mappings/notices/README.md).",
            file=str(path),
        )
    return text


def load_templates(folder: Path | None = None) -> Templates:
    """``sms.txt`` and ``email.txt`` of ``folder`` (default :func:`templates_dir`), checked: readable UTF-8,
    only known placeholders. The e-mail's first line is its subject when it starts with ``Tiêu đề:``."""
    folder = folder or templates_dir()
    sms = " ".join(_template(folder / "sms.txt").split())
    email = _template(folder / "email.txt").strip("\n")
    first, _, rest = email.partition("\n")
    if first.startswith(SUBJECT_PREFIX):
        subject, body = first[len(SUBJECT_PREFIX) :].strip(), rest.strip("\n")
    else:
        subject, body = "Hồ sơ {ma_ho_so} đã chuyển về {don_vi_moi}", email
    return Templates(sms=sms, email_subject=subject, email_body=body, folder=folder)
