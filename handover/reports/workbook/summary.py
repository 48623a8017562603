"""The summary sheet (Tổng hợp): the batch, its rounds, the counts per unit line, the balance per source and in
total, and the receivers with their records."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from handover.models import DISPOSITIONS, Counts
from handover.reports.cells import text_cell, value_cell
from handover.reports.queries.batch import BatchInfo, Shared, ledger_tally, total
from handover.reports.queries.loaded import Commune, Department
from handover.reports.queries.rounds import Round, UnitRound
from handover.reports.workbook.labels import COUNT_KEYS, DISPOSITION_EN, DISPOSITION_VI
from handover.reports.workbook.parties import (
    RecordParties,
    local_time,
    round_record_number,
    unit_record_number,
)
from handover.reports.workbook.sheet import Sheet, Styles, code_name, column_letter, fmt_dt
from handover.target.counts import chunk_counts

SUMMARY_SHEET = "Tổng hợp"


def _balance_text(c: Counts) -> str:
    parts = " + ".join(str(getattr(c, d)) for d in DISPOSITIONS)
    verdict = "Cân đối ✔ (balanced)" if c.balanced() else "KHÔNG cân đối ✘ (NOT balanced)"
    return f"{c.extracted} = {parts}  →  {verdict}"


def summary_sheet(
    wb: Any,
    conn: Connection,
    info: BatchInfo,
    st: Styles,
    shared: Shared,
    rounds: Sequence[Round] = (),
    parties: RecordParties | None = None,
    *,
    receivers: tuple[list[Commune], list[Department]],
) -> None:
    """The summary sheet; ``receivers``: the batch's receiving communes and departments
    (:func:`~handover.reports.queries.loaded.receiving_communes`, ``receiving_departments``)."""
    sh = Sheet(wb, SUMMARY_SHEET, [10, 22, 10, 24, 10, 24, 13, 11, 11, 11, 13, 11], st)
    sh.merged("BÁO CÁO ĐỐI SOÁT CHUYỂN GIAO HỒ SƠ", st.title)
    sh.merged("Reconciliation of the handover batch (read back from the target database)", st.subtitle)
    sh.blank()
    sh.pair("Mã đợt (batch)", info.batch_id)
    sh.pair("Mô tả (description)", info.description)
    sh.pair("Trạng thái (status)", info.status)
    sh.pair("Bắt đầu (started)", fmt_dt(info.started_at))
    sh.pair("Kết thúc (finished)", fmt_dt(info.finished_at))
    sh.pair("Phiên bản công cụ (tool)", info.tool_version)
    sh.pair("Dấu vân tay tập đã chuyển (SHA-256)", info.fingerprint)
    sh.blank()
    if len(rounds) > 1:
        _rounds_table(sh, rounds)
        sh.blank()

    vi = ["Mã huyện cũ", "Huyện cũ", "Mã xã cũ", "Xã cũ", "Mã xã mới", "Xã mới"]
    en = [
        "Old district code",
        "Old district",
        "Old commune code",
        "Old commune",
        "New commune code",
        "New commune",
    ]
    sh.headers(vi + [DISPOSITION_VI[k] for k in COUNT_KEYS], en + [DISPOSITION_EN[k] for k in COUNT_KEYS])
    tally = shared.get(conn, ledger_tally, info.batch_id)
    totals = Counts()
    for line in tally.units:
        totals = totals.add(line.counts)
        sh.data(
            [
                line.old_district_code,
                line.old_district_name,
                line.old_commune_code,
                line.old_commune_name,
                line.new_commune_code,
                line.new_commune_name or ("(chưa xác định)" if not line.new_commune_code else None),
                *(getattr(line.counts, k) for k in COUNT_KEYS),
            ]
        )
    sh.data(
        ["Tổng cộng (total)", None, None, None, None, None, *(getattr(totals, k) for k in COUNT_KEYS)],
        [st.total] * (6 + len(COUNT_KEYS)),
    )
    sh.blank()

    sh.merged(
        "Kiểm tra cân đối (balance check): Tổng số trích xuất = Đã chuyển + Cần xem xét + Cách ly + "
        "Không còn xử lý + Trùng lặp",
        st.label,
    )
    n = sh.row(
        [
            text_cell(sh.ws, "Toàn đợt (sổ cái / ledger)", st.label),
            None,
            None,
            text_cell(sh.ws, _balance_text(totals), st.ok if totals.balanced() else st.bad),
        ],
        [sum(sh.widths[:3]), None, None, sum(sh.widths[3:])],
    )
    sh.ws.merged_cells.add(f"A{n}:C{n}")
    sh.ws.merged_cells.add(f"D{n}:{column_letter(sh.width)}{n}")
    sh.blank()
    ledger = tally.sources
    chunked = shared.get(conn, chunk_counts, info.batch_id)
    sh.headers(
        ["Nguồn", *(DISPOSITION_VI[k] for k in COUNT_KEYS), "Cân đối", "Khớp bảng chunks"],
        ["Source", *(DISPOSITION_EN[k] for k in COUNT_KEYS), "Balanced", "Equals chunks table"],
    )
    for source_id in sorted(set(ledger) | set(chunked)):
        c = ledger.get(source_id, Counts())
        same = chunked.get(source_id) == c
        sh.data(
            [
                source_id,
                *(getattr(c, k) for k in COUNT_KEYS),
                "✔" if c.balanced() else "✘",
                "✔" if same else "✘",
            ]
        )
    total_chunks = total(chunked)
    sh.data(
        [
            "Tổng cộng (total)",
            *(getattr(totals, k) for k in COUNT_KEYS),
            "✔" if totals.balanced() else "✘",
            "✔" if total_chunks == totals else "✘",
        ],
        [st.total] * (3 + len(COUNT_KEYS)),
    )
    sh.blank()
    _receivers_table(sh, parties or RecordParties(info.batch_id, None), receivers)
    sh.blank()
    sh.merged(
        "Số liệu được đếm lại từ cơ sở dữ liệu đích (bảng ledger: mỗi dòng nguồn đã trích xuất có đúng một dòng) "
        "và đối chiếu với bảng chunks. / Counts are recounted from the target database's ledger (one row per "
        "extracted source row) and compared with the chunks table.",
        st.note,
    )


RECEIVERS_HEADING = "Bên nhận và biên bản bàn giao (receivers and their handover records)"
RECEIVER_KIND_VI = {"commune": "Xã, phường", "department": "Sở, ngành tỉnh"}


def _receivers_table(
    sh: Sheet,
    parties: RecordParties,
    receivers: tuple[list[Commune], list[Department]],
) -> None:
    """Who receives how many: each receiving commune, then each provincial department (the dossiers routed to
    it), with its record's number and its record file (:mod:`handover.reports.records`); for a later round,
    what it newly hands over."""
    from handover.reports.records import record_file_name, records_dir

    st, batch_id = sh.st, parties.batch_id
    communes, departments = receivers
    folder = records_dir(batch_id, Path(".")).name
    sh.merged(RECEIVERS_HEADING, st.label)
    sh.merged(
        f"Mỗi bên nhận có một tệp biên bản riêng trong thư mục {folder}/ để in và ký; hồ sơ thuộc thủ tục do sở, "
        f"ngành tỉnh giải quyết được bàn giao cho sở, ngành đó, không ghi vào biên bản của xã. / Each receiver has "
        f"its own record file in {folder}/ to print and sign; dossiers routed to a provincial department are on "
        "that department's record, not on the commune's.",
        st.note,
    )
    sh.headers(
        ["Loại", "Bên nhận", "Mã", "Số biên bản", "Hồ sơ TTHC", "Hồ sơ, sổ sách", "Tệp biên bản"],
        ["Kind", "Receiver", "Code", "Record number", "Dossiers", "Records", "Record file"],
    )
    dossiers = records = 0
    for kind, receiver in chain((("commune", c) for c in communes), (("department", d) for d in departments)):
        dossiers += receiver.dossiers
        records += receiver.records
        sh.data(
            [
                RECEIVER_KIND_VI[kind],
                receiver.name or "(chưa xác định)",
                receiver.code,
                unit_record_number(parties, receiver.code),
                receiver.dossiers,
                receiver.records,
                record_file_name(receiver),
            ]
        )
    sh.data(["Cộng (total)", None, None, None, dossiers, records, None], [st.total] * 7)


ROUNDS_TITLE = "CÁC LẦN BÀN GIAO CỦA CÙNG NGUỒN DỮ LIỆU (BIÊN BẢN BÀN GIAO VÀ BIÊN BẢN BỔ SUNG)"
_ROUNDS_VI = (
    "Lần",
    "Mã đợt",
    "Kết thúc (giờ Việt Nam)",
    "Bên nhận (xã mới, sở ngành)",
    "Hồ sơ TTHC",
    "Hồ sơ, sổ sách",
    "Biên bản",
)
_ROUNDS_EN = (
    "Round",
    "Batch",
    "Finished (Vietnam time)",
    "Receiver (new commune, department)",
    "Dossiers",
    "Records",
    "Record",
)


def round_label(unit: UnitRound) -> str:
    """What a batch's record to a unit is: the handover record, or its k-th supplement."""
    return "Bàn giao" if unit.round < 2 else f"Bổ sung lần {unit.round - 1}"


