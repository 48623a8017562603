"""The handover records (BIÊN BẢN BÀN GIAO): one printable sheet per receiving commune or provincial department,
its heading and parties, the numbered dossiers (section I) and records (section II), totals and signatures;
continuation sheets beyond Excel's row limit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine

from handover.reports.cells import safe_text, text_cell
from handover.reports.queries.loaded import Commune, Department
from handover.reports.queries.streams import CommuneRows, DepartmentRows, commune_streams
from handover.reports.workbook.labels import COMMUNE_VI, DUE_VI, RECORD_TYPE_VI
from handover.reports.workbook.parties import (
    RecordParties,
    record_title,
    supplement_lines,
    unit_record_number,
)
from handover.reports.workbook.sheet import RecordSheet, Styles, column_letter, sheet_title
from handover.text import mask_id

SIGN_GIVE = "ĐẠI DIỆN BÊN GIAO"
SIGN_RECEIVE = "ĐẠI DIỆN BÊN NHẬN"
SIGN_NOTE = "(Ký, ghi rõ họ tên, đóng dấu)"
MAX_SHEET_ROWS = 1_048_576  # Excel's limit: a commune with more rows goes on in continuation sheets
_FOOTER_ROWS = 20  # rows a commune sheet needs after its last data row (totals, notes, signatures)
COMMUNE_WIDTHS = [6, 26, 31, 24, 15, 14, 12, 12, 14, 17, 18]
BLANK_FILL = "……………………"  # a blank to fill by hand
_TOP_ROWS = 13  # rows of a commune sheet above its first section line (heading, parties, column header)
# free space under the signature captions, in points of the sheet: 200 pt print as at least 4 cm (113 pt) at
# the smallest print scale (61%: :data:`~handover.reports.workbook.sheet.PAGE_POINTS`)
SIGN_SPACE_POINTS = 200.0


def handed_over_text(dossiers: int, records: int) -> str:
    """What a record hands over, in its opening sentence: the dossiers and the registration records, leaving
    out a kind the receiver gets none of (a provincial department receives dossiers only)."""
    parts = [f"{dossiers} hồ sơ thủ tục hành chính đang giải quyết"] if dossiers or not records else []
    if records:
        parts.append(f"{records} hồ sơ, sổ sách đăng ký")
    return " và ".join(parts)


class _Tally:
    """What a commune's footer counts: dossiers by due state, by status and by payment state (with the sums
    paid and still due, :mod:`handover.fees`), records by status."""

    __slots__ = ("dossier_status", "dossiers", "due", "fee_counts", "fee_sums", "record_status", "records")

    def __init__(self) -> None:
        self.dossiers = self.records = 0
        self.due: dict[str, int] = {}
        self.dossier_status: dict[str, int] = {}
        self.record_status: dict[str, int] = {}
        self.fee_counts: dict[str, int] = {}  # PaymentState value → dossiers
        self.fee_sums: dict[str, float] = {"paid": 0.0, "unpaid": 0.0}  # amounts paid; amounts due, unpaid

    @property
    def overdue(self) -> int:
        return self.due.get("overdue", 0)

    @property
    def due_soon(self) -> int:
        return self.due.get("due_soon", 0)


SECTION_DOSSIERS = "I. HỒ SƠ THỦ TỤC HÀNH CHÍNH ĐANG GIẢI QUYẾT"
SECTION_RECORDS = "II. HỒ SƠ, SỔ SÁCH ĐĂNG KÝ"
NO_STATUS_VI = "Không ghi trạng thái"


def _status_label(status: Any) -> str:
    """The status a record's totals count a row under."""
    return (safe_text(status) or "").strip() or NO_STATUS_VI


def _fill(text: str) -> str:
    return text or BLANK_FILL


def _local_date(when: datetime | None, place: str) -> str:
    """ "Lào Cai, ngày 06 tháng 12 năm 2026" (blanks for what is not known)."""
    where = place or BLANK_FILL
    if when is None:
        return f"{where}, ngày …… tháng …… năm ……"
    return f"{where}, ngày {when:%d} tháng {when:%m} năm {when:%Y}"


