"""Where a province or the country stands: ``handover db status --by province|district``.

Per old province or old district (the codes the rows carry: ``old_province_code``/``old_district_code`` of the
target rows and of the ledger's held-back rows; a row without them counts in its batch's district when the
batch has one):

* batches finished / failed / running / rolled back, and *not started* (in the plan given, not in the target);
* rows loaded (in the target now), and rows held back now: review and quarantined rows whose key no batch has
  loaded since, each key once (its latest batch's disposition). The review rows among them are the ones waiting
  for officials.

Only codes, unit names and counts are read and shown: no row's personal data. Reads only, changes nothing.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from handover.errors import ConfigError, writing
from handover.keys_sql import key_columns
from handover.models import Disposition, Entity
from handover.target import schema
from handover.target.db import make_engine, require_existing, safe_url, unreachable
from handover.target.hashing import table_for
from handover.target.lookup import target_rows

BATCH_STATES = ("finished", "failed", "running", "rolled_back", "not_started")
Level = Literal["province", "district"]
_HELD = (Disposition.REVIEW.value, Disposition.QUARANTINED.value)
Area = tuple[str | None, str | None]  # (old province code, old district code)


class AreaProgress(BaseModel):
    """One old province or old district (codes None: rows that name no unit and whose batch has none)."""

    province_code: str | None = Field(description="Old province code (2 digits).")
    province_name: str | None = None
    district_code: str | None = Field(None, description="Old district code (3 digits); None by province.")
    district_name: str | None = None
    batches: dict[str, int] = Field(
        default_factory=lambda: dict.fromkeys(BATCH_STATES, 0),
        description="Batches per state: finished, failed, running, rolled_back, not_started (in the plan only).",
    )
    batch_ids: list[str] = Field(
        default_factory=list, description="The batches with rows or a plan entry here."
    )
    rows_loaded: int = Field(0, description="Dossiers and records of this unit in the target.")
    rows_review: int = Field(
        0, description="Rows held for review no batch has loaded since: waiting for officials."
    )
    rows_quarantined: int = Field(
        0, description="Rows held back by an error finding no batch has loaded since."
    )

    @property
    def rows_held_back(self) -> int:
        return self.rows_review + self.rows_quarantined

    def add(self, other: AreaProgress) -> None:
        for state, n in other.batches.items():
            self.batches[state] = self.batches.get(state, 0) + n
        self.rows_loaded += other.rows_loaded
        self.rows_review += other.rows_review
        self.rows_quarantined += other.rows_quarantined


class Progress(BaseModel):
    """The whole answer of ``db status --by``: one line per unit and the total."""

    url: str
    by: Level
    plan: str | None = Field(None, description="The plan file read for the batches not started.")
    generated_at: datetime
    areas: list[AreaProgress]
    total: AreaProgress

    def to_json(self) -> dict[str, Any]:
        def one(a: AreaProgress) -> dict[str, Any]:
            return {**a.model_dump(mode="json"), "rows_held_back": a.rows_held_back}

        return {
            **self.model_dump(mode="json", exclude={"areas", "total"}),
            "areas": [one(a) for a in self.areas],
            "total": one(self.total),
        }


def progress(url: str, by: Level = "district", plan: str | Path | None = None) -> Progress:
    """Batches and rows per old province or district of the target at ``url`` (and of ``plan``, if given)."""
    if by not in ("province", "district"):
        raise ConfigError(
            f"--by {by}: give province or district.", hint="Use --by province or --by district."
        )
    planned = None
    if plan is not None:
        from handover.plan.model import load_plan

        planned = load_plan(plan)
    require_existing(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            result = _read(conn, by, planned)
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from exc
    finally:
        engine.dispose()
    result.url = safe_url(url)
    result.plan = str(planned.folder / "plan.toml") if planned and planned.folder else None
    return result


def _read(conn: Connection, by: Level, planned: Any) -> Progress:
    from handover.units.decisions import load_reference

    ref = load_reference()
    b = schema.batches.c
    states = {
        row.batch_id: (row.status, row.started_at)
        for row in conn.execute(select(b.batch_id, b.status, b.started_at))
    }
    # where each batch stands: the plan's district; else the districts its loaded rows name (resolved units),
    # else those its held-back rows name. A row counts where its own codes say.
    planned_home: dict[str, Area] = {}
    if planned is not None:
        for pb in planned.batch:
            planned_home[pb.batch_id] = (pb.province_code, pb.district_code)
    loaded: dict[tuple[str, Area], int] = defaultdict(int)  # (batch, area) → rows
    for table in (schema.dossiers, schema.records):
        t = table.c
        query = select(t.batch_id, t.old_province_code, t.old_district_code, func.count()).group_by(
            t.batch_id, t.old_province_code, t.old_district_code
        )
        for batch_id, prov, dist, n in conn.execute(query):
            loaded[(batch_id, (prov, dist))] += n
    held = _held_back(conn, states)
    named_loaded: dict[str, set[Area]] = defaultdict(set)
    named_held: dict[str, set[Area]] = defaultdict(set)
    for batch_id, area in loaded:
        if area[1] is not None:
            named_loaded[batch_id].add(_complete(ref, area))
    for batch_id, area, _ in held:
        if area[1] is not None:
            named_held[batch_id].add(_complete(ref, area))
    where: dict[str, set[Area]] = {}
    for batch_id in {*states, *planned_home}:
        if batch_id in planned_home:
            where[batch_id] = {planned_home[batch_id]}
        else:
            where[batch_id] = named_loaded.get(batch_id) or named_held.get(batch_id) or set()
    home = {batch_id: next(iter(areas)) for batch_id, areas in where.items() if len(areas) == 1}

    units: dict[Area, AreaProgress] = {}

    def place(batch_id: str | None, area: Area) -> Area:
        """A row's unit: its codes, else (no district) its batch's district."""
        if area[1] is None and batch_id in home and area[0] in (None, home[batch_id][0]):
            area = home[batch_id]
        return _complete(ref, area)

    def unit(area: Area) -> AreaProgress:
        key: Area = (area[0], area[1] if by == "district" else None)
        if key not in units:
            units[key] = AreaProgress(
                province_code=key[0],
                province_name=ref.provinces.get(key[0] or ""),
                district_code=key[1],
                district_name=ref.districts.get(key[1] or "", (None, None))[0],
            )
        return units[key]

    for (batch_id, area), n in loaded.items():
        unit(place(batch_id, area)).rows_loaded += n
    for batch_id, area, disposition in held:
        u = unit(place(batch_id, area))
        if disposition == Disposition.REVIEW.value:
            u.rows_review += 1
        else:
            u.rows_quarantined += 1
    placed: dict[str, list[AreaProgress]] = {}
    for batch_id in sorted(where):
        units_of = {id(u): u for u in (unit(_complete(ref, a)) for a in where[batch_id] or {(None, None)})}
        placed[batch_id] = list(units_of.values())
        state = states[batch_id][0] if batch_id in states else "not_started"
        for u in placed[batch_id]:
            u.batches[state] = u.batches.get(state, 0) + 1
            u.batch_ids.append(batch_id)
    total = AreaProgress(province_code=None)
    for u in units.values():
        total.add(u)
    total.batches = dict.fromkeys(BATCH_STATES, 0)
    for batch_id in placed:
        state = states[batch_id][0] if batch_id in states else "not_started"
        total.batches[state] = total.batches.get(state, 0) + 1
    areas = sorted(units.values(), key=lambda a: (a.province_code or "~", a.district_code or "~"))
    return Progress(url="", by=by, generated_at=datetime.now(UTC), areas=areas, total=total)


def _complete(ref: Any, area: Area) -> Area:
    """A district code without its province: the province from the reference."""
    prov, dist = area
    if prov is None and dist is not None and dist in ref.districts:
        prov = ref.districts[dist][1]
    return (prov, dist)


def _held_back(conn: Connection, states: dict[str, tuple[str, Any]]) -> list[tuple[str, Area, str]]:
    """Review and quarantined rows no batch has loaded since: ``(batch, (province, district), disposition)``,
    each key once (its latest batch's), keys looked up in the target by the unique key of dossiers/records."""
    led = schema.ledger.c
    latest: dict[tuple[Any, ...], tuple[Any, str, Area, str]] = {}
    query = select(
        led.batch_id,
        led.source_id,
        led.source_row,
        led.entity,
        led.natural_key,
        led.disposition,
        led.old_province_code,
        led.old_district_code,
    ).where(led.disposition.in_(_HELD))
    for row in conn.execute(query):
        key = (
            (row.entity, row.source_id, row.natural_key)
            if row.natural_key
            else (row.source_id, row.source_row)
        )
        started = states.get(row.batch_id, (None, datetime.min))[1] or datetime.min
        area = (row.old_province_code, row.old_district_code)
        if key not in latest or latest[key][0] < started:
            latest[key] = (started, row.batch_id, area, row.disposition)
    keyed = [k for k in latest if len(k) == 3]
    for key in _loaded_keys(conn, keyed):
        latest.pop(key, None)
    return [(batch_id, area, disposition) for _, batch_id, area, disposition in latest.values()]


def _loaded_keys(conn: Connection, keys: Iterable[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    """The ``(entity, source_id, natural_key)`` keys that are in the target's dossiers or records (looked up by
    their unique keys, :func:`~handover.target.lookup.target_rows`)."""
    found: set[tuple[Any, ...]] = set()
    wanted: dict[tuple[str, str], list[str]] = defaultdict(list)  # (entity, source) → keys
    for entity, source, key in keys:
        wanted[(entity, source)].append(key)
    for (entity, source), part in wanted.items():
        table = table_for(Entity(entity))
        rows = target_rows(conn, Entity(entity), source, part, key_columns(entity, table))
        found.update((entity, source, key) for key in rows)
    return found


def progress_html(p: Progress) -> str:
    """The same as a small self-contained HTML page: inline CSS, no script, no external asset; unit names,
    codes and counts only."""
    e = html.escape
    level_vi = "Huyện cũ" if p.by == "district" else "Tỉnh cũ"
    head = [
        f"<th>{level_vi} <span class=en>/ old {p.by}</span></th>",
        "<th>Mã <span class=en>/ code</span></th>",
        *(f"<th>{vi} <span class=en>/ {en}</span></th>" for vi, en in _COLUMNS),
    ]

    def cells(a: AreaProgress, name: str, code: str) -> str:
        nums = [
            a.batches.get("finished", 0),
            a.batches.get("failed", 0),
            a.batches.get("running", 0),
            a.batches.get("not_started", 0),
            a.rows_loaded,
            a.rows_held_back,
            a.rows_review,
        ]
        return f"<td>{e(name)}</td><td>{e(code)}</td>" + "".join(f"<td class=num>{n:,}</td>" for n in nums)

    body = []
    for a in p.areas:
        if p.by == "district":
            name = a.district_name or ("(không rõ / unknown)" if a.district_code is None else "")
            code = f"{a.province_code or '—'}/{a.district_code or '—'}"
            if a.province_name:
                name = f"{name}, {a.province_name}"
        else:
            name, code = a.province_name or "(không rõ / unknown)", a.province_code or "—"
        body.append(f"<tr>{cells(a, name, code)}</tr>")
    body.append(f"<tr class=total>{cells(p.total, 'Tổng / Total', '')}</tr>")
    plan = f"<p>Kế hoạch <span class=en>/ plan</span>: <code>{e(p.plan)}</code></p>" if p.plan else ""
    return f"""<!DOCTYPE html>
<html lang="vi">
<head>
<meta charset="utf-8">
<title>Tiến độ bàn giao / Handover progress — {e(p.by)}</title>
<style>
  body {{ font-family: "Segoe UI", "Noto Sans", "DejaVu Sans", Arial, sans-serif; margin: 2em; color: #1a1a1a;
         font-size: 14px; }}
  .en {{ color: #555; font-style: italic; font-weight: normal; }}
  table {{ border-collapse: collapse; margin: 0.8em 0; }}
  th, td {{ border: 1px solid #999; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
  th {{ background: #d9e1f2; }}
  td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
  tr.total td {{ font-weight: bold; background: #f2f2f2; }}
</style>
</head>
<body>
<h1>Tiến độ bàn giao theo {level_vi.lower()} <span class="en">/ Handover progress by old {e(p.by)}</span></h1>
<p>Cơ sở dữ liệu đích <span class=en>/ target</span>: <code>{e(p.url)}</code>; lúc <span class=en>/ at</span>
{e(p.generated_at.strftime("%Y-%m-%d %H:%M"))} UTC</p>
{plan}
<table id="progress">
<thead><tr>{"".join(head)}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody>
</table>
<p>Dòng giữ lại = dòng cần xem xét và dòng bị giữ do lỗi mà chưa đợt nào nạp sau đó; dòng cần xem xét chờ cán
bộ quyết định. <span class=en>/ Held back = review and quarantined rows no batch has loaded since; review rows
wait for officials' decisions (handover review import).</span></p>
</body>
</html>
"""


_COLUMNS = (
    ("Đợt xong", "batches finished"),
    ("Đợt lỗi", "failed"),
    ("Đang chạy", "running"),
    ("Chưa chạy", "not started"),
    ("Dòng đã nạp", "rows loaded"),
    ("Dòng giữ lại", "held back"),
    ("Chờ cán bộ xem xét", "review waiting"),
)


def write_progress_html(p: Progress, path: str | Path) -> Path:
    """Write :func:`progress_html` to ``path``."""
    path = Path(path)
    with writing(path, "the status page", "Choose a folder you can write to (--html)."):
        path.write_text(progress_html(p), encoding="utf-8")
    return path
