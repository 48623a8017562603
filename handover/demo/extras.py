"""What the dossiers gained after the demo's first version: fees and their payment, and applicants without
contact. Drawn from a second random generator (:func:`extras_rng`), so every value of the first stays as it was."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

from handover.demo.dossiers import PENDING, UNKNOWN_PROCEDURES, Dossier
from handover.demo.reference import HANDOVER, read_rows

PAYMENT_TEXTS = {"cash": "Tiền mặt", "bank_transfer": "Chuyển khoản", "portal": "Cổng DVCQG"}
BT_FEES = [0, 0, 10000, 20000, 50000, 50000, 100000]  # Bảo Thắng's amounts due (đồng)


@dataclass
class Extra:
    """What a dossier gained after the first demo: its payment, and (Bảo Thắng) its amount due and files."""

    fee: int | None = None  # Bảo Thắng's amount due (Văn Bàn's list has had its own column from the start)
    paid: int | None = None
    paid_on: date | None = None
    pay_channel: str = ""
    receipt: str = ""
    files: list[str] = field(default_factory=list)  # Bảo Thắng: the cell "Tệp đính kèm"


def extras_rng(seed: int) -> random.Random:
    """The generator of everything added to the demo after its first version (fees paid, applicants without
    contact, scanned files): a second one, so that every value drawn from the first stays as it was."""
    return random.Random(seed * 1009 + 17)


def unique_dossiers(rows: list[Dossier]) -> list[Dossier]:
    """Each dossier once (an exact duplicate is the same object, written twice alike)."""
    return list({id(d): d for d in rows}.values())


def is_plain(d: Dossier, district_code: str) -> bool:
    """A pending dossier no planted problem touches, so that what is crafted on it is all that shows."""
    return (
        d.status in PENDING
        and isinstance(d.received, date)
        and d.commune is not None
        and d.commune.district_code == district_code
        and d.code.startswith("000.")
        and d.procedure_code not in ("", UNKNOWN_PROCEDURES[0][0])
        and len(d.applicant_id) == 12
        and d.applicant_id.startswith("010")
        and d.applicant_id[3] in "0123"
        and unicodedata.is_normalized("NFC", d.applicant)
    )


def free_procedures() -> set[str]:
    """Codes of the procedures ``mappings/procedures.csv`` marks free (column ``free``)."""
    from handover.resources import mappings_dir

    return {
        r["procedure_code"] for r in read_rows(mappings_dir() / "procedures.csv") if r.get("free") == "yes"
    }


def payments(xr: random.Random, rows: list[Dossier], district_code: str, printed: bool) -> dict[int, Extra]:
    """Each dossier's payment (by ``id``): about five in six fee-bearing dossiers paid in full with a receipt,
    the others not yet; cash at the desk, the national portal's payment platform online, transfers by post.
    ``printed``: Bảo Thắng's list, which gains the amount due (none on the procedures the law exempts) and
    numbers its receipts from its book; Văn Bàn's system numbers e-receipts."""
    free = free_procedures() if printed else set()
    out: dict[int, Extra] = {}
    seq = 0
    for d in unique_dossiers(rows):
        x = out[id(d)] = Extra()
        fee = d.fee
        if printed:
            base = d.procedure_code.split(".000.")[0]
            fee = x.fee = 0 if base in free else xr.choice(BT_FEES)
        if fee <= 0 or xr.random() < 0.17:
            continue
        seq += 1
        received = d.received if isinstance(d.received, date) else HANDOVER - timedelta(days=30)
        x.paid = fee
        x.paid_on = min(
            received + timedelta(days=xr.choice([0, 0, 0, 1, 2, 5])), HANDOVER - timedelta(days=1)
        )
        if d.channel == "2":
            key = xr.choice(["portal", "portal", "portal", "bank_transfer"])
        elif d.channel == "3":
            key = "bank_transfer"
        else:
            key = xr.choice(["cash", "cash", "cash", "cash", "bank_transfer"])
        x.pay_channel = PAYMENT_TEXTS[key]
        x.receipt = f"{seq:07d}" if printed else f"BL{x.paid_on:%y}-{district_code}-{seq:05d}"
    return out


def plant_fee_problem(
    xr: random.Random, rows: list[Dossier], extras: dict[int, Extra], district_code: str, problem: str
) -> None:
    """One crafted payment problem on a paid dossier: ``overpaid`` (the amount typed with a zero too many) or
    ``no_receipt`` (the receipt number left out)."""
    paid = [d for d in unique_dossiers(rows) if extras[id(d)].paid and is_plain(d, district_code)]
    if not paid:
        return
    x = extras[id(xr.choice(paid))]
    if problem == "overpaid":
        x.paid = (x.paid or 0) * 10
    else:
        x.receipt = ""


def remove_contacts(xr: random.Random, rows: list[Dossier], district_code: str, k: int) -> None:
    """``k`` applicants who filed in person left neither a phone number nor an e-mail: the notices list them
    apart, for the commune to call on or write to."""
    pool = [d for d in unique_dossiers(rows) if is_plain(d, district_code) and d.channel == "1"]
    for d in xr.sample(pool, min(k, len(pool))):
        d.phone, d.email = "", ""
