"""The demo batch: :func:`generate_demo_inputs` writes the three synthetic exports, :func:`write_demo_config`
the ``batch.toml`` that loads them."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from handover.demo.bao_thang import BT_COLUMNS, write_bao_thang
from handover.demo.district_db import HKD_COLUMNS, HKD_QUERY, HT_COLUMNS, HT_QUERY, write_district_db
from handover.demo.dossiers import make_dossiers
from handover.demo.extras import extras_rng, payments, plant_fee_problem, remove_contacts
from handover.demo.reference import BAO_THANG, VAN_BAN, district_communes, split_communes, units_reference
from handover.demo.scans import SCANS, VB_SCANS, scan_bao_thang, scan_van_ban
from handover.demo.van_ban import VB_COLUMNS, write_van_ban
from handover.errors import ConfigError

DEFAULT_ROWS = 600


def generate_demo_inputs(out_dir: Path, seed: int = 7, rows: int | None = None) -> Path:
    """Write the three synthetic exports under ``out_dir/exports``; returns that folder.

    ``rows`` dossiers per district (default 600) and half as many records; same seed → same bytes.
    """
    n = DEFAULT_ROWS if rows is None else int(rows)
    if n < 1:
        raise ConfigError(f"rows must be at least 1 (got {n}).", hint="Use --rows 600 or leave it out.")
    exports = Path(out_dir) / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    communes, targets = units_reference()
    bao_thang, van_ban = district_communes(communes, BAO_THANG), district_communes(communes, VAN_BAN)
    rng, xr = random.Random(seed), extras_rng(seed)
    shutil.rmtree(exports / SCANS, ignore_errors=True)  # scans of an earlier run (another seed) must not stay
    # The Excel export carries no unit codes: a split commune elsewhere could not be told from a typo there,
    # so split communes are planted in the CSV, which carries province/district/commune codes.
    bt_rows = make_dossiers(rng, n, bao_thang, [], "000.00.86.H38", False)
    bt_extras = payments(xr, bt_rows, BAO_THANG, printed=True)
    plant_fee_problem(xr, bt_rows, bt_extras, BAO_THANG, "no_receipt")
    remove_contacts(xr, bt_rows, BAO_THANG, 2)
    scan_bao_thang(xr, exports, bt_rows, bt_extras)
    write_bao_thang(exports / "bao_thang_086.xlsx", bt_rows, rng, bt_extras)
    vb_rows = make_dossiers(
        rng, n, van_ban, split_communes(communes, targets, VAN_BAN), "000.00.89.H38", True
    )
    vb_extras = payments(xr, vb_rows, VAN_BAN, printed=False)
    plant_fee_problem(xr, vb_rows, vb_extras, VAN_BAN, "overpaid")
    remove_contacts(xr, vb_rows, VAN_BAN, 3)
    scan_van_ban(xr, exports, vb_rows)
    write_van_ban(exports / "van_ban_089.csv", vb_rows, rng, extras=vb_extras)
    write_district_db(exports / "district_system.db", max(2, n // 2), bao_thang, rng)
    return exports


def toml_table(mapping: dict[str, str]) -> str:
    return "\n".join(f'"{k}" = "{v}"' for k, v in mapping.items())


def write_demo_config(out_dir: Path) -> Path:
    """Write ``out_dir/batch.toml`` for the demo exports (loads with :func:`handover.config.load_config`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = f"""\
# handover demo batch: synthetic exports of two districts of the old Lào Cai province (10).
# Written by `handover demo`; run it again with: handover run {out_dir.name}/batch.toml

[batch]
id = "demo-lao-cai-2025-07"
description = "Demo: Huyện Bảo Thắng (086) và Huyện Văn Bàn (089), tỉnh Lào Cai cũ"
chunk_size = 1000

[target]
url = "sqlite:///target.db"
conflict_policy = "keep"
# attachments = "DIR"  # store of the dossiers' scanned files; by default target-attachments/ beside target.db

[mapping]
rules = []          # province rule files for split communes (old_commune_code, keyword, new_commune_code)
decisions = []      # officials' decisions from the workbook's "Cần xem xét" sheet (source_system, dossier_code,
                    # new_commune_code); a changed mapping needs a new batch id: rows already loaded stay

[thresholds]
max_error_share = 0.2
due_soon_days = 5
handover_date = "2025-07-01"

[report]
dir = "reports"

[report.parties]    # printed on each handover record (biên bản bàn giao); what is left out is a blank to fill
place = "Lào Cai"
giving = {{ name = "Nguyễn Văn Hùng", position = "Chánh Văn phòng HĐND và UBND huyện" }}
receiving = {{ position = "Chủ tịch Ủy ban nhân dân" }}
communes = {{ "02905" = {{ name = "Lò Thị Hạnh", position = "Chủ tịch Ủy ban nhân dân xã Bảo Thắng" }} }}

[[sources]]
id = "bao-thang"
kind = "xlsx"
path = "exports/bao_thang_086.xlsx"
entity = "dossier"
header_row = 5
profile = "dossier-vi"          # maps the fee columns: Lệ phí (đồng), Số tiền đã thu, Ngày thu phí, …
old_province_code = "10"
old_district_code = "086"
attachments = {{ column = "Tệp đính kèm" }}   # scans of the dossiers filed online; not required

[sources.columns]
{toml_table(BT_COLUMNS)}

[[sources]]
id = "van-ban"
kind = "csv"
path = "exports/van_ban_089.csv"
entity = "dossier"
delimiter = ","
profile = "dossier-vi"          # maps the payment columns: Số tiền đã nộp, Ngày thanh toán, …
old_province_code = "10"
old_district_code = "089"
attachments = {{ folder = "{VB_SCANS}/{{dossier_code}}/", required = true }}   # every dossier's scanned slip

[sources.columns]
{toml_table(VB_COLUMNS)}

[[sources]]
id = "bao-thang-ho-tich"
kind = "sql"
url = "sqlite:///exports/district_system.db"
query = "{HT_QUERY}"
entity = "record"
profile = "record-vi"
old_province_code = "10"
old_district_code = "086"

[sources.columns]
{toml_table(HT_COLUMNS)}

[[sources]]
id = "bao-thang-ho-kinh-doanh"
kind = "sql"
url = "sqlite:///exports/district_system.db"
query = "{HKD_QUERY}"
entity = "record"
record_type = "business_household"
profile = "record-vi"
old_province_code = "10"
old_district_code = "086"

[sources.columns]
{toml_table(HKD_COLUMNS)}
"""
    path = out_dir / "batch.toml"
    path.write_text(text, encoding="utf-8")
    return path
