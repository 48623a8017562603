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
FOOTER_MARKERS = (
    "tong cong",
    "tong so",
    "nguoi lap bieu",
    "nguoi lap",
    "nguoi ky",
    "thu truong",
    "ky ghi ro ho ten",
    "ky ten",
    "ky va ghi ro",
    "ky dong dau",
    "xac nhan cua",
    "lanh dao",
    "giam doc",
    "chu tich",
    "truong phong",
    "can bo tiep nhan",
)
_DATE_LINE = re.compile(r"\bngay\s+\S*\s*thang\s+\S*\s*nam\b")


def header_text(value: object) -> str:
    return clean(value) if value is not None else ""


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


def footer_marker(values: list[object], key_value: object) -> str | None:
    """The footer text when this row starts the total line or the signature block, else None."""
    if key_value is not None and str(key_value).strip():
        # a row with its key filled is data unless it opens with a total ("Tổng cộng: 25 hồ sơ")
        first_raw = next((v for v in values if v is not None and str(v).strip()), None)
        if not isinstance(first_raw, str) or first_raw.strip()[:1] not in "TtCc":
            return None
    texts = [header_text(v) for v in values if header_text(v)]
    if not texts:
        return None
    first = fold(texts[0])
    if first.startswith(("tong cong", "tong so")) or first in ("cong", "tong"):
        return texts[0]
    if key_value not in (None, "") and header_text(key_value):
        return None
    for t in texts:
        key = fold(t)
        if key.startswith(FOOTER_MARKERS) or _DATE_LINE.search(key):
            return t
    return None
