"""A plan: the batches of many districts, written by ``handover plan`` and read by ``handover run-many``.

``PLAN_DIR/plan.toml`` lists one ``[[batch]]`` per old district (its batch configuration, relative to the plan's
folder, and the district's old codes) and one ``[[undecided]]`` per thing of the exports folder the planner could
not decide (with the reason, in Vietnamese and English), which gets no configuration.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from handover.config import check_id
from handover.errors import ConfigError
from handover.models import Entity, natural_key_fields
from handover.text import fold

_STRICT = ConfigDict(extra="forbid")


class PlanHeader(BaseModel):
    """The ``[plan]`` table: where the plan came from and the target its batches load into."""

    model_config = _STRICT

    created_from: str = Field(description="Absolute path of the exports folder the plan was made from.")
    target: str | None = Field(None, description="SQLAlchemy URL of the target every batch loads into.")


class PlannedBatch(BaseModel):
    """One ``[[batch]]``: an old district's batch configuration."""

    model_config = _STRICT

    batch_id: str = Field(description="The batch id written in the configuration's [batch] id.")
    config: Path = Field(description="The batch configuration, relative to the plan's folder.")
    province_code: str = Field(description="Old (pre-2025) province code, 2 digits.")
    district_code: str = Field(description="Old district code, 3 digits.")
    district_name: str = Field(description="The district's name in the reference, e.g. Huyện Bảo Thắng.")

    @field_validator("batch_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_id(value)

    @field_validator("province_code")
    @classmethod
    def _province(cls, value: str) -> str:
        if not (len(value) == 2 and value.isdigit()):
            raise ValueError(f"'{value}' is not a province code of 2 digits")
        return value

    @field_validator("district_code")
    @classmethod
    def _district(cls, value: str) -> str:
        if not (len(value) == 3 and value.isdigit()):
            raise ValueError(f"'{value}' is not a district code of 3 digits")
        return value


class Undecided(BaseModel):
    """One ``[[undecided]]``: a file or folder of the exports that got no configuration, and why."""

    model_config = _STRICT

    path: str = Field(description="The file or folder, relative to the exports folder.")
    reason: str = Field(description="Why, and what to do (Vietnamese, then English).")


class Plan(BaseModel):
    """The whole ``plan.toml``; :attr:`folder` (not in the file) is where it was read from."""

    model_config = _STRICT

    plan: PlanHeader
    batch: list[PlannedBatch] = Field(default_factory=list)
    undecided: list[Undecided] = Field(default_factory=list)
    folder: Path | None = Field(None, exclude=True, description="The plan's folder (set by load_plan).")

    @model_validator(mode="after")
    def _unique(self) -> Plan:
        seen: set[str] = set()
        for b in self.batch:
            if b.batch_id in seen:
                raise ValueError(f"batch id '{b.batch_id}' is listed twice")
            seen.add(b.batch_id)
        return self

    @property
    def batches(self) -> list[PlannedBatch]:
        return self.batch

    def config_paths(self) -> list[Path]:
        """The batch configurations, absolute (resolved against the plan's folder)."""
        base = self.folder or Path.cwd()
        return [(base / b.config).resolve() for b in self.batch]


def load_plan(path: str | Path) -> Plan:
    """Read and validate ``plan.toml`` (or the plan folder holding it); errors name the file and the key."""
    path = Path(path)
    if path.is_dir():
        path = path / "plan.toml"
    if not path.is_file():
        raise ConfigError(
            f"Plan '{path}' does not exist.",
            file=str(path),
            hint="Write one with: handover plan EXPORTS_DIR --out PLAN_DIR",
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"Plan '{path}' is not valid UTF-8 TOML: {exc}.",
            file=str(path),
            hint="Fix the line named, or write the plan again with: handover plan",
        ) from exc
    try:
        plan = Plan.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(
            f"Plan '{path}': {where}: {message}.",
            file=str(path),
            column=where,
            hint="Fix that key, or write the plan again with: handover plan",
        ) from exc
    plan.folder = path.resolve().parent
    return plan


# ---------------------------------------------------------------------------------------------------------
# handover plan EXPORTS_DIR --out PLAN_DIR
# ---------------------------------------------------------------------------------------------------------

SETTINGS_FILE = "plan.toml"
DEFAULT_BATCH_ID = "{province_code}-{district_code}-{district_slug}"
SQLITE_MAGIC = b"SQLite format 3\x00"
_DISTRICT_PREFIXES = ("thanh pho", "thi xa", "huyen", "quan", "tp", "tx")


class DistrictOverride(BaseModel):
    """``[districts."<sub-folder or file group>"]``: what the name does not say."""

    model_config = _STRICT

    district_code: str | None = Field(None, description="The old district code (3 digits) this folder holds.")
    batch_id: str | None = Field(None, description="The batch id, instead of the pattern's.")
    skip: bool = Field(False, description="Leave this folder out of the plan (listed as undecided).")


class SourceOverride(BaseModel):
    """``[sources."<path>"]`` or ``[sources."<file.db>#<table>"]``: keys of a batch's [[sources]] entry."""

    model_config = _STRICT

    skip: bool = Field(False, description="Not a source of the batch (e.g. a look-up table of a database).")
    entity: Literal["dossier", "record"] | None = None
    profile: str | None = None
    columns: dict[str, str] | None = None
    record_type: str | None = None
    sheet: str | None = None
    header_row: int | None = None
    encoding: str | None = None
    delimiter: str | None = None
    multiline_fields: bool | None = None
    query: str | None = None
    row_id: str | None = None
    base_table: str | None = None
    count_query: str | None = None


class PlanSettingsHeader(BaseModel):
    model_config = _STRICT

    target: str | None = Field(None, description="SQLAlchemy URL of the target every batch loads into.")
    batch_id: str = Field(
        DEFAULT_BATCH_ID,
        description="Batch id pattern: {province_code}, {district_code}, {district_slug}, {province_slug}.",
    )
    province: str | None = Field(
        None, description="Old province (code or name): district names are matched in it only."
    )


class PlanSettings(BaseModel):
    """``EXPORTS_DIR/plan.toml``: what the planner cannot infer from the folder."""

    model_config = _STRICT

    plan: PlanSettingsHeader = Field(default_factory=PlanSettingsHeader)
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Tables copied into every batch configuration ([thresholds], [mapping], [report] ...).",
    )
    districts: dict[str, DistrictOverride] = Field(default_factory=dict)
    sources: dict[str, SourceOverride] = Field(default_factory=dict)


