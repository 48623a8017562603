"""Natural keys: the canonical form of a key value, and a row's natural key.

A row is known by its natural key within its source system: the dossier code, or the record type and record
number joined by ``/`` (:data:`KEY_SEPARATOR`; :func:`natural_key`, :func:`natural_key_list`, :func:`natural_keys`).
A row lacking any part of it (``None`` or empty) has no key. A record key's parts are split again at its first ``/``
(:func:`key_parts`): a record type holds none. The same key in SQL, built by the database from a table's columns,
and the join of rows by key, are in :mod:`handover.keys_sql`.

Key values are compared in their canonical form (:func:`canonical_key`), so that codes that look the same are
the same key:

* characters that show nothing are removed: format characters (Unicode category Cf: zero-width space and
  joiners U+200B–U+200F, bidi embeddings and overrides U+202A–U+202E and isolates U+2066–U+2069, word joiner and
  invisible operators U+2060–U+2064, byte-order mark U+FEFF, soft hyphen U+00AD, …), the combining grapheme
  joiner U+034F, variation selectors U+FE00–U+FE0F and the Hangul fillers;
* look-alike dashes (U+2010–U+2015, U+2043, U+2212, U+FE58, U+FE63, U+FF0D) become ``-``;
* full-width ASCII (U+FF01–U+FF5E) becomes ASCII (what NFKC does to that block alone: other letters keep their
  form, so Vietnamese text is untouched);
* the result is NFC, trimmed, each run of white space (no-break spaces too) one space.

The extract stage applies it to the key fields (:data:`KEY_FIELDS`) as the cells enter the pipeline, with a
warning ``key_invisible_chars`` for each changed cell (:func:`canonical_key_column`): every later stage sees the
canonical key, so look-alikes collide and the duplicate and conflict checks see them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from handover.models import Entity, Finding, Severity, natural_key_fields

if TYPE_CHECKING:
    import pandas as pd

KEY_CHECK = "key_invisible_chars"
KEY_SEPARATOR = "/"  # between the parts of a record's key: record_type/record_number

KEY_FIELDS: frozenset[str] = frozenset(
    {*natural_key_fields(Entity.DOSSIER), *natural_key_fields(Entity.RECORD)}
)

_FIELD_NAMES = {
    "dossier_code": ("Mã hồ sơ", "Dossier code"),
    "record_type": ("Loại sổ", "Record type"),
    "record_number": ("Số đăng ký", "Record number"),
}

_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\ufe58\ufe63\uff0d")
# Invisible characters outside category Cf: combining grapheme joiner, Hangul fillers, variation selectors.
_INVISIBLE = frozenset("\u034f\u115f\u1160\u3164\uffa0" + "".join(map(chr, range(0xFE00, 0xFE10))))


@lru_cache(maxsize=4096)
def _kind(ch: str) -> str:
    """How a non-ASCII character changes in a key: "removed", "dash", "width", "space" or "" (kept)."""
    if ch in _INVISIBLE or unicodedata.category(ch) == "Cf":
        return "removed"
    if ch in _DASHES:
        return "dash"
    if "\uff01" <= ch <= "\uff5e":
        return "width"
    if ch.isspace():
        return "space"
    return ""


def _replacement(ch: str, kind: str) -> str:
    if kind == "removed":
        return ""
    if kind == "dash":
        return "-"
    if kind == "width":
        return chr(ord(ch) - 0xFEE0)
    return " "


_TABLE_LIMIT = 20_000


class _Table(dict[int, str | int]):
    """``str.translate`` table of :func:`canonical_key`, filled per character on first sight (up to
    :data:`_TABLE_LIMIT` characters; past that the others are looked up each time)."""

    def __init__(self, shown: bool = False) -> None:
        super().__init__()
        self.shown = shown  # True: changed characters as their code points ("<U+200B>"), for messages

    def __missing__(self, point: int) -> str | int:
        ch = chr(point)
        kind = _kind(ch) if point >= 0x80 else ""
        if self.shown:
            out: str | int = f"<U+{point:04X}>" if kind or point < 0x20 or point == 0x7F else point
        else:
            out = _replacement(ch, kind) if kind else point
        if len(self) < _TABLE_LIMIT:
            self[point] = out
        return out


_CANONICAL = _Table()
_ASCII_SPACES = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"  # what str.split() splits ASCII text on
_SHOWN = _Table(shown=True)


def canonical_key(value: str | None) -> str | None:
    """The canonical form of one key value (see the module docstring); ``None`` or blank → ``None``."""
    if value is None:
        return None
    if value.isascii():
        return " ".join(value.split()) or None
    text = unicodedata.normalize("NFC", value.translate(_CANONICAL))
    return " ".join(text.split()) or None


@dataclass(frozen=True)
class KeyChange:
    """What :func:`canonical_key` changed in one value."""

    original: str
    key: str | None
    removed: tuple[str, ...]  # code points ("U+200B"), in order of first appearance
    dashes: tuple[str, ...]
    widths: tuple[str, ...]
    spaces: tuple[str, ...]

    @property
    def shown(self) -> str:
        """The original value with every changed character (and control character) written as its code point:
        ``AB<U+200B>C``."""
        return self.original.translate(_SHOWN)


def key_change(value: str) -> KeyChange:
    """The canonical key of ``value`` and the characters that differ, by kind."""
    found: dict[str, dict[str, None]] = {"removed": {}, "dash": {}, "width": {}, "space": {}}
    for ch in value:
        kind = _kind(ch) if ch >= "\x80" else "space" if ch in _ASCII_SPACES[1:] else ""
        if kind:
            found[kind][f"U+{ord(ch):04X}"] = None
    return KeyChange(
        original=value,
        key=canonical_key(value),
        removed=tuple(found["removed"]),
        dashes=tuple(found["dash"]),
        widths=tuple(found["width"]),
        spaces=tuple(found["space"]),
    )


def key_finding(
    change: KeyChange, source_id: str, row: int | None, field: str, key: str | None = None
) -> Finding:
    """The ``key_invisible_chars`` warning for one changed key cell (``key``: the row's key, if not this one)."""
    vi_parts, en_parts = [], []
    if change.removed:
        codes = ", ".join(change.removed)
        vi_parts.append(f"đã bỏ ký tự ẩn/định dạng {codes}")
        en_parts.append(f"removed invisible/format characters {codes}")
    if change.dashes:
        codes = ", ".join(change.dashes)
        vi_parts.append(f"đã thay dấu gạch giống {codes} bằng '-'")
        en_parts.append(f"replaced look-alike dashes {codes} with '-'")
    if change.widths:
        codes = ", ".join(change.widths)
        vi_parts.append(f"đã đổi ký tự toàn độ rộng {codes} sang ASCII")
        en_parts.append(f"converted full-width characters {codes} to ASCII")
    if change.spaces:
        codes = ", ".join(change.spaces)
        vi_parts.append(f"đã thay khoảng trắng đặc biệt {codes} bằng dấu cách")
        en_parts.append(f"replaced special spaces {codes} with a space")
    if not vi_parts:
        vi_parts.append("đã bỏ khoảng trắng thừa")
        en_parts.append("removed extra white space")
    name_vi, name_en = _FIELD_NAMES.get(field, (field, field))
    canonical, shown = change.key or "", change.shown
    return Finding(
        source_id=source_id,
        row=row,
        key=key if key is not None else change.key,
        field=field,
        check=KEY_CHECK,
        severity=Severity.WARNING,
        message_vi=f"{name_vi} «{shown}» chứa ký tự ẩn hoặc ký tự trông giống: "
        f"{'; '.join(vi_parts)}; dùng «{canonical}».",
        message_en=f"{name_en} '{shown}' holds invisible or look-alike characters: "
        f"{'; '.join(en_parts)}; using '{canonical}'.",
    )


def canonical_key_column(
    values: Any,
    field: str,
    rows: Sequence[int],
    keys: Sequence[Any],
    source_id: str,
    findings: list[Finding],
) -> Any:
    """A key field's cleaned cells (``str`` or ``None``) in canonical form, one finding per changed cell.

    ``keys`` are the row keys the findings name (the key column's cells, put in canonical form here too).
    Returns ``values`` itself when no cell changes (all-ASCII columns cost one join)."""
    cells = values.tolist() if hasattr(values, "tolist") else values
    joined = "|".join([v for v in cells if v is not None])
    if joined.isascii() and not any(ch in joined for ch in _ASCII_SPACES):  # one memchr per character
        return values
    out = list(values)
    changed = False
    memo: dict[str, str | None] = {}
    for i, v in enumerate(values):
        if v is None:
            continue
        try:
            key = memo[v]
        except KeyError:
            key = memo[v] = canonical_key(v)
        if key == v:
            continue
        out[i] = key
        changed = True
        findings.append(key_finding(key_change(v), source_id, int(rows[i]), field, key=key_text(keys[i])))
    if not changed:
        return values
    if hasattr(values, "dtype"):  # the CSV fast path's object arrays stay arrays
        import numpy as np

        return np.asarray(out, dtype=object)
    return out


def key_text(value: Any) -> str | None:
    """A raw key cell as the canonical key text (any cell type; blank → ``None``)."""
    from handover.sources import cells

    return canonical_key(cells.text(value))


# ---------------------------------------------------------------------------------------------------------
# The natural key of a row


def natural_key(entity: Entity | str, values: Mapping[str, Any]) -> str | None:
    """A row's natural key: ``dossier_code``, or ``record_type/record_number``; ``None`` when a part is missing
    (``None`` or empty)."""
    return _joined([values.get(name) for name in natural_key_fields(entity)])


def key_field(entity: Entity | str) -> str:
    """The field a finding about a row's key names: ``dossier_code``, or ``record_number`` for a record."""
    return natural_key_fields(entity)[-1]


def _joined(parts: Sequence[Any]) -> str | None:
    if not all(parts):
        return None
    return parts[0] if len(parts) == 1 else KEY_SEPARATOR.join(map(str, parts))


def key_parts(entity: Entity | str, key: str) -> tuple[str, ...] | None:
    """The inverse of :func:`natural_key`: the values of the key fields (:func:`~handover.models.
    natural_key_fields`) a key is made of; a record key is split at its first ``/``. ``None`` for a record key
    without ``/`` (no record has it)."""
    if len(natural_key_fields(entity)) == 1:
        return (key,)
    head, sep, tail = key.partition(KEY_SEPARATOR)
    return (head, tail) if sep else None


def shown_key(entity: Entity | str, values: Mapping[str, Any]) -> str:
    """A stored row's key as messages name it: its natural key, or for a row lacking a part of it (one added
    outside handover) the parts as stored, joined by ``/``."""
    key = natural_key(entity, values)
    if key is not None:
        return key
    return KEY_SEPARATOR.join(str(values.get(name)) for name in natural_key_fields(entity))


def natural_key_list(entity: Entity | str, columns: Mapping[str, Sequence[Any]]) -> list[str | None]:
    """:func:`natural_key` of every row of column-wise values (``columns`` holds the key fields)."""
    names = natural_key_fields(entity)
    if len(names) == 1:
        return [v if v else None for v in columns[names[0]]]
    return [_joined(parts) for parts in zip(*(columns[name] for name in names), strict=True)]


def natural_keys(frame: pd.DataFrame, entity: Entity | str) -> pd.Series:
    """:func:`natural_key` of every row of ``frame`` (a missing column counts as missing values)."""
    import numpy as np
    import pandas as pd

    names = natural_key_fields(entity)
    if not all(name in frame.columns for name in names):
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    parts = [frame[name].astype(object) for name in names]
    present = np.ones(len(frame), dtype=bool)
    for part in parts:
        present &= part.notna().to_numpy() & (part != "").to_numpy()
    key = parts[0]
    for part in parts[1:]:
        key = key.fillna("").astype(str) + KEY_SEPARATOR + part.fillna("").astype(str)
    values = key.to_numpy(dtype=object, copy=True)
    values[~present] = None
    return pd.Series(values, index=frame.index, dtype=object)
