"""The national public-service portal's sync file (DongBoHoSoMC) for the dossiers a batch handed over.

``handover export portal BATCH_ID --db URL --out DIR`` writes, read back from the target database only:

* ``<batch>-portal.jsonl``: one :class:`PortalDossier` a line, in the portal's field names;
* ``<batch>-portal.csv``: the same records, the lists (``PhiLePhi``, ``DanhSachGiayTo``) as JSON text, every
  text cell guarded against formulas (:func:`handover.safe.spreadsheet_safe`);
* ``portal.schema.json``: the JSON Schema of :class:`PortalDossier`, that the JSON lines validate against.

``DanhSachGiayTo`` lists the dossier's scanned files the batch copied into the attachment store
(``dossier_attachments``: the name the source gave each, its path in the store, its SHA-256); empty when the
source names none.

``PhiLePhi`` holds the dossier's fee as one item (:class:`PortalFee`): the amount due (``SoTien``), whether a
payment is recorded (``DaThanhToan``, :func:`handover.fees.payment_state`: a paid dossier is never exported as
unpaid), the amount paid, the day, the channel (1 cash, 2 bank transfer, 3 the national portal's payment
platform) and the receipt number; no item when the source gives neither an amount due nor a payment.

Only the dossiers the batch handed over (its ledger rows with disposition ``loaded``, joined to ``dossiers`` as the
reports read them, :mod:`handover.reports.queries`; in a later round only those it newly handed over, as its
supplementary records list them: :func:`iter_loaded_dossiers`). Records are sorted by ``MaHoSo`` (then source) in byte
order on every database and carry no time stamp of the export: the same target gives the same bytes. Each file
is written to a temporary file beside it and renamed into place; the files hold personal data (ID numbers,
phones) and are created readable by their owner only.

Dates are ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh: ``NgayTiepNhan``, ``NgayHenTra`` and ``NgayTra`` take the
dossier's local date-time (``received_at``, ``due_at``, ``returned_at``) when the source gave a time of day, and
otherwise its date (``received_date``, ...) at ``000000``, local midnight. The extract reads both from the
source's value (:func:`handover.sources.cells.parse_date_time`), converting a vendor UTC time stamp with the time
zone, never truncating it: ``2025-02-23T03:00:00Z`` is ``20250223100000``, and ``1994-10-23T17:00:00.000+0000``
(local midnight) ``19941024000000``.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine, or_, select

from handover.safe import spreadsheet_safe
from handover.sources.cells import LOCAL_TZ

SCHEMA_FILE = "portal.schema.json"
DATE_PATTERN = r"^\d{14}$"
LEVEL_PROVINCE = "province_dept"


# an amount in đồng: a whole number when it is one (50000, not 50000.0), never negative
Amount = Annotated[int, Field(ge=0)] | Annotated[float, Field(ge=0)]


class PortalFee(BaseModel):
    """One fee of the dossier (PhiLePhi item): the amount due and its payment (:mod:`handover.fees`)."""

    model_config = ConfigDict(extra="forbid")

    TenPhiLePhi: str = Field(description="Name of the fee, as the source gives it (Vietnamese).")
    SoTien: Amount | None = Field(
        description="Amount due in Vietnamese đồng (null: the source gives a payment but no amount due)."
    )
    DaThanhToan: bool = Field(
        description="A payment is recorded (an amount paid above zero, a payment date or a receipt number): "
        "true for a dossier paid in full or in part."
    )
    SoTienDaNop: Amount | None = Field(description="Amount paid in Vietnamese đồng.")
    NgayThanhToan: str | None = Field(
        description="Day of payment, yyyyMMddHHmmss in Asia/Ho_Chi_Minh.", pattern=DATE_PATTERN
    )
    HinhThucThanhToan: Literal[1, 2, 3] | None = Field(
        description="1 cash, 2 bank transfer, 3 the national portal's payment platform (PayGov)."
    )
    SoBienLai: str | None = Field(description="Receipt number.")


class PortalDocument(BaseModel):
    """One submitted document of the dossier (DanhSachGiayTo item)."""

    model_config = ConfigDict(extra="forbid")

    TenGiayTo: str = Field(description="Name of the document (the scanned file as the source names it).")
    DuongDanTepTin: str | None = Field(
        default=None,
        description="Path of the scanned file in the attachment store (relative to it), when stored.",
    )
    MaBamSHA256: str | None = Field(default=None, description="SHA-256 of the scanned file, when stored.")


class PortalDossier(BaseModel):
    """A dossier in the national portal's sync shape (DongBoHoSoMC), after the handover."""

    model_config = ConfigDict(extra="forbid", title="DongBoHoSoMC")

    MaHoSo: str = Field(description="Dossier code.")
    MaTTHC: str | None = Field(description="Procedure code.")
    TenTTHC: str | None = Field(description="Procedure name.")
    MaLinhVuc: str | None = Field(description="Sector code.")
    TenLinhVuc: str | None = Field(description="Sector name.")
    ChuHoSo: str | None = Field(description="Applicant's name.")
    LoaiDoiTuong: Literal[1, 2] | None = Field(description="1 citizen, 2 business.")
    MaDoiTuong: str | None = Field(description="Applicant's ID number (CCCD/CMND) or tax code.")
    SoDienThoai: str | None = Field(description="Applicant's phone.")
    Email: str | None = Field(description="Applicant's e-mail.")
    TrichYeuHoSo: str | None = Field(description="Summary of the request.")
    NgayTiepNhan: str | None = Field(
        description="Received, yyyyMMddHHmmss in Asia/Ho_Chi_Minh.", pattern=DATE_PATTERN
    )
    NgayHenTra: str | None = Field(
        description="Due, yyyyMMddHHmmss in Asia/Ho_Chi_Minh.", pattern=DATE_PATTERN
    )
    TrangThaiHoSo: str | None = Field(description="Status code of the portal (statuses.csv).")
    NgayTra: str | None = Field(
        description="Result returned, yyyyMMddHHmmss in Asia/Ho_Chi_Minh.", pattern=DATE_PATTERN
    )
    HinhThuc: Literal[1, 2, 3] | None = Field(description="1 in person, 2 online, 3 by post.")
    DonViXuLy: str = Field(
        description="The handling unit after the handover: the new commune (name and code), or the provincial "
        "department for procedures routed to the province."
    )
    GhiChu: str = Field(
        description="The handover, in Vietnamese: from which office to which unit, when, batch."
    )
    PhiLePhi: list[PortalFee] = Field(description="Fees of the dossier.")
    DanhSachGiayTo: list[PortalDocument] = Field(description="Submitted documents (scanned files).")


