"""Fees and payment state of a dossier: the one rule for whether a dossier is paid.

A dossier carries five fee fields (:class:`handover.models.Dossier`): ``fee`` (the amount due, phí / lệ phí,
VND), ``amount_paid``, ``payment_date``, ``payment_channel`` (``cash``, ``bank_transfer``, ``portal``: the
national public-service portal's payment platform; source texts placed by ``mappings/value_codes.csv``) and
``receipt_number``. Its payment state is decided here and nowhere else; the handover record, the portal export
and the validate stage's ``fee_paid_no_receipt`` check all ask :func:`payment_recorded` / :func:`payment_state`:

* a payment is **recorded** when the amount paid is above zero, or a payment date or a receipt number is given
  (any one of them is evidence that the citizen paid: a paid dossier never shows as unpaid);
* ``paid``: a payment is recorded and it covers the amount due (or the amount due is not given);
* ``partly_paid``: a payment is recorded and the amount paid is below the amount due;
* ``unpaid``: an amount due above zero and no payment recorded;
* ``free``: an amount due of zero and no payment recorded;
* ``none``: neither an amount due nor a payment (the source has no fee for the dossier).
"""

from __future__ import annotations

import contextlib
import math
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FEE_FIELDS: tuple[str, ...] = ("fee", "amount_paid", "payment_date", "payment_channel", "receipt_number")


class PaymentState(StrEnum):
    PAID = "paid"
    PARTLY_PAID = "partly_paid"
    UNPAID = "unpaid"
    FREE = "free"
    NONE = "none"


# Canonical payment channels (the codes mappings/value_codes.csv gives, field payment_channel), as the record
# names them and as the portal file codes them (HinhThucThanhToan).
PAYMENT_CHANNELS: dict[str, tuple[str, int]] = {
    "cash": ("tiền mặt", 1),
    "bank_transfer": ("chuyển khoản", 2),
    "portal": ("qua Cổng Dịch vụ công quốc gia", 3),
}


def _amount(value: Any) -> float | None:
    """A stored amount as a float; None for NULL, empty or not a finite number."""
    if value.__class__ is float:  # what the target's Double columns hold
        return value if math.isfinite(value) else None
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _given(value: Any) -> bool:
    if value is None:
        return False
    if value.__class__ is str:
        return value.strip() != ""
    if isinstance(value, float) and math.isnan(value):
        return False
    return str(value).strip() != ""


def payment_recorded(amount_paid: Any, payment_date: Any, receipt_number: Any) -> bool:
    """Whether the row holds evidence of a payment: an amount paid above zero, a payment date or a receipt."""
    paid = _amount(amount_paid)
    return (paid is not None and paid > 0) or _given(payment_date) or _given(receipt_number)


def payment_state(fee: Any, amount_paid: Any, payment_date: Any, receipt_number: Any) -> PaymentState:
    """The payment state of one dossier (see the module text)."""
    due = _amount(fee)
    if payment_recorded(amount_paid, payment_date, receipt_number):
        paid = _amount(amount_paid)
        if due is not None and paid is not None and paid < due:
            return PaymentState.PARTLY_PAID
        return PaymentState.PAID
    if due is None:
        return PaymentState.NONE
    return PaymentState.UNPAID if due > 0 else PaymentState.FREE


def is_paid(state: PaymentState | str) -> bool:
    """Paid in full or in part: a payment is recorded."""
    if state.__class__ is not PaymentState:
        state = PaymentState(state)
    return state is PaymentState.PAID or state is PaymentState.PARTLY_PAID


def payment_recorded_frame(amount_paid: pd.Series, payment_date: pd.Series, receipt: pd.Series) -> pd.Series:
    """:func:`payment_recorded` over columns (the validate stage's text columns: None for an empty cell)."""
    import pandas as pd

    paid = pd.to_numeric(amount_paid, errors="coerce").astype(float)
    return ((paid > 0) | payment_date.notna() | receipt.notna()).astype(bool)


def vnd(value: float) -> str:
    """An amount as Vietnamese officials write it: ``50.000 đ`` (dot thousands, comma decimals)."""
    whole = round(value)
    if abs(value - whole) < 0.005:
        text = f"{whole:,}".replace(",", ".")
    else:
        text = f"{value:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    return f"{text} đ"


def state_text(
    fee: Any,
    amount_paid: Any,
    payment_date: Any,
    receipt_number: Any,
    payment_channel: Any = None,
    *,
    state: PaymentState | None = None,
) -> str:
    """The record's "Phí, lệ phí" cell: ``Đã nộp 50.000 đ`` (with date, channel and receipt when given),
    ``Đã nộp 30.000 / 50.000 đ``, ``Chưa ghi nhận nộp 50.000 đ``, ``Miễn phí``, or empty (no fee information).
    ``state``: the row's :func:`payment_state`, when the caller has it already."""
    if state is None:
        state = payment_state(fee, amount_paid, payment_date, receipt_number)
    due, paid = _amount(fee), _amount(amount_paid)
    if state is PaymentState.NONE:
        return ""
    if state is PaymentState.FREE:
        return "Miễn phí"
    if state is PaymentState.UNPAID:
        return f"Chưa ghi nhận nộp {vnd(due or 0)}"
    if state is PaymentState.PARTLY_PAID:
        text = f"Đã nộp {vnd(paid or 0)[:-2]} / {vnd(due or 0)}"
    elif paid is not None and paid > 0:
        text = f"Đã nộp {vnd(paid)}"
    else:
        text = "Đã nộp"
    details = []
    if isinstance(payment_date, str):
        with contextlib.suppress(ValueError):
            payment_date = date.fromisoformat(payment_date[:10])
    if isinstance(payment_date, date):
        details.append(f"ngày {payment_date:%d/%m/%Y}")
    elif _given(payment_date):
        details.append(f"ngày {payment_date}")
    channel = PAYMENT_CHANNELS.get(str(payment_channel)) if _given(payment_channel) else None
    if channel:
        details.append(channel[0])
    elif _given(payment_channel):
        details.append(str(payment_channel))
    if _given(receipt_number):
        details.append(f"biên lai {receipt_number}")
    return f"{text} ({', '.join(details)})" if details else text


def channel_code(value: Any) -> int | None:
    """The portal file's HinhThucThanhToan (1 cash, 2 bank transfer, 3 the portal's payment platform)."""
    found = PAYMENT_CHANNELS.get(str(value)) if _given(value) else None
    return found[1] if found else None
