"""An SMS's length: its encoding (GSM-7 or UCS-2) and part count, and Vietnamese without diacritics, which keeps
a message GSM-7."""

from __future__ import annotations

import dataclasses
import math
import unicodedata

# GSM 03.38 default alphabet (one septet each) and its extension table (two septets: escape + character)
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
GSM7_SINGLE, GSM7_PART = 160, 153  # septets: one message, one part of a concatenated message (UDH)
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units


@dataclasses.dataclass(frozen=True)
class SmsSize:
    """How an SMS text travels: ``encoding`` GSM-7 or UCS-2, ``units`` (septets or UTF-16 code units) and
    ``parts`` (1 = a single message; more = a concatenated, multi-part message)."""

    encoding: str
    units: int
    parts: int

    @property
    def multipart(self) -> bool:
        return self.parts > 1


def sms_size(text: str) -> SmsSize:
    """The encoding and part count of ``text``: GSM-7 when every character is in the default alphabet or its
    extension (2 septets each), 160 septets in one message, 153 per part beyond; else UCS-2, 70 code units in
    one message, 67 per part beyond (characters outside the BMP count 2)."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        units = len(text) + sum(ch in GSM7_EXTENDED for ch in text)
        single, part, encoding = GSM7_SINGLE, GSM7_PART, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "UCS-2"
    parts = 1 if units <= single else math.ceil(units / part)
    return SmsSize(encoding, units, parts)


def unaccented(value: str) -> str:
    """Vietnamese without diacritics, case kept: ``"Xã Bảo Thắng"`` → ``"Xa Bao Thang"`` (đ → d)."""
    text = unicodedata.normalize("NFD", value).replace("đ", "d").replace("Đ", "D")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", text).replace("đ", "d").replace("Đ", "D")