FIELDS: tuple[str, ...] = tuple(PortalDossier.model_fields)


@dataclass(frozen=True)
class PortalExport:
    """What :func:`export_portal` wrote."""

    batch_id: str
    jsonl: Path
    csv: Path
    schema: Path
    dossiers: int


def portal_date(value: date | datetime | str | None) -> str | None:
    """A target date → ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh: a date is local midnight (``...000000``); an
    aware datetime is converted to local time; a naive one is taken as local."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(LOCAL_TZ)
        return value.strftime("%Y%m%d%H%M%S")
    return value.strftime("%Y%m%d") + "000000"


def routed_to_province(row: dict[str, Any]) -> bool:
    """Whether a loaded dossier goes to a provincial department (its procedure is routed to the province and the
    routing names the agency) rather than to its new commune: the one rule both exports follow."""
    agency = row.get("handling_agency")
    return row.get("handling_level") == LEVEL_PROVINCE and bool(agency and str(agency).strip())


def handling_unit(row: dict[str, Any], province_names: dict[str, str]) -> str:
    """DonViXuLy: ``"Xã Bảo Thắng (02905)"``, or for a procedure routed to the province
    ``"Sở Công Thương, Tỉnh Lào Cai (15)"``."""
    if routed_to_province(row):
        code = row.get("new_province_code")
        province = province_names.get(code or "", "")
        where = " ".join(p for p in (province, f"({code})" if code else "") if p)
        return f"{row['handling_agency']}, {where}" if where else str(row["handling_agency"])
    name, code = row.get("new_commune_name"), row.get("new_commune_code")
    return " ".join(p for p in (name or "", f"({code})" if code else "") if p)


def handover_note(row: dict[str, Any], unit: str, day: date | None, batch_id: str) -> str:
    """GhiChu: the handover in Vietnamese."""
    office = row.get("old_district_name") or "huyện cũ"
    if row.get("old_district_code"):
        office = f"{office} ({row['old_district_code']})"
    when = f" ngày {day.strftime('%d/%m/%Y')}" if day else ""
    return (
        f"Hồ sơ bàn giao từ {office}, đơn vị cấp huyện đã kết thúc hoạt động, sang {unit}{when}, "
        f"theo đợt chuyển giao {batch_id}."
    )


def _code(value: Any, allowed: tuple[int, ...]) -> int | None:
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() and int(text) in allowed else None


def _amount(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def portal_fees(row: dict[str, Any]) -> list[PortalFee]:
    """PhiLePhi: one item with the amount due and its payment, or none when the row has neither."""
    from handover.fees import PaymentState, channel_code, is_paid, payment_state

    fee, paid = row.get("fee"), row.get("amount_paid")
    when, receipt = row.get("payment_date"), row.get("receipt_number")
    state = payment_state(fee, paid, when, receipt)
    if state is PaymentState.NONE:
        return []
    return [
        PortalFee(
            TenPhiLePhi="Phí, lệ phí",
            SoTien=None if fee is None else _amount(fee),
            DaThanhToan=is_paid(state),
            SoTienDaNop=None if paid is None else _amount(paid),
            NgayThanhToan=portal_date(when),
            HinhThucThanhToan=channel_code(row.get("payment_channel")),
            SoBienLai=receipt,
        )
    ]


def _when(row: dict[str, Any], name: str) -> date | datetime | None:
    """The local date-time ``<name>_at`` when the source gave a time of day, else the date ``<name>_date``."""
    at = row.get(f"{name}_at")
    return at if at is not None else row.get(f"{name}_date")


def to_portal(
    row: dict[str, Any],
    province_names: dict[str, str],
    day: date | None,
    batch_id: str,
    documents: list[PortalDocument] | None = None,
) -> PortalDossier:
    """One loaded ``dossiers`` row → its portal record; ``documents``: its files in the attachment store
    (:func:`batch_documents`)."""
    unit = handling_unit(row, province_names)
    return PortalDossier(
        MaHoSo=row["dossier_code"],
        MaTTHC=row.get("procedure_code"),
        TenTTHC=row.get("procedure_name"),
        MaLinhVuc=row.get("sector_code"),
        TenLinhVuc=row.get("sector_name"),
        ChuHoSo=row.get("applicant_name"),
        LoaiDoiTuong=_code(row.get("applicant_type"), (1, 2)),
        MaDoiTuong=row.get("applicant_id"),
        SoDienThoai=row.get("phone"),
        Email=row.get("email"),
        TrichYeuHoSo=row.get("summary"),
        NgayTiepNhan=portal_date(_when(row, "received")),
        NgayHenTra=portal_date(_when(row, "due")),
        TrangThaiHoSo=row.get("status_code"),
        NgayTra=portal_date(_when(row, "returned")),
        HinhThuc=_code(row.get("channel"), (1, 2, 3)),
        DonViXuLy=unit,
        GhiChu=handover_note(row, unit, day, batch_id),
        PhiLePhi=portal_fees(row),
        DanhSachGiayTo=list(documents or []),
    )


_COLUMNS = (
    "source_system",
    "dossier_code",
    "procedure_code",
    "procedure_name",
    "sector_code",
    "sector_name",
    "applicant_name",
    "applicant_type",
    "applicant_id",
    "phone",
    "email",
    "summary",
    "received_date",
    "due_date",
    "returned_date",
    "received_at",
    "due_at",
    "returned_at",
    "status_code",
    "channel",
    "fee",
    "amount_paid",
    "payment_date",
    "payment_channel",
    "receipt_number",
    "handling_level",
    "handling_agency",
    "old_district_code",
    "old_district_name",
    "old_commune_name",  # the notices (handover.exports.notices) read the same rows
    "address",
    "new_province_code",
    "new_commune_code",
    "new_commune_name",
)


def iter_loaded_dossiers(
    conn: Connection, batch_id: str, *, updated: bool = True
) -> Iterator[dict[str, Any]]:
    """The dossiers the batch handed over, as its handover records list them: its loaded dossiers (ledger
    disposition ``loaded``) or, for a later round (a decisions round: :func:`handover.reports.queries.
    rounds.earlier_batches`), only those it newly handed over (:func:`~handover.reports.queries.loaded.newly_handed_over`),
    so that the portal is not told again, nor the applicant notified twice, of a dossier an earlier round
    handed over; with ``updated`` (the portal file), also those whose content it updated (ledger action
    ``updated``), so that the portal learns their new state. Sorted by dossier code then source in byte order
    on every database (PostgreSQL compares with the "C" collation, MariaDB's columns are binary)."""
    from handover.reports.queries.loaded import dossier_join, loaded_where, newly_handed_over
    from handover.reports.queries.rounds import earlier_batches
    from handover.reports.queries.streams import stream_dicts
    from handover.target.schema import dossiers, ledger

    d = dossiers.c
    order = [d.dossier_code, d.source_system]
    if conn.dialect.name == "postgresql":
        order = [c.collate("C") for c in order]
    stmt = (
        select(*(getattr(d, c) for c in _COLUMNS))
        .select_from(dossier_join())
        .where(loaded_where("dossier", batch_id))
    )
    if earlier_batches(conn, batch_id):
        new = newly_handed_over(dossiers, batch_id)
        stmt = stmt.where(or_(new, ledger.c.action == "updated") if updated else new)
    yield from stream_dicts(conn, stmt.order_by(*order))


def batch_documents(conn: Connection, batch_id: str) -> dict[tuple[str, str], list[PortalDocument]]:
    """The files the batch copied into the attachment store (``dossier_attachments``, :mod:`handover.attachments`),
    by (source, dossier code): each the name the source gave it, its stored path (relative to the store) and its
    SHA-256, sorted by name then path in byte order."""
    from handover.target.schema import dossier_attachments

    a = dossier_attachments.c
    stmt = select(a.source_system, a.dossier_code, a.original_name, a.stored_path, a.sha256).where(
        a.batch_id == batch_id
    )
    out: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for source, code, name, path, sha in conn.execute(stmt):
        out.setdefault((source, code), []).append((name, path, sha))
    return {
        key: [
            PortalDocument(TenGiayTo=name, DuongDanTepTin=path, MaBamSHA256=sha)
            for name, path, sha in sorted(set(files), key=lambda f: (f[0].encode(), f[1].encode()))
        ]
        for key, files in out.items()
    }


def handover_day(finished: datetime | None) -> date | None:
    """The local calendar day of the batch's end (the target stores UTC without a zone)."""
    if finished is None:
        return None
    if finished.tzinfo is None:
        finished = finished.replace(tzinfo=UTC)
    return finished.astimezone(LOCAL_TZ).date()


def schema_json() -> str:
    """The JSON Schema of :class:`PortalDossier`, as written to ``portal.schema.json``."""
    schema = PortalDossier.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return spreadsheet_safe(value)


class _AtomicFile:
    """A text file written beside its final path and renamed into place by :meth:`commit` (owner-only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd, self.tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.chmod(self.tmp, 0o600)
        self.file = open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed by commit / discard)

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.file.close()
        Path(self.tmp).unlink(missing_ok=True)


def export_portal(engine: Engine, batch_id: str, out_dir: Path) -> PortalExport:
    """Write the portal files of ``batch_id`` to ``out_dir``; :class:`BatchNotFoundError` for an unknown batch."""
    from handover.reports import batch_file_stem
    from handover.reports.queries.batch import batch_info, guarded
    from handover.resources import mappings_dir
    from handover.units.reference import Reference

    provinces = Reference.load(mappings_dir() / "units").new_provinces
    out_dir = Path(out_dir)
    stem = batch_file_stem(batch_id)
    jsonl_path = out_dir / f"{stem}-portal.jsonl"
    csv_path = out_dir / f"{stem}-portal.csv"
    schema_path = out_dir / SCHEMA_FILE
    files: list[_AtomicFile] = []
    count = 0
    try:
        with guarded("the batch's dossiers"), engine.connect() as conn:
            info = batch_info(conn, batch_id)  # before any file: an unknown batch writes nothing
            day = handover_day(info.finished_at or info.started_at)
            out_dir.mkdir(parents=True, exist_ok=True)
            files += [_AtomicFile(jsonl_path), _AtomicFile(csv_path), _AtomicFile(schema_path)]
            jsonl, table, schema = files
            writer = csv.writer(table.file, lineterminator="\r\n")
            writer.writerow(FIELDS)
            documents = batch_documents(conn, batch_id)
            for row in iter_loaded_dossiers(conn, batch_id):
                docs = documents.get((row["source_system"], row["dossier_code"]))
                data = to_portal(row, provinces, day, batch_id, docs).model_dump(mode="json")
                jsonl.file.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
                writer.writerow([_csv_cell(data[f]) for f in FIELDS])
                count += 1
        schema.file.write(schema_json())
        for f in files:
            f.commit()
    except BaseException:
        for f in files:
            if Path(f.tmp).exists():
                f.discard()
        raise
    return PortalExport(batch_id=batch_id, jsonl=jsonl_path, csv=csv_path, schema=schema_path, dossiers=count)


def export_portal_from_url(db_url: str, batch_id: str, out_dir: Path) -> PortalExport:
    """:func:`export_portal` for a database URL (what ``handover export portal`` calls)."""
    from handover.target.db import existing_target

    with existing_target(db_url) as engine:
        return export_portal(engine, batch_id, out_dir)
