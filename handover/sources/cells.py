"""One cell at a time: dates, ID and phone numbers, codes, numbers, text.

Each function takes what a reader produced (str, int, float, datetime, date, None) and returns the canonical
form: ISO date strings, digit strings, zero-padded codes, floats, or cleaned text. Anything it cannot read is
returned as the cleaned raw text so that validation can flag it; nothing is dropped.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from handover.ids import restore_cccd
from handover.text import clean, fold

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_EXCEL_EPOCH = date(1899, 12, 30)
_SERIAL_MIN, _SERIAL_MAX = 1, 2_958_465  # 1900-01-01 .. 9999-12-31

_DMY = re.compile(
    r"^(\d{1,2})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{2}|\d{4})(?:[ T,]+\d{1,2}:\d{2}(?::\d{2})?.*)?$"
)
_ISO = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:$|[ T](\d{1,2}):(\d{2})(?::(\d{2}))?(\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?$)"
)
_YMD_SLASH = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?:\s.*)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?$")  # yyyyMMdd[HHmmss]
_WORDS = re.compile(r"ngay\s+(\d{1,2})\s+thang\s+(\d{1,2})\s+nam\s+(\d{4})")
_SERIAL = re.compile(r"^\d{1,7}(\.\d+)?$")
_DIGITS_SEP = re.compile(r"[\s.\-()]")


def _iso(y: int, m: int, d: int) -> str | None:
    try:
        return date(y, m, d).isoformat()
    except ValueError:
        return None


def _two_digit_year(yy: int) -> int:
    """d-m-yy: 00–39 → 20yy, 40–99 → 19yy (birth dates of the elderly and 2000s dossiers both fit)."""
    return 2000 + yy if yy < 40 else 1900 + yy


def excel_serial(value: float) -> str | None:
    """Excel's day number (1900 system, 1 = 1900-01-01 with the Lotus leap-year bug) → ISO date."""
    if not (_SERIAL_MIN <= value <= _SERIAL_MAX):
        return None
    return (_EXCEL_EPOCH + timedelta(days=math.floor(value))).isoformat()