def _commune_top(sh: RecordSheet, commune: Commune, parties: RecordParties) -> str:
    """The handover record's heading, parties and column header (:data:`_TOP_ROWS` rows) → the print title
    rows."""
    st, half = sh.st, sh.width // 2
    sh.merged("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", st.nation)
    sh.merged("Độc lập - Tự do - Hạnh phúc", st.motto)
    halves = [sum(sh.widths[:half])] + [None] * (half - 1) + [sum(sh.widths[half:])]
    n = sh.row(
        [text_cell(sh.ws, f"Số: {unit_record_number(parties, commune.code)}", st.text)]
        + [None] * (half - 1)
        + [text_cell(sh.ws, _local_date(parties.when, parties.place), st.sign_note)],
        halves,
    )
    sh.ws.merged_cells.add(f"A{n}:{column_letter(half)}{n}")
    sh.ws.merged_cells.add(f"{column_letter(half + 1)}{n}:{column_letter(sh.width)}{n}")
    sh.blank()
    sh.merged(record_title(parties, commune.code), st.title)
    when = (
        f"lúc {parties.when:%H:%M} ngày {parties.when:%d/%m/%Y} (giờ Việt Nam)"
        if parties.when is not None
        else "(chưa ghi thời điểm)"
    )
    supplement = supplement_lines(parties, commune.code)
    sh.merged(
        (f"{supplement[0]}\n" if supplement else "")
        + f"Dữ liệu của đợt chuyển giao {parties.batch_id}, chuyển {when}",
        st.subtitle,
    )
    giving = ", ".join(commune.old_districts) or "(không rõ)"
    sh.merged(f"BÊN GIAO: {giving} (đơn vị hành chính cấp huyện cũ)", st.label)
    name, position = parties.giving
    sh.merged(f"Đại diện: Ông/Bà {_fill(name)}     Chức vụ: {_fill(position)}")
    sh.merged(f"BÊN NHẬN: {_receiving(commune)}", st.label)
    name, position = parties.receiver(commune.code)
    sh.merged(f"Đại diện: Ông/Bà {_fill(name)}     Chức vụ: {_fill(position)}")
    sh.merged(
        f"Hai bên thống nhất bàn giao{' bổ sung' if supplement else ''} {handed_over_text(commune.dossiers, commune.records)} "
        "theo danh sách dưới đây:",
    )
    sh.blank()
    header = sh.row(text_cell(sh.ws, h, st.header) for h in COMMUNE_VI)
    sh.pager.title = _header_points(sh)
    return f"{header}:{header}"


def _header_points(sh: RecordSheet) -> float:
    """Height of the column header row (the print title row repeated on every page)."""
    from openpyxl.cell import WriteOnlyCell

    cells = [WriteOnlyCell(sh.ws, h) for h in COMMUNE_VI]
    for cell in cells:
        cell.style = sh.st.header
    return sh._points(cells, sh.widths)


def _receiving(commune: Commune | Department) -> str:
    if isinstance(commune, Department):
        return commune.name
    return f"{commune.name or '(chưa xác định)'} (mã {commune.code or '?'})"


_FEE_TEXTS = 4_096  # distinct fee fields a commune's dossier rows remember at a time


