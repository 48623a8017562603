"""The attachment manifest (``dossier_attachments``) in the target: written with each chunk, re-hashed by
``handover db verify``, removed by a rollback with the files no other row names. The store itself and the copy
protocol are :mod:`handover.attachments`.

Where a batch's store is: each run that copies files records it as a ``batch_events`` row (event
``attachment_store``, the store's absolute path as detail) before its first copy, so that a rollback or a verify
given only the database finds the files, also those of a batch that was killed before committing any.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select

from handover.attachments.files import COLUMN, META, file_sha256, files_of, stored_path
from handover.attachments.store import AttachmentStore, journal_path, journaled, remove_files
from handover.target import schema

STORE_EVENT = "attachment_store"
_SLICE = 900

MISSING_FILE = "attachment missing from the store"
CHANGED_FILE = "attachment changed in the store (SHA-256 differs)"
NOT_LOADED = "attachment of a dossier the batch did not load"
ORPHAN_FILE = (
    "file in the store that no manifest row names (an interrupted copy: run the batch again or roll it back)"
)
ATTACHMENT_PROBLEMS = (
    MISSING_FILE,
    CHANGED_FILE,
    NOT_LOADED,
    ORPHAN_FILE,
)  # what each problem's text begins with


def record_store(engine: Engine, batch_id: str, root: Path) -> None:
    """Record ``root`` as the batch's store (once per distinct store)."""
    detail = str(Path(root).resolve())
    with engine.begin() as conn:
        if detail not in store_roots(conn, batch_id, as_text=True):
            conn.execute(
                insert(schema.batch_events).values(
                    batch_id=batch_id, event=STORE_EVENT, at=_now(), detail=detail
                )
            )


def _now() -> datetime:
    from handover.target.values import utcnow

    return utcnow()


def store_roots(conn: Connection, batch_id: str, *, as_text: bool = False) -> list[Any]:
    """The stores a batch copied files into (in the order first recorded)."""
    e = schema.batch_events.c
    found = conn.execute(
        select(e.detail).where(e.batch_id == batch_id, e.event == STORE_EVENT).order_by(e.id)
    ).scalars()
    roots = list(dict.fromkeys(d for d in found if d))
    return roots if as_text else [Path(r) for r in roots]


def attach_chunk(
    conn: Connection,
    store: AttachmentStore,
    source_id: str,
    frame: Any,
    loaded: Sequence[int],
    keys: Sequence[str | None],
    now: datetime,
) -> int:
    """Inside a chunk's transaction: copy the files of the chunk's loaded dossiers (positions ``loaded``) into
    ``store`` and write their manifest rows; the number of rows written."""
    if COLUMN not in frame.columns or not loaded:
        return 0
    cells = frame[COLUMN].tolist()
    provinces = (
        frame["new_province_code"].tolist() if "new_province_code" in frame.columns else [None] * len(frame)
    )
    communes = (
        frame["new_commune_code"].tolist() if "new_commune_code" in frame.columns else [None] * len(frame)
    )
    rows: list[dict[str, Any]] = []
    placed: list[tuple[str, Any]] = []
    for i in loaded:
        key = keys[i]
        if key is None:
            continue
        for file in files_of(cells[i]):
            rel = stored_path(_text(provinces[i]), _text(communes[i]), key, file)
            placed.append((rel, file))
            rows.append(
                {
                    "batch_id": store.batch_id,
                    "source_system": source_id,
                    "dossier_code": key,
                    "original_name": file.name,
                    "stored_path": rel,
                    "size_bytes": file.size,
                    "sha256": file.sha256,
                    "copied_at": now,
                }
            )
    if not rows:
        return 0
    store.place(placed)
    conn.execute(insert(schema.dossier_attachments), rows)
    return len(rows)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value) or None


def referenced(conn: Connection, paths: Sequence[str]) -> set[str]:
    """Those of ``paths`` that a manifest row (of any batch) names."""
    a = schema.dossier_attachments.c
    out: set[str] = set()
    wanted = sorted(set(paths))
    for start in range(0, len(wanted), _SLICE):
        part = wanted[start : start + _SLICE]
        out.update(conn.execute(select(a.stored_path).where(a.stored_path.in_(part)).distinct()).scalars())
    return out


def batch_paths(conn: Connection, batch_id: str) -> list[str]:
    a = schema.dossier_attachments.c
    return list(
        conn.execute(
            select(a.stored_path).where(a.batch_id == batch_id).distinct().order_by(a.stored_path)
        ).scalars()
    )


