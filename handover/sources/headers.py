"""Find the header row of an export made for printing, map its headers to fields, and spot the footer.

Printed exports carry title lines above the header ("UBND HUYỆN BẢO THẮNG", "DANH SÁCH HỒ SƠ ..."), headers
over two rows with merged cells ("Ngày" over "Tiếp nhận" | "Hẹn trả"), a row of column numbers "(1) (2) ...",
then the data, a total line ("Tổng cộng") and a signature block ("Người lập biểu", "(Ký, ghi rõ họ tên)").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from handover.text import clean, fold

SCAN_ROWS = 30
_PAREN_TAIL = re.compile(r"\s*[\(\[][^()\[\]]*[\)\]]\s*$")
_NUMBERING = re.compile(r"^[\(\[]?(\d{1,2}|[A-Za-z])[\)\]]?$")
# How a total line and a signature block open, written with their diacritics: a cell matches when its first
# words are these ("TỔNG CỘNG:" too), or the same words typed without any diacritics ("Tong cong"). A name that
# only folds like one ("Tống Công Minh") does not match.
TOTAL_MARKERS = ("tổng cộng", "tổng số", "cộng", "tổng")
SIGNATURE_MARKERS = (
    "người lập biểu",
    "người lập",
    "người ký",
    "người kí",
    "thủ trưởng",
    "ký ghi rõ họ tên",
    "kí ghi rõ họ tên",
    "ký tên",
    "kí tên",
    "ký và ghi rõ",
    "ký đóng dấu",
    "xác nhận của",
    "lãnh đạo",
    "giám đốc",
    "chủ tịch",
    "trưởng phòng",
    "cán bộ tiếp nhận",
)
_DATE_LINE = re.compile(r"\bng(?:ày|ay)\s+\S+\s+th(?:áng|ang)\s+\S+\s+n(?:ăm|am)\b")
_WORD = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
_NUMBER_TEXT = re.compile(r"^[\d.,\s]+(?:đ|đồng|vnđ|vnd)?$", re.IGNORECASE)
_COUNT_NOUNS = (
    "hồ sơ",
    "ho so",
    "hs",
    "bản ghi",
    "ban ghi",
    "trường hợp",
    "truong hop",
    "dòng",
    "hộ",
    "người",
)
_MONEY_WORDS = ("đồng", "vnđ", "vnd", "tiền", "tien", "phí", "lệ phí")


def header_text(value: object) -> str:
    return clean(value) if value is not None else ""


def column_letter(index: int) -> str:
    """0 → A, 26 → AA (how spreadsheets name columns)."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


@dataclass
class Matcher:
    """Header text → field, the batch config's ``columns`` first, then the profile."""

    profile: dict[str, str]
    config: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, profile_lookup: dict[str, str], columns: dict[str, str]) -> Matcher:
        cfg: dict[str, str] = {}
        for header, fld in columns.items():
            cfg.setdefault(fold(header), fld)
            cfg.setdefault(fold(header).replace(" ", ""), fld)
        return cls(profile_lookup, cfg)

    def match(self, header: str) -> str | None:
        if not header:
            return None
        for text in (header, _PAREN_TAIL.sub("", header)):
            key = fold(text)
            if not key:
                continue
            for table in (self.config, self.profile):
                for k in (key, key.replace(" ", "")):
                    if k in table:
                        return table[k]
        return None


def combine(top: list[object], bottom: list[object]) -> list[str]:
    """Two header rows → one: a merged top cell (value only in its first column) spreads right over the
    columns whose bottom cell is filled: "Ngày" + "Tiếp nhận" → "Ngày Tiếp nhận"."""
    width = max(len(top), len(bottom))
    out: list[str] = []
    carry = ""
    for j in range(width):
        t = header_text(top[j]) if j < len(top) else ""
        b = header_text(bottom[j]) if j < len(bottom) else ""
        if t:
            carry = t
        elif not b:
            carry = ""
        upper = t or (carry if b else "")
        out.append(f"{upper} {b}".strip() if upper and b else (upper or b))
    return out


@dataclass
class HeaderChoice:
    row: int  # 1-based row number of the (first) header row
    rows: list[int]  # all header rows (one or two)
    headers: list[str]  # one text per column
    fields: list[str | None]
    score: int


def _score(headers: list[str], matcher: Matcher) -> tuple[int, list[str | None]]:
    fields = [matcher.match(h) for h in headers]
    return len({f for f in fields if f}), fields


def find_header(
    rows: list[tuple[int, list[object]]], matcher: Matcher, fixed_row: int | None = None
) -> HeaderChoice | None:
    """Best-matching header among the first rows: a single row or a row combined with the one below it."""
    best: HeaderChoice | None = None
    for i, (number, values) in enumerate(rows[:SCAN_ROWS]):
        if fixed_row is not None and number != fixed_row:
            continue
        texts = [header_text(v) for v in values]
        if not any(texts):
            continue
        score, fields = _score(texts, matcher)
        candidates = [HeaderChoice(number, [number], texts, fields, score)]
        if i + 1 < len(rows) and rows[i + 1][0] == number + 1 and any(header_text(v) for v in rows[i + 1][1]):
            combined = combine(values, rows[i + 1][1])
            c_score, c_fields = _score(combined, matcher)
            candidates.append(HeaderChoice(number, [number, number + 1], combined, c_fields, c_score))
        for cand in candidates:
            if best is None or cand.score > best.score:
                best = cand
    return best if best is not None and best.score > 0 else None


def is_numbering_row(values: list[object]) -> bool:
    """The "(1) (2) (3)" line printed under a header."""
    texts = [header_text(v) for v in values if header_text(v)]
    return len(texts) >= 3 and all(_NUMBERING.match(t) for t in texts)


