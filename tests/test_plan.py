"""``handover plan``: one batch configuration per old district of an exports folder, the rest listed undecided.

The exports are the demo's (``handover demo`` writes them), laid out one sub-folder per district; the configs the
plan writes are run and their rows counted in the target against the demo's own batch.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from handover import cli
from handover.config import load_config
from handover.demo.batch import generate_demo_inputs, write_demo_config
from handover.demo.district_db import HT_QUERY
from handover.errors import ConfigError
from handover.pipeline.run import run_batch
from handover.plan.make import make_plan
from handover.plan.model import load_plan
from handover.plan.toml import dump_toml
from handover.target import schema

runner = CliRunner()
PLAN_TOML = f"""\
[plan]
province = "10"

[sources."bao-thang-086/district_system.db#ho_kinh_doanh"]
record_type = "business_household"

[sources."bao-thang-086/district_system.db#so_ho_tich"]
query = "{HT_QUERY}"
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_demo_inputs(out, seed=7, rows=30)
    return out


def lay_out(demo: Path, root: Path, *, settings: str | None = PLAN_TOML) -> Path:
    """The demo's exports as a province would send them: Bảo Thắng's Excel list and district system in one
    folder, Văn Bàn's CSV in another, and Bát Xát's folder holding only a PDF scan."""
    exports = root / "exports"
    (exports / "bao-thang-086").mkdir(parents=True)
    (exports / "Văn Bàn").mkdir()
    (exports / "082").mkdir()
    shutil.copy(demo / "exports" / "bao_thang_086.xlsx", exports / "bao-thang-086")
    shutil.copy(demo / "exports" / "district_system.db", exports / "bao-thang-086")
    shutil.copy(demo / "exports" / "van_ban_089.csv", exports / "Văn Bàn")
    (exports / "082" / "scan.pdf").write_bytes(b"%PDF-1.4\n\x00\x01\x02\x03 a scanned page\n")
    if settings is not None:
        (exports / "plan.toml").write_text(settings, encoding="utf-8")
    return exports