def _dossier_lines(
    rows: Iterable[Sequence[Any]], st: Styles, tally: _Tally
) -> Iterator[tuple[list[Any], list[str | None]]]:
    """The data rows (values, styles) of a commune's dossiers, rows ``(new_commune_code, *DOSSIER_FIELDS)``.
    The payment state and fee text of a row are worked out once per distinct fee fields (they repeat: the
    same fees, most dossiers without a payment) and remembered, :data:`_FEE_TEXTS` at a time."""
    from handover.fees import PaymentState, is_paid, payment_state, state_text

    cell = st.cell
    plain = [None, None, None, None, None, None, cell, cell, None, None, None]
    styled = {
        "overdue": [None, None, None, None, None, None, cell, st.overdue, st.overdue, None, None],
        "due_soon": [None, None, None, None, None, None, cell, st.due_soon, st.due_soon, None, None],
    }
    due, statuses = tally.due, tally.dossier_status
    fee_counts, fee_sums = tally.fee_counts, tally.fee_sums
    labels: dict[Any, str] = {}  # status → its label (statuses repeat)
    # fee fields → (payment state, paid in full or in part, the cell's text)
    fee_texts: dict[tuple[Any, ...], tuple[PaymentState, bool, str | None]] = {}
    unpaid = PaymentState.UNPAID
    for (
        _code,
        _source,
        dossier_code,
        procedure_code,
        procedure_name,
        applicant_name,
        applicant_id,
        phone,
        received_date,
        due_date,
        flag,
        status,
        handling_level,
        handling_agency,
        fee,
        amount_paid,
        payment_date,
        payment_channel,
        receipt_number,
        _district,
        old_commune_name,
    ) in rows:
        tally.dossiers += 1
        state = flag or "no_date"
        due[state] = due.get(state, 0) + 1
        fee_key = (fee, amount_paid, payment_date, receipt_number, payment_channel)
        found = fee_texts.get(fee_key)
        if found is None:
            paying = payment_state(fee, amount_paid, payment_date, receipt_number)
            text = state_text(fee, amount_paid, payment_date, receipt_number, payment_channel, state=paying)
            if len(fee_texts) >= _FEE_TEXTS:
                fee_texts.clear()
            found = fee_texts[fee_key] = (paying, is_paid(paying), text or None)
        paying, paid, fee_text = found
        fee_counts[paying] = fee_counts.get(paying, 0) + 1
        if paid:
            fee_sums["paid"] += float(amount_paid or 0)
        elif paying is unpaid:
            fee_sums["unpaid"] += float(fee)
        label = labels.get(status)
        if label is None:
            label = labels[status] = _status_label(status)
        statuses[label] = statuses.get(label, 0) + 1
        procedure = procedure_name or procedure_code
        if handling_agency and handling_level not in (None, "", "commune_pc"):
            procedure = f"{procedure or ''}\n(Cơ quan giải quyết: {handling_agency})"
        yield (
            [
                tally.dossiers,
                dossier_code,
                procedure,
                applicant_name,
                mask_id(applicant_id),
                mask_id(phone),
                received_date,
                due_date,
                DUE_VI.get(flag or "", flag),
                fee_text,
                old_commune_name,
            ],
            styled.get(flag, plain),  # type: ignore[arg-type]
        )


def _record_lines(
    rows: Iterable[Sequence[Any]], st: Styles, tally: _Tally
) -> Iterator[tuple[list[Any], list[str | None]]]:
    """The data rows (values, styles) of a commune's records, rows ``(new_commune_code, *RECORD_FIELDS)``."""
    cell = st.cell
    plain: list[str | None] = [None, None, None, None, None, None, cell, cell, None, None, None]
    statuses = tally.record_status
    labels: dict[Any, str] = {}  # status → its label (statuses repeat)
    for (
        _code,
        _source,
        record_type,
        record_number,
        registered_date,
        subject_name,
        subject_id,
        business_name,
        status_raw,
        _district,
        old_commune_name,
    ) in rows:
        tally.records += 1
        label = labels.get(status_raw)
        if label is None:
            label = labels[status_raw] = _status_label(status_raw)
        statuses[label] = statuses.get(label, 0) + 1
        kind = RECORD_TYPE_VI.get(record_type, record_type)
        if business_name:
            kind = f"{kind}: {business_name}"
        yield (
            [
                tally.records,
                record_number,
                kind,
                subject_name,
                mask_id(subject_id),
                None,
                registered_date,
                None,
                status_raw,
                None,
                old_commune_name,
            ],
            plain,
        )


