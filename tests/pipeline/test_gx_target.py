"""great-expectations once per batch on the loaded rows (SQLite, PostgreSQL, MariaDB), and the compiled checks
that flag rows against GX's own pandas engine on the same values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import create_engine, func, select

from handover.config import load_config
from handover.models import Severity
from handover.pipeline import gx_target
from handover.pipeline.expectations import failing_rows
from handover.pipeline.run import DRY_RUN_GX, run_batch
from handover.pipeline.suite import ExpectationSpec, load_entity_suite
from handover.pipeline.textframe import as_text
from handover.target.schema import batches, dossiers, findings, ledger

HEADER = "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Số CCCD,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
ROW = "{code},Đăng ký khai sinh,Nguyễn Văn An,010203012345,Xã Sơn Hà,{received},30/06/2025,Đang xử lý\n"
CODES = [
    ("000.00.53.H38-250620-0001", "20/06/2025"),
    ("HS-2025-0002", "20/06/2025"),  # local format: a warning, the row is loaded
    ("HS-2025-0003", "20/06/2025"),
    ("HS-2025-0004", ""),  # also no received date (an error): quarantined, not loaded
    ("000.00.53.H38-250620-0005", "20/06/2025"),
]
SOURCE = '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "086"\n'


def _batch(tmp_path: Path, url: str) -> Path:
    (tmp_path / "a.csv").write_text(
        HEADER + "".join(ROW.format(code=c, received=r) for c, r in CODES), encoding="utf-8"
    )
    path = tmp_path / "b.toml"
    path.write_text(f'[batch]\nid = "gx1"\n\n[target]\nurl = "{url}"\n\n{SOURCE}', encoding="utf-8")
    return path


def _gx_summary(url: str) -> dict[str, dict[str, Any]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            summary = json.loads(conn.execute(select(batches.c.summary_json)).scalar_one())
    finally:
        engine.dispose()
    return {g["check"]: g for g in summary["gx"]}


def test_gx_checks_the_loaded_rows(any_db_url: str, tmp_path: Path) -> None:
    result = run_batch(load_config(_batch(tmp_path, any_db_url)))
    assert result.total.loaded == 4 and result.total.quarantined == 1
    gx = _gx_summary(any_db_url)
    engine = create_engine(any_db_url)
    try:
        with engine.connect() as conn:
            loaded = conn.execute(select(func.count()).select_from(dossiers)).scalar_one()
            # the loaded rows with a dossier_code_format finding, read back from the target
            f, lg = findings.c, ledger.c
            flagged_loaded = conn.execute(
                select(func.count())
                .select_from(
                    findings.join(ledger, (f.source_id == lg.source_id) & (f.source_row == lg.source_row))
                )
                .where(f.check_name == "dossier_code_format", lg.disposition == "loaded", f.batch_id == "gx1")
            ).scalar_one()
    finally:
        engine.dispose()
    fmt = gx["dossier_code_format"]
    assert flagged_loaded == 2 and fmt["unexpected_count"] == flagged_loaded
    assert fmt["element_count"] == loaded == 4
    assert fmt["success"] is False and fmt["scope"] == "loaded rows"
    assert (fmt["flagged"], fmt["rows"]) == (3, 5)  # the compiled check, over every extracted row
    assert fmt["expectation"] == "ExpectColumnValuesToMatchRegex" and fmt["suite"] == "dossier"
    assert gx["received_date_missing"]["unexpected_count"] == 0  # its row was quarantined, not loaded
    assert gx["received_date_missing"]["flagged"] == 1
    assert all(g["success"] is not None and "error" not in g for g in gx.values())
    assert set(gx) == {e.check for e in load_entity_suite("dossier").expectations}
    assert not any("great-expectations" in n for n in result.notices)
    # the auditors' report and the workbook show the same figures
    html = Path(result.reports["html"]).read_text(encoding="utf-8")
    table = html[html.index('<table id="gx">') :]
    row = table[table.index("ExpectColumnValuesToMatchRegex</code></td><td>dossier_code</td>") :]
    assert [c.split(">")[-1] for c in row.split("</tr>")[0].split("</td>")[2:6]] == ["✘", "2", "4", "3"]
    from openpyxl import load_workbook

    wb = load_workbook(result.reports["workbook"], read_only=True)
    lines = [r for ws in wb.worksheets for r in ws.iter_rows(values_only=True) if "dossier_code" in r]
    assert ("dossier", "ExpectColumnValuesToMatchRegex", "dossier_code", "✘", 2, 4, 3) in [
        r[:7] for r in lines
    ]


def test_gx_counts_characters_not_bytes(any_db_url: str, tmp_path: Path) -> None:
    """A 160-character name of 3-byte letters (481 bytes) is within applicant_name_length's 200 on every database,
    MariaDB included, where SQL LENGTH() counts bytes; a 201-character one is not."""
    long_ok, too_long = "Nguyễn " + "Ễ" * 153, "Nguyễn " + "Ễ" * 194
    assert (len(long_ok), len(long_ok.encode()), len(too_long)) == (160, 468, 201)
    rows = [("000.00.53.H38-250620-0001", long_ok), ("000.00.53.H38-250620-0002", too_long)]
    (tmp_path / "a.csv").write_text(
        HEADER
        + "".join(
            ROW.format(code=c, received="20/06/2025").replace("Nguyễn Văn An", name) for c, name in rows
        ),
        encoding="utf-8",
    )
    path = tmp_path / "b.toml"
    path.write_text(f'[batch]\nid = "gx1"\n\n[target]\nurl = "{any_db_url}"\n\n{SOURCE}', encoding="utf-8")
    result = run_batch(load_config(path))
    assert result.total.loaded == 2
    length = _gx_summary(any_db_url)["applicant_name_length"]
    assert (length["flagged"], length["unexpected_count"], length["element_count"]) == (1, 1, 2)
    assert length["success"] is False and "error" not in length


def test_gx_failure_is_reported_and_the_batch_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(gx: Any) -> Any:
        raise RuntimeError("no dialect for this target")

    monkeypatch.setattr(gx_target, "_context", broken)
    url = f"sqlite:///{tmp_path / 'target.db'}"
    result = run_batch(load_config(_batch(tmp_path, url)))
    assert result.status == "finished" and result.total.loaded == 4
    (notice,) = [n for n in result.notices if "great-expectations" in n]
    assert "no dialect for this target" in notice
    gx = _gx_summary(url)
    assert all(g["success"] is None and "no dialect" in g["error"] for g in gx.values())
    assert gx["dossier_code_format"]["flagged"] == 3  # the compiled checks' figures are there all the same


def test_dry_run_says_gx_did_not_run(tmp_path: Path) -> None:
    result = run_batch(load_config(_batch(tmp_path, f"sqlite:///{tmp_path / 'target.db'}")), dry_run=True)
    assert DRY_RUN_GX in result.notices
    assert not (tmp_path / "target.db").exists()


# -- the compiled checks against GX's pandas engine ----------------------------------------------------------

TRICKY = [
    None,
    "",
    " ",
    "1234",
    "123",
    "x123y",
    "123\n",  # $ matches before a final line feed in Python's re, as in GX's str.contains
    "Nguyễn Văn Ấn",  # NFC: 13 characters
    "Nguye\u0302\u0303n",  # NFD: more code points than letters
    "Ấ",
    "Ấ" * 5,
    "ab",
    "a",
    "+84912345678",
    "0912345678",
    "٣٤٥",  # Arabic-Indic digits: \d matches them in Python
    "cash",
    "Cash",
]

CASES = [
    ("ExpectColumnValuesToNotBeNull", {}),
    ("ExpectColumnValuesToBeInSet", {"value_set": ["cash", "123", ""]}),
    ("ExpectColumnValuesToMatchRegex", {"regex": r"^\d{3}$"}),
    ("ExpectColumnValuesToMatchRegex", {"regex": r"\d+"}),
    ("ExpectColumnValuesToMatchRegex", {"regex": r"^(?:0|\+84)\d{9,10}$"}),
    ("ExpectColumnValuesToMatchRegex", {"regex": "ễ"}),
    ("ExpectColumnValueLengthsToBeBetween", {"min_value": 2, "max_value": 5}),
    (
        "ExpectColumnValueLengthsToBeBetween",
        {"min_value": 2, "max_value": 5, "strict_min": True, "strict_max": True},
    ),
    ("ExpectColumnValueLengthsToBeBetween", {"max_value": 3}),
    ("ExpectColumnValueLengthsToBeBetween", {"min_value": 13}),
]


@pytest.fixture(scope="module")
def gx_pandas() -> Any:
    gx = gx_target._gx()
    context = gx_target._context(gx)
    asset = context.data_sources.add_pandas("p").add_dataframe_asset("frame")
    return gx, asset.add_batch_definition_whole_dataframe("frame")


@pytest.mark.parametrize("text_frame", [True, False], ids=["text-frame", "raw"])
@pytest.mark.parametrize(("expectation", "kwargs"), CASES)
def test_compiled_check_agrees_with_gx(
    gx_pandas: Any, expectation: str, kwargs: dict[str, Any], text_frame: bool
) -> None:
    gx, definition = gx_pandas
    frame = pd.DataFrame({"v": pd.Series(TRICKY, dtype=object)})
    if text_frame:  # what the validator hands the checks: empty cells as None
        frame = pd.DataFrame({"v": as_text(frame, "v")})
    batch = definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(
        getattr(gx.expectations, expectation)(column="v", **kwargs),
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": []},
    )
    spec = ExpectationSpec(
        check="c",
        expectation=expectation,
        column="v",
        kwargs=kwargs,
        severity=Severity.WARNING,
        message_vi="x",
        message_en="x",
    )
    ours = [int(p) for p, bad in enumerate(failing_rows(spec, frame["v"])) if bad]
    assert ours == sorted(int(i) for i in result.result["unexpected_index_list"])


def test_finished_batch_run_again_keeps_its_gx_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'target.db'}"
    config = _batch(tmp_path, url)
    run_batch(load_config(config))
    before = _gx_summary(url)

    def not_again(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("great-expectations ran again on a batch that loaded nothing new")

    monkeypatch.setattr(gx_target, "check_loaded", not_again)
    again = run_batch(load_config(config))
    assert again.status == "finished" and again.new_rows == 0
    assert _gx_summary(url) == before and before["dossier_code_format"]["unexpected_count"] == 2
