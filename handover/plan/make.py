"""``handover plan EXPORTS_DIR --out PLAN_DIR``: one batch configuration per old district found in the exports
folder, and the plan that lists them (:func:`make_plan`)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

from handover.config import check_id
from handover.errors import ConfigError
from handover.plan.detect import Group, detect_sources, find_groups, rel_path
from handover.plan.districts import District, DistrictIndex, slug, strip_province_prefix
from handover.plan.model import Plan, PlanHeader, PlannedBatch, Undecided, plan_text
from handover.plan.settings import PlanSettings, load_settings
from handover.plan.toml import dump_toml
from handover.text import fold


@dataclass
class PlanResult:
    """What ``handover plan`` wrote: the plan file, one configuration per district, and what it left out."""

    plan_file: Path
    plan: Plan
    sources: dict[str, list[dict[str, Any]]] = dc_field(default_factory=dict)  # batch id → source summaries

    @property
    def complete(self) -> bool:
        return not self.plan.undecided


def make_plan(exports_dir: str | Path, out_dir: str | Path) -> PlanResult:
    """Write one batch configuration per old district found in ``exports_dir`` and ``out_dir/plan.toml``.

    Each sub-folder is one district, named by its code or name; a file directly in ``exports_dir`` is one
    district's too when its name names the district (``bao_thang_086.xlsx``). Every file is read as ``sources
    inspect`` reads it (a SQLite database: each table); a district with anything undecided gets no
    configuration, and every undecided file or folder is listed with its reason. ``exports_dir/plan.toml``
    (optional) gives the target, the batch id pattern, the province, and per-district and per-source keys."""
    from handover.units.decisions import load_reference

    exports = Path(exports_dir).resolve()
    if not exports.is_dir():
        raise ConfigError(
            f"The exports folder '{exports_dir}' does not exist or is not a folder.",
            file=str(exports_dir),
            hint="Give the folder holding one sub-folder per old district.",
        )
    out = Path(out_dir).resolve()
    if out == exports:
        raise ConfigError(
            "The plan folder must not be the exports folder.",
            file=str(out_dir),
            hint="Write the plan elsewhere, e.g. --out plan",
        )
    settings = load_settings(exports)
    districts = DistrictIndex(load_reference(), settings.plan.province)
    out.mkdir(parents=True, exist_ok=True)

    resolved: dict[str, tuple[District, list[Group]]] = {}
    undecided: list[Undecided] = []
    for group in find_groups(exports, out):
        rel = rel_path(group.path, exports)
        override = settings.districts.get(group.label) or settings.districts.get(group.path.name)
        group.override = override
        if override and override.skip:
            undecided.append(
                Undecided(
                    path=rel,
                    reason=f'Bỏ qua theo plan.toml ([districts."{group.label}"] skip = true). / Left out by '
                    f'plan.toml ([districts."{group.label}"] skip = true).',
                )
            )
            continue
        if override and override.district_code:
            code = override.district_code.zfill(3)
            if code not in districts.ref.districts:
                raise ConfigError(
                    f'plan.toml: [districts."{group.label}"] district_code = "{code}" is no old district of '
                    "the reference.",
                    column=f"districts.{group.label}.district_code",
                    hint="Use a code of mappings/units/old_units.csv (district_code).",
                )
            district, why = districts.get(code), ""
        else:
            district, why = districts.resolve(group.label)
        if district is None:
            if group.path.is_file() and not why.startswith("Tên '" + group.label + "' khớp"):
                why = (
                    f"Tên tệp '{group.path.name}' không chỉ ra huyện nào; để tệp vào thư mục của huyện (ví dụ "
                    f"086/). / The file name '{group.path.name}' names no district: put the file in its "
                    f"district's folder (e.g. 086/). ({why.split(' / ')[-1]})"
                )
            undecided.append(Undecided(path=rel, reason=why))
            continue
        resolved.setdefault(district.code, (district, []))[1].append(group)

    header = PlanHeader(created_from=str(exports), target=settings.plan.target)
    batches: list[PlannedBatch] = []
    summaries: dict[str, list[dict[str, Any]]] = {}
    for code in sorted(resolved):
        district, groups = resolved[code]
        labels = ", ".join(rel_path(g.path, exports) for g in groups)
        sources: list[dict[str, Any]] = []
        lacking: list[Undecided] = []
        for group in groups:
            if not group.files:
                lacking.append(
                    Undecided(
                        path=rel_path(group.path, exports),
                        reason="Thư mục trống. / The folder is empty: put the district's exports in it.",
                    )
                )
            for file in group.files:
                found, bad = detect_sources(file, exports, out, settings)
                sources.extend(found)
                lacking.extend(bad)
        if lacking or not sources:
            undecided.extend(lacking)
            undecided.append(
                Undecided(
                    path=labels,
                    reason=f"{district.name} ({code}) chưa có cấu hình: sửa các mục chưa quyết định ở trên rồi "
                    f"chạy lại handover plan. / {district.name} ({code}) got no configuration: settle what is "
                    "listed above, then run handover plan again."
                    if lacking
                    else f"{district.name} ({code}): không có nguồn nào. / {district.name} ({code}): no source "
                    "to read.",
                )
            )
            continue
        _unique_ids(sources)
        override = next((g.override for g in groups if g.override and g.override.batch_id), None)
        batch_id = _batch_id(override.batch_id if override else settings.plan.batch_id, district)
        name = f"{code}-{district.slug}.toml"
        reports = [s.pop("_report") for s in sources]
        text = _config_text(district, batch_id, sources, settings, exports)
        path = out / name
        path.write_text(text, encoding="utf-8")
        _check_written(path)
        batches.append(
            PlannedBatch(
                batch_id=batch_id,
                config=Path(name),
                province_code=district.province_code,
                district_code=code,
                district_name=district.name,
            )
        )
        summaries[batch_id] = [
            {"id": s["id"], "kind": s["kind"], "entity": s["entity"], **r}
            for s, r in zip(sources, reports, strict=True)
        ]
    plan = Plan(plan=header, batch=batches, undecided=undecided)
    _unique_batches(plan)
    plan_file = out / "plan.toml"
    plan_file.write_text(plan_text(plan), encoding="utf-8")
    plan.folder = out
    return PlanResult(plan_file=plan_file, plan=plan, sources=summaries)


def _unique_ids(sources: list[dict[str, Any]]) -> None:
    seen: dict[str, int] = {}
    for s in sources:
        n = seen.get(s["id"], 0)
        seen[s["id"]] = n + 1
        if n:
            s["id"] = f"{s['id'][:96]}-{n + 1}"


def _unique_batches(plan: Plan) -> None:
    seen: set[str] = set()
    for b in plan.batch:
        if b.batch_id in seen:
            raise ConfigError(
                f"Two districts get the batch id '{b.batch_id}'.",
                column="plan.batch_id",
                hint="Put {district_code} in the batch id pattern of plan.toml.",
            )
        seen.add(b.batch_id)


def _batch_id(pattern: str, district: District) -> str:
    try:
        value = pattern.format(
            province_code=district.province_code,
            district_code=district.code,
            district_slug=district.slug,
            province_slug=slug(strip_province_prefix(fold(district.province_name))),
        )
        return check_id(value)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"plan.toml: the batch id pattern '{pattern}' does not give a valid id for {district.name}.",
            column="plan.batch_id",
            hint="Use letters, digits, '-', '_', '.' and {province_code}, {district_code}, {district_slug}, "
            "{province_slug}.",
        ) from exc


def _check_written(path: Path) -> None:
    from handover.config import load_config

    load_config(path)  # a plan.toml [config] key the batch configuration refuses is named here


def _config_text(
    district: District,
    batch_id: str,
    sources: list[dict[str, Any]],
    settings: PlanSettings,
    exports: Path,
) -> str:
    doc: dict[str, Any] = _merge(
        {
            "batch": {"id": batch_id, "description": f"{district.name}, {district.province_name} (cũ)"},
            "report": {"dir": f"reports/{district.code}-{district.slug}"},
        },
        settings.config,
    )
    if settings.plan.target:
        doc = _merge(doc, {"target": {"url": settings.plan.target}})
    doc["sources"] = [
        {
            **s,
            "old_province_code": district.province_code,
            "old_district_code": district.code,
        }
        for s in sources
    ]
    head = (
        f"# {district.name} ({district.code}), {district.province_name} ({district.province_code}): batch "
        f"written by `handover plan` from {exports}.\n# Each source is read as `handover sources inspect` reads "
        "it; check the sources, then: handover run THIS_FILE (or handover run-many plan.toml)\n\n"
    )
    return head + dump_toml(doc)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
