"""Two first runs on a brand-new target race on creating the schema: the loser waits for the winner's schema
and then runs (the batch already finished: exit 0) or stops because the batch is held (exit 6), never exit 5.
On SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from handover.errors import ExitCode
from handover.target import schema
from handover.target.migrate import head_revision
from tests.cliproc import CliProcess

pytestmark = pytest.mark.slow

CSV = (
    "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
    "000.00.53.H38-250620-0001,Đăng ký khai sinh,Nguyễn Văn An,Xã Sơn Hà,20/06/2025,30/06/2025,Đang xử lý\n"
)


def test_two_first_runs_on_an_empty_target(any_db_url: str, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(CSV, encoding="utf-8")
    cfg = tmp_path / "batch.toml"
    cfg.write_text(
        f'[batch]\nid = "race"\n\n[target]\nurl = "{any_db_url}"\n\n'
        '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "086"\n',
        encoding="utf-8",
    )
    runs = [CliProcess(["run", str(cfg)], env=dict(os.environ), cwd=tmp_path) for _ in range(2)]
    try:
        outcomes = []
        for run in runs:
            run.wait(240)
            outcomes.append((run.returncode, *run.communicate()))
    finally:
        for run in runs:
            run.close()
    codes = sorted(code for code, _out, _err in outcomes)
    assert codes in ([0, 0], [0, ExitCode.LOCKED]), outcomes
    engine = create_engine(any_db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(schema.dossiers)).scalar_one() == 1
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
        assert version == head_revision()
    finally:
        engine.dispose()