def parse_date(value: object) -> str | None:
    """Any date a district export holds → 'YYYY-MM-DD'; unreadable text comes back cleaned, as is.

    Handles real dates, Excel serials, dd/mm/yyyy and d-m-yy, ISO, 'ngày 05 tháng 7 năm 2025',
    VNPT iGate UTC timestamps ("1994-10-23T17:00:00.000+0000" is 24 Oct in Asia/Ho_Chi_Minh) and the
    portal's yyyyMMddHHmmss.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(LOCAL_TZ)
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return clean(value)
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return None
        if 10_000_000 <= value <= 99_991_231_235_959 and float(value).is_integer():
            parsed = _compact(str(int(value)))
            if parsed:
                return parsed
        return excel_serial(float(value)) or clean(value)
    text = clean(value)
    if not text:
        return None
    return _parse_text(text)


def _compact(text: str) -> str | None:
    m = _COMPACT.match(text)
    if not m or len(text) not in (8, 12, 14):
        return None
    return _iso(int(m.group(1)), int(m.group(2)), int(m.group(3)))


@lru_cache(maxsize=100_000)
def _parse_text(text: str) -> str:
    m = _DMY.match(text)
    if m:
        d, mo, y = int(m.group(1)), int(m.group(2)), m.group(3)
        year = int(y) if len(y) == 4 else _two_digit_year(int(y))
        return _iso(year, mo, d) or text
    m = _ISO.match(text)
    if m:
        if m.group(8):  # with a UTC offset: convert to local time, never truncate
            tz = m.group(8).replace("Z", "+00:00")
            if len(tz) == 5:
                tz = tz[:3] + ":" + tz[3:]
            stamp = f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}T{int(m.group(4)):02d}:{m.group(5)}:{m.group(6) or '00'}{tz}"
            try:
                return datetime.fromisoformat(stamp).astimezone(LOCAL_TZ).date().isoformat()
            except ValueError:
                return text
        return _iso(int(m.group(1)), int(m.group(2)), int(m.group(3))) or text
    m = _YMD_SLASH.match(text)
    if m:
        return _iso(int(m.group(1)), int(m.group(2)), int(m.group(3))) or text
    if text.isdigit():
        if len(text) in (8, 14):
            return _compact(text) or text
        if len(text) <= 6:
            return excel_serial(float(text)) or text
        return text
    if _SERIAL.match(text):
        return excel_serial(float(text)) or text
    m = _WORDS.search(fold(text))
    if m:
        return _iso(int(m.group(3)), int(m.group(2)), int(m.group(1))) or text
    return text


# A time of day after a date: " 14:35", " 14:35:20", "T14:35:20.5", ", 2:35 PM" (SA/CH: Vietnamese AM/PM)
_TIME_TAIL = r"[ T,]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(?:(AM|PM|SA|CH)\.?)?\s*"
_DMY_TIME = re.compile(
    r"^(\d{1,2})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{2}|\d{4})" + _TIME_TAIL + "$", re.IGNORECASE
)
_YMD_SLASH_TIME = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})" + _TIME_TAIL + "$", re.IGNORECASE)
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DAY_SECONDS = 86_400


def _wall(day: date, seconds: float) -> str | None:
    """``day`` at ``seconds`` after local midnight → 'YYYY-MM-DDTHH:MM:SS', rounded to the second but never past
    the day's last second; None at midnight (a date alone: exports write dates as 00:00:00)."""
    whole = min(round(seconds), _DAY_SECONDS - 1)
    if whole <= 0:
        return None
    hours, rest = divmod(whole, 3600)
    return f"{day.isoformat()}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _clock(
    hour: str, minute: str, second: str | None, fraction: str | None, half: str | None
) -> float | None:
    """Seconds after midnight of a written time; None when it is no time of day (25:00, 13 PM)."""
    h, m, s = int(hour), int(minute), int(second or 0)
    if half:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if half.upper() in ("PM", "CH") else 0)
    if h > 23 or m > 59 or s > 59:
        return None
    return h * 3600 + m * 60 + s + (float("0." + fraction) if fraction else 0.0)


def _datetime_wall(value: datetime) -> str | None:
    if value.tzinfo is not None:  # with a zone: the local wall time, converted, never truncated
        value = value.astimezone(LOCAL_TZ)
    seconds = value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    return _wall(value.date(), seconds)


