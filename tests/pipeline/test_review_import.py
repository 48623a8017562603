"""An official's decisions round trip on the demo: fill the review sheet, ``handover review import``, run the next
round; decisions that do not answer a review row, or name a commune the row does not allow, are refused."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from handover.cli import app
from handover.target import schema

runner = CliRunner()
BATCH = "demo-lao-cai-2025-07"
SHEET = "Cần xem xét"


def _invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = _invoke("demo", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    return out


def _db(demo: Path) -> str:
    return f"sqlite:///{demo / 'target.db'}"


def _review_rows(demo: Path) -> list[dict]:
    engine = create_engine(_db(demo))
    c = schema.ledger.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.source_id, c.entity, c.natural_key, c.unit_status, c.old_province_code, c.candidates)
            .where(c.batch_id == BATCH, c.disposition == "review")
            .order_by(c.source_id, c.source_row)
        ).mappings()
        out = [dict(r) for r in rows]
    engine.dispose()
    return out


@pytest.fixture(scope="module")
def picked(demo: Path) -> dict[str, tuple[str, str, str]]:
    """(source, key, commune) of a split dossier, a not-found dossier and a not-found record of the demo."""
    rows = _review_rows(demo)
    split = next(r for r in rows if r["entity"] == "dossier" and json.loads(r["candidates"] or "[]"))
    lost = next(r for r in rows if r["entity"] == "dossier" and r["unit_status"] == "not_found")
    record = next(r for r in rows if r["entity"] == "record" and r["unit_status"] == "not_found")
    assert lost["old_province_code"] == record["old_province_code"] == "10"  # Lào Cai (old)
    second = json.loads(split["candidates"])[1]["commune_code"]
    return {
        "split": (split["source_id"], split["natural_key"], second),
        "lost": (lost["source_id"], lost["natural_key"], "02905"),  # Xã Bảo Thắng, new Lào Cai
        "record": (record["source_id"], record["natural_key"], "03082"),  # Xã Văn Bàn, new Lào Cai
    }


def _workbook(demo: Path) -> Path:
    return demo / "reports" / f"{BATCH}-doi-soat.xlsx"


def _fill(
    src: Path,
    dst: Path,
    decisions: dict[str, str],
    *,
    copy_row: tuple[str, str] | None = None,
    rename: tuple[str, str] | None = None,
) -> dict:
    """Write ``decisions`` (key → cell text) into the review sheet's decision column, found by its header;
    ``copy_row`` (key, decision) appends a copy of that key's row with another decision; ``rename`` (key, typo)
    changes a key cell. Returns key → sheet row."""
    wb = load_workbook(src)
    ws = wb[SHEET]
    header = next(r for r in ws.iter_rows() if any(c.value == "new_commune_code" for c in r))
    col = {c.value: c.column for c in header if c.value}
    rows = {ws.cell(r, col["dossier_code"]).value: r for r in range(header[0].row + 1, ws.max_row + 1)}
    for key, value in decisions.items():
        ws.cell(rows[key], col["new_commune_code"]).value = value
    if copy_row:
        key, value = copy_row
        new = ws.max_row + 1
        for c in range(1, ws.max_column + 1):
            ws.cell(new, c).value = ws.cell(rows[key], c).value
        ws.cell(new, col["new_commune_code"]).value = value
        rows[f"copy of {key}"] = new
    if rename:
        ws.cell(rows[rename[0]], col["dossier_code"]).value = rename[1]
    wb.save(dst)
    return rows


def _config(demo: Path, batch_id: str, decisions: str) -> Path:
    text = (demo / "batch.toml").read_text(encoding="utf-8")
    assert f'id = "{BATCH}"' in text and "\ndecisions = []" in text
    text = text.replace(f'id = "{BATCH}"', f'id = "{batch_id}"').replace(
        "\ndecisions = []", f'\ndecisions = ["{decisions}"]'
    )
    path = demo / f"{batch_id}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _loaded(demo: Path, batch_id: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(source, key) → (new commune, action) of the rows ``batch_id`` loaded that the first round held for review."""
    engine = create_engine(_db(demo))
    c = schema.ledger.c
    with engine.connect() as conn:
        held = {
            (s, k)
            for s, k in conn.execute(
                select(c.source_id, c.natural_key).where(c.batch_id == BATCH, c.disposition == "review")
            )
        }
        rows = conn.execute(
            select(c.source_id, c.natural_key, c.new_commune_code, c.action).where(
                c.batch_id == batch_id, c.disposition == "loaded"
            )
        ).all()
    engine.dispose()
    return {(s, k): (code, action) for s, k, code, action in rows if (s, k) in held}