def _counts_text(counts: dict[str, int]) -> str:
    return "; ".join(f"{label}: {n}" for label, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def fee_totals_line(tally: _Tally) -> str:
    """The record's fee line: dossiers paid (in full or in part) and the sum paid, unpaid and the sum still
    due, free, and without a fee (:func:`handover.fees.payment_state`)."""
    from handover.fees import PaymentState, vnd

    n = tally.fee_counts.get
    paid = n(PaymentState.PAID, 0) + n(PaymentState.PARTLY_PAID, 0)
    text = f"- Phí, lệ phí: đã nộp {paid} hồ sơ, số tiền đã nộp {vnd(tally.fee_sums['paid'])}"
    if n(PaymentState.PARTLY_PAID, 0):
        text += f" (trong đó nộp một phần: {n(PaymentState.PARTLY_PAID)})"
    text += (
        f"; chưa ghi nhận nộp {n(PaymentState.UNPAID, 0)} hồ sơ, số tiền phải nộp {vnd(tally.fee_sums['unpaid'])}"
        f"; miễn phí {n(PaymentState.FREE, 0)} hồ sơ; không ghi phí {n(PaymentState.NONE, 0)} hồ sơ."
    )
    return text


def totals_lines(tally: _Tally) -> list[str]:
    """The record's totals: dossiers by due state, by status and by payment state, records by status."""
    lines = [
        f"Cộng: {tally.dossiers} hồ sơ thủ tục hành chính đang giải quyết; {tally.records} hồ sơ, sổ sách "
        "đăng ký."
    ]
    if tally.dossiers:
        due = "; ".join(f"{DUE_VI[k]}: {tally.due.get(k, 0)}" for k in DUE_VI)
        lines.append(f"- Hồ sơ thủ tục hành chính theo tình trạng hạn: {due}.")
        lines.append(f"- Hồ sơ thủ tục hành chính theo trạng thái: {_counts_text(tally.dossier_status)}.")
        lines.append(fee_totals_line(tally))
    if tally.records:
        lines.append(f"- Hồ sơ, sổ sách đăng ký theo trạng thái: {_counts_text(tally.record_status)}.")
    return lines


def _commune_bottom(sh: RecordSheet, tally: _Tally, commune: Commune, parties: RecordParties) -> None:
    """Totals, notes and the signature blocks of both sides, kept on one printed page, with room to sign."""
    st, half = sh.st, sh.width // 2
    sh.blank()
    sh.pager.hold()  # from the totals to the names: one page
    lines = totals_lines(tally)
    sh.merged(lines[0], st.label)
    for line in lines[1:]:
        sh.merged(line)
    sh.merged(
        "Hồ sơ quá hạn / sắp đến hạn được tô màu: bên nhận cần xử lý ngay hoặc gửi phiếu xin lỗi và hẹn lại. "
        "Số định danh và số điện thoại được che một phần (Nghị định 13/2023/NĐ-CP).",
        st.note,
    )
    supplement = supplement_lines(parties, commune.code)
    if supplement:
        sh.merged(supplement[1], st.note)
    sh.merged("Biên bản được lập thành 02 bản có giá trị như nhau, mỗi bên giữ 01 bản.", st.note)
    sh.blank()
    halves = [sum(sh.widths[:half])] + [None] * (half - 1) + [sum(sh.widths[half:])]
    giving, receiving = parties.giving, parties.receiver(commune.code)
    rows = []
    for left, right, style in (
        (SIGN_GIVE, SIGN_RECEIVE, st.sign),
        (giving[1], receiving[1], st.sign),  # positions (empty: written by hand)
        (SIGN_NOTE, SIGN_NOTE, st.sign_note),
    ):
        if not (left or right):
            continue
        rows.append(
            sh.row(
                [text_cell(sh.ws, left or None, style)]
                + [None] * (half - 1)
                + [text_cell(sh.ws, right or None, style)],
                halves,
            )
        )
    sh.spacer(SIGN_SPACE_POINTS)  # room to sign and stamp
    rows.append(
        sh.row(
            [text_cell(sh.ws, giving[0] or None, st.sign)]
            + [None] * (half - 1)
            + [text_cell(sh.ws, receiving[0] or None, st.sign)],
            halves,
        )
    )
    for r in rows:
        sh.ws.merged_cells.add(f"A{r}:{column_letter(half)}{r}")
        sh.ws.merged_cells.add(f"{column_letter(half + 1)}{r}:{column_letter(sh.width)}{r}")
    sh.pager.release()
    sh.finish()


class ReceiverSheets(NamedTuple):
    """A receiver's record as rendered into a workbook: its sheet and continuation sheets, by name."""

    receiver: Commune | Department
    kind: str  # "commune" or "department"
    sheets: tuple[str, ...]


def record_sheet(
    wb: Any,
    dossier_rows: CommuneRows,
    record_rows: CommuneRows,
    parties: RecordParties,
    commune: Commune,
    title: str,
    st: Styles,
    used: set[str],
) -> tuple[str, ...]:
    """Render ``commune``'s record into ``wb`` as sheet ``title`` (continuation sheets named through ``used``);
    returns the names of the sheets written."""
    sh = RecordSheet(wb, title, COMMUNE_WIDTHS, st)
    titles = [title]
    limit = MAX_SHEET_ROWS - _FOOTER_ROWS
    title_rows = _commune_top(sh, commune, parties)
    part = 1

    def more() -> RecordSheet:
        """The sheet is full (Excel's row limit): carry on in a continuation sheet with the same header."""
        nonlocal part
        part += 1
        name = sheet_title(f"{commune.name or 'Chưa rõ xã'} ({part})", commune.code, used)
        sh.merged(f"(Danh sách tiếp tục ở trang tính “{name}”)", st.note)
        if part == 2:  # the first sheet (continuation sheets have theirs already)
            sh.ws.print_title_rows = title_rows
        sh.finish()
        nxt = RecordSheet(wb, name, COMMUNE_WIDTHS, st)
        titles.append(name)
        nxt.merged(f"{record_title(parties, commune.code)} (tiếp theo)", st.title)
        nxt.merged(
            f"Số: {unit_record_number(parties, commune.code)}; bên nhận: {_receiving(commune)}", st.label
        )
        n = nxt.row(text_cell(nxt.ws, h, st.header) for h in COMMUNE_VI)
        nxt.pager.title = _header_points(nxt)
        nxt.ws.print_title_rows = f"{n}:{n}"
        return nxt

    def section(heading: str, lines: Iterable[tuple[list[Any], list[str | None]]]) -> None:
        nonlocal sh
        if sh.row_no >= limit:
            sh = more()
        sh.merged(heading, st.section)
        data = sh.data
        for values, styles in lines:
            if sh.row_no >= limit:
                sh = more()
                data = sh.data
            data(values, styles)

    tally = _Tally()
    if commune.dossiers:
        section(SECTION_DOSSIERS, _dossier_lines(dossier_rows.rows(commune.code), st, tally))
    if commune.records:
        section(SECTION_RECORDS, _record_lines(record_rows.rows(commune.code), st, tally))
    _commune_bottom(sh, tally, commune, parties)
    if part == 1:
        sh.ws.print_title_rows = title_rows
    return tuple(titles)


def commune_sheets(
    wb: Any,
    engine: Engine,
    conn: Connection,
    parties: RecordParties,
    st: Styles,
    used: set[str],
    communes: list[Commune],
) -> list[ReceiverSheets]:
    """The commune sheets (handover records): what each commune receives, without the dossiers routed to a
    department (:func:`department_sheets`). ``communes``: :func:`receiving_communes`."""
    batch_id, new_only = parties.batch_id, parties.new_only
    done: list[ReceiverSheets] = []
    with commune_streams(engine, conn, batch_id, communes, new_only=new_only) as (
        dossier_rows,
        record_rows,
    ):
        for commune in communes:
            title = receiver_title(commune, used)
            names = record_sheet(wb, dossier_rows, record_rows, parties, commune, title, st, used)
            done.append(ReceiverSheets(commune, "commune", names))
    return done


def department_sheets(
    wb: Any,
    conn: Connection,
    parties: RecordParties,
    st: Styles,
    used: set[str],
    departments: list[Department],
) -> list[ReceiverSheets]:
    """A handover record sheet for each provincial department receiving routed dossiers (named from its name
    and its new province's code). ``departments``: :func:`receiving_departments`."""
    rows = DepartmentRows(conn, parties.batch_id, departments, new_only=parties.new_only)
    done: list[ReceiverSheets] = []
    try:
        for dept in departments:
            title = receiver_title(dept, used)
            names = record_sheet(wb, rows, rows, parties, dept, title, st, used)  # type: ignore[arg-type]
            done.append(ReceiverSheets(dept, "department", names))
    finally:
        rows.close()
    return done


def receiver_title(receiver: Commune | Department, used: set[str]) -> str:
    """The name of a receiver's record sheet (:func:`sheet_title` of the commune's name and code, of the
    department's name and its new province's code), added to ``used``."""
    if isinstance(receiver, Department):
        return sheet_title(receiver.agency, receiver.province_code, used)
    return sheet_title(receiver.name, receiver.code, used)
