"""``db status --by province|district`` on the three databases: batches per state, rows loaded, rows held back
now and review rows waiting for officials, per old district and province, with a plan's batches not started."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import Engine
from typer.testing import CliRunner

from handover import cli
from handover.models import Entity
from handover.plan.model import Plan, PlanHeader, PlannedBatch, plan_text
from handover.target.loader import Loader
from handover.target.progress import progress
from tests.target import factories as f

runner = CliRunner()
VAN_BAN = {
    "old_district_code": "089",
    "old_district_name": "Huyện Văn Bàn",
    "old_commune_code": "03199",
    "address": "Thôn Bản Phiệt",
}


def _review(code: str, **more: object) -> dict:
    return f.dossier(code, disposition="review", unit_status="ambiguous", new_commune_code=None, **more)


def _scenario(engine: Engine) -> None:
    """b1 and b2 finished in Bảo Thắng (b2 loads a dossier and a record b1 held for review), b3 failed and b4 still running in
    Văn Bàn."""
    b1 = Loader(engine, "b1")
    b1.begin_batch("b1", "c" * 64, [f.source(), f.source("hs", entity=Entity.RECORD)])
    b1.load_chunk(
        f.chunk(
            [
                f.dossier("H-1"),
                f.dossier("H-2"),
                _review("H-3"),
                f.dossier("H-4", disposition="quarantined", reason="ngày sai / bad date"),
            ]
        )
    )
    records = [f.record("1"), f.record("2", disposition="review", unit_status="not_found")]
    b1.load_chunk(f.chunk(records, source_id="hs", entity=Entity.RECORD))
    b1.finish_batch({})
    b2 = Loader(engine, "b2")
    b2.begin_batch("b2", "c" * 64, [f.source(), f.source("hs", entity=Entity.RECORD)])
    b2.load_chunk(f.chunk([f.dossier("H-3"), _review("H-5")]))
    b2.load_chunk(
        f.chunk([f.record("2"), f.record("3", disposition="review")], source_id="hs", entity=Entity.RECORD)
    )
    b2.finish_batch({})
    b3 = Loader(engine, "b3")
    b3.begin_batch("b3", "c" * 64, [f.source("vb")])
    b3.load_chunk(f.chunk([f.dossier("V-1", **VAN_BAN)], source_id="vb"))
    b3.fail_batch("killed")
    b4 = Loader(engine, "b4")
    b4.begin_batch("b4", "c" * 64, [f.source("vb2")])
    b4.load_chunk(f.chunk([f.dossier("V-2", **VAN_BAN), _review("V-3", **VAN_BAN)], source_id="vb2"))
    b4.close()


def _plan(folder: Path) -> Path:
    def batch(batch_id: str, code: str, name: str) -> PlannedBatch:
        return PlannedBatch(
            batch_id=batch_id,
            config=Path(f"{code}.toml"),
            province_code="10",
            district_code=code,
            district_name=name,
        )

    plan = Plan(
        plan=PlanHeader(created_from="/exports"),
        batch=[
            batch("b1", "086", "Huyện Bảo Thắng"),
            batch("b3", "089", "Huyện Văn Bàn"),
            batch("b5", "087", "Huyện Bảo Yên"),
        ],
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.toml").write_text(plan_text(plan), encoding="utf-8")
    return folder / "plan.toml"


def _line(area) -> tuple:
    b = area.batches
    return (
        area.province_code,
        area.district_code,
        b["finished"],
        b["failed"],
        b["running"],
        b["not_started"],
        area.rows_loaded,
        area.rows_held_back,
        area.rows_review,
    )


def test_by_district_and_province(engine: Engine, target_url: str, tmp_path: Path) -> None:
    _scenario(engine)
    plan = _plan(tmp_path / "plan")
    by_district = progress(target_url, "district", plan)
    # (province, district, finished, failed, running, not started, loaded, held back, review waiting)
    assert [_line(a) for a in by_district.areas] == [
        (
            "10",
            "086",
            2,
            0,
            0,
            0,
            5,
            3,
            2,
        ),  # H-1 H-2 H-3 birth/1 birth/2 loaded; H-5 birth/3 review, H-4 quarantined
        ("10", "087", 0, 0, 0, 1, 0, 0, 0),
        ("10", "089", 0, 1, 1, 0, 2, 1, 1),
    ]
    assert [a.district_name for a in by_district.areas] == [
        "Huyện Bảo Thắng",
        "Huyện Bảo Yên",
        "Huyện Văn Bàn",
    ]
    assert by_district.areas[0].batch_ids == ["b1", "b2"]
    assert _line(by_district.total) == (None, None, 2, 1, 1, 1, 7, 4, 3)
    by_province = progress(target_url, "province")
    assert [_line(a) for a in by_province.areas] == [("10", None, 2, 1, 1, 0, 7, 4, 3)]
    assert by_province.areas[0].province_name == "Tỉnh Lào Cai"


def test_cli_json_and_html(engine: Engine, target_url: str, tmp_path: Path) -> None:
    if not target_url.startswith("sqlite"):
        return  # the CLI renders what the library returns: once is enough
    _scenario(engine)
    plan = _plan(tmp_path / "plan")
    page = tmp_path / "status.html"
    args = ["db", "status", "--db", target_url, "--by", "district", "--plan", str(plan.parent)]
    result = runner.invoke(cli.app, [*args, "--json", "--html", str(page)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [
        (a["district_code"], a["rows_loaded"], a["rows_held_back"], a["rows_review"]) for a in data["areas"]
    ] == [
        ("086", 5, 3, 2),
        ("087", 0, 0, 0),
        ("089", 2, 1, 1),
    ]
    assert data["total"]["batches"] == {
        "finished": 2,
        "failed": 1,
        "running": 1,
        "rolled_back": 0,
        "not_started": 1,
    }
    text = page.read_text(encoding="utf-8")
    assert "Huyện Bảo Yên" in text and "<script" not in text and "http" not in text.replace(target_url, "")
    assert "Nguyễn Thị Hoà" not in text and "H-1" not in text  # no row's personal data or keys
    cells = re.findall(r"<tr>(<td.*?)</tr>", text)
    assert [re.findall(r"<td[^>]*>(.*?)</td>", c) for c in cells] == [
        ["Huyện Bảo Thắng, Tỉnh Lào Cai", "10/086", "2", "0", "0", "0", "5", "3", "2"],
        ["Huyện Bảo Yên, Tỉnh Lào Cai", "10/087", "0", "0", "0", "1", "0", "0", "0"],
        ["Huyện Văn Bàn, Tỉnh Lào Cai", "10/089", "0", "1", "1", "0", "2", "1", "1"],
    ]
    assert "Tổng / Total" in text
    table = runner.invoke(cli.app, args)
    assert table.exit_code == 0
    assert "Huyện Văn Bàn" in table.output and "not started" in table.output
    bad = runner.invoke(cli.app, ["db", "status", "--db", target_url, "--html", str(page)])
    assert bad.exit_code == 2 and "--by" in bad.output
    wrong = runner.invoke(cli.app, ["db", "status", "--db", target_url, "--by", "commune"])
    assert wrong.exit_code == 2