def test_import_then_next_round_loads_exactly_the_decided_rows(
    demo: Path, picked: dict, tmp_path: Path
) -> None:
    filled = tmp_path / "filled.xlsx"
    _fill(_workbook(demo), filled, {key: code for _, key, code in picked.values()})
    out = demo / "decisions.csv"
    result = _invoke("review", "import", str(filled), "--db", _db(demo), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decisions"] == 3 and json.loads(result.stdout)["records"] == 1
    with out.open(encoding="utf-8", newline="") as f:
        lines = list(csv.reader(f))
    assert lines[0] == ["source_system", "dossier_code", "new_commune_code", "note"]
    assert sorted(tuple(line[:3]) for line in lines[1:]) == sorted(picked.values())

    first_workbook = _workbook(demo).read_bytes()
    result = _invoke("run", str(_config(demo, "round-2", "decisions.csv")), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["new_rows"] == 3
    assert _loaded(demo, "round-2") == {(s, k): (code, "inserted") for s, k, code in picked.values()}
    _check_supplementary_records(demo, picked, summary["rounds"], tmp_path)
    _check_round_exports(demo, picked, tmp_path)
    assert _workbook(demo).read_bytes() == first_workbook  # the first round's file is not touched
    engine = create_engine(_db(demo))
    with engine.connect() as conn:
        record = picked["record"][1].split("/", 1)
        got = conn.execute(
            select(schema.records.c.new_commune_code, schema.records.c.unit_method).where(
                schema.records.c.record_type == record[0], schema.records.c.record_number == record[1]
            )
        ).one()
    engine.dispose()
    assert tuple(got) == (picked["record"][2], "decision")

    # the filled workbook itself under [mapping] decisions: read and checked the same way
    (demo / "filled.xlsx").write_bytes(filled.read_bytes())
    result = _invoke("run", str(_config(demo, "round-3", "filled.xlsx")))
    assert result.exit_code == 0, result.output
    assert _loaded(demo, "round-3") == {(s, k): (code, "unchanged") for s, k, code in picked.values()}
    # nothing new: no record at all, and the summary says so
    text = " ".join(result.output.split())
    assert "Rounds of these sources: this batch is round 3 and hands over only what is new" in text
    assert "2 round-2 (finished " in text and "): 2 dossiers, 1 record → 3 handover records" in text
    assert "3 round-3 (finished " in text and "): 0 dossiers, 0 records → 0 handover records" in text
    third = load_workbook(demo / "reports" / "round-3-doi-soat.xlsx", read_only=True)
    assert not [name for name in third.sheetnames if _record_sheet(third[name])]
    assert "Không có hồ sơ mới: không lập biên bản" in _cells(third["Tổng hợp"])


def _cells(ws) -> list:
    return [v for row in ws.iter_rows(values_only=True) for v in row if v is not None]


def _record_sheet(ws) -> dict | None:
    """A handover record sheet read back: number, heading, the lines under it, and the keys it lists (column B of
    the numbered rows: dossier codes, and record numbers under section II); None for another sheet."""
    rows = [r for r in ws.iter_rows(values_only=True) if any(v is not None for v in r)]
    if len(rows) < 5 or not str(rows[3][0] or "").startswith("BIÊN BẢN BÀN GIAO"):
        return None
    section, keys = None, []
    for r in rows:
        if isinstance(r[0], str) and r[0].startswith(("I. ", "II. ")):
            section = r[0].split(".")[0]
        elif isinstance(r[0], int) and section:
            keys.append((section, r[1]))
    return {"number": rows[2][0], "title": rows[3][0], "under": rows[4][0], "text": _cells(ws), "keys": keys}


def _records(path: Path) -> dict[str, dict]:
    wb = load_workbook(path, read_only=True)
    out = {name: _record_sheet(wb[name]) for name in wb.sheetnames}
    wb.close()
    return {name: sheet for name, sheet in out.items() if sheet}


def _check_supplementary_records(demo: Path, picked: dict, rounds: list[dict], tmp_path: Path) -> None:
    """Round 2 newly hands over exactly the decided rows: in the target (the rows carrying its batch id), on its
    records (a supplement, numbered after the first record, for a commune that received one in round 1), in
    its summary; the first round's records, regenerated now, list what they listed."""
    engine = create_engine(_db(demo))
    d, r = schema.dossiers.c, schema.records.c
    with engine.connect() as conn:
        new = set(
            conn.execute(
                select(d.source_system, d.dossier_code, d.new_commune_code).where(d.batch_id == "round-2")
            )
        )
        new |= {
            (s, f"{t}/{n}", c)
            for s, t, n, c in conn.execute(
                select(r.source_system, r.record_type, r.record_number, r.new_commune_code).where(
                    r.batch_id == "round-2"
                )
            )
        }
        first_units = {c for (c,) in conn.execute(select(d.new_commune_code).where(d.batch_id == BATCH))}
        first_units |= {c for (c,) in conn.execute(select(r.new_commune_code).where(r.batch_id == BATCH))}
    engine.dispose()
    assert new == set(picked.values())
    supplements = {code for _, _, code in picked.values() if code in first_units}
    assert supplements == {
        picked["lost"][2],
        picked["record"][2],
    }  # the split goes to a commune new to the batch

    listed = {}  # commune → (number, title, keys)
    for name, sheet in _records(demo / "reports" / "round-2-doi-soat.xlsx").items():
        code = name.rsplit(" ", 1)[1]
        listed[code] = sheet
    wanted = {}
    for _, key, code in picked.values():
        section = "II" if (key.split("/", 1)[0] in ("birth", "death", "marriage")) else "I"
        wanted.setdefault(code, []).append((section, key.split("/", 1)[1] if section == "II" else key))
    assert {code: sorted(sheet["keys"]) for code, sheet in listed.items()} == {
        code: sorted(keys) for code, keys in wanted.items()
    }
    for code, sheet in listed.items():
        if code in supplements:
            first = f"{BATCH}-{code}/BB-BGHS"
            assert sheet["number"] == f"Số: {first}-BS1"
            assert sheet["title"] == "BIÊN BẢN BÀN GIAO BỔ SUNG HỒ SƠ ĐANG GIẢI QUYẾT"
            assert sheet["under"].startswith(
                f"(Bổ sung lần thứ 1 cho Biên bản bàn giao số {first}, lập ngày "
            )
            assert any(
                isinstance(v, str)
                and v.startswith(
                    f"Biên bản này bổ sung và là bộ phận không tách rời của Biên bản bàn giao số {first}"
                )
                for v in sheet["text"]
            )
        else:
            assert sheet["number"] == f"Số: round-2-{code}/BB-BGHS"
            assert sheet["title"] == "BIÊN BẢN BÀN GIAO HỒ SƠ ĐANG GIẢI QUYẾT"

    # the summary shows both rounds: in run --json, on Tổng hợp, in the HTML report
    assert [x["batch_id"] for x in rounds] == [BATCH, "round-2"]
    # round 1: 15 communes and the 3 provincial departments the routing table sends dossiers to
    assert rounds[0]["dossiers"] == 1019 and rounds[0]["records"] == 289 and len(rounds[0]["units"]) == 18
    assert {
        (u["code"], u["dossiers"] + u["records"], u["round"], u["record_number"]) for u in rounds[1]["units"]
    } == {
        (
            code,
            1,
            2 if code in supplements else 1,
            (f"{BATCH}-{code}/BB-BGHS-BS1" if code in supplements else f"round-2-{code}/BB-BGHS"),
        )
        for _, _, code in picked.values()
    }
    summary = load_workbook(demo / "reports" / "round-2-doi-soat.xlsx", read_only=True)["Tổng hợp"]
    lines = [r for r in summary.iter_rows(values_only=True) if len(r) > 7 and r[1] == "round-2" and r[0] == 2]
    assert {(line[3][:5], line[4] + line[5], line[6], line[7]) for line in lines[:-1]} == {
        (code, 1, "Bổ sung lần 1" if code in supplements else "Bàn giao", u)
        for code, u in ((u["code"], u["record_number"]) for u in rounds[1]["units"])
    }
    assert lines[-1][3:6] == ("Cộng lần 2: 3 biên bản", 2, 1)
    html = (demo / "reports" / "round-2-transfer-report.html").read_text(encoding="utf-8")
    assert html.count('<tr data-batch="round-2">') == 3 and f"{BATCH}-{picked['lost'][2]}/BB-BGHS-BS1" in html

    # the first round's records, regenerated from the target now, list what they listed
    result = _invoke("report", BATCH, "--db", _db(demo), "--out", str(tmp_path / "again"))
    assert result.exit_code == 0, result.output
    before, after = _records(_workbook(demo)), _records(tmp_path / "again" / f"{BATCH}-doi-soat.xlsx")
    assert len(before) == 18  # 15 communes, 3 departments
    assert {n: (s["number"], s["title"], s["keys"]) for n, s in after.items()} == {
        n: (s["number"], s["title"], s["keys"]) for n, s in before.items()
    }


def test_refused_decisions_name_their_row_and_nothing_is_written(
    demo: Path, picked: dict, tmp_path: Path
) -> None:
    _, lost, _ = picked["lost"]
    _, split, code = picked["split"]
    rows = _review_rows(demo)
    typo_row = next(r for r in rows if r["natural_key"] not in (lost, split) and r["entity"] == "dossier")
    typo = typo_row["natural_key"][:-1] + "X"
    filled = tmp_path / "bad.xlsx"
    wb_rows = _fill(
        _workbook(demo),
        filled,
        # 00008: a Hà Nội ward for an unresolved Lào Cai dossier; a typo in a key
        {lost: "00008", split: code, typo_row["natural_key"]: "02905"},
        copy_row=(split, "99999"),
        rename=(typo_row["natural_key"], typo),
    )
    out = tmp_path / "decisions.csv"
    result = runner.invoke(app, ["review", "import", str(filled), "--db", _db(demo), "--out", str(out)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert not out.exists()
    assert (
        f"row {wb_rows[lost]}: bao-thang {lost}: new commune 00008 Phường Ngọc Hà, Thành phố Hà Nội is not "
        in text
    )
    assert "expected a new commune of Tỉnh Lào Cai: 02647 Phường Lào Cai" in text
    assert (
        f"row {wb_rows[typo_row['natural_key']]}: {typo_row['source_id']} '{typo}' is not a review row"
        in text
    )
    assert f"did you mean {typo_row['natural_key']}" in text
    dup = wb_rows[f"copy of {split}"]
    assert f"row {dup}: " in text and "99999" in text  # not a candidate of that row
    assert "expected one of the row's candidates" in text

    # a duplicate with another allowed answer: decided twice
    other = next(
        c["commune_code"]
        for c in json.loads(next(r for r in rows if r["natural_key"] == split)["candidates"])
        if c["commune_code"] != code
    )
    _fill(_workbook(demo), filled, {split: code}, copy_row=(split, other))
    result = runner.invoke(app, ["review", "import", str(filled), "--db", _db(demo), "--out", str(out)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"row {dup}: van-ban {split} is decided twice with different communes: {code} " in text
    assert not out.exists()


def test_a_run_refuses_a_decision_of_another_province_before_loading(demo: Path, picked: dict) -> None:
    source, lost, _ = picked["lost"]
    (demo / "hn.csv").write_text(
        f"source_system,dossier_code,new_commune_code\n{source},{lost},00008\n{source},{lost}9,02905\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["run", str(_config(demo, "round-hn", "hn.csv"))])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert (
        f"hn.csv line 2: {source} {lost}: new commune 00008 Phường Ngọc Hà, Thành phố Hà Nội is not allowed"
        in text
    )
    assert f"hn.csv line 3: {source} '{lost}9' is not a review row of an earlier batch" in text
    engine = create_engine(_db(demo))
    with engine.connect() as conn:
        for table in (schema.batches, schema.ledger):
            assert conn.execute(select(table).where(table.c.batch_id == "round-hn")).first() is None
    engine.dispose()


def _check_round_exports(demo: Path, picked: dict, tmp_path: Path) -> None:
    """The portal file and the citizens' notices of round 2 cover exactly the dossiers it newly handed over,
    not again those round 1 handed over (the portal is not told twice, no applicant notified twice)."""
    decided = sorted(key for _, key, _ in (picked["split"], picked["lost"]))
    out = tmp_path / "round-2-exports"
    result = _invoke("export", "portal", "round-2", "--db", _db(demo), "--out", str(out / "portal"))
    assert result.exit_code == 0, result.output
    (jsonl,) = (out / "portal").glob("*-portal.jsonl")
    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert sorted(line["MaHoSo"] for line in lines) == decided
    assert {line["MaHoSo"]: line["DonViXuLy"].rsplit("(", 1)[1].rstrip(")") for line in lines} == {
        key: code for _, key, code in (picked["split"], picked["lost"])
    }
    result = _invoke(
        "export", "notices", "round-2", "--db", _db(demo), "--out", str(out / "notices"), "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dossiers"] == len(decided)
    (gateway,) = (out / "notices").rglob("gui-tin-*.csv")
    with gateway.open(encoding="utf-8", newline="") as f:
        assert {row["ma_ho_so"] for row in csv.DictReader(f)} <= set(decided)
