"""Working days for due states: Monday to Friday less Vietnam's public holidays and the province's days off."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from handover.calendar import days_off
from handover.cli import app
from handover.pipeline.map import due_flags


def test_national_day_in_the_window_makes_a_dossier_due_soon() -> None:
    """Handed over on Friday 29 August 2025, due Tuesday 9 September: 7 weekdays away, but 1 and 2 September
    are National Day, so 5 working days: due soon with the holidays, on time on plain weekdays."""
    due = pd.Series(["2025-09-09", "2025-08-28", None])
    start = date(2025, 8, 29)
    plain = due_flags(due, start, 5)
    with_holidays = due_flags(due, start, 5, days_off(start))
    assert list(plain) == ["on_time", "overdue", "no_date"]
    assert list(with_holidays) == ["due_soon", "overdue", "no_date"]


def test_tet_and_a_province_day_off() -> None:
    off = days_off(date(2026, 2, 10), [date(2026, 2, 11)])
    assert date(2026, 2, 17) in off and date(2026, 2, 11) in off  # Tết 2026 (lunar), the province's day
    due = pd.Series(["2026-02-24"])
    # 10 Feb → 24 Feb: 10 weekdays, less Tết (16–20 Feb) and the province's 11 Feb: 4 working days
    assert list(due_flags(due, date(2026, 2, 10), 4, off)) == ["due_soon"]
    assert list(due_flags(due, date(2026, 2, 10), 4)) == ["on_time"]


def test_days_off_in_the_configuration(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Số CCCD,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
        "000.00.53.H38-250820-0001,Đăng ký khai sinh,Nguyễn Văn An,010203012345,Xã Sơn Hà,20/08/2025,"
        "05/09/2025,Đang xử lý\n",
        encoding="utf-8",
    )
    batch = (
        '[batch]\nid = "cal"\n[thresholds]\nhandover_date = "2025-08-29"\ndue_soon_days = 2\n{off}'
        '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "086"\n'
    )
    runner = CliRunner()

    def flag(off: str) -> str:
        (tmp_path / "batch.toml").write_text(batch.format(off=off), encoding="utf-8")
        (tmp_path / "target.db").unlink(missing_ok=True)
        result = runner.invoke(app, ["run", str(tmp_path / "batch.toml")])
        assert result.exit_code == 0, result.output
        from sqlalchemy import create_engine, text

        engine = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
        with engine.connect() as conn:
            value = conn.execute(text("select due_flag from dossiers")).scalar_one()
        engine.dispose()
        return value

    # 29 Aug (Fri) → 5 Sep (Fri): 1 and 2 Sep are National Day: 3 working days (29 Aug, 3, 4 Sep)
    assert flag("") == "on_time"
    # one more day off (3 Sep) leaves 2: due soon
    assert flag('days_off = ["2025-09-03"]\n') == "due_soon"
    bad = batch.format(off='days_off = ["2025-09-31"]\n')
    (tmp_path / "batch.toml").write_text(bad, encoding="utf-8")
    result = runner.invoke(app, ["run", str(tmp_path / "batch.toml")])
    assert result.exit_code == 2 and "days_off" in result.output
