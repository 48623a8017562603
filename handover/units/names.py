"""Name keys for unit names as people type them, and splitting an address into its parts.

A name becomes a :class:`NameKey`: the folded words (no diacritics) and the tone-aware words (see
:mod:`handover.text`), with numbers unpadded ("05" → "5", "P5" → "p 5") and the unit-type prefix recognised
("Xã", "X.", "Phường", "P.", "Thị trấn", "TT", "Huyện", "H.", "Quận", "Q.", "Thành phố", "TP", "Thị xã", "TX",
"Tỉnh", "Đặc khu"). Matching uses the folded words; the tone-aware words break ties ("Sơn Hà" / "Sơn Hạ").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from handover.text import clean, fold, tone_key

# Folded prefix words → unit type code. Longest first.
_PREFIXES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("thi", "tran"), "thi_tran"),
    (("thi", "xa"), "thi_xa"),
    (("thanh", "pho"), "thanh_pho"),
    (("dac", "khu"), "dac_khu"),
    (("xa",), "xa"),
    (("phuong",), "phuong"),
    (("huyen",), "huyen"),
    (("quan",), "quan"),
    (("tinh",), "tinh"),
    (("tt",), "thi_tran"),
    (("tx",), "thi_xa"),
    (("tp",), "thanh_pho"),
    (("x",), "xa"),
    (("p",), "phuong"),
    (("f",), "phuong"),
    (("h",), "huyen"),
    (("q",), "quan"),
)
# The long prefixes as spelt with diacritics (tone keys): in a text with diacritics, a folded prefix spelt
# otherwise is a name ("Quan Sơn" is not "Quận Sơn").
_TONED_PREFIXES = {
    ("thi", "tran"): ("thi5", "trân1"),
    ("thi", "xa"): ("thi5", "xa4"),
    ("thanh", "pho"): ("thanh2", "phô1"),
    ("dac", "khu"): ("đăc5", "khu"),
    ("xa",): ("xa4",),
    ("phuong",): ("phương2",),
    ("huyen",): ("huyên5",),
    ("quan",): ("quân5",),
    ("tinh",): ("tinh3",),
}
OFFICIAL_TYPES = {
    "Thị trấn": "thi_tran",
    "Thị xã": "thi_xa",
    "Thành phố": "thanh_pho",
    "Đặc khu": "dac_khu",
    "Xã": "xa",
    "Phường": "phuong",
    "Huyện": "huyen",
    "Quận": "quan",
    "Tỉnh": "tinh",
}
COMMUNE_TYPES = {"xa", "phuong", "thi_tran", "dac_khu"}
DISTRICT_TYPES = {"huyen", "quan", "thi_xa", "thanh_pho"}
PROVINCE_TYPES = {"tinh", "thanh_pho"}

_GLUED = re.compile(r"^(p|q|f|x|h|tt|tx|tp)(\d+)$")
_SPLIT = re.compile(r"[,;\n|]+")


def _norm_tokens(words: list[str]) -> list[str]:
    out: list[str] = []
    for word in words:
        if word.isdigit():
            out.append(str(int(word)))
            continue
        match = _GLUED.match(word)
        if match:
            out += [match[1], str(int(match[2]))]
        else:
            out.append(word)
    return out


@lru_cache(maxsize=100_000)
def has_marks(text: str) -> bool:
    """True when ``text`` carries any Vietnamese mark (typed with a Vietnamese keyboard)."""
    return fold(text) != tone_key(text).replace("đ", "d")


@dataclass(frozen=True)
class NameKey:
    """One way to read a typed name: its folded and tone-aware words and the unit type its prefix named."""

    folded: str
    toned: str
    type: str | None


@lru_cache(maxsize=200_000)
def name_variants(text: str) -> tuple[NameKey, ...]:
    """Readings of a typed name: with the type prefix stripped (when it has one), then as typed."""
    folded = _norm_tokens(fold(text).split())
    toned = _norm_tokens(tone_key(text).split())
    if len(toned) != len(folded):
        toned = folded
    out: list[NameKey] = []
    marked = has_marks(text)
    for words, type_code in _PREFIXES:
        n = len(words)
        if tuple(folded[:n]) != words or len(folded) <= n:
            continue
        toned_prefix = _TONED_PREFIXES.get(words)
        if marked and toned_prefix and tuple(toned[:n]) != toned_prefix:
            break  # spelt as a name, not as the unit-type word
        out.append(NameKey(" ".join(folded[n:]), " ".join(toned[n:]), type_code))
        break
    out.append(NameKey(" ".join(folded), " ".join(toned), None))
    return tuple(out)


def official_key(name: str, official_type: str = "") -> NameKey:
    """Key of an official name with its official type word removed (``"Xã Sơn Hà"`` → ``son ha``)."""
    text = clean(name)
    # The name's own prefix wins: the January list types "Phường 5" of Quận Phú Nhuận as "Xã".
    type_word = (
        next((t for t in OFFICIAL_TYPES if text == t or text.startswith(t + " ")), "") or official_type
    )

    type_code = OFFICIAL_TYPES.get(type_word)
    bare = text[len(type_word) :].strip() if type_word and text.startswith(type_word) else text
    folded = _norm_tokens(fold(bare).split())
    toned = _norm_tokens(tone_key(bare).split())
    if len(toned) != len(folded):
        toned = folded
    return NameKey(" ".join(folded), " ".join(toned), type_code)


_SPLIT_WORDS_TONED = {"xa4", "phương2", "huyên5", "quân5", "tinh3", "tp", "tt", "tx", "thi5", "đăc5"}
_SPLIT_WORDS_FOLDED = {"xa", "phuong", "huyen", "quan", "tinh", "tp", "tt", "tx", "thi", "dac"}


PREFIX_WORDS = {w for words, _ in _PREFIXES for w in words}


def split_address(address: str, *, cut: bool = True) -> list[str]:
    """Parts of an address, left (finest) to right (province).

    Commas, semicolons and newlines separate parts; inside a part, a new part starts at each unit-type word
    ("Xã Sơn Hà Huyện Bảo Thắng Tỉnh Lào Cai" → 3 parts).
    """
    text = clean(address)
    pieces = [p.strip(" .-") for p in _SPLIT.split(text)]
    pieces = [p for p in pieces if p]
    if not cut:
        return pieces
    if len(pieces) == 1:
        return list(_cut(pieces[0]))
    out: list[str] = []
    for part in pieces:
        # Inside comma-separated parts, only diacritics tell "Xã" (a unit word) from "Xá" (a name): cut only then.
        out += _cut(part) if has_marks(part) else (part,)
    return out


@lru_cache(maxsize=100_000)
def _cut(text: str) -> tuple[str, ...]:
    words = text.split()
    marked = has_marks(text)
    parts: list[list[str]] = [[]]
    for i, word in enumerate(words):
        f = fold(word)
        t = tone_key(word)
        nxt = fold(words[i + 1]) if i + 1 < len(words) else ""
        if f == "thi":
            is_prefix = nxt in {"tran", "xa"} and (not marked or t == "thi5")
        elif f == "dac":
            is_prefix = nxt == "khu"
        elif f == "thanh":
            is_prefix = nxt == "pho" and (not marked or t == "thanh2")
        elif marked:
            is_prefix = t in _SPLIT_WORDS_TONED or bool(
                re.fullmatch(r"(tp|tt|tx|p|q|x|h)\.?\d*", word.lower())
            )
        else:
            is_prefix = f in _SPLIT_WORDS_FOLDED or bool(
                re.fullmatch(r"(tp|tt|tx|p|q|x|h)\.\d*", word.lower())
            )
        only_prefix = all(fold(w).strip(".") in PREFIX_WORDS for w in parts[-1])
        last = i == len(words) - 1 or (f in {"thi", "dac", "thanh"} and i == len(words) - 2)
        if is_prefix and parts[-1] and not only_prefix and not last:  # "Xã Tân Xã": a name ends in "Xã"
            parts.append([])
        parts[-1].append(word)
    return tuple(" ".join(p).strip(" .-") for p in parts if " ".join(p).strip(" .-"))
