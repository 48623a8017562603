"""One batch at a time: a second ``handover run`` of a batch another process is running stops at once, naming
the holder, and changes nothing."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from handover.errors import ExitCode
from tests.cliproc import CliProcess, run_cli

pytestmark = pytest.mark.slow

CSV = (
    "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
    "000.00.53.H38-250620-0001,Đăng ký khai sinh,Nguyễn Văn An,Xã Sơn Hà,20/06/2025,30/06/2025,Đang xử lý\n"
)


def test_second_run_of_a_running_batch_stops_at_once(any_db_url: str, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(CSV, encoding="utf-8")
    cfg = tmp_path / "batch.toml"
    cfg.write_text(
        f'[batch]\nid = "busy-batch"\n\n[target]\nurl = "{any_db_url}"\n\n'
        '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "086"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "HANDOVER_PAUSE_AT": "load.between", "HANDOVER_PAUSE_SECONDS": "60"}
    first = CliProcess(["run", str(cfg)], env=env)
    try:
        deadline = time.monotonic() + 120
        # wait until the first run has loaded its chunk (it then pauses, holding the lock)
        from sqlalchemy import create_engine, func, select

        from handover.target import schema

        engine = create_engine(any_db_url)
        while time.monotonic() < deadline:
            try:
                with engine.connect() as conn:
                    if conn.execute(select(func.count()).select_from(schema.chunks)).scalar_one():
                        break
            except Exception:  # tables not created yet
                pass
            assert first.poll() is None, first.communicate()
            time.sleep(0.5)
        started = time.monotonic()
        second = run_cli(["run", str(cfg)], timeout=60)
        elapsed = time.monotonic() - started
        assert second.returncode == ExitCode.LOCKED, second.stderr
        assert "busy-batch" in second.stderr and f"pid {first.pid}" in second.stderr
        assert elapsed < 30  # it did not wait for the 60 s the first run holds the lock
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(schema.dossiers)).scalar_one() == 1
        engine.dispose()
    finally:
        first.close()
