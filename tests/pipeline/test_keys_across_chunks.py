"""Keys repeated across chunks are decided in pass 1: the dry run, the gate and the load agree row for row, and
the outcome does not depend on the chunk size."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from handover.cli import app
from handover.target import schema

HEADER = "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Số CCCD,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái\n"
K1, K2 = "000.00.53.H48-250601-0001", "000.00.53.H48-250601-0002"
ROWS = [
    f"{K1},Đăng ký khai sinh,Nguyễn Văn An,010203012345,Xã Sơn Hà,01/06/2025,30/07/2025,Đang xử lý\n",  # row 2
    f"{K2},Đăng ký khai sinh,Lê Thị Bình,010303012345,Xã Sơn Hà,02/06/2025,30/07/2025,Đang xử lý\n",  # row 3
    f"{K1},Đăng ký khai sinh,Nguyễn Văn An,010203012345,Xã Sơn Hà,01/06/2025,30/07/2025,Đang xử lý\n",  # row 4
    f"{K2},Đăng ký kết hôn,Lê Thị Bình,010303012345,Xã Sơn Hà,02/06/2025,30/07/2025,Đang xử lý\n",  # row 5
]
runner = CliRunner()


def _config(tmp_path: Path, chunk_size: int, url: str | None = None) -> Path:
    url = url or f"sqlite:///{tmp_path / 't.db'}"
    (tmp_path / "a.csv").write_text(HEADER + "".join(ROWS), encoding="utf-8")
    path = tmp_path / "batch.toml"
    path.write_text(
        f'[batch]\nid = "k"\nchunk_size = {chunk_size}\n'
        f'[target]\nurl = "{url}"\n[thresholds]\nmax_error_share = 1.0\n'
        '[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\nold_district_code = "086"\n',
        encoding="utf-8",
    )
    return path


def _ledger(tmp_path: Path, url: str | None = None) -> dict[int, str]:
    engine = create_engine(url or f"sqlite:///{tmp_path / 't.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(schema.ledger.c.source_row, schema.ledger.c.disposition)).all()
    engine.dispose()
    return dict(rows)


@pytest.mark.parametrize("chunk_size", [1000, 2, 1])
def test_dry_run_gate_and_load_agree_whatever_the_chunks(tmp_path: Path, chunk_size: int) -> None:
    config = _config(tmp_path, chunk_size)
    dry = runner.invoke(app, ["run", str(config), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    real = runner.invoke(app, ["run", str(config), "--json"])
    assert real.exit_code == 0, real.output
    expected = {"extracted": 4, "loaded": 1, "review": 0, "quarantined": 2, "excluded": 0, "duplicate": 1}
    assert json.loads(dry.stdout)["per_source"]["a"] == expected
    assert json.loads(real.stdout)["per_source"]["a"] == expected
    assert _ledger(tmp_path) == {2: "loaded", 3: "quarantined", 4: "duplicate", 5: "quarantined"}
    findings = json.loads(real.stdout)["findings"]
    assert findings["dossier_code_unique"] == 2
    # the quality gate counts the same rows: 2 of 4 quarantined is over a 40% limit
    text = config.read_text(encoding="utf-8").replace('id = "k"', 'id = "k2"')
    config.write_text(text.replace("max_error_share = 1.0", "max_error_share = 0.4"), encoding="utf-8")
    gated = runner.invoke(app, ["run", str(config)])
    assert gated.exit_code == 4, gated.output
    assert "2 of 4 rows" in gated.output


def test_each_spooled_chunk_is_written_once_and_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, any_db_url: str
) -> None:
    """The decisions on rows of chunks already spooled are applied as the load reads each chunk back: no chunk
    is rewritten, the dry run reads none, and the ledger and findings are those of the decisions."""
    from handover.pipeline.spool import Spool

    written: Counter[Path] = Counter()
    read: Counter[Path] = Counter()
    write, load = Spool.write, Spool.read

    def counting_write(path: Path, item: object) -> None:
        written[path] += 1
        write(path, item)

    def counting_read(path: Path) -> object:
        read[path] += 1
        return load(path)

    monkeypatch.setattr(Spool, "write", staticmethod(counting_write))
    monkeypatch.setattr(Spool, "read", staticmethod(counting_read))
    config = _config(tmp_path, 1, any_db_url)
    dry = runner.invoke(app, ["run", str(config), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert len(written) == 4 and set(written.values()) == {1} and not read
    written.clear()
    real = runner.invoke(app, ["run", str(config), "--json"])
    assert real.exit_code == 0, real.output
    assert len(written) == 4 and set(written.values()) == {1}
    assert read == written
    assert _ledger(tmp_path, any_db_url) == {2: "loaded", 3: "quarantined", 4: "duplicate", 5: "quarantined"}
    engine = create_engine(any_db_url)
    with engine.connect() as conn:
        stored = conn.execute(
            select(schema.findings.c.source_row, schema.findings.c.natural_key, schema.findings.c.message_en)
            .where(schema.findings.c.check_name == "dossier_code_unique")
            .order_by(schema.findings.c.source_row)
        ).all()
        reasons = dict(conn.execute(select(schema.ledger.c.source_row, schema.ledger.c.reason)).all())
    engine.dispose()
    assert [(row, key) for row, key, _ in stored] == [(3, K2), (5, K2)]
    assert "(row 5)" in stored[0][2] and "(row 3)" in stored[1][2]
    assert "row 2" in reasons[4] and "row 5" in reasons[3] and "row 3" in reasons[5]


def test_content_digests_are_pandas_row_hashes_of_the_source_fields() -> None:
    """The digest of a row is pandas' hash of its source fields as objects (missing cells, numbers and text
    mixed in one column), whichever rows are asked for and in whatever order."""
    import numpy as np
    import pandas as pd

    from handover.models import Entity, fields_for
    from handover.pipeline.keyspan import content_digests

    frame = pd.DataFrame(
        {
            "dossier_code": ["A", "B", "A", None, "C", "A"],
            "applicant_name": ["An", None, "An", "Bình", np.nan, "An"],
            "fee": [1, "1", 1.5, None, 2, 1],  # mixed: pandas hashes each as its text
            "channel": pd.Series([1, 2, 1, None, 2, 1], dtype=object),  # whole numbers: hashed as numbers
            "received_date": pd.to_datetime(
                ["2025-06-01", None, "2025-06-01", "2025-06-02", None, "2025-06-01"]
            ),
            "notes": [None] * 6,
            "disposition": ["loaded"] * 6,  # not a source field: not hashed
        }
    )
    columns = [c for c in fields_for(Entity.DOSSIER) if c in frame.columns]
    for positions in ([0, 1, 2, 3, 4, 5], [5, 2, 0], [3]):
        expected = pd.util.hash_pandas_object(frame.iloc[positions][columns].astype("object"), index=False)
        assert content_digests(frame, Entity.DOSSIER, positions) == expected.tolist()
    digests = content_digests(frame, Entity.DOSSIER, range(6))
    assert digests[0] == digests[5] != digests[2]
