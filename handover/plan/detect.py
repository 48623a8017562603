"""What an exports folder holds: its groups (a sub-folder or a top-level file per district) and the batch sources
each file holds, each read by the same reader ``handover sources inspect`` uses, or why not."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from handover.models import Entity, natural_key_fields
from handover.plan.districts import slug
from handover.plan.model import Undecided
from handover.plan.settings import SETTINGS_FILE, DistrictOverride, PlanSettings, SourceOverride

SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass
class Group:
    label: str  # the sub-folder's name or a top-level file's name
    path: Path  # the sub-folder, or the top-level file
    files: list[Path]
    override: DistrictOverride | None = None


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith((".", "~$")) for part in path.relative_to(root).parts)


def find_groups(exports: Path, out: Path) -> list[Group]:
    groups: list[Group] = []
    for entry in sorted(exports.iterdir()):
        if _hidden(entry, exports) or entry.resolve() == out or entry.name == SETTINGS_FILE:
            continue
        if entry.is_dir():
            files = sorted(
                p
                for p in entry.rglob("*")
                if p.is_file() and not _hidden(p, exports) and out not in p.parents
            )
            groups.append(Group(entry.name, entry, files))
        else:
            groups.append(Group(entry.stem, entry, [entry]))
    return groups


def rel_path(path: Path, base: Path) -> str:
    return path.relative_to(base).as_posix()


def _reason(exc: Exception, key: str) -> str:
    """An undecided source's reason: Vietnamese, then the reader's English message and hint, and the way out
    through plan.toml."""
    from handover.errors import HandoverError

    en = exc.message if isinstance(exc, HandoverError) else f"{type(exc).__name__}: {exc}"
    hint = exc.hint if isinstance(exc, HandoverError) and exc.hint else ""
    return (
        f"Không đọc được '{key}' thành danh sách hồ sơ hay sổ; sửa tệp, khai nguồn trong [sources.\"{key}\"] của "
        f"plan.toml, hoặc ghi skip = true ở đó nếu đây không phải danh sách hồ sơ. / {en}"
        f'{" → " + hint if hint else ""} (or, in plan.toml, describe it under [sources."{key}"], or set '
        "skip = true there if it holds no dossiers or records)"
    )


def _sqlite_tables(path: Path) -> list[str]:
    import sqlite3

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def detect_sources(
    path: Path, exports: Path, plan_dir: Path, settings: PlanSettings
) -> tuple[list[dict[str, Any]], list[Undecided]]:
    """The batch sources one file holds (SourceConfig fields, paths relative to the plan's folder), each
    decided by the same reader ``sources inspect`` uses, or why not."""
    from handover.sources.files import sniff_kind, suffix_kind

    rel = rel_path(path, exports)
    where = os.path.relpath(path, plan_dir)
    candidates: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # (key, settings to inspect, to write)
    if _is_sqlite(path):
        try:
            tables = _sqlite_tables(path)
        except Exception as exc:  # a damaged database file
            return [], [Undecided(path=rel, reason=_reason(exc, rel))]
        if not tables:
            return [], [
                Undecided(
                    path=rel,
                    reason="Cơ sở dữ liệu SQLite không có bảng nào. / The SQLite database holds no table: "
                    "export the district system again.",
                )
            ]
        for table in tables:
            key = f"{rel}#{table}"
            base = {"kind": "sql", "url": f"sqlite:///{path}", "table": table}
            written = {"kind": "sql", "url": f"sqlite:///{where}", "table": table}
            candidates.append((key, base, written))
    else:
        kind = suffix_kind(path) or sniff_kind(path)
        if kind is None:
            return [], [
                Undecided(
                    path=rel,
                    reason=f"Không nhận ra định dạng tệp '{path.name}' (handover đọc CSV/TXT, Excel .xlsx/.xls, "
                    "SQLite); xuất lại từ hệ thống của huyện hoặc chuyển tệp ra khỏi thư mục. / "
                    f"'{path.name}' is not a format handover reads (CSV/text, Excel .xlsx/.xls, SQLite): "
                    "export it again from the district system, or move it out of the folder.",
                )
            ]
        candidates.append((rel, {"kind": kind, "path": path}, {"kind": kind, "path": where}))
    sources: list[dict[str, Any]] = []
    undecided: list[Undecided] = []

    def decide(
        key: str, base: dict[str, Any], written: dict[str, Any], extra: dict[str, Any]
    ) -> dict[str, Any]:
        entry, why, report = _decide(key, base, written, extra)
        if entry is not None:
            sources.append(entry)
        if why is not None:
            undecided.append(why)
        return report

    for key, base, written in candidates:
        override = settings.sources.get(key, SourceOverride())
        if override.skip:
            continue
        extra = override.model_dump(exclude_none=True, exclude={"skip"})
        if "query" in extra:
            base.pop("table", None)
            written.pop("table", None)
        if base["kind"] not in ("xlsx", "xls") or "sheet" in extra:
            decide(key, base, written, extra)
            continue
        # a workbook: its first visible sheet, or each visible sheet when it has several ("file.xlsx#sheet")
        first = len(sources), len(undecided)
        report = decide(key, base, written, extra)
        hidden = set(report.get("hidden_sheets") or ())
        visible = [name for name in report.get("sheets") or () if name not in hidden]
        if len(visible) > 1:
            del sources[first[0] :], undecided[first[1] :]
            for sheet in visible:
                sheet_key = f"{key}#{sheet}"
                sheet_override = settings.sources.get(sheet_key, SourceOverride())
                if not sheet_override.skip:
                    more = sheet_override.model_dump(exclude_none=True, exclude={"skip"})
                    decide(sheet_key, base, written, {**extra, "sheet": sheet, **more})
    return sources, undecided


def _decide(
    key: str, base: dict[str, Any], written: dict[str, Any], extra: dict[str, Any]
) -> tuple[dict[str, Any] | None, Undecided | None, dict[str, Any]]:
    """One source read as ``sources inspect`` reads it: its [[sources]] entry, or why it has none; and the
    reader's report (empty when it could not read)."""
    from handover.sources.inspect import inspect_settings

    sid = _source_id(key)
    try:
        report = inspect_settings({"id": sid, **base, **extra})
    except ValidationError as exc:  # a key of [sources."..."] the batch configuration refuses
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        why = (
            f'Khai báo [sources."{key}"] trong plan.toml không hợp lệ: {message}. / '
            f'[sources."{key}"] in plan.toml is not valid: {message}: fix that key.'
        )
        return None, Undecided(path=key, reason=why), {}
    except Exception as exc:  # one odd file must not stop the plan of the other districts
        return None, Undecided(path=key, reason=_reason(exc, key)), {}
    entity = Entity(report["entity"])
    mapped = {c["field"] for c in report.get("columns", []) if c.get("field")}
    lacking = [f for f in natural_key_fields(entity) if f not in mapped and not extra.get(f)]
    if lacking:
        example = ' record_type = "business_household"' if lacking == ["record_type"] else ""
        why = (
            f"Không có cột nào cho khóa của dòng ({', '.join(lacking)}); khai cột hoặc giá trị "
            f'trong [sources."{key}"] của plan.toml{example and " (ví dụ" + example + ")"}, hoặc skip = true nếu '
            f"không phải danh sách hồ sơ. / No column maps to the rows' key ({', '.join(lacking)}): name it "
            f'under [sources."{key}"] in plan.toml{example and " (e.g." + example + ")"}, or skip = true there if '
            "it is no list of dossiers or records."
        )
        return None, Undecided(path=key, reason=why), report
    entry: dict[str, Any] = {"id": sid, **written, "entity": entity.value, "profile": report.get("profile")}
    if base["kind"] in ("xlsx", "xls") and report.get("sheet"):
        entry["sheet"] = report["sheet"]
    if base["kind"] != "sql" and report.get("header_row"):
        entry["header_row"] = int(report["header_row"])
    if base["kind"] == "csv" and report.get("delimiter"):
        entry["delimiter"] = report["delimiter"]
    entry.update(extra)
    entry["_report"] = {
        "rows": report.get("data_rows"),
        "complete": report.get("sample", {}).get("complete"),
        "unmapped": report.get("unmapped", []),
    }
    return entry, None, report


def _source_id(key: str) -> str:
    """A source id from the file's (and table's) name: ``086/district_system.db#so_ho_tich`` →
    ``district-system-so-ho-tich``."""
    name = Path(key.split("#")[0]).stem + ("-" + key.split("#")[1] if "#" in key else "")
    return (slug(name) or "source")[:100]
