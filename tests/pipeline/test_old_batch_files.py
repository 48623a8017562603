"""Batch files written while a batch could run in worker processes (``[batch] workers``) still run, keep their
configuration hash, and a batch begun with one re-runs as the same configuration: nothing to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from handover.config import WORKERS_IGNORED, load_config
from handover.config_hash import config_sha256
from handover.pipeline.run import run_batch

HEADER = "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Số CCCD,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
ROWS = [
    f"000.00.53.H48-250601-{i:04d},Đăng ký khai sinh,Nguyễn Văn An,010203012345,Xã Sơn Hà,01/06/2025,"
    "30/07/2025,Đang xử lý\n"
    for i in range(1, 6)
]
# config_sha256 of these batch files as the code that still had the worker pool recorded it (the hash of their
# meaning: the same in any folder)
RECORDED = {
    "": "fd8f074cbd0d1d7c3846fba4427cd731acef0e890a270c7ca0cf03e2d50995db",
    "workers = 0\n": "a4dbcd7d82d8f97552da9baea59fc6f081cccfef7ce694db9a08750808f3833a",
    'workers = "auto"\n': "fd8f074cbd0d1d7c3846fba4427cd731acef0e890a270c7ca0cf03e2d50995db",
    "workers = 3\n": "19d08366f41da6c0131839c92785c157dd6b818c22c7ffe11001b603a5fd99e1",
}


def _batch(folder: Path, workers_line: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.csv").write_text(HEADER + "".join(ROWS), encoding="utf-8")
    path = folder / "batch.toml"
    path.write_text(
        f'[batch]\nid = "old"\nchunk_size = 2\n{workers_line}'
        '[target]\nurl = "sqlite:///t.db"\n[thresholds]\nmax_error_share = 1.0\n'
        '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "086"\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("line", list(RECORDED), ids=["unset", "zero", "auto", "three"])
def test_the_configuration_hash_is_the_one_recorded_before(tmp_path: Path, line: str) -> None:
    assert config_sha256(load_config(_batch(tmp_path, line))) == RECORDED[line]


def test_a_batch_begun_with_workers_reruns_as_nothing_to_do(tmp_path: Path) -> None:
    config = _batch(tmp_path, "workers = 3\n")
    first = run_batch(load_config(config))
    assert first.status == "finished" and first.total.extracted == 5 and first.new_rows == 5
    assert WORKERS_IGNORED in first.notices  # the setting is named, and does nothing
    again = run_batch(load_config(config))  # a changed configuration would be refused here
    assert again.status == "finished" and again.new_rows == 0
    assert again.chunks_skipped == 3  # 5 rows in chunks of 2: every chunk was committed
    assert again.fingerprint == first.fingerprint and again.total == first.total


def test_a_batch_file_without_workers_has_no_note(tmp_path: Path) -> None:
    result = run_batch(load_config(_batch(tmp_path, "")), dry_run=True)
    assert result.total.extracted == 5 and WORKERS_IGNORED not in result.notices
