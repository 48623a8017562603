"""Reading back what rich printed: the text of each table column, and where a row begins."""

from __future__ import annotations

import re


def column_texts(out: str) -> list[str]:
    """Each column of the (first) table body in ``out``, its cells' text joined line after line without
    whitespace: a value folded over several lines reads whole."""
    body = [line.split("│")[1:-1] for line in out.splitlines() if line.startswith("│")]
    return ["".join("".join(cells[i].split()) for cells in body) for i in range(len(body[0]))]


def find_row(out: str, head: str, start: int = 0) -> re.Match[str] | None:
    """Where ``head`` stands whole as a row's first cell, from ``start``: a table row (``│ head  │``), or the
    heading line of a block (what ``cli._print_rows`` prints when the table would not fit)."""
    return re.compile(rf"(?m)^(?:│ )?{re.escape(head)}(?: +│|$)").search(out, start)