def local_time(value: object) -> str | None:
    """The local date-time (Asia/Ho_Chi_Minh wall time, 'YYYY-MM-DDTHH:MM:SS') a date-time value carries, or None
    when it carries no time of day: a date, a text without a time, a time this cannot read, or local midnight
    exactly (a date written as a date-time: Excel date cells, "dd/mm/yyyy 00:00:00", a vendor's UTC time stamp of
    local midnight).

    Read like :func:`parse_date`: a naive ``datetime`` (Excel date-time cells, SQL sources), 'dd/mm/yyyy HH:MM[:SS]'
    and 'yyyy/mm/dd HH:MM[:SS]' (AM/PM, SA/CH read), ISO text, the portal's yyyyMMddHHmmss and an Excel serial's
    fraction are local time; an aware ``datetime`` and ISO text with an offset or Z are converted to
    Asia/Ho_Chi_Minh. Seconds are rounded (never past the day's last second), so the day is always the day
    :func:`parse_date` gives.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return _datetime_wall(value)
    if isinstance(value, date):
        return None
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return None
        if 10_000_000 <= value <= 99_991_231_235_959 and float(value).is_integer():
            digits = str(int(value))
            if len(digits) in (8, 12, 14) and _compact(digits):
                return _compact_time(digits)
        return _serial_time(float(value))
    text = clean(value)
    if not text:
        return None
    return _time_text(text)


def _compact_time(text: str) -> str | None:
    m = _COMPACT.match(text)
    if not m or not m.group(4):
        return None
    seconds = _clock(m.group(4), m.group(5), m.group(6), None, None)
    return (
        None if seconds is None else _wall(date(int(m.group(1)), int(m.group(2)), int(m.group(3))), seconds)
    )


def _serial_time(value: float) -> str | None:
    if not (_SERIAL_MIN <= value <= _SERIAL_MAX):
        return None
    day = math.floor(value)
    return _wall(_EXCEL_EPOCH + timedelta(days=day), (value - day) * _DAY_SECONDS)


@lru_cache(maxsize=100_000)
def _time_text(text: str) -> str | None:
    for pattern, order in ((_DMY_TIME, "dmy"), (_YMD_SLASH_TIME, "ymd")):
        m = pattern.match(text)
        if m:
            if order == "dmy":
                d, mo, y = int(m.group(1)), int(m.group(2)), m.group(3)
                year = int(y) if len(y) == 4 else _two_digit_year(int(y))
            else:
                year, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
            seconds = _clock(*m.group(4, 5, 6, 7, 8))
            try:
                day = date(year, mo, d)
            except ValueError:
                return None
            return None if seconds is None else _wall(day, seconds)
    m = _ISO.match(text)
    if m:
        if not m.group(4):
            return None
        seconds = _clock(m.group(4), m.group(5), m.group(6), (m.group(7) or ".")[1:] or None, None)
        try:
            day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
        if seconds is None:
            return None
        if not m.group(8):
            return _wall(day, seconds)
        tz = m.group(8).replace("Z", "+00:00")
        if len(tz) == 5:
            tz = tz[:3] + ":" + tz[3:]
        try:
            offset = datetime.fromisoformat(f"{day.isoformat()}T00:00:00{tz}").tzinfo
        except ValueError:
            return None
        whole = math.floor(seconds)
        stamp = datetime.combine(day, datetime.min.time(), offset) + timedelta(
            seconds=whole, microseconds=round((seconds - whole) * 1e6)
        )
        return _datetime_wall(stamp)
    if text.isdigit():
        return _compact_time(text) if len(text) == 14 else None
    if _SERIAL.match(text) and "." in text:
        return _serial_time(float(text))
    return None


def parse_date_time(value: object) -> tuple[str | None, str | None]:
    """(:func:`parse_date`, :func:`local_time`) of one value: the local calendar day every check, report and due
    state uses, and the local wall time when the value carries a time of day on that day (None otherwise, and
    whenever the day is not a valid date)."""
    if type(value) is str:  # what CSV files give: cleaned once, 'dd/mm/yyyy HH:MM:SS' read in one match
        text = clean(value)
        return _date_time_text(text) if text else (None, None)
    day = parse_date(value)
    if day is None or not _ISO_DAY.match(day):
        return day, None
    at = local_time(value)
    return day, at if at is not None and at[:10] == day else None


@lru_cache(maxsize=100_000)
def _date_time_text(text: str) -> tuple[str, str | None]:
    m = _DMY_TIME.match(text)
    if m:  # _parse_text's first pattern matches it too: the same day
        d, mo, y, hour, minute, second, fraction, half = m.groups()
        year = int(y) if len(y) == 4 else _two_digit_year(int(y))
        try:
            day = date(year, int(mo), int(d))
        except ValueError:
            return text, None
        iso = day.isoformat()
        if fraction is None and half is None:  # the usual 'dd/mm/yyyy HH:MM:SS': no rounding, no AM/PM
            h, mi, sec = int(hour), int(minute), int(second or 0)
            if h > 23 or mi > 59 or sec > 59 or not (h or mi or sec):
                return iso, None
            return iso, f"{iso}T{h:02d}:{mi:02d}:{sec:02d}"
        seconds = _clock(hour, minute, second, fraction, half)
        return iso, None if seconds is None else _wall(day, seconds)
    iso = _parse_text(text)
    if not _ISO_DAY.match(iso):
        return iso, None
    at = _time_text(text)
    return iso, at if at is not None and at[:10] == iso else None


def _number_text(value: object) -> str:
    """An int/float cell as its digits (12345678901.0 → '12345678901'); text cleaned."""
    if isinstance(value, bool):
        return clean(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return clean(value)


def digits_or_text(value: object) -> str | None:
    """ID/phone cells: spaces, dots, dashes and brackets dropped when what is left is all digits."""
    if type(value) is str and value.isdigit() and value.isascii():
        return value
    text = _number_text(value)
    if not text:
        return None
    compact = _DIGITS_SEP.sub("", text)
    if compact.startswith("'"):
        compact = compact[1:]
    return compact if compact.isdigit() else text


def repair_id(value: object) -> tuple[str | None, int]:
    """A CCCD stored as a number gets back the leading zeros it lost (:func:`handover.ids.restore_cccd`:
    one or two, only when the result is a plausible CCCD). Returns (value, zeros added)."""
    text = digits_or_text(value)
    if not text:
        return text, 0
    return restore_cccd(text)


def repair_phone(value: object) -> tuple[str | None, bool]:
    """Mobile stored as a number: 9 digits → '0' + digits (10); '84…' (11 digits) is left as is."""
    text = digits_or_text(value)
    if text and text.isdigit() and len(text) == 9 and text[0] != "0":
        return "0" + text, True
    return text, False


CODE_WIDTH = {"old_province_code": 2, "old_district_code": 3, "old_commune_code": 5}


def code(value: object, width: int) -> str | None:
    """Unit codes: digits zero-padded to ``width`` ('86' → '086'); other text cleaned, as is."""
    text = _number_text(value)
    if not text:
        return None
    return text.zfill(width) if text.isdigit() and len(text) <= width else text


_THOUSANDS = re.compile(r"^\d{1,3}([.,\s]\d{3})+$")


def number(value: object) -> float | str | None:
    """Fees and amounts → float ('1.500.000', '1,500,000', '1500000 đ' → 1500000.0); else the text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return clean(value)
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    text = clean(value)
    if not text:
        return None
    bare = re.sub(r"\s*(đ|đồng|vnđ|vnd)\.?$", "", text, flags=re.IGNORECASE).strip()
    if _THOUSANDS.match(bare):
        return float(re.sub(r"[.,\s]", "", bare))
    try:
        return float(bare.replace(",", "."))
    except ValueError:
        return text


