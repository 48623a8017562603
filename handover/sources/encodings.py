"""Text encodings of district exports: detection with evidence, and the legacy TCVN3 and VNI codecs.

Python has UTF-8, UTF-16 and Windows-1258 (``cp1258``, which decodes to combining marks: we normalise to NFC).
TCVN3 (ABC) and VNI have no codec, so their tables are data in ``mappings/encodings/`` (see its README.md).

Detection never guesses silently: :func:`detect_bytes` returns the encoding *and* the evidence, e.g.
"57 of 60 words with accented letters decode to Vietnamese syllables". The same scoring finds TCVN3/VNI text
that arrived as Latin-1 look-alikes inside Unicode cells ("B¶o Th¾ng" → "Bảo Thắng"): :func:`repair_lookalike`.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

from handover.resources import shipped_mappings_dir

# Names accepted in SourceConfig.encoding, folded to the codec we use.
ALIASES: dict[str, str] = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "utf-16": "utf-16",
    "utf16": "utf-16",
    "utf-16-le": "utf-16-le",
    "utf-16le": "utf-16-le",
    "utf-16-be": "utf-16-be",
    "utf-16be": "utf-16-be",
    "cp1258": "cp1258",
    "windows-1258": "cp1258",
    "tcvn3": "tcvn3",
    "abc": "tcvn3",
    "tcvn": "tcvn3",
    "vni": "vni",
    "vni-windows": "vni",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "cp1252": "cp1252",
}
LEGACY = ("tcvn3", "vni")
SAMPLE_BYTES = 256 * 1024


@cache
def _tcvn3_tables() -> tuple[dict[int, str], dict[str, int]]:
    decode: dict[int, str] = {}
    with (shipped_mappings_dir() / "encodings" / "tcvn3.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            decode[ord(chr(int(row["byte"], 16)))] = row["char"]
    encode = {ch: code for code, ch in decode.items()}
    return decode, encode


@cache
def _vni_tables() -> tuple[dict[str, str], dict[str, str], re.Pattern[str]]:
    decode: dict[str, str] = {}
    encode: dict[str, str] = {}
    with (shipped_mappings_dir() / "encodings" / "vni.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            encode[row["char"]] = row["vni"]
            decode[row["vni"]] = row["char"]
            vni = row["vni"]
            if len(vni) == 2:  # tolerate a mark typed in the other case: "VIEät"
                decode.setdefault(vni[0] + vni[1].swapcase(), row["char"])
    keys = sorted(decode, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(k) for k in keys))
    return decode, encode, pattern


def decode_tcvn3(text: str | bytes) -> str:
    """TCVN3 bytes (or their Latin-1 look-alike characters) → Unicode NFC."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return text.translate(_tcvn3_tables()[0])


def encode_tcvn3(text: str) -> bytes:
    """Unicode → TCVN3 bytes. Toned capitals have no code in TCVN3: they are written lower-case."""
    _, enc = _tcvn3_tables()
    out = bytearray()
    for ch in unicodedata.normalize("NFC", text):
        if ch in enc:
            out.append(enc[ch])
        elif ch.lower() in enc:
            out.append(enc[ch.lower()])
        else:
            out.extend(ch.encode("latin-1"))
    return bytes(out)


def decode_vni(text: str | bytes) -> str:
    """VNI bytes (or their Latin-1 look-alike characters) → Unicode NFC."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    table, _, pattern = _vni_tables()
    return pattern.sub(lambda m: table[m.group(0)], text)


def encode_vni(text: str) -> bytes:
    """Unicode → VNI bytes (every Vietnamese letter, both cases)."""
    _, enc, _ = _vni_tables()
    return "".join(enc.get(ch, ch) for ch in unicodedata.normalize("NFC", text)).encode("latin-1")


def encode_cp1258(text: str) -> bytes:
    """Unicode → Windows-1258 the way Windows writes it: shaped letters precomposed, tones as combining marks."""
    out = bytearray()
    for ch in unicodedata.normalize("NFC", text):
        try:
            out.extend(ch.encode("cp1258"))
            continue
        except UnicodeEncodeError:
            pass
        parts = unicodedata.normalize("NFD", ch)
        tones = "".join(c for c in parts if c in _TONE_MARKS)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONE_MARKS))
        out.extend((base + tones).encode("cp1258"))
    return bytes(out)


def decode(data: bytes, encoding: str) -> str:
    """Decode bytes with one of :data:`ALIASES`' codecs; the result is NFC."""
    codec = ALIASES.get(encoding.lower(), encoding)
    if codec == "tcvn3":
        return decode_tcvn3(data)
    if codec == "vni":
        return decode_vni(data)
    return unicodedata.normalize("NFC", data.decode(codec))


def decode_line(line: str, codec: str) -> str:
    """A line read as Latin-1 from a legacy file → Unicode (cp1258 and the rest: NFC only)."""
    if codec == "tcvn3":
        return decode_tcvn3(line)
    if codec == "vni":
        return decode_vni(line)
    return unicodedata.normalize("NFC", line)