def test_two_districts_planned_third_undecided(demo: Path, tmp_path: Path) -> None:
    exports = lay_out(demo, tmp_path)
    out = tmp_path / "plan"
    result = runner.invoke(cli.app, ["plan", str(exports), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.toml")) == [
        "086-bao-thang.toml",
        "089-van-ban.toml",
        "plan.toml",
    ]

    plan = load_plan(out / "plan.toml")
    assert plan.plan.created_from == str(exports.resolve())
    assert plan.plan.target is None
    assert [
        (b.batch_id, b.config.as_posix(), b.province_code, b.district_code, b.district_name)
        for b in plan.batch
    ] == [
        ("10-086-bao-thang", "086-bao-thang.toml", "10", "086", "Huyện Bảo Thắng"),
        ("10-089-van-ban", "089-van-ban.toml", "10", "089", "Huyện Văn Bàn"),
    ]
    assert [u.path for u in plan.undecided] == ["082/scan.pdf", "082"]
    assert "cannot be read as CSV" in plan.undecided[0].reason
    assert plan.undecided[0].reason.startswith("Không đọc được '082/scan.pdf'")
    assert "Huyện Bát Xát (082) got no configuration" in plan.undecided[1].reason
    assert "082/scan.pdf" in result.output and "undecided" in result.output

    bt = load_config(out / "086-bao-thang.toml")
    assert [(s.id, s.kind, s.entity.value, s.old_province_code, s.old_district_code) for s in bt.sources] == [
        ("bao-thang-086", "xlsx", "dossier", "10", "086"),
        ("district-system-ho-kinh-doanh", "sql", "record", "10", "086"),
        ("district-system-so-ho-tich", "sql", "record", "10", "086"),
    ]
    assert bt.sources[0].header_row == 5 and bt.sources[0].sheet == "Danh sách hồ sơ"
    assert bt.sources[1].table == "ho_kinh_doanh" and bt.sources[1].record_type == "business_household"
    assert bt.sources[2].query == HT_QUERY and bt.sources[2].table is None
    vb = load_config(out / "089-van-ban.toml")
    assert [(s.id, s.kind, s.delimiter, s.old_district_code) for s in vb.sources] == [
        ("van-ban-089", "csv", ",", "089")
    ]


def test_strict_exits_3_when_anything_is_undecided_and_json_is_the_plan(demo: Path, tmp_path: Path) -> None:
    exports = lay_out(demo, tmp_path)
    out = tmp_path / "plan"
    result = runner.invoke(cli.app, ["plan", str(exports), "--out", str(out), "--strict", "--json"])
    assert result.exit_code == 3, result.output
    data = json.loads(result.stdout)
    assert data["batch"] == load_plan(out).model_dump(mode="json")["batch"]
    assert [u["path"] for u in data["undecided"]] == ["082/scan.pdf", "082"]
    assert [s["rows"] for s in data["sources"]["10-089-van-ban"]] == [31]
    (out / "x").mkdir()
    shutil.rmtree(exports / "082")
    again = runner.invoke(cli.app, ["plan", str(exports), "--out", str(out), "--strict"])
    assert again.exit_code == 0, again.output
    assert load_plan(out).undecided == []


def test_files_directly_in_the_folder_group_by_the_district_they_name(demo: Path, tmp_path: Path) -> None:
    """The demo's own flat exports folder: the Excel list and a database named after Bảo Thắng are one batch;
    the database named after nothing is undecided."""
    exports = tmp_path / "exports"
    shutil.copytree(demo / "exports", exports)
    shutil.copy(exports / "district_system.db", exports / "he_thong_bao_thang.db")
    (exports / "plan.toml").write_text(
        PLAN_TOML.replace("bao-thang-086/district_system.db", "he_thong_bao_thang.db"), encoding="utf-8"
    )
    plan = make_plan(exports, tmp_path / "plan").plan
    assert [(b.district_code, b.config.as_posix()) for b in plan.batch] == [
        ("086", "086-bao-thang.toml"),
        ("089", "089-van-ban.toml"),
    ]
    sources = load_config(tmp_path / "plan" / "086-bao-thang.toml").sources
    assert [s.id for s in sources] == [
        "bao-thang-086",
        "he-thong-bao-thang-ho-kinh-doanh",
        "he-thong-bao-thang-so-ho-tich",
    ]
    # the scans' folder names no district either: one undecided folder, not a district's
    assert [u.path for u in plan.undecided] == ["district_system.db", "tep-dinh-kem"]
    assert "names no district" in plan.undecided[0].reason


def test_a_source_key_the_configuration_refuses_is_undecided(demo: Path, tmp_path: Path) -> None:
    exports = lay_out(
        demo, tmp_path, settings=PLAN_TOML + '\n[sources."Văn Bàn/van_ban_089.csv"]\ndelimiter = ";;"\n'
    )
    plan = make_plan(exports, tmp_path / "plan").plan
    reasons = {u.path: u.reason for u in plan.undecided}
    assert "is not a separator" in reasons["Văn Bàn/van_ban_089.csv"]
    assert [b.district_code for b in plan.batch] == ["086"]


def _counts(url: str) -> dict[tuple[str, str], int]:
    """(source, disposition) → ledger rows, plus (source, "in target") → rows of dossiers/records."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            led = schema.ledger.c
            out = {
                (s, d): n
                for s, d, n in conn.execute(
                    select(led.source_id, led.disposition, func.count()).group_by(
                        led.source_id, led.disposition
                    )
                )
            }
            for table in (schema.dossiers, schema.records):
                for s, n in conn.execute(
                    select(table.c.source_system, func.count()).group_by(table.c.source_system)
                ):
                    out[(s, "in target")] = n
        return out
    finally:
        engine.dispose()


@pytest.mark.slow  # three batches and the demo batch, end to end (about 12 s)
def test_planned_configs_load_what_the_demo_config_loads(demo: Path, tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'planned.db'}"
    exports = lay_out(demo, tmp_path, settings=PLAN_TOML.replace("[plan]", f'[plan]\ntarget = "{target}"'))
    result = make_plan(exports, tmp_path / "plan")
    assert result.plan.plan.target == target
    for path in result.plan.config_paths():
        assert run_batch(load_config(path)).status == "finished"

    demo_config = load_config(write_demo_config(demo))
    for source in demo_config.sources:  # a plan names no scans: without them the demo quarantines no dossier
        source.attachments = None  # for its missing scans, and the two batches load the same rows
    demo_run = run_batch(demo_config)
    assert demo_run.status == "finished"
    same = {
        "bao-thang": "bao-thang-086",
        "van-ban": "van-ban-089",
        "bao-thang-ho-tich": "district-system-so-ho-tich",
        "bao-thang-ho-kinh-doanh": "district-system-ho-kinh-doanh",
    }
    expected = {(same[s], d): n for (s, d), n in _counts(demo_run.target).items()}
    planned = _counts(target)
    assert planned == expected
    assert (
        planned[("van-ban-089", "in target")] > 0 and planned[("district-system-so-ho-tich", "in target")] > 0
    )


def test_names_that_match_no_district_or_a_record_list_without_key(demo: Path, tmp_path: Path) -> None:
    exports = lay_out(demo, tmp_path, settings=None)
    (exports / "Châu Thành").mkdir()
    shutil.copy(demo / "exports" / "van_ban_089.csv", exports / "Châu Thành" / "ds.csv")
    (exports / "kho lưu trữ").mkdir()
    shutil.copy(demo / "exports" / "van_ban_089.csv", exports / "kho lưu trữ" / "ds.csv")
    shutil.copy(demo / "exports" / "van_ban_089.csv", exports / "tong_hop.csv")
    plan = make_plan(exports, tmp_path / "plan").plan
    reasons = {u.path: u.reason for u in plan.undecided}
    assert [b.district_code for b in plan.batch] == ["089"]
    assert (
        "'Châu Thành' matches" in reasons["Châu Thành"]
        and "set province under [plan]" in reasons["Châu Thành"]
    )
    assert "matches no old district" in reasons["kho lưu trữ"]
    assert "names no district" in reasons["tong_hop.csv"]
    key = "bao-thang-086/district_system.db#ho_kinh_doanh"
    assert "No column maps to the rows' key (record_type)" in reasons[key]
    assert f'[sources."{key}"]' in reasons[key]
    assert "Huyện Bảo Thắng (086) got no configuration" in reasons["bao-thang-086"]
    assert not (tmp_path / "plan" / "086-bao-thang.toml").exists()


def test_district_override_and_bad_settings(demo: Path, tmp_path: Path) -> None:
    exports = lay_out(demo, tmp_path, settings=None)
    (exports / "plan.toml").write_text(
        PLAN_TOML
        + '\n[config]\nthresholds = { due_soon_days = 3 }\nreport = { parties = { place = "Lào Cai" } }\n'
        + '[districts."082"]\nskip = true\n[districts."Văn Bàn"]\nbatch_id = "vb-2025"\n',
        encoding="utf-8",
    )
    plan = make_plan(exports, tmp_path / "plan").plan
    assert [b.batch_id for b in plan.batch] == ["10-086-bao-thang", "vb-2025"]
    assert [u.path for u in plan.undecided] == ["082"]
    vb = load_config(tmp_path / "plan" / "089-van-ban.toml")
    assert vb.thresholds.due_soon_days == 3 and vb.report.parties.place == "Lào Cai"
    assert vb.report.dir == tmp_path / "plan" / "reports" / "089-van-ban"
    (exports / "plan.toml").write_text('[plan]\nbatch_id = "{nope}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="batch id pattern"):
        make_plan(exports, tmp_path / "plan2")


def test_dump_toml_round_trips() -> None:
    doc = {
        "a": 'x "quoted" \\ và dấu\n',
        "n": 5,
        "b": True,
        "t": {"k y": "v", "inner": {"z": [1, 2]}},
        "arr": [{"id": "s1", "columns": {"Mã hồ sơ": "dossier_code"}}, {"id": "s2"}],
    }
    assert tomllib.loads(dump_toml(doc)) == doc


@pytest.mark.parametrize(
    ("folder", "found"),
    [
        ("086", "Huyện Bảo Thắng (086)"),
        ("Bảo Thắng", "Huyện Bảo Thắng (086)"),
        ("HUYEN BAO THANG", "Huyện Bảo Thắng (086)"),
        ("ho_so_bao_thang_2025", "Huyện Bảo Thắng (086)"),
        ("quan-1", "Quận 1 (760)"),
        ("chau thanh 708", "Huyện Châu Thành (708)"),
        ("bao_thang_089", "name different districts"),
        ("086-089", "several district codes"),
        ("Châu Thành", "matches 10 districts"),
        (
            "xa vinh an",
            "matches no old district",
        ),  # "Vinh" alone is a city: one word inside a name is not enough
    ],
)
def test_folder_names(tmp_path: Path, folder: str, found: str) -> None:
    (tmp_path / "exports" / folder).mkdir(parents=True)
    plan = make_plan(tmp_path / "exports", tmp_path / "plan").plan
    assert plan.batch == []
    assert found in plan.undecided[-1].reason


def test_each_visible_sheet_of_a_workbook_is_a_source(demo: Path, tmp_path: Path) -> None:
    import openpyxl

    exports = tmp_path / "exports"
    (exports / "086").mkdir(parents=True)
    book = openpyxl.load_workbook(demo / "exports" / "bao_thang_086.xlsx")
    book.copy_worksheet(book.worksheets[0]).title = "Tháng 6"
    summary = book.create_sheet("Tổng hợp")
    summary.append(["Xã", "Tổng"])
    summary.append(["Xã Sơn Hà", 12])
    book.create_sheet("Ẩn").sheet_state = "hidden"
    book.save(exports / "086" / "ds.xlsx")
    plan = make_plan(exports, tmp_path / "plan").plan
    assert plan.batch == []
    assert [u.path for u in plan.undecided] == ["086/ds.xlsx#Tổng hợp", "086"]
    assert "skip = true" in plan.undecided[0].reason

    (exports / "plan.toml").write_text('[sources."086/ds.xlsx#Tổng hợp"]\nskip = true\n', encoding="utf-8")
    plan = make_plan(exports, tmp_path / "plan").plan
    assert plan.undecided == []
    sources = load_config(tmp_path / "plan" / "086-bao-thang.toml").sources
    assert [(s.id, s.sheet, s.header_row) for s in sources] == [
        ("ds-danh-sach-ho-so", "Danh sách hồ sơ", 5),
        ("ds-thang-6", "Tháng 6", 5),
    ]