_MESSY_SPACE = re.compile(r"\s\s|[\t\r\n\f\v]")


def text(value: object) -> str | None:
    """Any other field: ints as digits (1 → '1'), strings NFC-cleaned, blanks → None."""
    if value is None:
        return None
    if type(value) is str:
        if value.isascii():
            out = value.strip()
            if _MESSY_SPACE.search(out):
                out = clean(out)
            return out or None
        if _MESSY_SPACE.search(value) or value[:1].isspace() or value[-1:].isspace():
            return clean(value) or None
        return value if unicodedata.is_normalized("NFC", value) else unicodedata.normalize("NFC", value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    out = _number_text(value)
    return out or None


__all__ = [
    "LOCAL_TZ",
    "UTC",
    "code",
    "digits_or_text",
    "excel_serial",
    "local_time",
    "number",
    "parse_date",
    "parse_date_time",
    "repair_id",
    "repair_phone",
    "text",
]


HEADER_CHARS = 300  # longer cells are never headers: the header search sees only their start


def header_scan(head: list[tuple[int, list[object]]]) -> list[tuple[int, list[object]]]:
    """The rows the header search looks at, with text cells cut to :data:`HEADER_CHARS` characters, so that
    a sheet of long notes costs the search no more than a sheet of short ones."""
    return [
        (number, [v[:HEADER_CHARS] if isinstance(v, str) and len(v) > HEADER_CHARS else v for v in values])
        for number, values in head
    ]