# ---------------------------------------------------------------------------------------------------------
# Is this a Vietnamese syllable? (the evidence behind every decision)
# ---------------------------------------------------------------------------------------------------------

_ONSET = "ngh|ng|gh|gi|kh|ph|th|tr|ch|nh|qu|[bcdđghklmnprstvx]"
_NUCLEUS = (
    "uyê|uya|uyu|iêu|yêu|oai|oay|oao|oeo|uây|uôi|ươi|ươu|uêu|"
    "ai|ao|au|ay|âu|ây|eo|êu|ia|iê|iu|oa|oă|oe|oi|ôi|ơi|oo|ua|uâ|uê|ui|uô|uơ|ươ|ưa|ưi|ưu|uy|yê|"
    "[aăâeêioôơuưy]"
)
_CODA = "ch|ng|nh|[cmnpt]"
_SYLLABLE = re.compile(f"(?:{_ONSET})?(?:{_NUCLEUS})(?:{_CODA})?")
_TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
# Words are split on ASCII white space, digits and punctuation only: "¶" inside "B¶o" stays in the word.
_SPLIT = re.compile(r"[\s0-9!-/:-@\[-`{-~]+")


@lru_cache(maxsize=100_000)
def is_syllable(word: str) -> bool:
    """True when ``word`` spells one Vietnamese syllable (any case, at most one tone)."""
    d = unicodedata.normalize("NFD", word.lower())
    tones = sum(1 for c in d if c in _TONE_MARKS)
    if tones > 1:
        return False
    bare = unicodedata.normalize("NFC", "".join(c for c in d if c not in _TONE_MARKS))
    return _SYLLABLE.fullmatch(bare) is not None


def accented_words(text: str) -> list[str]:
    """The words of ``text`` that hold a non-ASCII character (only these tell encodings apart)."""
    return [w for w in _SPLIT.split(text) if w and not w.isascii()]


def score(words: list[str]) -> int:
    return sum(1 for w in words if is_syllable(w))


# ---------------------------------------------------------------------------------------------------------
# Whole files
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    encoding: str  # codec name: utf-8, utf-8-sig, utf-16, cp1258, tcvn3, vni
    label: str  # what people call it: UTF-8, TCVN3 (ABC) ...
    evidence: str


LABELS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (BOM)",
    "utf-16": "UTF-16 (BOM)",
    "utf-16-le": "UTF-16 LE",
    "utf-16-be": "UTF-16 BE",
    "cp1258": "Windows-1258",
    "tcvn3": "TCVN3 (ABC)",
    "vni": "VNI Windows",
    "latin-1": "Latin-1",
    "cp1252": "Windows-1252",
}


def _utf8_ok(sample: bytes, complete: bool) -> bool:
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        # a multi-byte letter cut by the end of the sample is not an error
        return not complete and exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data"


def _stray_bytes(sample: bytes, complete: bool, most: int = 3) -> tuple[int, int] | None:
    """(bad bytes, offset of the first) when the sample is UTF-8 but for at most ``most`` stray bytes among at
    least 50 times as many valid multi-byte letters (a file damaged in a few places, not a legacy encoding)."""
    bad: list[int] = []
    start = 0
    while len(bad) <= most:
        try:
            sample[start:].decode("utf-8")
            break
        except UnicodeDecodeError as exc:
            at = start + exc.start
            if not complete and exc.reason == "unexpected end of data" and at >= len(sample) - 3:
                break
            bad.append(at)
            start = start + exc.end
    if not bad or len(bad) > most:
        return None
    high = sum(1 for b in sample if b >= 0xC0)  # lead bytes of multi-byte letters
    return (len(bad), bad[0]) if high >= 50 * len(bad) else None


def looks_binary(sample: bytes) -> bool:
    """NUL bytes or many control characters: not a text export."""
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13, 12))
    return controls / len(sample) > 0.05


def utf16_byte_order(sample: bytes) -> tuple[str, str] | None:
    """("utf-16-le" | "utf-16-be", evidence) for UTF-16 text without a byte-order mark, told by where the zero
    bytes of its ASCII characters fall (odd offsets: little-endian); None when the sample does not look so."""
    head = sample[: 64 * 1024]
    even = head[0::2].count(0)
    odd = head[1::2].count(0)
    pairs = len(head) // 2
    if not pairs or max(even, odd) < pairs // 4 or min(even, odd) * 4 > max(even, odd):
        return None
    codec = "utf-16-le" if odd > even else "utf-16-be"
    side = "odd" if odd > even else "even"
    return (
        codec,
        f"no byte-order mark; {max(even, odd):,} of {pairs:,} characters have their zero byte at {side} "
        f"offsets (ASCII text in {LABELS[codec]})",
    )


