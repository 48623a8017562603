"""The batch's loaded rows and who receives them.

A ledger row is joined to the loaded row it produced on ``source_id = source_system`` and its ``natural_key``
equal to the row's natural key (:func:`handover.keys_sql.key_matches`).
A receiver is a new commune, or a provincial department for the dossiers the routing table sends to the
province (:func:`handover.exports.portal.routed_to_province`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Connection, and_, func, select

from handover.keys_sql import key_matches
from handover.models import Entity
from handover.target.schema import dossiers, ledger, records
from handover.text import clean


@dataclasses.dataclass(frozen=True)
class Commune:
    """A receiving new commune of the batch: loaded dossiers and records, and the old districts giving them."""

    code: str | None
    name: str | None
    dossiers: int
    records: int
    old_districts: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Department:
    """A provincial department receiving loaded dossiers of the batch: those whose procedure the routing table
    sends to the province (:func:`handover.exports.portal.routed_to_province`), in one new province. ``code``
    (``<province code>-<ASCII slug of the name>``, e.g. ``15-so-cong-thuong``) names its record and file;
    ``name`` is printed as the receiving side (``"Sở Công Thương, Tỉnh Lào Cai"``); ``agencies``: the
    ``handling_agency`` values that name it (the same name, cleaned)."""

    code: str
    name: str
    dossiers: int
    records: int
    old_districts: tuple[str, ...]
    province_code: str | None
    agency: str
    agencies: tuple[str, ...]


def dossier_join():
    """The ledger joined to ``dossiers`` by source and natural key (:func:`handover.keys_sql.key_matches`)."""
    return ledger.join(
        dossiers,
        and_(
            dossiers.c.source_system == ledger.c.source_id,
            key_matches(Entity.DOSSIER, dossiers, ledger.c.natural_key),
        ),
    )


def record_join():
    """The ledger joined to ``records`` by source and natural key (:func:`handover.keys_sql.key_matches`).
    Besides the key equality, the key's two parts equal the record's columns, so that each ledger row finds its
    record through the unique index (source_system, record_type, record_number). With the key equality alone,
    SQLite, and PostgreSQL and MariaDB without fresh statistics, walk the batch's ledger and compare each row's
    key with every record of its source, a time growing as the square of the records."""
    return ledger.join(
        records,
        and_(
            records.c.source_system == ledger.c.source_id,
            key_matches(Entity.RECORD, records, ledger.c.natural_key),
        ),
    )


def loaded_where(entity: str, batch_id: str):
    return and_(ledger.c.batch_id == batch_id, ledger.c.disposition == "loaded", ledger.c.entity == entity)


def receiving_communes(conn: Connection, batch_id: str, *, new_only: bool = False) -> list[Commune]:
    """Every new commune that receives at least one loaded dossier or record of the batch, by code. A dossier
    routed to a provincial department (:func:`handover.exports.portal.routed_to_province`) is the department's,
    not its commune's: it is counted by :func:`receiving_departments`. ``new_only`` (a later round,
    :func:`handover_rounds`): only the rows the batch newly handed over (:func:`newly_handed_over`)."""
    return _receivers(conn, batch_id, new_only)[0]


def receiving_departments(conn: Connection, batch_id: str, *, new_only: bool = False) -> list[Department]:
    """Every provincial department that receives at least one loaded dossier of the batch, by code
    (``new_only``: as for :func:`receiving_communes`)."""
    return _receivers(conn, batch_id, new_only)[1]


def receivers(
    conn: Connection, batch_id: str, *, new_only: bool = False
) -> tuple[list[Commune], list[Department]]:
    """:func:`receiving_communes` and :func:`receiving_departments` from one read of the batch's loaded rows
    (each of them alone reads them all)."""
    return _receivers(conn, batch_id, new_only)


def department_code(province_code: str | None, agency: str) -> str:
    """A department's code: ``<new province code>-<ASCII slug of its name>`` (``15-so-cong-thuong``)."""
    from handover.text import ascii_slug

    return f"{province_code or '00'}-{ascii_slug(agency)}"


