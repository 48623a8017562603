"""Canonical keys (handover.keys): look-alike dossier codes load as one dossier, each change is a finding; the
canonical form is idempotent and leaves Vietnamese text and well-formed codes alone; one natural key rule."""

from __future__ import annotations

import csv
import json
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from handover.cli import app
from handover.config import SourceConfig
from handover.keys import (
    KEY_CHECK,
    canonical_key,
    canonical_key_column,
    key_change,
    natural_key,
    natural_key_list,
    natural_keys,
)
from handover.models import Entity
from handover.sources import open_source
from handover.target import schema

CODE = "000.00.53.H38-250620-0001"
# The same code as a person sees it, six ways: plain, zero-width space, right-to-left override, byte-order mark,
# non-breaking hyphens, full-width digits.
VARIANTS = {
    "plain": (CODE, ()),
    "zwsp": (CODE.replace("-", "\u200b-", 1), ("U+200B",)),
    "rlo": ("\u202e" + CODE, ("U+202E",)),
    "bom": ("\ufeff" + CODE, ("U+FEFF",)),
    "nb_hyphen": (CODE.replace("-", "\u2011"), ("U+2011",)),
    "full_width": (CODE.replace("250620", "２５０６２０"), ("U+FF12", "U+FF15", "U+FF10", "U+FF16")),
}
HEADER = [
    "Mã hồ sơ",
    "Tên thủ tục",
    "Chủ hồ sơ",
    "Số CCCD",
    "Xã/Phường",
    "Ngày tiếp nhận",
    "Ngày hẹn trả",
    "Trạng thái",
]
ROW = [
    "Đăng ký khai sinh",
    "Nguyễn Văn An",
    "010203012345",
    "Xã Sơn Hà",
    "20/06/2025",
    "30/06/2025",
    "Đang xử lý",
]

runner = CliRunner()


# --- the canonical form ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_look_alike_has_the_plain_code_as_key(name: str) -> None:
    value, codes = VARIANTS[name]
    assert canonical_key(value) == CODE
    change = key_change(value)
    assert (*change.removed, *change.dashes, *change.widths) == codes


@pytest.mark.parametrize(
    "value,expected",
    [
        ("  A\u00a0\u00a0B\t", "A B"),  # no-break spaces, tabs, edges
        ("A\u00adB", "AB"),  # soft hyphen
        ("A\u2060\u2062B\u2066C\u2069", "ABC"),  # word joiner, invisible times, isolates
        ("A\u2212B\ufe58C\ufe63D\uff0dE\u2015F", "A-B-C-D-E-F"),  # minus, small/full-width dashes, bar
        ("ＡＢＣ－１２３", "ABC-123"),
        ("Ngo\u0309\u200b", "Ngỏ"),  # NFD + zero-width space → NFC
        ("Nguye\u200b\u0302\u0303n", "Nguyễn"),  # a mark cut off by an invisible character composes again
        ("\u200b\ufeff", None),
        ("", None),
        (None, None),
    ],
)
def test_canonical_key_cases(value: str | None, expected: str | None) -> None:
    assert canonical_key(value) == expected


def test_shown_original_names_each_changed_character_by_code_point() -> None:
    change = key_change("\u202e" + CODE.replace("-", "\u2011", 1))
    assert change.shown == "<U+202E>000.00.53.H38<U+2011>250620-0001"
    assert "\u202e" not in change.shown


def test_key_column_changes_only_the_cells_that_change() -> None:
    findings: list = []
    plain = np.array([CODE, None, "HS 12"], dtype=object)
    assert canonical_key_column(plain, "dossier_code", [2, 3, 4], plain, "src", findings) is plain
    mixed = [CODE, "HS\x1f12", "\u200bHS 12", None]
    out = canonical_key_column(mixed, "record_number", [2, 3, 4, 5], mixed, "src", findings)
    assert out == [CODE, "HS 12", "HS 12", None]
    assert [(f.row, f.field, f.key) for f in findings] == [
        (3, "record_number", "HS 12"),
        (4, "record_number", "HS 12"),
    ]
    assert findings[0].message_vi == (
        "Số đăng ký «HS<U+001F>12» chứa ký tự ẩn hoặc ký tự trông giống: "
        "đã thay khoảng trắng đặc biệt U+001F bằng dấu cách; dùng «HS 12»."
    )
    assert "removed invisible/format characters U+200B" in findings[1].message_en
    canonical_key_column([" HS  12"], "record_number", [6], [" HS  12"], "src", findings)
    assert findings[-1].message_en.endswith("removed extra white space; using 'HS 12'.")