def load_settings(exports_dir: Path) -> PlanSettings:
    """``EXPORTS_DIR/plan.toml`` if there is one, else the defaults."""
    path = exports_dir / SETTINGS_FILE
    if not path.is_file():
        return PlanSettings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return PlanSettings.model_validate(raw)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"'{path}' is not valid UTF-8 TOML: {exc}.", file=str(path), hint="Fix the line named."
        ) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(
            f"'{path}': {where}: {first['msg'].removeprefix('Value error, ')}.",
            file=str(path),
            column=where,
            hint="Fix that key; the keys of plan.toml are described in README.md (Many districts).",
        ) from exc


@dataclass
class District:
    """An old district of the reference, as a plan names it."""

    province_code: str
    province_name: str
    code: str
    name: str

    @property
    def slug(self) -> str:
        return slug(strip_prefix(fold(self.name)))


@dataclass
class PlanResult:
    """What ``handover plan`` wrote: the plan file, one configuration per district, and what it left out."""

    plan_file: Path
    plan: Plan
    sources: dict[str, list[dict[str, Any]]] = dc_field(default_factory=dict)  # batch id → source summaries

    @property
    def complete(self) -> bool:
        return not self.plan.undecided


def slug(text: str) -> str:
    """``bao thang`` → ``bao-thang``: letters and digits of the folded text, joined by '-'."""
    return "-".join(re.findall(r"[a-z0-9]+", fold(text)))


def strip_prefix(folded: str) -> str:
    """The district's name without its kind (huyện, quận, thị xã, thành phố), folded."""
    for prefix in _DISTRICT_PREFIXES:
        if folded.startswith(prefix + " "):
            return folded[len(prefix) + 1 :]
    return folded