def routed_department(level: Any, agency: Any, province: str | None) -> str | None:
    """The code of the department a dossier with this routing goes to
    (:func:`handover.exports.portal.routed_to_province`), or None: it goes to its commune."""
    from handover.exports.portal import routed_to_province

    if not routed_to_province({"handling_level": level, "handling_agency": agency}):
        return None
    return department_code(province, clean(agency))


def _receivers(conn: Connection, batch_id: str, new_only: bool) -> tuple[list[Commune], list[Department]]:
    """The batch's receiving communes and departments, from one count of its loaded rows per commune, old
    district and routing (level, agency, province)."""
    found: dict[str | None, dict[str, Any]] = {}
    routed: dict[str, dict[str, Any]] = {}
    for table, join, entity in ((dossiers, dossier_join(), "dossier"), (records, record_join(), "record")):
        c = table.c
        routing = (c.handling_level, c.handling_agency, c.new_province_code) if entity == "dossier" else ()
        stmt = select(
            c.new_commune_code, func.max(c.new_commune_name), c.old_district_name, func.count(), *routing
        ).group_by(c.new_commune_code, c.old_district_name, *routing)
        if new_only:
            stmt = stmt.where(newly_handed_over(table, batch_id))
        else:
            stmt = stmt.select_from(join).where(loaded_where(entity, batch_id))
        for code, name, district, n, *route in conn.execute(stmt):
            dept = routed_department(*route) if route else None
            if dept is not None:
                item = routed.setdefault(
                    dept,
                    {
                        "agency": clean(route[1]),
                        "province": route[2],
                        "n": 0,
                        "raw": set(),
                        "districts": set(),
                    },
                )
                item["n"] += int(n)
                item["raw"].add(route[1])
                if district:
                    item["districts"].add(district)
                continue
            item = found.setdefault(code, {"names": {}, "dossier": 0, "record": 0, "districts": set()})
            names = item["names"].setdefault(entity, {})
            if name is not None and (names.get(district) is None or name > names[district]):
                names[district] = name
            item[entity] += int(n)
            if district:
                item["districts"].add(district)
    communes = [
        Commune(code, _first_name(v["names"]), v["dossier"], v["record"], tuple(sorted(v["districts"])))
        for code, v in sorted(found.items(), key=lambda kv: kv[0] or "\uffff")
    ]
    provinces = province_names() if routed else {}
    departments = [
        Department(
            code,
            ", ".join(p for p in (v["agency"], provinces.get(v["province"] or "", "")) if p),
            v["n"],
            0,
            tuple(sorted(v["districts"])),
            v["province"],
            v["agency"],
            tuple(sorted(v["raw"])),
        )
        for code, v in sorted(routed.items())
    ]
    return communes, departments


def _first_name(names: dict[str, dict[str | None, str | None]]) -> str | None:
    """A commune's name: the first of its groups (dossiers then records; by old district, NULL first) whose
    greatest name is not empty ."""
    for entity in ("dossier", "record"):
        by_district = names.get(entity, {})
        for district in sorted(by_district, key=lambda d: (d is not None, d or "")):
            if by_district[district]:
                return by_district[district]
    return None


def province_names() -> dict[str, str]:
    """New province code → name, from the units reference."""
    from handover.resources import mappings_dir
    from handover.units.reference import Reference

    return Reference.load(mappings_dir() / "units").new_provinces


def newly_handed_over(table: Any, batch_id: str):
    """The rows of ``dossiers`` or ``records`` the batch newly handed over: those it brought into the target
    (the row's ``batch_id``: it inserted them, or a rollback of the batch that had passed them to it). Every
    such row is a loaded row of the batch's ledger (``handover db verify`` checks it); the loaded rows it found
    ``unchanged`` or updated were handed over by an earlier batch."""
    return table.c.batch_id == batch_id