def prune(
    engine: Engine, root: Path, batch_id: str, extra: Iterable[str] = (), *, forget: bool = False
) -> int:
    """Remove the files the batch's journal (and ``extra``) lists that no manifest row names; the number removed.
    ``forget``: delete the journal too (after a rollback), once none of them is left."""
    candidates = list(dict.fromkeys([*journaled(root, batch_id), *extra]))
    keep: set[str] = set()
    if candidates:
        with engine.connect() as conn:
            keep = referenced(conn, candidates)
    removed = remove_files(root, [p for p in candidates if p not in keep])
    if forget and not any((Path(root) / p).is_file() for p in candidates if p not in keep):
        journal_path(root, batch_id).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the batch's temporary folder, when empty
            (Path(root) / META / "tmp" / batch_id).rmdir()
    return removed


def delete_rows(conn: Connection, batch_id: str) -> int:
    """Inside a rollback's transaction: the batch's manifest rows."""
    a = schema.dossier_attachments
    return conn.execute(delete(a).where(a.c.batch_id == batch_id)).rowcount


def files_to_remove(conn: Connection, batch_id: str, paths: Sequence[str]) -> list[str]:
    """Inside a rollback's transaction, after :func:`delete_rows`: which of ``paths`` no manifest row names now
    (and which exist in one of the batch's stores): what the rollback removes."""
    keep = referenced(conn, paths)
    roots = store_roots(conn, batch_id)
    return [p for p in paths if p not in keep and any((r / p).is_file() for r in roots)]


def verify_files(
    conn: Connection, batch_id: str, loaded_keys: set[tuple[str, str]], root: Path | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """Re-hash every file of the batch's manifest in its store (``root``, else the store the batch recorded);
    ``loaded_keys``: the (source, dossier code) the batch's ledger marks loaded. Returns the number of files
    checked and the problems (dicts of :class:`handover.target.verify.RowProblem`'s fields)."""
    a = schema.dossier_attachments.c
    roots = [Path(root)] if root is not None else store_roots(conn, batch_id)
    problems: list[dict[str, Any]] = []
    checked = 0
    rows = conn.execute(
        select(a.source_system, a.dossier_code, a.original_name, a.stored_path, a.size_bytes, a.sha256)
        .where(a.batch_id == batch_id)
        .order_by(a.source_system, a.dossier_code, a.stored_path)
    ).all()
    named: set[str] = set()
    for source_id, code, name, rel, _size, digest in rows:
        checked += 1
        named.add(rel)
        base = {"entity": "dossier", "source_system": source_id, "natural_key": code}
        if (source_id, code) not in loaded_keys:
            problems.append({**base, "problem": f"{NOT_LOADED}: {name} ({rel})"})
        path = next((r / rel for r in roots if (r / rel).is_file()), None)
        if path is None:
            problems.append({**base, "problem": f"{MISSING_FILE}: {name} ({rel})", "expected": digest})
            continue
        try:
            found = file_sha256(path)[1]
        except OSError as exc:
            found = f"unreadable: {exc.strerror or exc}"
        if found != digest:
            problems.append(
                {**base, "problem": f"{CHANGED_FILE}: {name} ({rel})", "expected": digest, "found": found}
            )
    for r in roots:
        left = [p for p in journaled(r, batch_id) if p not in named and (r / p).is_file()]
        others = referenced(conn, left) if left else set()
        for rel in left:
            if rel not in others:
                problems.append(
                    {"entity": "file", "source_system": str(r), "natural_key": rel, "problem": ORPHAN_FILE}
                )
    return checked, problems


def manifest_summary(conn: Connection, batch_id: str) -> dict[str, Any] | None:
    """The batch's attachment manifest in figures (no file names: the auditors' report shows it): files,
    dossiers, distinct contents, bytes and the store; ``None`` when the batch recorded none."""
    a = schema.dossier_attachments.c
    files, dossiers, contents, size = conn.execute(
        select(
            func.count(),
            func.count(func.distinct(a.source_system + "\x1f" + a.dossier_code)),
            func.count(func.distinct(a.sha256)),
            func.coalesce(func.sum(a.size_bytes), 0),
        ).where(a.batch_id == batch_id)
    ).one()
    if not files:
        return None
    return {
        "files": int(files),
        "dossiers": int(dossiers),
        "contents": int(contents),
        "bytes": int(size),
        "stores": store_roots(conn, batch_id, as_text=True),
    }