class _Districts:
    """The reference's old districts, found by code or by name (within one province when the plan says so)."""

    def __init__(self, ref: Any, province: str | None) -> None:
        self.ref = ref
        self.province = self._province(province) if province else None
        self.by_name: dict[str, list[str]] = {}
        for code, (name, prov) in sorted(ref.districts.items()):
            if self.province and prov != self.province:
                continue
            key = strip_prefix(fold(name))
            for k in {key, key.replace(" ", "")}:
                self.by_name.setdefault(k, []).append(code)

    def _province(self, text: str) -> str:
        if text.isdigit() and text.zfill(2) in self.ref.provinces:
            return text.zfill(2)
        wanted = fold(text)
        found = [c for c, n in self.ref.provinces.items() if wanted in (fold(n), _strip_province(fold(n)))]
        if len(found) != 1:
            raise ConfigError(
                f"plan.toml: province '{text}' is {'no' if not found else 'more than one'} old province "
                "of the reference.",
                column="plan.province",
                hint='Give the old province code, e.g. province = "10" (mappings/units/old_units.csv).',
            )
        return found[0]

    def get(self, code: str) -> District:
        name, prov = self.ref.districts[code]
        return District(prov, self.ref.provinces.get(prov, ""), code, name)

    def known(self, code: str) -> bool:
        return code in self.ref.districts and (
            self.province is None or self.ref.districts[code][1] == self.province
        )

    def _names(self, text: str) -> list[str]:
        """Districts named by the whole text, else by the longest run of two or more of its words that names any
        (Bảo Thắng in ``ho so bao thang``): all of them when that run names several."""
        if not text:
            return []
        exact = self.by_name.get(text) or self.by_name.get(text.replace(" ", ""))
        if exact:
            return list(exact)
        words = text.split()
        for size in range(len(words) - 1, 1, -1):  # a single word ("vinh", "chu") is too common a syllable
            found = sorted(
                {
                    code
                    for i in range(len(words) - size + 1)
                    for code in self.by_name.get(" ".join(words[i : i + size]), [])
                }
            )
            if found:
                return found
        return []

    def resolve(self, label: str) -> tuple[District | None, str]:
        """The district a folder or file name names (by a 3-digit code, by its name, or both agreeing), or
        None and the reason in Vietnamese and English."""
        words = fold(label).replace("_", " ").replace("-", " ").replace(".", " ").split()
        codes = sorted({w for w in words if len(w) == 3 and w.isdigit() and self.known(w)})
        rest = strip_prefix(" ".join(w for w in words if not (len(w) == 3 and w.isdigit())))
        names = self._names(rest)
        scope_vi = f" của tỉnh {self.province}" if self.province else ""
        scope_en = f" of province {self.province}" if self.province else ""
        if len(codes) > 1:
            return None, (
                f"Tên '{label}' chứa nhiều mã huyện ({', '.join(codes)}); đặt district_code trong "
                f'[districts."{label}"] của plan.toml. / The name holds several district codes '
                f'({", ".join(codes)}): set district_code under [districts."{label}"] in plan.toml.'
            )
        if codes and names and codes[0] not in names:
            return None, (
                f"Mã huyện {codes[0]} và tên '{rest}' trong '{label}' chỉ hai huyện khác nhau; đặt district_code "
                f"trong [districts.\"{label}\"] của plan.toml. / The code {codes[0]} and the name '{rest}' in "
                f"'{label}' name different districts: set district_code under [districts.\"{label}\"] in "
                "plan.toml."
            )
        if codes:
            return self.get(codes[0]), ""
        if len(names) == 1:
            return self.get(names[0]), ""
        if not names:
            return None, (
                f"Tên '{label}' không khớp mã hay tên huyện cũ nào{scope_vi}; đổi tên thư mục theo mã huyện "
                f"(ví dụ 086) hoặc đặt district_code trong [districts.\"{label}\"] của plan.toml. / '{label}' "
                f"matches no old district code or name{scope_en}: name the "
                f'folder by the district code (e.g. 086) or set district_code under [districts."{label}"] in '
                "plan.toml."
            )
        listed = ", ".join(f"{c} {self.ref.districts[c][0]} ({self.ref.districts[c][1]})" for c in names)
        return None, (
            f"Tên '{label}' khớp {len(names)} huyện: {listed}; ghi province trong [plan] hoặc district_code "
            f"trong [districts.\"{label}\"] của plan.toml. / '{label}' matches {len(names)} districts: "
            f'{listed}: set province under [plan] or district_code under [districts."{label}"] in plan.toml.'
        )


