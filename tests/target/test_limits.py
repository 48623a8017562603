"""Content a database would refuse never fails a chunk: held back by the validate stage on all three targets, ledger
payloads capped; a refusal the checks could not foresee names the source row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from handover.cli import app
from handover.target import schema
from handover.target.values import capped_payload

runner = CliRunner()

HEADER = "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Xã/Phường,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái,Lệ phí,Ghi chú\n"
CODE = "000.00.53.H38-250620-{:04d}"


def _line(i: int, **cells: str) -> str:
    c = {
        "code": CODE.format(i),
        "name": "Nguyễn Văn An",
        "received": "20/06/2025",
        "due": "30/06/2025",
        "fee": "50000",
        "note": "hồ sơ đủ giấy tờ, chờ thẩm định " * 8,
    } | cells
    return (
        f'{c["code"]},Đăng ký khai sinh,"{c["name"]}",Xã Sơn Hà,{c["received"]},{c["due"]},Đang xử lý,'
        f'{c["fee"]},"{c["note"]}"\n'
    )


# data row i is on line i + 1 (the header is line 1)
HOSTILE = {
    1000: ({"note": "có ký tự \x00 NUL giữa chừng"}, "nul_character", "notes"),
    1001: ({"note": "x" * 70_000}, "text_too_long", "notes"),
    1002: ({"name": "Nguyễn " * 12_000}, "text_too_long", "applicant_name"),
    1003: ({"received": "01/01/0001"}, "date_implausible", "received_date"),
    1004: ({"due": "31/12/9999"}, "date_implausible", "due_date"),
    1005: ({"fee": "-50000"}, "fee_negative", "fee"),
    1006: ({"code": "000.00.53.H38-250620-\x001006"}, "nul_character", "dossier_code"),
}
ROWS = 1200


def _hostile_csv(path: Path) -> None:
    lines = [HEADER] + [_line(i, **HOSTILE[i][0]) if i in HOSTILE else _line(i) for i in range(1, ROWS + 1)]
    data = "".join(lines).encode("utf-8")
    assert data.index(b"\x00") > 256 * 1024  # after the part a reader sniffs
    path.write_bytes(data)


def _config(folder: Path, url: str, batch: str, source: str, chunk_size: int) -> Path:
    path = folder / "batch.toml"
    path.write_text(
        f'[batch]\nid = "{batch}"\nchunk_size = {chunk_size}\n\n[target]\nurl = "{url}"\n\n'
        f'[[sources]]\nid = "{source}"\nkind = "csv"\npath = "a.csv"\nold_province_code = "10"\n'
        'old_district_code = "086"\n',
        encoding="utf-8",
    )
    return path


def test_hostile_rows_are_quarantined_the_rest_loads(target_url: str, engine: Engine, tmp_path: Path) -> None:
    """A NUL byte after the first 256 KB, a 70 KB note, an 84 KB name, years 1 and 9999, a negative fee, a NUL in
    a dossier code: exit 0, those rows quarantined with their finding, every other row loaded, the balance holds,
    the ledger payloads fit, and a second run adds nothing."""
    _hostile_csv(tmp_path / "a.csv")
    cfg = _config(tmp_path, target_url, "hostile", "a", 500)
    dry = runner.invoke(app, ["run", str(cfg), "--dry-run", "--json"])  # the first pass alone holds them back
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["total"]["quarantined"] == len(HOSTILE)
    first = runner.invoke(app, ["run", str(cfg), "--json"])
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    total = out["total"]
    assert total["extracted"] == ROWS
    assert (total["quarantined"], total["loaded"]) == (len(HOSTILE), ROWS - len(HOSTILE))
    assert total["extracted"] == sum(
        total[d] for d in ("loaded", "review", "quarantined", "excluded", "duplicate")
    )

    ledger, findings = schema.ledger.c, schema.findings.c
    with engine.connect() as conn:
        held = {
            r.source_row: r
            for r in conn.execute(
                select(ledger.source_row, ledger.disposition, ledger.natural_key, ledger.payload).where(
                    ledger.batch_id == "hostile", ledger.disposition != "loaded"
                )
            )
        }
        errors = {
            (r.source_row, r.check_name, r.field)
            for r in conn.execute(
                select(findings.source_row, findings.check_name, findings.field).where(
                    findings.batch_id == "hostile", findings.severity == "error"
                )
            )
        }
        loaded = conn.execute(text("SELECT COUNT(*) FROM dossiers WHERE batch_id = 'hostile'")).scalar_one()
    assert set(held) == {i + 1 for i in HOSTILE}  # the physical line of each hostile row
    assert all(r.disposition == "quarantined" for r in held.values())
    for i, (_, check, field) in HOSTILE.items():
        assert (i + 1, check, field) in errors
    assert loaded == ROWS - len(HOSTILE)

    # the held-back rows' payloads fit the smallest TEXT (MariaDB's 65,535 bytes), say what was cut, stay JSON
    for row in held.values():
        assert len(row.payload.encode("utf-8")) <= 65_535
        payload = json.loads(row.payload)
        assert payload["dossier_code"]
    note = json.loads(held[1002].payload)
    assert note["_truncated"] == {"notes": 70_000} and note["notes"].endswith("…")
    assert json.loads(held[1003].payload)["_truncated"] == {"applicant_name": 83_999}
    assert "_truncated" not in json.loads(held[1001].payload)
    assert held[1007].natural_key == "000.00.53.H38-250620-␀1006"  # visible, storable everywhere

    again = runner.invoke(app, ["run", str(cfg), "--json"])
    assert again.exit_code == 0, again.output
    out2 = json.loads(again.stdout)
    assert out2["new_rows"] == 0 and out2["total"] == total and out2["fingerprint"] == out["fingerprint"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM dossiers")).scalar_one() == loaded


REFUSED_NAME = "Từ Chối Nạp"


def _refuse(engine: Engine) -> tuple[str, str]:
    """A rule of the target the checks do not know: (create, drop) statements."""
    if engine.dialect.name == "sqlite":
        return (
            "CREATE TRIGGER ho_test_refuse BEFORE INSERT ON dossiers "
            f"WHEN NEW.applicant_name = '{REFUSED_NAME}' BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END",
            "DROP TRIGGER ho_test_refuse",
        )
    return (
        f"ALTER TABLE dossiers ADD CONSTRAINT ho_test_refuse CHECK (applicant_name <> '{REFUSED_NAME}')",
        "ALTER TABLE dossiers DROP CONSTRAINT ho_test_refuse",
    )


def test_a_refusal_names_the_source_row(target_url: str, engine: Engine, tmp_path: Path) -> None:
    """A row the database refuses (a constraint added to the target) stops the batch with exit 5 and a message
    naming the source, the physical row and the dossier code, not a position in the chunk; the chunks before it
    stay committed, nothing of its chunk is written."""
    lines = [HEADER] + [_line(i, name=REFUSED_NAME) if i == 24 else _line(i) for i in range(1, 31)]
    (tmp_path / "a.csv").write_text("".join(lines), encoding="utf-8")
    cfg = _config(tmp_path, target_url, "refused", "dist-a", 10)
    create, drop = _refuse(engine)
    with engine.begin() as conn:
        conn.execute(text(create))
    try:
        result = runner.invoke(app, ["run", str(cfg)])
    finally:
        with engine.begin() as conn:
            conn.execute(text(drop))
    assert result.exit_code == 5, result.output
    flat = " ".join(result.output.split())
    assert f"refused row 25 (key {CODE.format(24)}) of source 'dist-a'" in flat, flat
    assert "chunk 2" in flat and "correct row 25 of source 'dist-a'" in flat
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT COUNT(*) FROM ledger WHERE batch_id = 'refused'")).scalar_one()
    assert rows == 20  # chunks 0 and 1 committed; chunk 2 (rows 22-31) not at all


def test_payload_cap_keeps_json_and_marks_the_cut() -> None:
    payload = json.dumps({"a": "ệ" * 30_000, "b": "x" * 10, "c": None, "d": 5}, ensure_ascii=False)
    capped = capped_payload(payload, 65_535)
    assert capped is not None and len(capped.encode()) <= 65_535
    data = json.loads(capped)
    assert data["_truncated"] == {"a": 30_000}
    assert (data["b"], data["c"], data["d"]) == ("x" * 10, None, 5)
    assert data["a"].startswith("ệệ") and data["a"].endswith("…") and len(data["a"]) > 20_000
    small = json.dumps({"a": "b"})
    assert capped_payload(small, 65_535) is small
    assert len(capped_payload(json.dumps({"a": "\x00" * 20_000}), 65_535).encode()) <= 65_535  # escapes count


@pytest.mark.parametrize("limit", [300, 1000])
def test_payload_cap_with_many_long_fields(limit: int) -> None:
    payload = json.dumps({f"f{i}": "y" * 500 for i in range(20)})
    capped = capped_payload(payload, limit)
    assert capped is not None and len(capped.encode()) <= limit
    assert json.loads(capped)["_truncated"]


def test_a_value_slipped_past_validation_names_row_and_field(engine: Engine) -> None:
    """Straight to the loader (no validate stage): a value the database refuses for content names the source row
    and, where the driver says, the field; held-back rows with the same content load (their ledger texts are
    made storable, their payloads capped)."""
    from handover.errors import LoadError
    from handover.target.loader import Loader
    from tests.target import factories as f

    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite stores NUL and long text: the trigger case above covers it")
    bad = {"notes": "a\x00b"} if engine.dialect.name == "postgresql" else {"notes": "x" * 70_000}
    held = {
        "dossier_code": "H48-\x00-9",
        "old_commune_name": "Xã \x00 Sơn Hà",
        "notes": "n\x00" * 40_000,
        "disposition": "quarantined",
        "reason": "lý do \x00",
    }
    rows = [f.dossier("H48-0001"), f.dossier("H48-0002", **held), f.dossier("H48-0003", **bad)]
    loader = Loader(engine, "slip")
    loader.begin_batch("slip", "c" * 64, [f.source()])
    loader.load_chunk(f.chunk(rows[:2], index=0))  # the held-back row alone: loads
    with pytest.raises(LoadError) as exc:
        loader.load_chunk(f.chunk(rows[2:], index=1, first_row=1004))
    assert exc.value.context["row"] == 1004
    assert exc.value.context["key"] == "H48-0003"
    # MariaDB: "Data too long for column 'notes'"; PostgreSQL names the COPY line only
    if engine.dialect.name == "mysql":
        assert exc.value.context["column"] == "notes"
    assert "refused row 1004 (key H48-0003)" in exc.value.message
    with engine.connect() as conn:
        ledger = conn.execute(
            text("SELECT natural_key, old_commune_name, reason FROM ledger WHERE disposition = 'quarantined'")
        ).one()
        assert conn.execute(text("SELECT COUNT(*) FROM ledger WHERE batch_id = 'slip'")).scalar_one() == 2
    assert tuple(ledger) == ("H48-␀-9", "Xã ␀ Sơn Hà", "lý do ␀")
