"""Dates, ID and phone numbers, codes and amounts as district exports write them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from handover.sources import cells


@pytest.mark.parametrize(
    "value,expected",
    [
        (datetime(2025, 7, 5, 0, 0), "2025-07-05"),
        (date(2025, 7, 5), "2025-07-05"),
        (45843, "2025-07-05"),  # Excel serial (1900 system): 45843 = 5 Jul 2025
        (45843.75, "2025-07-05"),  # a serial with a time of day
        ("45843", "2025-07-05"),
        ("05/07/2025", "2025-07-05"),  # dd/mm/yyyy, never mm/dd
        ("5/7/2025", "2025-07-05"),
        ("5-7-25", "2025-07-05"),  # d-m-yy
        ("05.07.2025", "2025-07-05"),
        ("05/07/2025 14:30", "2025-07-05"),
        ("2025-07-05", "2025-07-05"),
        ("2025-07-05 08:00:00", "2025-07-05"),
        ("ngày 05 tháng 7 năm 2025", "2025-07-05"),
        ("Bảo Thắng, Ngày 5 Tháng 07 Năm 2025", "2025-07-05"),
        ("1994-10-23T17:00:00.000+0000", "1994-10-24"),  # VNPT iGate: local midnight stored as UTC
        ("2025-07-04T16:59:59Z", "2025-07-04"),  # one second before local midnight
        ("20250705103000", "2025-07-05"),  # portal yyyyMMddHHmmss (local time)
        (20250705103000, "2025-07-05"),
        ("20250705", "2025-07-05"),
        (datetime(2025, 7, 4, 17, 0, tzinfo=UTC), "2025-07-05"),
        ("31/02/2025", "31/02/2025"),  # impossible: left as is for validation
        ("sắp trả", "sắp trả"),
        ("", None),
        (None, None),
        ("  ", None),
    ],
)
def test_parse_date(value: object, expected: str | None) -> None:
    assert cells.parse_date(value) == expected


@pytest.mark.parametrize(
    "value,expected",
    [
        # a time of day is kept, as Asia/Ho_Chi_Minh wall time
        ("23/02/2025 14:35:20", "2025-02-23T14:35:20"),
        ("23/02/2025 14:35", "2025-02-23T14:35:00"),
        ("23-2-25 2:35 PM", "2025-02-23T14:35:00"),
        ("23/02/2025 12:10 SA", "2025-02-23T00:10:00"),  # Vietnamese Windows: SA/CH for AM/PM
        ("2025/02/23 14:35:20", "2025-02-23T14:35:20"),
        ("2025-02-23 14:35:20", "2025-02-23T14:35:20"),  # ISO without an offset: local time
        ("2025-02-23T03:00:00Z", "2025-02-23T10:00:00"),  # UTC: converted with the zone, never truncated
        ("2025-02-23T03:00:00.000+0000", "2025-02-23T10:00:00"),
        ("2025-02-23T10:00:00+07:00", "2025-02-23T10:00:00"),
        ("2025-02-22T23:30:00-05:00", "2025-02-23T11:30:00"),  # the local day is the next one
        ("2025-07-04T16:59:59.9Z", "2025-07-04T23:59:59"),  # rounded, never past the day's last second
        ("20250223143520", "2025-02-23T14:35:20"),  # the portal's yyyyMMddHHmmss (local)
        (20250223143520, "2025-02-23T14:35:20"),
        (45711.6078703704, "2025-02-23T14:35:20"),  # an Excel serial's fraction
        ("45711.75", "2025-02-23T18:00:00"),
        (datetime(2025, 2, 23, 14, 35, 19, 999_999), "2025-02-23T14:35:20"),  # Excel date-time cell
        (datetime(2025, 2, 23, 3, 0, tzinfo=UTC), "2025-02-23T10:00:00"),  # an aware SQL value
        # no time of day: a date alone, local midnight, or a time that is none
        ("1994-10-23T17:00:00.000+0000", None),  # VNPT iGate's UTC stamp of local midnight (24 Oct)
        (datetime(1994, 10, 23, 17, 0, tzinfo=UTC), None),
        (datetime(2025, 2, 23, 0, 0), None),  # an Excel date cell
        ("23/02/2025 00:00:00", None),
        ("20250223000000", None),
        ("23/02/2025", None),
        ("2025-02-23", None),
        (45711, None),
        (45711.0, None),
        (date(2025, 2, 23), None),
        ("ngày 23 tháng 2 năm 2025", None),
        ("23/02/2025 25:10", None),  # no such time: the day stays, the time is not made up
        ("23/02/2025 14:35 SA", None),
        ("31/02/2025 10:00", None),  # no such day: left to validation, no time
        ("sắp trả", None),
        (None, None),
        ("", None),
    ],
)
def test_parse_date_time_keeps_the_local_time_of_day(value: object, expected: str | None) -> None:
    day, at = cells.parse_date_time(value)
    assert at == expected
    assert day == cells.parse_date(value)  # the calendar day is parse_date's, always
    if at is not None:
        assert at[:10] == day


@pytest.mark.parametrize(
    "value,expected,repaired",
    [
        (10203012345, "010203012345", True),  # 11-digit number: lost leading zero
        (10203012345.0, "010203012345", True),
        ("10203012345", "010203012345", True),
        ("010203012345", "010203012345", False),
        ("0102 0301 2345", "010203012345", False),
        (1203012345, "001203012345", 2),  # Hà Nội (001): two zeros lost in the number cell
        ("1203012345", "001203012345", 2),
        (1200000016, "1200000016", 0),  # 10 digits that are a valid tax code (MST): not an ID to repair
        (99203012345, "99203012345", 0),  # "099…" is no birth province: not repaired
        (10503012345, "10503012345", 0),  # century digit 5: nobody born in the 2100s holds a CCCD yet
        (1234567890, "1234567890", 0),  # "001" + century 2 + year 34: a birth year in the future
        (123456789, "123456789", False),  # CMND: 9 digits, valid as is
        ("B1234567", "B1234567", False),  # passport: text kept
        (None, None, False),
    ],
)
def test_repair_id(value: object, expected: str | None, repaired: bool) -> None:
    assert cells.repair_id(value) == (expected, repaired)


@pytest.mark.parametrize(
    "value,expected,repaired",
    [
        (912345678, "0912345678", True),
        ("912345678", "0912345678", True),
        ("0912.345.678", "0912345678", False),
        ("0912 345 678", "0912345678", False),
        ("84912345678", "84912345678", False),
        ("không có", "không có", False),
    ],
)
def test_repair_phone(value: object, expected: str, repaired: bool) -> None:
    assert cells.repair_phone(value) == (expected, repaired)


def test_codes_are_zero_padded_strings() -> None:
    assert cells.code(86, 3) == "086"
    assert cells.code(86.0, 3) == "086"
    assert cells.code("2938", 5) == "02938"
    assert cells.code("10", 2) == "10"
    assert cells.code("H48", 3) == "H48"


@pytest.mark.parametrize(
    "value,expected",
    [(50000, 50000.0), ("50.000", 50000.0), ("1.500.000 đ", 1500000.0), ("1,500,000", 1500000.0),
     ("12,5", 12.5), ("miễn phí", "miễn phí"), ("", None)],
)  # fmt: skip
def test_numbers(value: object, expected: object) -> None:
    assert cells.number(value) == expected


def test_text_is_nfc_and_trimmed() -> None:
    nfd = "Nguye\u0302\u0303n  Thi\u0323\n"
    assert cells.text(nfd) == "Nguyễn Thị"
    assert cells.text(1) == "1"
    assert cells.text(2.0) == "2"
    assert cells.text("   ") is None