def _strip_province(folded: str) -> str:
    for prefix in ("tinh", "thanh pho"):
        if folded.startswith(prefix + " "):
            return folded[len(prefix) + 1 :]
    return folded


@dataclass
class _Group:
    label: str  # the sub-folder's name or a top-level file's name
    path: Path  # the sub-folder, or the top-level file
    files: list[Path]
    override: DistrictOverride | None = None


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith((".", "~$")) for part in path.relative_to(root).parts)


def _groups(exports: Path, out: Path) -> list[_Group]:
    groups: list[_Group] = []
    for entry in sorted(exports.iterdir()):
        if _hidden(entry, exports) or entry.resolve() == out or entry.name == SETTINGS_FILE:
            continue
        if entry.is_dir():
            files = sorted(
                p
                for p in entry.rglob("*")
                if p.is_file() and not _hidden(p, exports) and out not in p.parents
            )
            groups.append(_Group(entry.name, entry, files))
        else:
            groups.append(_Group(entry.stem, entry, [entry]))
    return groups


def _rel(path: Path, base: Path) -> str:
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


def _detect(
    path: Path, exports: Path, plan_dir: Path, settings: PlanSettings
) -> tuple[list[dict[str, Any]], list[Undecided]]:
    """The batch sources one file holds (SourceConfig fields, paths relative to the plan's folder), each
    decided by the same reader ``sources inspect`` uses, or why not."""
    from handover.sources.files import sniff_kind, suffix_kind

    rel = _rel(path, exports)
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
    districts = _Districts(load_reference(), settings.plan.province)
    out.mkdir(parents=True, exist_ok=True)

    resolved: dict[str, tuple[District, list[_Group]]] = {}
    undecided: list[Undecided] = []
    for group in _groups(exports, out):
        rel = _rel(group.path, exports)
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
        labels = ", ".join(_rel(g.path, exports) for g in groups)
        sources: list[dict[str, Any]] = []
        lacking: list[Undecided] = []
        for group in groups:
            if not group.files:
                lacking.append(
                    Undecided(
                        path=_rel(group.path, exports),
                        reason="Thư mục trống. / The folder is empty: put the district's exports in it.",
                    )
                )
            for file in group.files:
                found, bad = _detect(file, exports, out, settings)
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
            province_slug=slug(_strip_province(fold(district.province_name))),
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


def plan_text(plan: Plan) -> str:
    """``plan.toml`` as written by ``handover plan``."""
    doc: dict[str, Any] = {"plan": plan.plan.model_dump(exclude_none=True)}
    if plan.batch:
        doc["batch"] = [{**b.model_dump(), "config": b.config.as_posix()} for b in plan.batch]
    if plan.undecided:
        doc["undecided"] = [u.model_dump() for u in plan.undecided]
    head = (
        "# Written by `handover plan`: one [[batch]] per old district (config relative to this folder), one\n"
        "# [[undecided]] per file or folder that got no configuration, with the reason. Run: handover run-many "
        "plan.toml\n\n"
    )
    return head + dump_toml(doc)


_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        value = value.as_posix()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(doc: dict[str, Any], prefix: str = "") -> str:
    """A TOML document of plain values, tables and arrays of tables (``None`` values are left out)."""
    lines: list[str] = []
    tables: list[str] = []
    for key, value in doc.items():
        name = f"{prefix}.{_key(key)}" if prefix else _key(key)
        if value is None:
            continue
        if isinstance(value, dict):
            tables.append(f"[{name}]\n" + dump_toml(value, name))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.extend(f"[[{name}]]\n" + dump_toml(v, name) for v in value)
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    text = "\n".join(lines) + ("\n" if lines else "")
    return text + "".join(("\n" if text or i else "") + t for i, t in enumerate(tables))
