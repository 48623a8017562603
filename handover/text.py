"""Vietnamese text: NFC, comparison keys, and masking.

Two keys for matching names typed by people against official names:

* :func:`tone_key` keeps every letter's shape (â, ă, ơ, ư, đ) and the tone, but not *where* the tone mark sits,
  so "Hòa" and "Hoà", "Thanh Hóa" and "Thanh Hoá" give the same key while "Sơn Hà" and "Sơn Hạ" stay apart.
* :func:`fold` drops every mark ("xa son ha"): what people type without a Vietnamese keyboard.

Both lower-case, unify apostrophes, turn punctuation into spaces and collapse white space.
Legacy 8-bit encodings (TCVN3, VNI) are in :mod:`handover.sources.encodings`.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Combining marks that carry a tone (grave, acute, tilde, hook above, dot below).
_TONES = {"\u0300": "2", "\u0301": "1", "\u0303": "4", "\u0309": "3", "\u0323": "5"}
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'", "\u02bc": "'"})
_SPACES = re.compile(r"\s+")


def nfc(value: str) -> str:
    """Unicode NFC; the form every string in the project is kept in."""
    return unicodedata.normalize("NFC", value)


def clean(value: object) -> str:
    """NFC, trimmed, inner white space (including newlines) collapsed to one space. ``None`` → ``""``."""
    if value is None:
        return ""
    text = str(value)
    if not text:
        return ""
    return _SPACES.sub(" ", nfc(text)).strip()


def _basic(value: str) -> str:
    """NFD, lower case, apostrophes dropped (M'Drắk, M’Drắk, MDrắk meet), other punctuation → space."""
    text = unicodedata.normalize("NFD", str(value)).lower().translate(_APOSTROPHES).replace("'", "")
    return "".join(ch if ch.isalnum() or unicodedata.combining(ch) else " " for ch in text)


@lru_cache(maxsize=200_000)
def tone_key(value: str) -> str:
    """Key that ignores case, spacing, punctuation and *where* the tone mark is placed.

    Each word becomes its letters (with vowel-shape marks) followed by a tone digit when it has one:
    ``tone_key("Thanh Hoá") == tone_key("thanh  HÓA") == "thanh hoa1"``.
    """
    words = []
    for word in _basic(value).split():
        tone = ""
        kept = []
        for ch in word:
            if ch in _TONES:
                tone = _TONES[ch]
            else:
                kept.append(ch)
        words.append(unicodedata.normalize("NFC", "".join(kept)) + tone)
    return " ".join(words)


@lru_cache(maxsize=200_000)
def fold(value: str) -> str:
    """Key without any diacritics: ``fold("Xã Sơn Hà") == "xa son ha"``; đ → d."""
    text = _basic(value).replace("đ", "d")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.split())


def ascii_slug(value: object, limit: int = 60) -> str:
    """A file-name-safe ASCII slug of Vietnamese text: ``"Sở Công Thương"`` → ``"so-cong-thuong"`` (letters and
    digits of :func:`fold`, the rest one ``-``; at most ``limit`` characters; ``"khong-ro"`` when nothing is left)."""
    text = re.sub(r"[^a-z0-9]+", "-", fold(clean(value))).strip("-")
    return text[:limit].rstrip("-") or "khong-ro"


def mask_id(value: str | None, keep: int = 3) -> str:
    """Mask an ID or phone number for reports officials read: ``001203012345`` → ``001******345``."""
    if not value:
        return ""
    text = value if value.__class__ is str else str(value)
    size = len(text)
    if size <= keep * 2:
        return "*" * size
    return f"{text[:keep]}{'*' * (size - 2 * keep)}{text[-keep:]}"


def mask_name(value: str | None) -> str:
    """Mask a person's name for shared reports: the first letter of each word, ``Nguyễn Văn An`` → ``N. V. A.``"""
    if not value:
        return ""
    return " ".join(f"{word[0]}." for word in nfc(str(value)).split())


# C0 control characters (U+0000-U+001F) and DEL, shown as their Unicode control pictures (U+2400-U+241F, U+2421).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PICTURES = {chr(c): chr(0x2400 + c) for c in range(32)} | {"\x7f": "\u2421"}


def visible_controls(value: str) -> str:
    """``value`` with every control character (C0 and DEL) replaced by its control picture (NUL → ␀): text any
    database, spreadsheet and terminal shows as it is."""
    if value.isprintable() or not _CONTROL.search(value):  # isprintable: the fast test, false for more
        return value
    return _CONTROL.sub(lambda m: _PICTURES[m.group()], value)


def excerpt(value: object, limit: int = 120) -> str:
    """A cell as a message shows it: control characters visible (:func:`visible_controls`), at most ``limit``
    characters, a longer one cut with "…" and its length (``"xxx… (70.000 ký tự / characters)"``)."""
    text = "" if value is None else str(value)
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text):,} ký tự / characters)".replace(",", ".")
    return visible_controls(text)
