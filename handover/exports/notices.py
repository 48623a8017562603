"""Citizens' notices of a batch: whom to tell that their dossier moved, where to, and until when.

Read back from the target (the batch's ledger rows with disposition ``loaded``, joined to ``dossiers``: the
portal export's :func:`handover.exports.portal.iter_loaded_dossiers`), one line per loaded dossier, grouped by **receiving unit**:
the new commune (procedures handled at commune level), or the provincial department the routing table names
(``handling_level = province_dept``: ``handling_agency`` of the new province).

What :func:`write_notices` writes under ``out_dir`` (every file holds personal data on purpose):

* ``thong-bao-DU-LIEU-CA-NHAN/`` (mode 0700; each file 0600):

  - ``<unit code>-<name>-thong-bao-DU-LIEU-CA-NHAN.xlsx`` per receiving unit: sheet ``thong-bao`` (applicants
    with a usable phone or e-mail) and sheet ``khong-lien-lac-duoc`` (applicants with neither: the unit calls
    on or writes to them); every loaded dossier is on exactly one of the two sheets of exactly one workbook.
  - ``gui-tin-DU-LIEU-CA-NHAN.csv``: what an SMS / mail gateway takes, one line per message (``kenh`` sms or
    email), the text from the editable templates ``mappings/notices/sms.txt`` and ``email.txt``, with the
    SMS's encoding (GSM-7 or UCS-2) and part count (:func:`handover.exports.sms.sms_size`).

* with ``masked``: ``thong-bao-DA-CHE/``, the same workbooks with ID numbers, phones and e-mail addresses masked
  (:func:`handover.text.mask_id`): the copy to share.

Nothing here is linked from the auditors' HTML report.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine

from handover.exports.contacts import mask_email, phone_kind, usable_email
from handover.exports.portal import iter_loaded_dossiers, routed_to_province
from handover.exports.sms import sms_size, unaccented
from handover.exports.templates import Templates, load_templates
from handover.reports.queries.batch import batch_info, guarded
from handover.safe import spreadsheet_safe
from handover.text import clean, mask_id

PERSONAL_DIR = "thong-bao-DU-LIEU-CA-NHAN"
MASKED_DIR = "thong-bao-DA-CHE"
PERSONAL_TAG = "DU-LIEU-CA-NHAN"
MASKED_TAG = "DA-CHE"
GATEWAY_FILE = f"gui-tin-{PERSONAL_TAG}.csv"
NOTICE_SHEET = "thong-bao"
CONTACTLESS_SHEET = "khong-lien-lac-duoc"
FILE_MODE = 0o600
DIR_MODE = 0o700


# ---------------------------------------------------------------------------------------------------------
# the rows
# ---------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Unit:
    """A receiving unit: ``code`` (new commune code, or the new province's code for a department), name and
    address as the notice gives them."""

    code: str
    name: str
    address: str
    kind: str  # "commune" or "department"

    @property
    def stem(self) -> str:
        return f"{_slug(self.code)}-{_slug(self.name)}"


def _slug(value: str) -> str:
    text = re.sub(r"[^A-Za-z0-9]+", "-", unaccented(clean(value))).strip("-").lower()
    return text[:60] or "khong-ro"


def receiving_unit(row: dict[str, Any], provinces: dict[str, str]) -> Unit:
    """The unit a loaded dossier goes to: the department for ``province_dept`` procedures, else the commune.
    The address is the unit's place in the new province (the reference holds no street addresses): the
    commune's People's Committee and the province, or the department's province."""
    province_code = clean(row.get("new_province_code"))
    province = provinces.get(province_code, "")
    if routed_to_province(row):
        name = clean(row["handling_agency"])
        return Unit(province_code or "tinh", name, province or name, "department")
    name = clean(row.get("new_commune_name")) or "Chưa rõ xã/phường"
    address = ", ".join(p for p in (f"UBND {name}", province) if p)
    return Unit(clean(row.get("new_commune_code")) or "khong-ma", name, address, "commune")


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return f"{value:%d/%m/%Y}"
    return clean(value)


def _values(row: dict[str, Any], unit: Unit) -> dict[str, str]:
    old = ", ".join(p for p in (clean(row.get("old_commune_name")), clean(row.get("old_district_name"))) if p)
    return {
        "ho_ten": clean(row.get("applicant_name")) or "Ông/Bà",
        "ma_ho_so": clean(row.get("dossier_code")),
        "thu_tuc": clean(row.get("procedure_name")) or clean(row.get("procedure_code")),
        "don_vi_moi": unit.name,
        "dia_chi_don_vi": unit.address,
        "han_tra": _day(row.get("due_date")) or "chưa có hẹn trả",
        "don_vi_cu": old or "huyện cũ",
    }


# ---------------------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------------------

_HEADERS = (
    ("STT", 6),
    ("Mã hồ sơ", 28),
    ("Thủ tục", 40),
    ("Họ tên người nộp", 26),
    ("Số định danh", 16),
    ("Điện thoại", 14),
    ("Email", 28),
    ("Địa chỉ liên hệ", 44),
    ("Đơn vị giải quyết mới", 30),
    ("Địa chỉ đơn vị", 40),
    ("Ngày hẹn trả", 12),
    ("Nơi nộp cũ", 34),
    ("Kênh thông báo", 14),
)
_CONTACTLESS_EXTRA = ("Lý do", 44)


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


@contextmanager
def _private_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file for ``path``, mode 0600 from its first byte whatever the umask: written under a temporary
    name and renamed into place when the block ends without an error (removed when it fails)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            yield fh
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _clear(folder: Path, tag: str) -> None:
    """Files of an earlier run in ``folder`` (a unit that no longer receives anything leaves no stale file)."""
    for old in folder.glob(f"*{tag}*"):
        if old.is_file():
            old.unlink()


class _UnitBook:
    """One receiving unit's workbook (write-only): the notices sheet and the contactless sheet, each with its
    own running number (STT)."""

    def __init__(self, masked: bool) -> None:
        from openpyxl import Workbook
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        from handover.reports.cells import text_cell

        self.masked = masked
        self.wb = Workbook(write_only=True)
        self.sheets: dict[str, Any] = {}
        self.counts = {NOTICE_SHEET: 0, CONTACTLESS_SHEET: 0}
        bold = {"font": Font(bold=True)}
        for title, extra in ((NOTICE_SHEET, ()), (CONTACTLESS_SHEET, (_CONTACTLESS_EXTRA,))):
            ws = self.wb.create_sheet(title)
            headers = (*_HEADERS, *extra)
            for i, (_, width) in enumerate(headers, start=1):
                ws.column_dimensions[get_column_letter(i)].width = width
            ws.freeze_panes = "B2"
            ws.append([text_cell(ws, h, bold) for h, _ in headers])
            self.sheets[title] = ws

    def add(self, sheet: str, cells: list[Any]) -> None:
        from handover.reports.cells import value_cell

        ws = self.sheets[sheet]
        self.counts[sheet] += 1
        ws.append([value_cell(ws, v) for v in (self.counts[sheet], *cells)])

    def save(self, path: Path) -> None:
        with _private_file(path) as fh:
            self.wb.save(fh)


@dataclasses.dataclass(frozen=True)
class UnitNotices:
    """What one receiving unit's workbook holds."""

    code: str
    name: str
    kind: str
    notices: int
    contactless: int
    workbook: Path
    masked_workbook: Path | None = None


@dataclasses.dataclass(frozen=True)
class NoticesResult:
    """What :func:`write_notices` wrote: per unit, the gateway CSV, message counts."""

    batch_id: str
    folder: Path
    gateway: Path
    units: list[UnitNotices]
    sms: int
    sms_multipart: int
    emails: int
    masked_folder: Path | None = None

    @property
    def dossiers(self) -> int:
        return sum(u.notices + u.contactless for u in self.units)

    @property
    def contactless(self) -> int:
        return sum(u.contactless for u in self.units)


_GATEWAY_HEADER = (
    "ma_ho_so",
    "ma_don_vi",
    "kenh",
    "so_dien_thoai",
    "email",
    "tieu_de",
    "noi_dung",
    "ma_hoa",
    "so_ky_tu",
    "so_phan",
    "nhieu_phan",
)


def _render(template: str, values: dict[str, str], plain: bool) -> str:
    if plain:
        values = {k: unaccented(v) for k, v in values.items()}
    return template.format(**values)


def write_notices(
    engine: Engine,
    batch_id: str,
    out_dir: Path,
    *,
    masked: bool = False,
    templates: Templates | None = None,
) -> NoticesResult:
    """Write the batch's notices under ``out_dir`` (see the module docstring); returns what was written."""
    from handover.resources import mappings_dir
    from handover.units.reference import Reference

    templates = templates or load_templates()
    provinces = Reference.load(mappings_dir() / "units").new_provinces
    with engine.connect() as conn, guarded(f"batch {batch_id}"):
        batch_info(conn, batch_id)  # an unknown batch stops here: no folder made, no earlier file removed
    folder = _private_dir(Path(out_dir) / PERSONAL_DIR)
    _clear(folder, PERSONAL_TAG)
    masked_folder = _private_dir(Path(out_dir) / MASKED_DIR) if masked else None
    if masked_folder is not None:
        _clear(masked_folder, MASKED_TAG)

    books: dict[Unit, list[_UnitBook]] = {}
    gateway_path = folder / GATEWAY_FILE
    sms = multipart = emails = 0
    with (
        engine.connect() as conn,
        guarded(f"the loaded dossiers of batch {batch_id}"),
        _private_file(gateway_path) as raw,
        io.TextIOWrapper(raw, encoding="utf-8", newline="") as gateway,
    ):
        writer = csv.writer(gateway, lineterminator="\r\n")
        writer.writerow(_GATEWAY_HEADER)
        for row in iter_loaded_dossiers(conn, batch_id, updated=False):  # told once, when handed over
            unit = receiving_unit(row, provinces)
            pair = books.get(unit)
            if pair is None:
                pair = books[unit] = [_UnitBook(False)] + ([_UnitBook(True)] if masked else [])
            values = _values(row, unit)
            phone = phone_kind(row.get("phone"))
            email = usable_email(row.get("email"))
            channels = [c for c, ok in (("SMS", phone and phone[0] == "mobile"), ("email", email)) if ok]
            if phone and phone[0] == "landline":
                channels.append("gọi điện")
            raw_phone, raw_id = clean(row.get("phone")), clean(row.get("applicant_id"))
            for book in pair:
                cells = [
                    values["ma_ho_so"],
                    values["thu_tuc"],
                    clean(row.get("applicant_name")),
                    mask_id(raw_id) if book.masked else raw_id,
                    mask_id(raw_phone) if book.masked else raw_phone,
                    mask_email(clean(row.get("email"))) if book.masked else clean(row.get("email")),
                    clean(row.get("address")),
                    unit.name,
                    unit.address,
                    row.get("due_date"),
                    values["don_vi_cu"],
                    ", ".join(channels),
                ]
                if phone or email:
                    book.add(NOTICE_SHEET, cells)
                else:
                    shown = mask_id(raw_phone) if book.masked else raw_phone
                    reason = "Không có số điện thoại hợp lệ" + (f" ({shown})" if shown else "")
                    reason += " và email không hợp lệ" if clean(row.get("email")) else " và không có email"
                    book.add(CONTACTLESS_SHEET, [*cells, reason])
            if phone and phone[0] == "mobile":
                text = _render(templates.sms, values, templates.sms_unaccented)
                size = sms_size(text)
                sms += 1
                multipart += size.multipart
                writer.writerow(
                    spreadsheet_safe(v)
                    for v in (
                        values["ma_ho_so"],
                        unit.code,
                        "sms",
                        phone[1],
                        "",
                        "",
                        text,
                        size.encoding,
                        size.units,
                        size.parts,
                        "có" if size.multipart else "không",
                    )
                )
            if email:
                emails += 1
                body = templates.email_body.format(**values)
                writer.writerow(
                    spreadsheet_safe(v)
                    for v in (
                        values["ma_ho_so"],
                        unit.code,
                        "email",
                        "",
                        email,
                        templates.email_subject.format(**values),
                        body,
                        "UTF-8",
                        len(body),
                        1,
                        "không",
                    )
                )

    units = []
    for unit in sorted(books, key=lambda u: (u.kind != "commune", u.code, u.name)):
        plain, *rest = books[unit]
        path = folder / f"{unit.stem}-thong-bao-{PERSONAL_TAG}.xlsx"
        plain.save(path)
        masked_path = None
        if rest:
            masked_path = masked_folder / f"{unit.stem}-thong-bao-{MASKED_TAG}.xlsx"  # type: ignore[operator]
            rest[0].save(masked_path)
        units.append(
            UnitNotices(
                code=unit.code,
                name=unit.name,
                kind=unit.kind,
                notices=plain.counts[NOTICE_SHEET],
                contactless=plain.counts[CONTACTLESS_SHEET],
                workbook=path,
                masked_workbook=masked_path,
            )
        )
    return NoticesResult(
        batch_id=batch_id,
        folder=folder,
        gateway=gateway_path,
        units=units,
        sms=sms,
        sms_multipart=multipart,
        emails=emails,
        masked_folder=masked_folder,
    )


def write_notices_from_url(
    db_url: str,
    batch_id: str,
    out_dir: Path,
    *,
    masked: bool = False,
    templates_folder: Path | None = None,
) -> NoticesResult:
    """:func:`write_notices` for a database URL (what ``handover export notices`` calls); the templates of
    ``templates_folder`` (default :func:`templates_dir`)."""
    from handover.target.db import existing_target

    templates = load_templates(templates_folder)  # a broken template fails before the database is opened
    with existing_target(db_url) as engine:
        return write_notices(engine, batch_id, out_dir, masked=masked, templates=templates)