def _rounds_table(sh: Sheet, rounds: Sequence[Round]) -> None:
    """The rounds of the batch's sources up to it (:func:`~handover.reports.queries.rounds.handover_rounds`): per
    round and receiving unit what it newly handed over and the record's number; a total per round."""
    st = sh.st
    sh.merged(ROUNDS_TITLE, st.label)
    sh.merged(
        "Mỗi lần chạy sau (sau quyết định của cán bộ, hoặc dữ liệu nguồn xuất lại) chỉ bàn giao các hồ sơ chưa "
        "bàn giao: xã đã nhận biên bản lần trước nhận biên bản bổ sung, số tiếp theo số biên bản đầu tiên. / "
        "Each later round hands over only what is new; a unit that signed an earlier record gets a "
        "supplementary one, numbered after the first.",
        st.note,
    )
    number_at = len(_ROUNDS_VI) + 1  # the record's number: over the columns left
    widths = [*sh.widths[: number_at - 1], sum(sh.widths[number_at - 1 :])]
    for texts, style in (((*_ROUNDS_VI, "Số biên bản"), st.header), ((*_ROUNDS_EN, "Number"), st.header_en)):
        n = sh.row([text_cell(sh.ws, t, style) for t in texts], widths)
        sh.ws.merged_cells.add(f"{column_letter(number_at)}{n}:{column_letter(sh.width)}{n}")

    def line(values: Sequence[Any], number: str | None, style: str | None = None) -> None:
        cells = [
            value_cell(sh.ws, v, style or (st.number if isinstance(v, int) else st.cell)) for v in values
        ] + [text_cell(sh.ws, number, style or st.cell)]
        n = sh.row(cells, widths)
        sh.ws.merged_cells.add(f"{column_letter(number_at)}{n}:{column_letter(sh.width)}{n}")

    for i, rnd in enumerate(rounds, 1):
        finished = fmt_dt(local_time(rnd.finished_at)) or rnd.status
        for unit in rnd.units:
            commune = code_name(unit.code, unit.name) or "(chưa xác định)"
            line(
                [i, rnd.batch_id, finished, commune, unit.dossiers, unit.records, round_label(unit)],
                round_record_number(unit),
            )
        total = (
            f"Cộng lần {i}: {len(rnd.units)} biên bản"
            if rnd.units
            else "Không có hồ sơ mới: không lập biên bản"
        )
        line([i, rnd.batch_id, finished, total, rnd.dossiers, rnd.records, None], None, st.total)
