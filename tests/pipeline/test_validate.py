"""Validate stage: hand-built chunks → exact findings and dispositions, without great-expectations."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from handover.errors import ConfigError
from handover.models import DOSSIER_FIELDS, MAPPED_COLUMNS, RECORD_FIELDS, Chunk, Entity, Finding, Severity
from handover.pipeline.expectations import SUPPORTED
from handover.pipeline.suite import load_suite
from handover.pipeline.validate import (
    EXCLUDED_REASON,
    REVIEW_REASONS,
    ValidationSettings,
    Validator,
    gate_exceeded,
)
from handover.resources import checks_dir
from handover.target.limits import load_limits

GOOD_CODE = "000.00.53.H48-250620-{:04d}"


def dossier(source_row: int, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {f: None for f in DOSSIER_FIELDS}
    row.update({c: None for c in MAPPED_COLUMNS})
    row.update(
        source_id="bt",
        source_row=source_row,
        extras="{}",
        source_system="bt",
        dossier_code=GOOD_CODE.format(source_row),
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        applicant_name="Nguyễn Văn An",
        applicant_type="1",
        applicant_id="010203012345",  # Hà Nội (001), male born 2003
        phone="0912345678",
        received_date="2025-06-20",
        due_date="2025-07-03",
        channel="1",
        unit_status="unique",
        status_code="4",
    )
    row.update(kw)
    return row


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator.load(Entity.DOSSIER)


def run(validator: Validator, rows: list[dict[str, object]], findings: list[Finding] | None = None) -> Chunk:
    chunk = Chunk("bt", Entity.DOSSIER, 0, pd.DataFrame(rows), list(findings or []))
    return validator.validate_chunk(chunk)


def by_row(chunk: Chunk) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {}
    for f in chunk.findings:
        out.setdefault(f.row, []).append((f.check, f.severity.value))
    return {k: sorted(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def main_chunk(validator: Validator) -> Chunk:
    rows = [
        dossier(2),
        dossier(3, dossier_code="HS-2025-0003"),  # local format: warning only
        dossier(4, dossier_code=None),
        dossier(5, applicant_id="099203012345"),  # no province 099
        dossier(6, applicant_id="001503012345"),  # century digit 5: born in the 2100s
        dossier(7, applicant_type="2", applicant_id="0100233489"),  # wrong check digit
        dossier(8, applicant_type="2", applicant_id="0100233488"),  # valid tax code
        dossier(9, due_date="2025-06-01"),  # before received 2025-06-20
        dossier(10, status_code="10"),
        dossier(11, unit_status="split"),
        dossier(12, dossier_code=GOOD_CODE.format(2)),  # same content as row 2
        dossier(13, dossier_code=GOOD_CODE.format(99)),
        dossier(14, dossier_code=GOOD_CODE.format(99), applicant_name="Lê Thị Bình"),
        dossier(15, applicant_id="063123456"),  # CMND
        dossier(16, applicant_id="12345"),
        dossier(17, status_code="9", applicant_id="12345"),  # finished wins over error
        dossier(18, unit_status="not_found", applicant_id="12345"),  # error wins over review
        dossier(19, received_date="2025-02-30"),
    ]
    return run(validator, rows)


def test_findings_and_dispositions_exact(main_chunk: Chunk) -> None:
    chunk = main_chunk
    assert by_row(chunk) == {
        3: [("dossier_code_format", "warning")],
        4: [("dossier_code_missing", "error")],
        5: [("cccd_province", "error")],
        6: [("cccd_century", "error")],
        7: [("tax_code_invalid", "error")],
        9: [("due_before_received", "error")],
        13: [("dossier_code_unique", "error")],
        14: [("dossier_code_unique", "error")],
        16: [("id_format", "error")],
        17: [("id_format", "error")],
        18: [("id_format", "error")],
        19: [("date_invalid", "error")],
    }
    disp = dict(zip(chunk.frame["source_row"], chunk.frame["disposition"], strict=True))
    assert disp == {
        2: "loaded",
        3: "loaded",
        4: "quarantined",
        5: "quarantined",
        6: "quarantined",
        7: "quarantined",
        8: "loaded",
        9: "quarantined",
        10: "excluded",
        11: "review",
        12: "duplicate",
        13: "quarantined",
        14: "quarantined",
        15: "loaded",
        16: "quarantined",
        17: "excluded",
        18: "quarantined",
        19: "quarantined",
    }
    reason = dict(zip(chunk.frame["source_row"], chunk.frame["reason"], strict=True))
    assert reason[2] == ""
    assert reason[10] == EXCLUDED_REASON == "Hồ sơ đã kết thúc / not pending"
    assert reason[11] == REVIEW_REASONS["split"]
    assert "chia" in reason[11] and "split" in reason[11]
    assert reason[12] == "Trùng hoàn toàn với dòng 2 / exact duplicate of row 2"
    assert reason[4] == "Thiếu mã hồ sơ. / The dossier code is missing."


def test_finding_fields_and_masking(main_chunk: Chunk) -> None:
    (f,) = [f for f in main_chunk.findings if f.row == 5]
    assert f.source_id == "bt"
    assert f.row == 5
    assert f.key == GOOD_CODE.format(5)
    assert f.field == "applicant_id"
    assert f.severity is Severity.ERROR
    assert f.message_vi == "Số CCCD '099******345' có mã tỉnh (3 số đầu) không tồn tại."
    assert f.message_en == "CCCD '099******345' has no valid province prefix (first 3 digits)."
    assert "099203012345" not in f.message_vi + f.message_en  # personal data masked


def test_error_from_an_earlier_stage_quarantines(validator: Validator) -> None:
    earlier = Finding(
        source_id="bt",
        row=2,
        key=GOOD_CODE.format(2),
        field="received_date",
        check="date_unparsed",
        severity=Severity.ERROR,
        message_vi="Ngày không đọc được",
        message_en="Unreadable date",
    )
    warning = earlier.model_copy(update={"row": 3, "severity": Severity.WARNING})
    chunk = run(validator, [dossier(2), dossier(3)], [earlier, warning])
    assert list(chunk.frame["disposition"]) == ["quarantined", "loaded"]
    assert chunk.frame["reason"].iloc[0] == "Ngày không đọc được / Unreadable date"


def test_pending_statuses_are_not_excluded(validator: Validator) -> None:
    rows = [dossier(i + 2, status_code=str(code)) for i, code in enumerate(range(1, 11))]
    rows.append(dossier(20, status_code=""))
    chunk = run(validator, rows)
    excluded = sorted(
        int(c)
        for c, d in zip(chunk.frame["status_code"], chunk.frame["disposition"], strict=True)
        if d == "excluded"
    )
    assert excluded == [3, 7, 9, 10]


def test_flagged_counts_accumulate_over_chunks(validator: Validator) -> None:
    before = validator.flagged["dossier_code_missing"]
    run(validator, [dossier(2, dossier_code=None), dossier(3)])
    assert validator.last_flagged["dossier_code_missing"] == 1
    run(validator, [dossier(2, dossier_code=None), dossier(3, dossier_code=None), dossier(4)])
    assert validator.last_flagged["dossier_code_missing"] == 2
    assert validator.last_flagged["channel_value"] == 0
    assert validator.flagged["dossier_code_missing"] - before == 3


def write_suite(folder: Path, body: str, entity: str = "dossier") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{entity}.toml").write_text(
        f'[suite]\nname = "t"\nentity = "{entity}"\n\n' + body, encoding="utf-8"
    )
    return folder


CHANNEL = """
[[expectations]]
check = "channel_value"
expectation = "ExpectColumnValuesToBeInSet"
column = "channel"
kwargs = { value_set = ["1", "2", "3"] }
severity = "error"
message_vi = "Hình thức '{value}' sai"
message_en = "Channel '{value}' wrong"
"""


def test_expectation_failing_and_passing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    v = Validator.load("dossier", checks_dir=write_suite(tmp_path / "c", CHANNEL))
    chunk = run(v, [dossier(2, channel="7"), dossier(3, channel="2"), dossier(4, channel=None)])
    assert [(f.row, f.check, f.message_en) for f in chunk.findings] == [
        (2, "channel_value", "Channel '7' wrong")
    ]
    assert list(chunk.frame["disposition"]) == ["quarantined", "loaded", "loaded"]
    chunk = run(v, [dossier(2, channel="1")])
    assert chunk.findings == []
    assert v.flagged == {"channel_value": 1}
    out, err = capfd.readouterr()
    assert out + err == ""


def test_unknown_expectation_type_names_file_and_check(tmp_path: Path) -> None:
    body = CHANNEL.replace("ExpectColumnValuesToBeInSet", "ExpectColumnValuesToBeLovely")
    with pytest.raises(ConfigError) as exc:
        Validator.load("dossier", checks_dir=write_suite(tmp_path / "c", body))
    assert "ExpectColumnValuesToBeLovely" in exc.value.message and "not supported" in exc.value.message
    assert exc.value.context["check"] == "channel_value"
    assert exc.value.context["file"].endswith("dossier.toml")
    for supported in SUPPORTED:  # the hint names what the evaluator runs
        assert supported in exc.value.hint


@pytest.mark.parametrize(
    ("kwargs", "wanted"),
    [
        ('{ value_set = ["1"], colour = "red" }', "does not take kwargs colour"),
        ('{ value_set = "1" }', "value_set must be a list"),
        ("{ mostly = 2 }", "mostly must be a number from 0 to 1"),
    ],
)
def test_bad_expectation_kwargs_are_refused_with_what_to_write(
    tmp_path: Path, kwargs: str, wanted: str
) -> None:
    body = CHANNEL.replace('kwargs = { value_set = ["1", "2", "3"] }', f"kwargs = {kwargs}")
    with pytest.raises(ConfigError) as exc:
        load_suite(write_suite(tmp_path / "c", body) / "dossier.toml")
    assert wanted in exc.value.message and exc.value.context["check"] == "channel_value"
    assert "ExpectColumnValuesToBeInSet takes: value_set, mostly" in exc.value.hint or "mostly = 0.95" in (
        exc.value.hint
    )


def test_validating_a_chunk_does_not_import_great_expectations() -> None:
    code = (
        "import sys, pandas as pd\n"
        "from handover.models import Chunk, Entity\n"
        "from handover.pipeline.validate import Validator\n"
        "v = Validator.load(Entity.DOSSIER)\n"
        "v.validate_chunk(Chunk('s', Entity.DOSSIER, 0, pd.DataFrame({'source_row': [2], 'dossier_code': ['x']})))\n"
        "print('great_expectations' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_bad_regex_and_lengths_are_refused(tmp_path: Path) -> None:
    regex = CHANNEL.replace("ExpectColumnValuesToBeInSet", "ExpectColumnValuesToMatchRegex").replace(
        'value_set = ["1", "2", "3"]', "regex = '^(unclosed'"
    )
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        load_suite(write_suite(tmp_path / "a", regex) / "dossier.toml")
    lengths = CHANNEL.replace("ExpectColumnValuesToBeInSet", "ExpectColumnValueLengthsToBeBetween").replace(
        'value_set = ["1", "2", "3"]', "min_value = 1.5"
    )
    with pytest.raises(ConfigError, match="min_value must be a whole number"):
        load_suite(write_suite(tmp_path / "b", lengths) / "dossier.toml")


def test_suite_file_errors(tmp_path: Path) -> None:
    bad_rule = """
