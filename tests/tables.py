"""Reading back what rich printed: the text of each table column, with folded values whole again."""

from __future__ import annotations


def column_texts(out: str) -> list[str]:
    """Each column of the (first) table body in ``out``, its cells' text joined line after line without
    whitespace: a value folded over several lines reads whole."""
    body = [line.split("│")[1:-1] for line in out.splitlines() if line.startswith("│")]
    return ["".join("".join(cells[i].split()) for cells in body) for i in range(len(body[0]))]
