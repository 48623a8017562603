"""An applicant's contacts as the notices use them: a Vietnamese phone number's kind and national form, a
deliverable e-mail address, and an e-mail address masked for the copy to share."""

from __future__ import annotations

import re

from handover.text import clean, mask_id

_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")
_MOBILE = re.compile(r"^0[35789]\d{8}$")  # 10 digits, the mobile prefixes since the 2018 renumbering
_LANDLINE = re.compile(r"^02\d{9}$")  # 11 digits: 02 + area code + subscriber number (since 2017)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def phone_kind(value: object) -> tuple[str, str] | None:
    """A Vietnamese phone number → ``(kind, number)`` with kind ``mobile`` or ``landline`` and the number in
    its national form (``+84 912 345 678`` → ``("mobile", "0912345678")``); None when it is neither."""
    text = _PHONE_SEPARATORS.sub("", clean(value))
    if text.startswith("+84"):
        text = "0" + text[3:]
    elif text.startswith("84") and len(text) in (11, 12):
        text = "0" + text[2:]
    if _MOBILE.match(text):
        return "mobile", text
    if _LANDLINE.match(text):
        return "landline", text
    return None


def usable_email(value: object) -> str | None:
    """The e-mail address when it looks deliverable (one ``@``, a domain with a dot), else None."""
    text = clean(value)
    return text if _EMAIL.match(text) else None


def mask_email(value: str | None) -> str:
    """``congdan123@gmail.com`` → ``c*********@gmail.com``."""
    if not value or "@" not in value:
        return mask_id(value)
    local, _, domain = value.partition("@")
    return local[:1] + "*" * max(len(local) - 1, 1) + "@" + domain
