"""Micro-benchmark behind RESULTS.md item 2: ways to stream a styled handover list into an .xlsx.

    python benchmarks/micro_xlsx.py named|proto|plain|xlsxwriter [--rows 20000]

``named``: a ``WriteOnlyCell`` per value with a named style set per cell (the workbook's current pattern);
``proto``: the style array copied from one prototype cell; ``plain``: unstyled values; ``xlsxwriter``: XlsxWriter
in constant-memory mode with one format (needs ``pip install xlsxwriter``); ``rowxml``: the report's data-row
path (:class:`handover.reports.rowxml.RowSink`: XML text per row, spliced into the saved workbook). Prints CPU seconds
per cell.
Run with lxml importable to see openpyxl's lxml writer.
"""

from __future__ import annotations

import argparse
import copy
import resource
import tempfile
from pathlib import Path

ROW = [1, "000.00.40.H38-250630-0001", "Gia hạn giấy phép xây dựng đối với nhà ở riêng lẻ", "Ma Ngọc Trang",
       "010*********00", "09*******08", "2025-06-30", "2025-07-15", "Quá hạn", "Xã Sơn Hải"]  # fmt: skip


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(mode: str, rows: int, out: Path) -> str:
    if mode == "xlsxwriter":
        import xlsxwriter

        wb = xlsxwriter.Workbook(str(out), {"constant_memory": True, "strings_to_formulas": False,
                                            "strings_to_numbers": False, "strings_to_urls": False})  # fmt: skip
        fmt = wb.add_format({"border": 1, "text_wrap": True, "valign": "top", "font_name": "Times New Roman"})
        ws = wb.add_worksheet("x")
        for i in range(rows):
            ws.write_row(i, 0, ROW, fmt)
        wb.close()
        return mode
    from openpyxl import LXML, Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Border, Font, NamedStyle, Side

    wb = Workbook(write_only=True)
    style = NamedStyle(name="cell")
    thin = Side(style="thin")
    style.border = Border(left=thin, right=thin, top=thin, bottom=thin)
    style.alignment = Alignment(wrap_text=True, vertical="top")
    style.font = Font(name="Times New Roman", size=11)
    wb.add_named_style(style)
    ws = wb.create_sheet("x")
    proto = WriteOnlyCell(ws)
    proto.style = "cell"
    if mode == "rowxml":
        from handover.reports.rowxml import RowSink, save_workbook

        sink = RowSink(ws, [None] * len(ROW))
        for i in range(rows):
            sink.data_row(i + 1, ROW, None, "cell", "cell")
        sink.close()
        save_workbook(wb, out)
        return f"{mode} (lxml={LXML})"
    for _ in range(rows):
        if mode == "plain":
            ws.append(ROW)
            continue
        cells = []
        for value in ROW:
            cell = WriteOnlyCell(ws, value=value)
            if mode == "named":
                cell.style = "cell"
            else:
                cell._style = copy.copy(proto._style)
            cells.append(cell)
        ws.append(cells)
    wb.save(out)
    return f"{mode} (lxml={LXML})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "mode", choices=("named", "proto", "plain", "xlsxwriter", "rowxml"), help="writing pattern"
    )
    ap.add_argument("--rows", type=int, default=20_000, help="rows of 10 cells")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = _cpu()
        label = run(args.mode, args.rows, Path(tmp) / "out.xlsx")
        cpu = _cpu() - start
    print(f"{label}: {args.rows} rows, {cpu:.2f} s CPU, {cpu / args.rows / len(ROW) * 1e6:.1f} µs per cell")


if __name__ == "__main__":
    main()