def detect_bytes(sample: bytes, complete: bool = False) -> Detection:
    """Decide a file's encoding from its first bytes; ``complete`` when the sample is the whole file."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return Detection("utf-8-sig", LABELS["utf-8-sig"], "byte-order mark EF BB BF")
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Detection("utf-16", LABELS["utf-16"], f"byte-order mark {sample[:2].hex(' ').upper()}")
    if _utf8_ok(sample, complete):
        words = accented_words(sample.decode("utf-8", errors="ignore"))
        if not words:
            return Detection("utf-8", "UTF-8", "ASCII only: every byte is valid UTF-8")
        return Detection(
            "utf-8",
            "UTF-8",
            f"valid UTF-8; {score(words)} of {len(words)} words with accented letters are Vietnamese syllables",
        )
    stray = _stray_bytes(sample, complete)
    if stray is not None:
        return Detection(
            "utf-8",
            "UTF-8",
            f"UTF-8 but for {stray[0]} byte(s) that are not (the first at byte offset {stray[1]:,}): read as "
            "UTF-8, so that the bad bytes are named where they are",
        )
    raw_words = [w for w in re.split(rb"[\s0-9!-/:-@\[-`{-~]+", sample) if w and not w.isascii()]
    if not raw_words:
        return Detection("cp1258", LABELS["cp1258"], "not UTF-8 and no accented word: read as Windows-1258")
    results = []
    for order, codec in enumerate(("cp1258", "tcvn3", "vni")):
        text = " ".join(decode(w, codec) for w in raw_words if _decodes(w, codec))
        results.append((score(text.split()), -order, codec))
    best, _, codec = max(results)
    n = len(raw_words)
    others = ", ".join(f"{LABELS[c]} {s}" for s, _, c in results if c != codec)
    if best == 0:
        return Detection(
            "cp1258", LABELS["cp1258"], f"not UTF-8; none of {n} accented words decodes to Vietnamese"
        )
    high = sorted({b for w in raw_words for b in w if b >= 0x80})[:4]
    typical = " ".join(f"0x{b:02X}" for b in high)
    return Detection(
        codec,
        LABELS[codec],
        f"not UTF-8; bytes {typical} …: {best} of {n} accented words decode to Vietnamese syllables "
        f"as {LABELS[codec]} (others: {others})",
    )


def _decodes(word: bytes, codec: str) -> bool:
    try:
        word.decode("cp1258" if codec == "cp1258" else "latin-1")
        return True
    except UnicodeDecodeError:
        return False


# ---------------------------------------------------------------------------------------------------------
# Cells: TCVN3 / VNI look-alikes inside Unicode text
# ---------------------------------------------------------------------------------------------------------

_VIET_LATIN1 = set("àáâãèéêìíòóôõùúýÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝ")
# A cell is worth a look only when it holds a Latin-1 character no Vietnamese word uses.
SUSPECT = re.compile("[" + "".join(chr(c) for c in range(0xA1, 0x100) if chr(c) not in _VIET_LATIN1) + "]")


@lru_cache(maxsize=200_000)
def repair_lookalike(text: str) -> tuple[str, str | None]:
    """Return (text, None) or (decoded text, "tcvn3"/"vni") when a legacy decoding reads better."""
    if not SUSPECT.search(text):
        return text, None
    if any(ord(c) > 0xFF for c in text):
        return _repair_mixed(text)
    words = accented_words(text)
    base = score(words)
    best = (base, text, None)
    for codec, fn in (("tcvn3", decode_tcvn3), ("vni", decode_vni)):
        candidate = fn(text)
        words_after = accented_words(candidate)
        s = score(words_after)
        # better than as-is, and most accented words now read as Vietnamese ("Café ½" stays)
        if s > best[0] and 3 * s >= 2 * len(words_after):
            best = (s, candidate, codec)
    return best[1], best[2]


def _repair_mixed(text: str) -> tuple[str, str | None]:
    """A Unicode cell with a pasted legacy fragment ("Chuyển hồ sơ về xã B¶o Th¾ng"): repair only the words that
    hold a legacy-only character, and only when every one of them then reads as a Vietnamese syllable."""
    suspects = [
        w
        for w in _SPLIT.split(text)
        if SUSPECT.search(w)
        and all(ord(c) <= 0xFF for c in w)
        and any(c.isascii() and c.isalpha() for c in w)
    ]
    if not suspects:
        return text, None
    for codec, fn in (("tcvn3", decode_tcvn3), ("vni", decode_vni)):
        decoded = {w: fn(w) for w in suspects}
        if all(is_syllable(d) for d in decoded.values()):
            out = text
            for word, fixed in decoded.items():
                out = re.sub(
                    rf"(?<![^\s0-9!-/:-@\[-`{{-~]){re.escape(word)}(?![^\s0-9!-/:-@\[-`{{-~])", fixed, out
                )
            return unicodedata.normalize("NFC", out), codec
    return text, None
