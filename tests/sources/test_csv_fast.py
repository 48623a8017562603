"""The fast CSV path (byte-level structural pass + pandas' C parser) reads exactly what the row-by-row path reads.

Every case is read twice: as is, and with the structural pass disabled (the careful csv-module path the project
had before). Frames, findings and the reader's report must be identical; where the fast path must step aside
(line breaks inside quotes, a lone CR, ragged rows) the test says so.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handover.config import SourceConfig
from handover.errors import SourceError
from handover.sources import csv_reader, csv_scan, open_source
from handover.sources.csv_scan import scan_structure

DATA = Path(__file__).resolve().parent.parent / "data"
HEADER = "STT,Mã hồ sơ,Chủ hồ sơ,Số CCCD/CMND,Số điện thoại,Địa chỉ,Ngày tiếp nhận,Lệ phí,Ghi chú,Cột lạ"
ROW = '{i},000.00.53.H48-2506{i:02d},Nguyễn Thị Hồng,10203012345,912345678,"Thôn Khe Mụ, xã Sơn Hà",01/06/2025,"1.500",'


def _read(path: Path, chunk_size: int, fast: bool, monkeypatch: pytest.MonkeyPatch, **kw: object):
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(csv_reader, "scan_structure", lambda *a: None)
        cfg = SourceConfig(id="src", kind="csv", path=path, old_province_code="10", **kw)  # type: ignore[arg-type]
        reader = open_source(cfg, chunk_size)
        chunks = list(reader.chunks())
    return reader, chunks


def _same(
    path: Path, monkeypatch: pytest.MonkeyPatch, chunk_size: int = 3, **kw: object
) -> tuple[bool, list]:
    """Read both ways, assert identical results; return (fast path taken, chunks)."""
    fast_reader, fast = _read(path, chunk_size, True, monkeypatch, **kw)
    slow_reader, slow = _read(path, chunk_size, False, monkeypatch, **kw)
    assert slow_reader._fast_fields is None
    assert [c.index for c in fast] == [c.index for c in slow]
    for a, b in zip(fast, slow, strict=True):
        pd.testing.assert_frame_equal(a.frame, b.frame)
        assert [f.model_dump() for f in a.findings] == [f.model_dump() for f in b.findings]
    assert json.dumps(fast_reader.report, default=str) == json.dumps(slow_reader.report, default=str)
    return fast_reader._fast_fields is not None, fast


def _write(tmp_path: Path, text: str, name: str = "in.csv", newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


@pytest.mark.parametrize("name", ["dossiers_utf8.csv", "dossiers_utf8_bom.csv", "dossiers_nfd.csv"])
@pytest.mark.parametrize("chunk_size", [1, 2, 100])
def test_corpus_files_read_the_same(name: str, chunk_size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, chunks = _same(DATA / name, monkeypatch, chunk_size)
    assert fast
    assert sum(len(c.frame) for c in chunks) == 5


def test_messy_cells_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [ROW.format(i=i) for i in range(1, 30)]
    rows[2] = rows[2].replace("Nguyễn Thị Hồng", "  Nguyễn  Thị Hồng ")  # spaces to collapse
    rows[4] = rows[4].replace("Nguyễn Thị Hồng", "Nguye\u0302\u0303n Thị Hồng")  # NFD
    rows[6] = rows[6].replace("Nguyễn Thị Hồng", "Nguyễn\u00a0Thị")  # no-break space
    rows[8] = rows[8].replace("Nguyễn Thị Hồng", '"Lê ""Tèo"" Văn"')  # escaped quotes
    rows[10] = rows[10].replace("Thôn Khe Mụ, xã Sơn Hà", "B¶o Th¾ng")  # TCVN3 look-alike in a UTF-8 file
    rows[12] = rows[12] + "ghi chú\tcó tab"
    rows[14] = rows[14].replace(",,", ", ,")  # a blank-looking cell
    rows[16] = ""  # blank line
    rows[18] = ",,,,,,,,,"  # blank row
    text = (
        "Danh sách hồ sơ\n\n" + HEADER + "\n" + "\n".join(rows) + "\nTổng cộng: 27 hồ sơ\n,Người lập biểu\n"
    )
    path = _write(tmp_path, text)
    with monkeypatch.context() as m:
        m.setattr(csv_reader, "_READ_ROWS", 4)  # several pandas blocks per chunk and chunks across blocks
        fast, chunks = _same(path, monkeypatch, chunk_size=5)
    assert fast
    frame = pd.concat([c.frame for c in chunks])
    assert len(frame) == 27
    assert frame["applicant_name"].iloc[2] == "Nguyễn Thị Hồng"
    assert frame["applicant_name"].iloc[4] == "Nguyễn Thị Hồng"
    assert frame["applicant_name"].iloc[8] == 'Lê "Tèo" Văn'
    assert frame["address"].iloc[10] == "Bảo Thắng"
    assert frame["applicant_id"].iloc[0] == "010203012345"  # leading zero restored
    assert frame["fee"].iloc[0] == 1500.0
    assert json.loads(frame["extras"].iloc[0]) == {"STT": "1"}
    assert json.loads(frame["extras"].iloc[12]) == {"STT": "13"}
    assert frame["notes"].iloc[12] == "ghi chú có tab"


def test_many_dirty_lines_all_take_the_per_cell_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [ROW.format(i=i).replace("Hồng", "Hồng ") for i in range(1, 12)]  # every line has a trailing space
    path = _write(tmp_path, HEADER + "\n" + "\n".join(rows) + "\n")
    found = scan_structure(path, ",")
    assert found is not None and not found.all_dirty and list(found.dirty_lines) == list(range(2, 13))
    with monkeypatch.context() as m:
        m.setattr(csv_scan, "_MAX_DIRTY", 3)
        assert scan_structure(path, ",").all_dirty  # type: ignore[union-attr]
        fast, chunks = _same(path, monkeypatch, chunk_size=4)
    assert fast
    assert {v for c in chunks for v in c.frame["applicant_name"]} == {"Nguyễn Thị Hồng"}


def test_crlf_bom_and_title_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "\ufeffUBND HUYỆN BẢO THẮNG\n" + HEADER + "\n(1),(2),(3),(4),(5),(6),(7),(8),(9),(10)\n"
    text += "\n".join(ROW.format(i=i) for i in range(1, 8))
    fast, chunks = _same(_write(tmp_path, text, newline="\r\n"), monkeypatch, chunk_size=2)
    assert fast
    assert chunks[0].frame["source_row"].tolist() == [4, 5]


@pytest.mark.parametrize(
    "body",
    [
        '1,A-1,"Nguyễn\nThị",,,,,,\n2,A-2,Lê,,,,,,',  # a line break inside quotes
        "1,A-1,Nguyễn\r2,A-2,Lê",  # a lone CR
        '1,A-1,Ngu"yễn,,,,,,\n2,A-2,Lê',  # a quote inside an unquoted value
        '1,A-1,"Nguyễn" Thị,,,,,,\n2,A-2,Lê',  # text after a closing quote
    ],
)
def test_irregular_files_take_the_careful_path(
    body: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, chunks = _same(_write(tmp_path, HEADER + "\n" + body + "\n"), monkeypatch, chunk_size=1)
    assert not fast
    assert len(chunks) == 2


def test_blank_extra_values_read_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = HEADER + "\n" + ROW.format(i=1) + ",,\n" + ROW.format(i=2) + "\nTổng cộng,,,,,,,,,,,,x\n"
    fast, chunks = _same(_write(tmp_path, text), monkeypatch)
    assert fast
    assert len(chunks[0].frame) == 2


def test_shifted_values_refused_the_same_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, HEADER + "\n" + ROW.format(i=1) + "\n" + ROW.format(i=2) + ",x,y\n")
    messages = []
    for fast in (True, False):
        with pytest.raises(SourceError) as err:
            _read(path, 10, fast, monkeypatch)
        messages.append((err.value.message, err.value.context.get("row")))
    assert messages[0] == messages[1]
    assert messages[0][1] == 3


def test_bad_bytes_refused_before_any_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bad.csv"
    good = (HEADER + "\n" + "\n".join(ROW.format(i=i) for i in range(1, 3000)) + "\n").encode()
    path.write_bytes(good + b"3001,A-1,Nguy\xe1n,,,,,,\n")
    with pytest.raises(SourceError, match=r"The file is not valid UTF-8 text at line 3001 \(byte offset"):
        open_source(SourceConfig(id="src", kind="csv", path=path, encoding="utf-8"), 100)


def test_scan_structure_marks_the_lines_that_need_cleaning(tmp_path: Path) -> None:
    lines = [
        "a,b,c",  # 1 clean
        '"x, y",Bảo Thắng,đ',  # 2 clean: the separator inside quotes is text; Vietnamese letters are NFC
        " a,b,c",  # 3 leading space
        "a ,b,c",  # 4 trailing space
        "a,b  b,c",  # 5 double space
        "a,B¶o,c",  # 6 TCVN3 look-alike
        "a,Nguye\u0302\u0303n,c",  # 7 combining marks
        "a,b\u00a0b,c",  # 8 no-break space
        'a,"b ",c',  # 9 trailing space inside quotes
        "a,b,c,d,e",  # 10 clean, five fields
        "a,b\tb,c",  # 11 tab
        "",  # 12 blank
    ]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    found = scan_structure(path, ",")
    assert found is not None
    assert found.fields == 5
    assert sorted(found.dirty_lines) == [3, 4, 5, 6, 7, 8, 9, 11]


def test_scan_structure_steps_aside(tmp_path: Path) -> None:
    assert scan_structure(_write(tmp_path, 'a,"b\nc",d\n'), ",") is None
    assert scan_structure(_write(tmp_path, "a,b\rc,d\n"), ",") is None
    assert scan_structure(_write(tmp_path, 'a,"b,c\n'), ",") is None
    assert scan_structure(_write(tmp_path, "a,b\x00,c\n"), ",") is None
    path = tmp_path / "latin.csv"
    path.write_bytes(b"a,B\xe0o\n")
    assert scan_structure(path, ",") is None


CELL = st.lists(
    st.sampled_from([*"ab Ắơ,\"'\u00a0\u0301¶¾\t0123456789/-", "\n", "Tổng cộng", "ngày", "B¶o"]),
    max_size=6,
).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(CELL, min_size=0, max_size=12), min_size=1, max_size=12),
    delimiter=st.sampled_from([",", ";", "\t"]),
    chunk_size=st.integers(1, 5),
)
def test_any_written_csv_reads_the_same(
    rows: list[list[str]], delimiter: str, chunk_size: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(HEADER.split(","))
    for i, row in enumerate(rows, start=1):
        writer.writerow([str(i), f"HS-{i}", *row])
    path = tmp_path_factory.mktemp("h") / "in.csv"
    path.write_bytes(out.getvalue().encode("utf-8"))
    mp = pytest.MonkeyPatch()
    try:
        results = []
        for fast in (True, False):
            try:
                reader, chunks = _read(path, chunk_size, fast, mp, delimiter=delimiter)
            except SourceError as exc:
                results.append(("error", exc.message))
                continue
            frames = [c.frame for c in chunks]
            results.append(
                (
                    [f.to_dict("list") for f in frames],
                    [[f.model_dump() for f in c.findings] for c in chunks],
                    json.dumps(reader.report, default=str),
                )
            )
        assert results[0] == results[1]
    finally:
        mp.undo()


def test_numpy_columns_do_not_leak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames from the fast path hold plain Python values, like the careful path's."""
    _, chunks = _read(_write(tmp_path, HEADER + "\n" + ROW.format(i=1) + "\n"), 10, True, monkeypatch)
    frame = chunks[0].frame
    assert frame["source_row"].dtype == np.int64
    assert all(
        type(v) in (str, float, type(None)) for col in frame.drop(columns="source_row") for v in frame[col]
    )
