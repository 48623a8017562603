"""SQL sources: rows numbered by their identity in the district system, the balance starting at the system's own
count (rows a JOIN leaves out show), and ``sources inspect --url``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from handover.cli import app
from handover.config import SourceConfig
from handover.errors import SourceError
from handover.sources import open_source

runner = CliRunner()
JOIN = (
    'SELECT h.id, h.ma_ho_so AS "Mã hồ sơ", h.thu_tuc AS "Tên thủ tục", c.ho_ten AS "Chủ hồ sơ", '
    'c.cccd AS "Số CCCD", h.xa AS "Xã/Phường", h.ngay_nhan AS "Ngày tiếp nhận", '
    'h.trang_thai AS "Trạng thái" FROM ho_so h JOIN cong_dan c ON c.id = h.cong_dan_id ORDER BY h.id'
)


def _district(path: Path) -> str:
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE cong_dan (id INTEGER PRIMARY KEY, ho_ten TEXT, cccd TEXT);
        CREATE TABLE ho_so (id INTEGER PRIMARY KEY, ma_ho_so TEXT, thu_tuc TEXT, cong_dan_id INTEGER, xa TEXT,
                            ngay_nhan TEXT, trang_thai TEXT);
        INSERT INTO cong_dan VALUES (1, 'Nguyễn Văn An', '010203012345'), (2, 'Lê Thị Bình', '010303012345');
        INSERT INTO ho_so VALUES
          (101, '000.00.53.H48-250601-0001', 'Đăng ký khai sinh', 1, 'Xã Sơn Hà', '2025-06-01', 'Đang xử lý'),
          (205, '000.00.53.H48-250601-0002', 'Đăng ký khai sinh', 2, 'Xã Sơn Hà', '2025-06-02', 'Đang xử lý'),
          (307, '000.00.53.H48-250601-0003', 'Đăng ký khai sinh', 9, 'Xã Sơn Hà', '2025-06-03', 'Đang xử lý');
        """
    )
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _source(url: str, **kw: object) -> SourceConfig:
    return SourceConfig(id="db", kind="sql", url=url, **kw)  # type: ignore[arg-type]


def test_rows_are_numbered_by_the_tables_primary_key(tmp_path: Path) -> None:
    url = _district(tmp_path / "district.db")
    reader = open_source(_source(url, table="ho_so", columns={"ma_ho_so": "dossier_code"}), 100)
    frame = next(reader.chunks()).frame
    assert list(frame["source_row"]) == [101, 205, 307]
    assert reader.report["row_id"] == "id"


def test_a_declared_row_id_numbers_a_querys_rows_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    url = _district(tmp_path / "district.db")
    reader = open_source(_source(url, query=JOIN, row_id="id"), 100)
    assert list(next(reader.chunks()).frame["source_row"]) == [101, 205]
    try:
        open_source(_source(url, query=JOIN.replace("h.id,", "0 AS id,"), row_id="id"), 100)
        raise AssertionError("a row_id of 0 was accepted")
    except SourceError as exc:
        assert "not a positive whole number" in exc.message and exc.context["column"] == "id"


def test_rows_a_join_leaves_out_show_in_the_balance(tmp_path: Path) -> None:
    url = _district(tmp_path / "district.db")
    (tmp_path / "batch.toml").write_text(
        f'[batch]\nid = "sql"\n[target]\nurl = "sqlite:///{tmp_path / "t.db"}"\n'
        f'[[sources]]\nid = "db"\nkind = "sql"\nurl = "{url}"\nquery = """{JOIN}"""\nrow_id = "id"\n'
        'base_table = "ho_so"\nold_province_code = "10"\nold_district_code = "086"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["run", str(tmp_path / "batch.toml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = data["sources"][0]["rows"]
    assert (rows["physical_rows"], rows["data_rows"]) == (
        3,
        2,
    )  # the district system holds 3, the JOIN read 2
    assert data["per_source"]["db"]["extracted"] == 2
    assert data["findings"].get("sql_rows_not_read") == 1
    text = runner.invoke(app, ["run", str(tmp_path / "batch.toml")]).output
    assert "✘" in text


def test_inspect_a_database_table_and_a_query_with_its_base_count(tmp_path: Path, monkeypatch) -> None:
    from handover import cli

    monkeypatch.setattr(cli.console, "width", 200)
    url = _district(tmp_path / "district.db")
    table = runner.invoke(app, ["sources", "inspect", "--url", url, "--table", "ho_so", "--json"])
    assert table.exit_code == 0, table.output
    rep = json.loads(table.stdout)
    assert rep["row_id"] == "id" and rep["data_rows"] == 3 and rep["kind"] == "sql"
    args = ["sources", "inspect", "--url", url, "--query", JOIN, "--row-id", "id", "--base-table", "ho_so"]
    joined = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert joined["base_count"] == {"by": "base_table", "rows": 3} and joined["data_rows"] == 2
    assert [s["source_row"] for s in joined["samples"]] == [101, 205]
    shown = runner.invoke(app, args).output
    assert "District system rows" in shown and "3 (base_table); the query returned 2: 1 rows differ" in shown
    assert f"{url} (query)" in shown
    assert runner.invoke(app, ["sources", "inspect"]).exit_code == 2