[[custom]]
check = "x_rule"
rule = "telepathy"
columns = ["phone"]
severity = "error"
message_vi = "a"
message_en = "b"
"""
    with pytest.raises(ConfigError) as exc:
        load_suite(write_suite(tmp_path / "a", bad_rule) / "dossier.toml")
    assert exc.value.context["check"] == "x_rule" and "telepathy" in exc.value.message

    bad_severity = CHANNEL.replace('severity = "error"', 'severity = "fatal"')
    with pytest.raises(ConfigError) as exc:
        load_suite(write_suite(tmp_path / "b", bad_severity) / "dossier.toml")
    assert exc.value.context["check"] == "channel_value"
    assert "severity" in exc.value.message

    with pytest.raises(ConfigError, match="used twice"):
        load_suite(write_suite(tmp_path / "d", CHANNEL + CHANNEL) / "dossier.toml")


def test_shipped_suites_load_and_match_entity(tmp_path: Path) -> None:
    for entity in ("dossier", "record"):
        spec = load_suite(checks_dir() / f"{entity}.toml")
        assert spec.suite.entity.value == entity
    shutil.copy(checks_dir() / "record.toml", tmp_path / "dossier.toml")
    with pytest.raises(ConfigError, match="is for entity 'record'"):
        Validator.load("dossier", checks_dir=tmp_path)


def record(source_row: int, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {f: None for f in RECORD_FIELDS}
    row.update({c: None for c in MAPPED_COLUMNS})
    row.update(
        source_id="db",
        source_row=source_row,
        extras="{}",
        source_system="db",
        record_type="birth",
        record_number=f"{source_row}/2024",
        registered_date="2024-03-01",
        subject_name="Trần Minh Khôi",
        subject_id="010203012345",
        unit_status="unique",
        status_code="",
    )
    row.update(kw)
    return row


def test_record_suite_keys_and_duplicates() -> None:
    v = Validator.load(Entity.RECORD)
    rows = [
        record(2),
        record(3, record_type="death", record_number="2/2024"),  # same number, other type: no clash
        record(4, record_number="2/2024"),  # exact duplicate of row 2
        record(5, record_number="9/2024"),
        record(6, record_number="9/2024", subject_name="Trần Minh Khang"),
        record(7, record_type="marriage_abroad"),
        record(8, subject_id="0100233488", record_type="business_household"),  # tax code accepted
        record(9, record_number="19/2024", subject_id="12ab"),  # warning only for records
    ]
    chunk = v.validate_chunk(Chunk("db", Entity.RECORD, 0, pd.DataFrame(rows)))
    assert by_row(chunk) == {
        5: [("record_number_unique", "error")],
        6: [("record_number_unique", "error")],
        7: [("record_type_value", "error")],
        9: [("id_format", "warning")],
    }
    keys = {f.row: f.key for f in chunk.findings}
    assert keys[5] == "birth/9/2024"
    assert list(chunk.frame["disposition"]) == [
        "loaded",
        "loaded",
        "duplicate",
        "quarantined",
        "quarantined",
        "quarantined",
        "loaded",
        "loaded",
    ]


def test_empty_chunk(validator: Validator) -> None:
    frame = pd.DataFrame(columns=["source_id", "source_row", *DOSSIER_FIELDS, *MAPPED_COLUMNS])
    chunk = validator.validate_chunk(Chunk("bt", Entity.DOSSIER, 0, frame))
    assert chunk.findings == [] and len(chunk.frame) == 0
    assert {"disposition", "reason"} <= set(chunk.frame.columns)


@pytest.mark.parametrize(
    ("quarantined", "extracted", "share", "expected"),
    [
        (0, 0, 0.2, False),
        (20, 100, 0.2, False),
        (21, 100, 0.2, True),
        (1, 100, 0.0, True),
        (100, 100, 1.0, False),
    ],
)
def test_gate_exceeded(quarantined: int, extracted: int, share: float, expected: bool) -> None:
    assert gate_exceeded(quarantined, extracted, share) is expected


# -- what the target can store, plausible dates and amounts (checks/target_limits.toml) ---------------------


def _settings(dialect: str) -> ValidationSettings:
    return ValidationSettings(load_limits(dialect), date(2025, 7, 1))


@pytest.fixture(scope="module")
def mariadb_validator() -> Validator:
    return Validator.load(Entity.DOSSIER, settings=_settings("mysql"))


def _errors(chunk: Chunk) -> dict[int, list[tuple[str, str, str | None]]]:
    out: dict[int, list[tuple[str, str, str | None]]] = {}
    for f in chunk.findings:
        out.setdefault(f.row, []).append((f.check, f.severity.value, f.field))
    return {k: sorted(v) for k, v in out.items()}


def test_text_longer_than_its_target_column_is_quarantined(mariadb_validator: Validator) -> None:
    """VARCHAR(300) in characters; TEXT in UTF-8 bytes (65,535): "ệ" takes 3 bytes."""
    rows = [
        dossier(2, applicant_name="Lê" * 150),  # 300 characters: fits
        dossier(3, applicant_name="A" * 301),
        dossier(4, notes="ệ" * 21_845),  # 65,535 bytes: fits
        dossier(5, notes="ệ" * 21_846),  # 65,538 bytes
        dossier(6, notes="x" * 70_000),
        dossier(7, extras='{"Cột lạ": "' + "y" * 70_000 + '"}'),  # unmapped columns are stored too
    ]
    chunk = run(mariadb_validator, rows)
    found = {r: [c for c in v if c[0] == "text_too_long"] for r, v in _errors(chunk).items()}
    assert {r: v for r, v in found.items() if v} == {
        3: [("text_too_long", "error", "applicant_name")],
        5: [("text_too_long", "error", "notes")],
        6: [("text_too_long", "error", "notes")],
        7: [("text_too_long", "error", "extras")],
    }
    assert list(chunk.frame["disposition"]) == ["loaded", "quarantined", "loaded"] + ["quarantined"] * 3
    by = {f.row: f for f in chunk.findings if f.check == "text_too_long"}
    assert by[3].message_en == (
        "applicant_name is 301 characters long, over the target's limit of 300 characters (MariaDB/MySQL): it "
        "cannot be stored, the row is quarantined."
    )
    assert by[5].message_vi == (
        "Trường notes dài 65538 byte, quá giới hạn 65535 byte của CSDL đích (MariaDB/MySQL): không ghi được, "
        "dòng bị cách ly."
    )
    assert all(len(f.message_vi) < 400 for f in chunk.findings)  # no cell copied whole into a message


def test_text_cap_is_the_same_on_every_target() -> None:
    """A 70 KB note is held back on SQLite and PostgreSQL too (the common cap): a batch holds back the same rows
    whichever database it goes to; the message says where the limit comes from."""
    v = Validator.load(Entity.DOSSIER, settings=_settings("sqlite"))
    chunk = run(v, [dossier(2, notes="x" * 70_000)])
    (f,) = [f for f in chunk.findings if f.check == "text_too_long"]
    assert "SQLite; giới hạn chung mọi CSDL đích / the cap every target gets" in f.message_en
    assert list(chunk.frame["disposition"]) == ["quarantined"]


def test_control_characters(mariadb_validator: Validator) -> None:
    rows = [
        dossier(2, notes="dòng 1\tcột\ndòng 2\r"),  # free text: tab, LF, CR are text
        dossier(3, notes="có \x00 NUL"),
        dossier(4, applicant_name="Nguyễn\tVăn An"),  # a name is not free text
        dossier(5, dossier_code="000.00.53.H48-250620-\x1b0005"),
        dossier(6, summary="\x07chuông"),
    ]
    chunk = run(mariadb_validator, rows)
    found = {
        f.row: (f.check, f.field, f.severity.value)
        for f in chunk.findings
        if f.check in ("control_character", "nul_character")
    }
    assert found == {
        3: ("nul_character", "notes", "error"),
        4: ("control_character", "applicant_name", "error"),
        5: ("control_character", "dossier_code", "error"),
        6: ("control_character", "summary", "error"),
    }
    assert list(chunk.frame["disposition"]) == ["loaded"] + ["quarantined"] * 4
    (nul,) = [f for f in chunk.findings if f.row == 3 and f.check == "nul_character"]
    assert "U+0000" in nul.message_vi and "'có ␀ NUL'" in nul.message_vi  # shown, never copied raw
    (bell,) = [f for f in chunk.findings if f.row == 6]
    assert "U+0007" in bell.message_en
    assert all("\x00" not in f.message_vi + f.message_en for f in chunk.findings)


def test_implausible_dates(validator: Validator) -> None:
    rows = [
        dossier(2, received_date="0001-01-01"),
        dossier(3, due_date="9999-12-31"),
        dossier(4, received_date="1900-01-01", due_date="2075-07-01"),  # the bounds themselves pass
        dossier(5, received_date="1899-12-31"),
        dossier(6, due_date="2075-07-02"),  # handover date + 50 years + 1 day
        dossier(7, returned_date="3025-01-01"),
    ]
    chunk = run(validator, rows)
    assert {r: v for r, v in _errors(chunk).items()} == {
        2: [
            ("date_implausible", "error", "received_date"),
            ("date_out_of_target_range", "error", "received_date"),
        ],
        3: [("date_implausible", "error", "due_date")],
        5: [("date_implausible", "error", "received_date")],
        6: [("date_implausible", "error", "due_date")],
        7: [("date_implausible", "error", "returned_date")],
    }
    (f,) = [f for f in chunk.findings if f.row == 3]
    assert f.message_en.startswith("Date 9999-12-31 in due_date is outside 1900-01-01 – 2075-07-01")
    assert list(chunk.frame["disposition"]) == ["quarantined", "quarantined", "loaded"] + ["quarantined"] * 3


def test_negative_and_unreadable_amounts(validator: Validator) -> None:
    rows = [
        dossier(2, fee=-50000.0),
        dossier(3, fee=0.0),
        dossier(4, fee=150000.0),
        dossier(5, fee="năm mươi nghìn"),  # text the extract stage could not read as an amount
        dossier(6, fee=1e17),  # beyond what a DOUBLE holds exactly
    ]
    chunk = run(validator, rows)
    assert _errors(chunk) == {
        2: [("fee_negative", "error", "fee")],
        5: [("fee_not_number", "error", "fee")],
        6: [("fee_too_large", "error", "fee")],
    }
    (f,) = [f for f in chunk.findings if f.row == 2]
    assert f.message_vi.startswith("Số tiền -50000.0 ở cột fee là số âm")
    assert list(chunk.frame["disposition"]) == [
        "quarantined",
        "loaded",
        "loaded",
        "quarantined",
        "quarantined",
    ]


def test_fee_checks_fire_on_crafted_rows(validator: Validator) -> None:
    """Each fee check on a row made to fail it, none on the clean rows; negative amounts quarantine, the rest
    are warnings that still load."""
    paid = {"fee": 50000.0, "amount_paid": 50000.0, "payment_date": "2025-06-21", "receipt_number": "BL-0001"}
    rows = [
        dossier(2, **paid, payment_channel="cash"),  # clean: paid in full with its receipt
        dossier(3, fee=50000.0),  # clean: unpaid
        dossier(4, fee=0.0),  # clean: nothing due
        dossier(5, **{**paid, "amount_paid": 80000.0}),  # paid more than due
        dossier(6, **{**paid, "receipt_number": None}),  # paid, no receipt number
        dossier(7, fee=50000.0, payment_date="2025-06-21"),  # a payment date alone is a payment
        dossier(8, **{**paid, "amount_paid": -50000.0}),  # negative amount paid
        dossier(9, **{**paid, "payment_date": "2025-02-30"}),  # not a date
        dossier(10, **paid, payment_channel="Séc"),  # a channel no line of value_codes.csv places
        dossier(11, **{**paid, "amount_paid": "một trăm"}),  # not an amount
    ]
    chunk = run(validator, rows)
    assert _errors(chunk) == {
        5: [("fee_overpaid", "warning", "amount_paid")],
        6: [("fee_paid_no_receipt", "warning", "receipt_number")],
        7: [("fee_paid_no_receipt", "warning", "receipt_number")],
        8: [("fee_negative", "error", "amount_paid")],
        9: [("date_invalid", "error", "payment_date")],
        10: [("payment_channel_value", "warning", "payment_channel")],
        11: [("fee_not_number", "error", "amount_paid")],
    }
    by_row = {f.row: f for f in chunk.findings}
    assert by_row[5].message_vi.startswith("Số tiền đã nộp 80.000 đ lớn hơn số phải nộp 50.000 đ")
    assert by_row[5].message_en.startswith("The amount paid, 80.000 đ, is more than the amount due, 50.000 đ")
    assert "(số tiền 50.000 đ, ngày 2025-06-21) nhưng không có số biên lai" in by_row[6].message_vi
    assert "Séc" in by_row[10].message_vi
    expected = ["loaded"] * 6 + ["quarantined"] * 2 + ["loaded", "quarantined"]
    assert list(chunk.frame["disposition"]) == expected


def test_record_birth_dates_and_amounts() -> None:
    v = Validator.load(Entity.RECORD, settings=_settings("postgresql"))
    rows = [
        record(2, subject_birth_date="1890-05-01"),  # old death registers: a warning
        # (a CCCD of someone born in 2025: its birth year matches, cccd_birth_year_mismatch stays quiet)
        record(
            3, subject_birth_date="2025-07-02", subject_id="010325012345"
        ),  # born after the district stopped
        record(4, subject_birth_date="0001-01-01"),  # not even storable
        record(5, amount=-1.0),
        record(6, registered_date="9999-12-31"),
        record(7, subject_birth_date="2025-07-01", subject_id="010325012345", amount=0.0),
    ]
    chunk = v.validate_chunk(Chunk("db", Entity.RECORD, 0, pd.DataFrame(rows)))
    assert _errors(chunk) == {
        2: [("birth_date_old", "warning", "subject_birth_date")],
        3: [("birth_date_future", "error", "subject_birth_date")],
        4: [
            ("birth_date_old", "warning", "subject_birth_date"),
            ("date_out_of_target_range", "error", "subject_birth_date"),
        ],
        5: [("amount_negative", "error", "amount")],
        6: [("date_implausible", "error", "registered_date")],
    }
    assert list(chunk.frame["disposition"]) == ["loaded"] + ["quarantined"] * 4 + ["loaded"]
    (f,) = [f for f in chunk.findings if f.row == 2]
    assert "warning only" in f.message_en  # the severity is explained


def test_target_limits_follow_the_batch_target_url() -> None:
    maria = ValidationSettings.of("mysql+pymysql://u@h/db", "2025-07-01")
    assert (maria.limits.label, maria.limits.text_max_bytes, maria.handover_date) == (
        "MariaDB/MySQL",
        65535,
        date(2025, 7, 1),
    )
    pg = ValidationSettings.of("postgresql+psycopg://u@h/db", "2030-01-01")
    assert (
        pg.limits.refuses_nul and pg.limits.text_max_bytes == 65535 and pg.handover_date == date(2030, 1, 1)
    )
    # an unreadable URL or date: the common limits, no handover bound (the other stages report those)
    odd = ValidationSettings.of("::not a url::", "someday")
    assert (odd.limits.text_max_bytes, odd.handover_date) == (65535, None)
    v = Validator.load(Entity.DOSSIER, settings=odd)
    chunk = run(v, [dossier(2, due_date="2999-01-01")])
    assert _errors(chunk) == {}  # without a handover date the +50 years bound is not applied


def test_limit_rules_are_checked_when_the_suite_loads(tmp_path: Path) -> None:
    star = """
[[custom]]
check = "x"
rule = "{rule}"
columns = {columns}
params = {params}
severity = "error"
message_vi = "a"
message_en = "b"
"""
    cases = [
        ("id_number", '["*"]', "{}", "stands alone"),
        ("text_limit", '["*", "notes"]', "{}", "stands alone"),
        ("number_range", '["fee"]', "{}", "needs params.min"),
        ("number_range", '["fee"]', '{ min = "0" }', "params.min must be a number"),
        ("date_range", '["due_date"]', '{ min = "01/01/1900" }', "YYYY-MM-DD"),
        ("date_range", '["due_date"]', "{ max_years_after_handover = -1 }", "whole number"),
        ("control_characters", '["*"]', '{ which = "bell" }', "params.which"),
    ]
    for i, (rule, columns, params, expected) in enumerate(cases):
        body = star.format(rule=rule, columns=columns, params=params)
        with pytest.raises(ConfigError, match=expected) as exc:
            load_suite(write_suite(tmp_path / str(i), body) / "dossier.toml")
        assert exc.value.context["check"] == "x"