def _words(text: str) -> list[str]:
    """Lower-case NFC words, punctuation dropped: "(Ký, ghi rõ họ tên)" → ["ký", "ghi", "rõ", "họ", "tên"]."""
    return _WORD.findall(clean(text).lower())


def _opens_with(words: list[str], marker: str) -> bool:
    """The words start with ``marker``'s words, with its diacritics or with none at all."""
    want = marker.split()
    head = words[: len(want)]
    if head == want:
        return True
    return len(head) == len(want) and all(w.isascii() for w in head) and head == fold(marker).split()


def total_text(value: object) -> bool:
    """A cell that opens a total line: "Tổng cộng: 612 hồ sơ", "TỔNG SỐ", "Cộng", "Tong cong" (not "Tống Công")."""
    words = _words(header_text(value))
    if not words:
        return False
    if any(_opens_with(words, m) for m in TOTAL_MARKERS if " " in m):
        return True
    # "Cộng" / "Tổng" alone (or with a number): a bare word, not "Cộng hòa xã hội chủ nghĩa Việt Nam"
    bare = any(_opens_with(words, m) for m in TOTAL_MARKERS if " " not in m)
    return bare and (len(words) == 1 or words[1].isdigit())


def signature_text(value: object) -> bool:
    """A cell of a signature block: "Người lập biểu", "(Ký, ghi rõ họ tên)", "Bảo Thắng, ngày 30 tháng 6 năm 2025"."""
    text = header_text(value)
    words = _words(text)
    if not words:
        return False
    if any(_opens_with(words, m) for m in SIGNATURE_MARKERS):
        return True
    return _DATE_LINE.search(" ".join(words)) is not None


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and bool(_NUMBER_TEXT.match(value.strip())) and bool(_DIGIT.search(value))


def row_shape(values: list[object], key_index: int | None, width: int) -> str:
    """What a non-blank row under the header looks like, by its shape and not by one word in it:

    * ``total``: its first non-empty cell opens a total line, its key cell is empty or that same cell, and the
      other cells are mostly empty (or numbers: the sums of a column);
    * ``data``: most of its cells are filled, or its key cell holds a key (one token, not a total text: a name
      or a signature text has spaces);
    * ``signature``: a sparse row with a signature-block text ("Người lập biểu", a "ngày … tháng … năm" line);
    * ``other``: a sparse row without any of these (a signer's name under a signature, or a sparse data row).

    ``width`` is the number of columns the header names. A marker word inside a ``data`` row never makes it
    anything else.
    """
    filled = [(j, v) for j, v in enumerate(values) if v is not None and str(v).strip()]
    if not filled:
        return "other"
    most = len(filled) >= 3 and 2 * len(filled) > max(width, 1)
    key = values[key_index] if key_index is not None and key_index < len(values) else None
    key_text = header_text(key)
    first_j, first = filled[0]
    alone = not most or all(_is_number(v) for _, v in filled[1:])  # the other cells: few, or column sums
    if total_text(first) and (not key_text or key_index == first_j) and alone:
        return "total"
    if most:
        return "data"
    if key_text and " " not in key_text and not total_text(key_text):  # one token: a code, not a name or text
        return "data"
    if any(signature_text(v) for _, v in filled if isinstance(v, str)):
        return "signature"
    return "other"


def footer_marker(values: list[object], key_value: object, width: int | None = None) -> str | None:
    """The marker text when this row can open the total line or the signature block (see :func:`row_shape`),
    else None. ``key_value`` is the row's key cell; ``width`` the header's column count (default: the row's)."""
    key_index = next((j for j, v in enumerate(values) if v is key_value), None)
    if key_index is None and header_text(key_value):
        values, key_index = [*values, key_value], len(values)
    shape = row_shape(values, key_index, width if width is not None else len(values))
    if shape == "total":
        return next(header_text(v) for v in values if header_text(v))
    if shape == "signature":
        return next(header_text(v) for v in values if isinstance(v, str) and signature_text(v))
    return None


def stated_count(values: list[object], key_index: int | None, number_columns: set[int]) -> int | None:
    """The count a total line states: a number in its text ("Tổng cộng: 612 hồ sơ", "Tổng số hồ sơ: 612",
    "Cộng: 612"), else a whole number in the key column, else its one whole-number cell outside the columns of
    amounts (``number_columns``: fees, allowances). None when it states none (a sum of fees is not a count)."""
    filled = [(j, v) for j, v in enumerate(values) if v is not None and str(v).strip()]
    if not filled:
        return None
    text = header_text(filled[0][1])
    low = " ".join(_words(text))
    if not any(w in low.split() or f" {w} " in f" {low} " for w in _MONEY_WORDS):
        numbers = re.findall(r"\d{1,3}(?:[.,]\d{3})+|\d+", text)
        rest = low
        for m in (*TOTAL_MARKERS, *(fold(m) for m in TOTAL_MARKERS)):
            if rest.startswith(m):
                rest = rest[len(m) :].strip()
                break
        noun = any(f" {n} " in f" {rest} " for n in _COUNT_NOUNS)
        if len(numbers) == 1 and (noun or rest == re.sub(r"\D", "", numbers[0])):
            return int(re.sub(r"\D", "", numbers[0]))
    whole = [(j, v) for j, v in filled[1:] if _whole_number(v) is not None]
    if key_index is not None:
        for j, v in whole:
            if j == key_index:
                return _whole_number(v)
    outside = [(j, v) for j, v in whole if j not in number_columns]
    if len(outside) == 1:
        return _whole_number(outside[0][1])
    return None


def _whole_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    return None