def _vietnamese_letters() -> list[str]:
    vowels = "aăâeêioôơuưy"
    tones = ["", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"]
    lower = [unicodedata.normalize("NFC", v + t) for v in vowels for t in tones]
    lower += list("bcdđghklmnpqrstvx")
    return lower + [c.upper() for c in lower]


VIETNAMESE = st.lists(
    st.text(alphabet=st.sampled_from(_vietnamese_letters() + list("0123456789.,-/()")), min_size=1),
    min_size=1,
    max_size=6,
).map(" ".join)
CODES = st.from_regex(r"\A[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}-[0-9]{6}-[0-9]{4}\Z")  # ASCII digits


@given(st.text())
def test_canonical_key_is_idempotent(value: str) -> None:
    once = canonical_key(value)
    assert canonical_key(once) == once


@given(st.text())
def test_canonical_key_holds_no_invisible_or_look_alike_character(value: str) -> None:
    key = canonical_key(value)
    if key is not None:
        assert key == key.strip() and "  " not in key
        assert unicodedata.is_normalized("NFC", key)
        assert not any(unicodedata.category(ch) == "Cf" for ch in key)
        assert not any(ch in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63" for ch in key)
        assert not any("\uff01" <= ch <= "\uff5e" for ch in key)


@given(VIETNAMESE)
def test_vietnamese_text_is_left_unchanged(text: str) -> None:
    assert canonical_key(text) == text


@given(CODES)
def test_well_formed_dossier_codes_are_left_unchanged(code: str) -> None:
    assert canonical_key(code) == code
    assert canonical_key("000.00.53.H48-220921-0099") == "000.00.53.H48-220921-0099"


# --- the natural key: one rule ---------------------------------------------------------------------------

_PART = st.one_of(st.none(), st.just(""), st.sampled_from(["KS", "KT", "0001", "12/2025"]))


@given(st.lists(st.tuples(_PART, _PART), max_size=8))
def test_natural_key_rule_is_the_same_row_wise_column_wise_and_framewise(rows: list[tuple]) -> None:
    """A record without its type or its number has no key; the three forms agree on every row."""
    columns = {"record_type": [t for t, _ in rows], "record_number": [n for _, n in rows]}
    one = [natural_key(Entity.RECORD, {"record_type": t, "record_number": n}) for t, n in rows]
    assert natural_key_list(Entity.RECORD, columns) == one
    assert natural_keys(pd.DataFrame(columns, dtype=object), Entity.RECORD).tolist() == one
    assert all(k is None or (k.count("/") >= 1 and not k.startswith("/")) for k in one)
    dossiers = {"dossier_code": [n for _, n in rows]}
    expected = [n or None for _, n in rows]
    assert natural_key_list(Entity.DOSSIER, dossiers) == expected
    assert natural_keys(pd.DataFrame(dossiers, dtype=object), Entity.DOSSIER).tolist() == expected


# --- extract: the key cells enter canonical, each change a finding ----------------------------------------


def _write_csv(path: Path, codes: list[str], applicants: list[str] | None = None) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i, code in enumerate(codes):
            row = list(ROW)
            if applicants:
                row[1] = applicants[i]
            writer.writerow([code, *row])
    return path


def _write_xlsx(path: Path, codes: list[str]) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for code in codes:
        ws.append([code, *ROW])
    wb.save(path)
    return path


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_reader_gives_one_code_and_a_finding_per_look_alike(tmp_path: Path, kind: str) -> None:
    codes = [value for value, _ in VARIANTS.values()]
    path = _write_csv(tmp_path / "a.csv", codes) if kind == "csv" else _write_xlsx(tmp_path / "a.xlsx", codes)
    reader = open_source(SourceConfig(id="src", kind=kind, path=path), 100)  # type: ignore[arg-type]
    chunks = list(reader.chunks())
    frame = pd.concat([c.frame for c in chunks])
    assert frame["dossier_code"].tolist() == [CODE] * len(codes)
    findings = [f for c in chunks for f in c.findings if f.check == KEY_CHECK]
    assert [f.row for f in findings] == [3, 4, 5, 6, 7]
    assert {f.key for f in findings} == {CODE}
    assert all(f.field == "dossier_code" and f.severity == "warning" for f in findings)
    by_row = {f.row: f for f in findings}
    assert by_row[4].message_vi == (
        f"Mã hồ sơ «<U+202E>{CODE}» chứa ký tự ẩn hoặc ký tự trông giống: đã bỏ ký tự ẩn/định dạng U+202E; "
        f"dùng «{CODE}»."
    )
    assert by_row[6].message_en == (
        "Dossier code '000.00.53.H38<U+2011>250620<U+2011>0001' holds invisible or look-alike characters: "
        f"replaced look-alike dashes U+2011 with '-'; using '{CODE}'."
    )
    assert "U+FF12, U+FF15, U+FF10, U+FF16" in by_row[7].message_en


def test_other_findings_of_a_row_name_the_canonical_key(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        f"Mã hồ sơ,Chủ hồ sơ,Số CCCD,Ngày tiếp nhận\n\u200b{CODE},Nguyễn Văn An,01203012345,20/06/2025\n",
        encoding="utf-8",
    )
    reader = open_source(SourceConfig(id="src", kind="csv", path=path), 100)  # type: ignore[arg-type]
    findings = [f for c in reader.chunks() for f in c.findings]
    assert {f.check for f in findings} == {KEY_CHECK, "id_leading_zero"}
    assert {f.key for f in findings} == {CODE}


# --- the whole batch: one dossier, the rest duplicates or conflicts ------------------------------------------


def _run(tmp_path: Path, csv_path: Path, chunk_size: int = 1000) -> tuple[int, dict]:
    cfg = tmp_path / "batch.toml"
    cfg.write_text(
        f'[batch]\nid = "t1"\nchunk_size = {chunk_size}\n\n[target]\nurl = "sqlite:///{tmp_path / "target.db"}"\n\n'
        f'[[sources]]\nid = "a"\nkind = "csv"\npath = "{csv_path.name}"\n'
        'old_province_code = "10"\nold_district_code = "086"\n\n[thresholds]\nmax_error_share = 1.0\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["run", str(cfg), "--json"], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def _findings(tmp_path: Path) -> list[tuple[int, str, str]]:
    """(row, check, key) of every finding the batch stored in the target, by row and check."""
    t = schema.findings
    engine = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.source_row, t.c.check_name, t.c.natural_key)).all()
    engine.dispose()
    return sorted(tuple(r) for r in rows)


def _dossier_codes(tmp_path: Path) -> list[str]:
    engine = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    with engine.connect() as conn:
        codes = conn.execute(select(schema.dossiers.c.dossier_code)).scalars().all()
    engine.dispose()
    return list(codes)


@pytest.mark.parametrize("chunk_size", [1000, 2])
def test_look_alike_codes_load_as_one_dossier_and_the_rest_count_as_duplicates(
    tmp_path: Path, chunk_size: int
) -> None:
    """In one chunk or spread over three, the six spellings are one dossier."""
    path = _write_csv(tmp_path / "a.csv", [value for value, _ in VARIANTS.values()])
    code, result = _run(tmp_path, path, chunk_size)
    assert code == 0
    total = result["total"]
    assert (total["extracted"], total["loaded"], total["duplicate"], total["quarantined"]) == (6, 1, 5, 0)
    assert _dossier_codes(tmp_path) == [CODE]
    assert result["findings"] == {KEY_CHECK: 5}
    assert _findings(tmp_path) == [(row, KEY_CHECK, CODE) for row in (3, 4, 5, 6, 7)]
    again_code, _ = _run(tmp_path, path, chunk_size)  # a re-run adds nothing
    assert again_code == 0 and _dossier_codes(tmp_path) == [CODE]


def test_a_look_alike_code_with_other_content_is_the_key_conflict(tmp_path: Path) -> None:
    lookalike = VARIANTS["nb_hyphen"][0]
    path = _write_csv(tmp_path / "a.csv", [CODE, lookalike], ["Nguyễn Văn An", "Trần Thị Bình"])
    code, result = _run(tmp_path, path)
    assert code == 0
    assert (result["total"]["loaded"], result["total"]["quarantined"]) == (0, 2)
    assert _findings(tmp_path) == [
        (2, "dossier_code_unique", CODE),
        (3, "dossier_code_unique", CODE),
        (3, KEY_CHECK, CODE),
    ]
    assert _dossier_codes(tmp_path) == []
