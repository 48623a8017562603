"""The commented example batch configuration ``handover init`` writes (:data:`EXAMPLE_TOML`); it loads with
:func:`handover.config.load_config` once its sources exist."""

EXAMPLE_TOML = """\
# handover batch configuration. Paths are relative to this file.
# Reference: README.md, section "Configuration".

[batch]
id = "lao-cai-086-2025-07"          # the key for resume and rollback: letters, digits, - _ .
description = "Huyện Bảo Thắng: hồ sơ đang giải quyết"
chunk_size = 20000                   # rows per chunk; memory stays flat whatever the input size

[target]
url = "sqlite:///target.db"          # or postgresql+psycopg://user@127.0.0.1/handover, mysql+pymysql://...
conflict_policy = "keep"             # a loaded key whose content changed: keep | update (history kept)
# attachments = "attachments"        # store for the sources' scanned files; default beside a SQLite target: target-attachments

[mapping]
rules = []                           # province rule files for split communes, e.g. ["rules/lao-cai.csv"]
decisions = []                       # per-row decisions made by officials, e.g. ["decisions.csv"]
# procedures = "procedures.csv"      # routing table; default: the one shipped in mappings/
# dir = "mappings"                   # the province's own copy (handover mappings export mappings); default: shipped
statuses = []                        # the district system's own status texts, e.g. ["statuses.csv"] (raw,code,pending,note)

[checks]
# population = "dan-cu.csv"          # population extract (ID, name, birth date) to match applicants against

[thresholds]
max_error_share = 0.2                # stop before loading when more rows than this share have an error
due_soon_days = 5                    # working days after handover_date that count as "due soon"
days_off = []                        # the province's own days off besides public holidays, e.g. ["2025-07-15"]
handover_date = "2025-07-01"

[report]
dir = "reports"

[report.parties]                     # printed on each handover record; left out: blanks to fill by hand
place = "Lào Cai"                    # "Lào Cai, ngày ... tháng ... năm ..."
giving = { name = "", position = "" }            # the old district's representative
receiving = { name = "", position = "Chủ tịch Ủy ban nhân dân" }  # every commune's, unless listed below
# communes = { "02905" = { name = "Nguyễn Văn A", position = "Chủ tịch Ủy ban nhân dân xã" } }
# departments = { "Sở Công Thương" = { name = "Trần Văn B", position = "Giám đốc Sở" } }  # routed dossiers' records

[[sources]]
id = "bao-thang"                     # stored as source_system on every row
kind = "xlsx"                        # csv | xlsx | xls | sql
path = "exports/bao_thang.xlsx"
entity = "dossier"                   # dossier | record
# sheet = "Hồ sơ"                    # default: the first visible sheet
# header_row = 4                     # default: detected
profile = "dossier-vi"               # header variants in mappings/profiles/dossier-vi.toml
old_province_code = "10"             # legacy codes the rows default to
old_district_code = "086"
# attachments = { column = "Tệp đính kèm", required = true }  # the dossiers' scanned files (README: Scanned attachments)
# attachments = { folder = "scans/{dossier_code}/" }          # or a folder per dossier; required = false | true | n

# [sources.columns]                  # source header → field; wins over the profile
# "Số biên nhận" = "dossier_code"

# [[sources]]
# id = "van-ban"
# kind = "csv"
# path = "exports/van_ban.csv"
# encoding = "utf-8"                 # omit to detect (utf-8, utf-16, cp1258, tcvn3, vni)
# delimiter = ","
# multiline_fields = true           # values may span many lines; omit to refuse a quote left open

# [[sources]]
# id = "district-system"
# kind = "sql"
# url = "sqlite:///district.db"
# table = "ho_so"                    # or query = "SELECT ..."
# row_id = "id"                      # the rows' identity (default: the table's integer primary key)
# base_table = "ho_so"               # with a query: the balance starts at this table's count (a JOIN's losses show)
"""
