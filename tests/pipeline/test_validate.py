"""Validate stage: hand-built chunks → exact findings and dispositions; GX really runs, silently."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from handover.errors import ConfigError
from handover.models import DOSSIER_FIELDS, MAPPED_COLUMNS, RECORD_FIELDS, Chunk, Entity, Finding, Severity
from handover.pipeline.validate import EXCLUDED_REASON, REVIEW_REASONS, Validator, gate_exceeded, load_suite
from handover.resources import checks_dir

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


def test_gx_summary_accumulates_over_chunks(validator: Validator) -> None:
    before = {s["check"]: s for s in validator.gx_summary()}
    run(validator, [dossier(2, dossier_code=None), dossier(3)])
    run(validator, [dossier(2, dossier_code=None), dossier(3, dossier_code=None), dossier(4)])
    after = {s["check"]: s for s in validator.gx_summary()}
    missing = after["dossier_code_missing"]
    assert missing["success"] is False
    assert (
        missing["unexpected_count"]
        - before.get("dossier_code_missing", {"unexpected_count": 0})["unexpected_count"]
        == 3
    )
    assert (
        missing["element_count"] - before.get("dossier_code_missing", {"element_count": 0})["element_count"]
        == 5
    )
    assert set(missing) == {
        "suite",
        "expectation",
        "check",
        "column",
        "success",
        "unexpected_count",
        "element_count",
    }
    assert missing["expectation"] == "ExpectColumnValuesToNotBeNull"


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


def test_gx_expectation_failing_and_passing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    v = Validator.load("dossier", checks_dir=write_suite(tmp_path / "c", CHANNEL))
    capfd.readouterr()
    chunk = run(v, [dossier(2, channel="7"), dossier(3, channel="2"), dossier(4, channel=None)])
    assert [(f.row, f.check, f.message_en) for f in chunk.findings] == [
        (2, "channel_value", "Channel '7' wrong")
    ]
    assert list(chunk.frame["disposition"]) == ["quarantined", "loaded", "loaded"]
    chunk = run(v, [dossier(2, channel="1")])
    assert chunk.findings == []
    (summary,) = v.gx_summary()
    assert summary == {
        "suite": "t",
        "expectation": "ExpectColumnValuesToBeInSet",
        "check": "channel_value",
        "column": "channel",
        "success": False,
        "unexpected_count": 1,
        "element_count": 4,
    }
    out, err = capfd.readouterr()
    assert "Calculating Metrics" not in err + out
    assert "%|" not in err + out  # no tqdm bar of any kind


def test_unknown_expectation_type_names_file_and_check(tmp_path: Path) -> None:
    body = CHANNEL.replace("ExpectColumnValuesToBeInSet", "ExpectColumnValuesToBeLovely")
    with pytest.raises(ConfigError) as exc:
        Validator.load("dossier", checks_dir=write_suite(tmp_path / "c", body))
    assert "ExpectColumnValuesToBeLovely" in exc.value.message
    assert exc.value.context["check"] == "channel_value"
    assert exc.value.context["file"].endswith("dossier.toml")


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
