"""Routing table (procedures.csv) and status table (statuses.csv): exact outputs and load errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from handover.errors import MapError
from handover.pipeline.routing import COLUMNS, DEFAULT_AGENCY, ProcedureRouter, StatusTable
from handover.resources import mappings_dir


@pytest.fixture(scope="module")
def router() -> ProcedureRouter:
    return ProcedureRouter.load()


def test_route_by_code_suffix_name_and_default(router: ProcedureRouter) -> None:
    df = pd.DataFrame(
        {
            "procedure_code": ["1.001612", "1.001612.000.00.00.H48", None, " 1.001193 ", "9.999999", None],
            "procedure_name": [None, "whatever", "Thủ tục Đăng ký khai sinh", None, "Không có", None],
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    out = router.route_frame(df)
    assert list(out.index) == [10, 11, 12, 13, 14, 15]
    assert list(out.columns) == ["handling_level", "handling_agency", "procedure_known", "procedure_free"]
    assert out["handling_level"].tolist() == [
        "commune_bro",
        "commune_bro",
        "commune_pc",
        "commune_pc",
        "commune_pc",
        "commune_pc",
    ]
    assert out["procedure_known"].tolist() == [True, True, True, True, False, False]
    assert out["procedure_free"].tolist() == [False, False, True, True, False, False]  # khai sinh: no lệ phí
    assert out["handling_agency"].iloc[0] == "Phòng (Bộ phận) đăng ký kinh doanh cấp xã"
    assert out["handling_agency"].iloc[2] == "UBND xã/phường"
    assert out["handling_agency"].iloc[4] == DEFAULT_AGENCY == "UBND xã/phường (mặc định)"


def test_name_fallback_ignores_accents_case_and_nfd(router: ProcedureRouter) -> None:
    import unicodedata

    nfd = unicodedata.normalize("NFD", "ĐĂNG KÝ KẾT HÔN CÓ YẾU TỐ NƯỚC NGOÀI")
    out = router.route_frame(pd.DataFrame({"procedure_code": [""], "procedure_name": [nfd]}))
    assert out["procedure_known"].tolist() == [True]
    assert out["handling_level"].tolist() == ["commune_pc"]


def test_shipped_table_covers_the_known_moves(router: ProcedureRouter) -> None:
    by_sector: dict[str, set[str]] = {}
    for r in router.routes:
        by_sector.setdefault(r.sector, set()).add(r.handling_level)
    assert 25 <= len(router.routes) <= 40
    # Decision 2353/QĐ-BTC: five business-household procedures to the commune business-registration office
    bro = [r for r in router.routes if r.handling_level == "commune_bro"]
    assert len(bro) == 5 and all("2353" in r.legal_basis for r in bro)
    # Decree 120/2025: civil status with a foreign element to the commune PC
    foreign = [r for r in router.routes if "yếu tố nước ngoài" in r.procedure_name and r.sector == "Hộ tịch"]
    assert foreign and all(r.handling_level == "commune_pc" and "120/2025" in r.legal_basis for r in foreign)
    # construction permits and land are unconfirmed
    assert all(r.confirmed == "no" for r in router.routes if r.sector in ("Hoạt động xây dựng", "Đất đai"))
    assert "province_dept" in {r.handling_level for r in router.routes}


def _write(path: Path, rows: list[list[str]], header: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


GOOD = [
    "1.001612",
    "Đăng ký thành lập hộ kinh doanh",
    "HKD",
    "commune_bro",
    "Phòng ĐKKD xã",
    "QĐ 2353",
    "yes",
    "",
]


def test_load_errors_name_file_line_column(tmp_path: Path) -> None:
    bad_level = GOOD.copy()
    bad_level[3] = "district"
    with pytest.raises(MapError) as exc:
        ProcedureRouter.load(_write(tmp_path / "p.csv", [GOOD, bad_level]))
    assert exc.value.context["row"] == 3
    assert exc.value.context["column"] == "handling_level"
    assert exc.value.context["file"].endswith("p.csv")

    with pytest.raises(MapError) as exc:
        ProcedureRouter.load(_write(tmp_path / "d.csv", [GOOD, GOOD]))
    assert "already on line 2" in exc.value.message and exc.value.context["row"] == 3

    bad_code = GOOD.copy()
    bad_code[0] = "1612"
    with pytest.raises(MapError) as exc:
        ProcedureRouter.load(_write(tmp_path / "c.csv", [bad_code]))
    assert exc.value.context["column"] == "procedure_code"

    with pytest.raises(MapError) as exc:
        ProcedureRouter.load(_write(tmp_path / "h.csv", [GOOD[:7]], header=COLUMNS[:7]))
    assert exc.value.context["column"] == "note"

    with pytest.raises(MapError, match="does not exist"):
        ProcedureRouter.load(tmp_path / "missing.csv")


def test_custom_table_routes(tmp_path: Path) -> None:
    row = ["", "Cấp phép karaoke", "Văn hóa", "province_dept", "Sở Văn hóa", "", "no", "chưa rõ"]
    router = ProcedureRouter.load(_write(tmp_path / "p.csv", [GOOD, row]))
    out = router.route_frame(pd.DataFrame({"procedure_code": [None], "procedure_name": ["cap phep KARAOKE"]}))
    assert out.iloc[0].tolist() == ["province_dept", "Sở Văn hóa", True, False]


def test_free_column_is_optional_and_checked(tmp_path: Path, router: ProcedureRouter) -> None:
    # the shipped table marks free only what the Civil Status Law exempts (art. 11: khai sinh, khai tử, kết hôn)
    free = {r.procedure_name for r in router.routes if r.free == "yes"}
    assert free == {"Đăng ký khai sinh", "Đăng ký kết hôn", "Đăng ký khai tử"}
    # a province's table without the column (8 columns) still loads: nothing is free
    old = ProcedureRouter.load(_write(tmp_path / "old.csv", [GOOD], header=COLUMNS[:8]))
    assert [r.free for r in old.routes] == ["no"]
    with pytest.raises(MapError) as exc:
        ProcedureRouter.load(_write(tmp_path / "f.csv", [[*GOOD, "có"]]))
    assert exc.value.context["column"] == "free" and exc.value.context["row"] == 2


def test_status_codes() -> None:
    table = StatusTable.load()
    raw = pd.Series(
        [
            "Đã trả kết quả",
            "4",
            10,
            4.0,
            "Chờ bổ sung",
            "  mới TIẾP nhận ",
            "Tạm dừng",
            None,
            "",
            "xyz",
            "11",
            "Rút hồ sơ",
        ],
        dtype="object",
    )
    assert table.code_frame(raw).tolist() == ["10", "4", "10", "4", "5", "2", "8", "", "", "", "", "7"]
    assert table.pending_codes == frozenset({"1", "2", "4", "5", "6", "8"})
    assert table.is_pending("5") and not table.is_pending("9")


def test_status_table_errors(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("raw,code,pending,note\nĐang xử lý,4,yes,\nDang xu ly,5,yes,\n", encoding="utf-8")
    with pytest.raises(MapError) as exc:
        StatusTable.load(path)
    assert exc.value.context["row"] == 3 and "already maps to code 4" in exc.value.message
    path.write_text("raw,code,pending,note\nXong,11,no,\n", encoding="utf-8")
    with pytest.raises(MapError) as exc:
        StatusTable.load(path)
    assert exc.value.context["column"] == "code"


def test_shipped_tables_have_provenance_file() -> None:
    text = (mappings_dir() / "PROCEDURES.md").read_text(encoding="utf-8")
    assert "120/2025" in text and "2353/QĐ-BTC" in text and "147/2025" in text


def test_status_keywords_place_vendor_wordings_and_refuse_to_guess() -> None:
    table = StatusTable.load()
    cases = {
        "Người dân xin rút hồ sơ": "7",  # a withdrawal worded otherwise than the portal's label
        "Đã rút HS": "7",
        "Da tiep nhan, dang xu ly": "4",  # the weak "tiếp nhận" gives way to "đang xử lý"
        "Không được tiếp nhận hồ sơ": "3",  # "tiếp nhận" inside the longer keyword counts as it
        "Hồ sơ đã trả kết quả cho công dân": "10",
        "Chờ trả kết quả": "9",
        "Đã tiếp nhận": "2",
        "Hồ sơ quá hạn": "4",
        "Đang xử lý, yêu cầu bổ sung": "",  # 4 and 5 disagree: not placed
        "ABC-77": "",
    }
    assert {text: table.code_of(text) for text in cases} == cases


def test_batch_status_file_adds_and_overrides_lines(tmp_path: Path) -> None:
    extra = tmp_path / "vendor.csv"
    extra.write_text("raw,code,pending,note\nABC-77,4,yes,\nTạm dừng,7,no,vendor meaning\n", encoding="utf-8")
    table = StatusTable.load(extra=[extra])
    assert table.code_of("abc 77") == "4"
    assert table.code_of("Tạm dừng") == "7"
    assert StatusTable.load().code_of("Tạm dừng") == "8"
    extra.write_text("raw,code,pending,note\nXYZ,9,yes,\n", encoding="utf-8")
    with pytest.raises(MapError) as exc:
        StatusTable.load(extra=[extra])
    assert exc.value.context["file"] == str(extra) and exc.value.context["row"] == 2
    assert "pending on one line and not on another" in exc.value.message
