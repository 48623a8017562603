"""Rollback: exactly what one batch loaded goes; other batches keep their rows and fingerprints."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select, text

from handover.errors import BatchNotFoundError, LoadError
from handover.models import Entity
from handover.target import schema
from handover.target.db import open_target
from handover.target.hashing import loaded_fingerprint
from handover.target.loader import Loader
from handover.target.rollback import rollback_batch
from handover.target.verify import verify_batch
from tests.target import factories as f


def _load(engine: Engine, batch_id: str, rows: list, policy: str = "keep") -> str:
    loader = Loader(engine, batch_id, conflict_policy=policy)  # type: ignore[arg-type]
    loader.begin_batch(batch_id, "c" * 64, [f.source()])
    loader.load_chunk(f.chunk(rows, findings=[f.warning("bt", 2, rows[0]["dossier_code"])]))
    return loader.finish_batch({})


def _codes(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(schema.dossiers.c.dossier_code, schema.dossiers.c.batch_id)).all())


def _table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in schema.metadata.tables
        }


def test_rollback_of_one_of_two_batches(engine: Engine) -> None:
    fp_a = _load(engine, "A", [f.dossier("H-1"), f.dossier("H-2"), f.dossier("H-3")])
    _load(
        engine,
        "B",
        [f.dossier("H-3"), f.dossier("H-4"), f.dossier("H-5"), f.dossier("H-6", disposition="review")],
    )
    assert set(_codes(engine)) == {"H-1", "H-2", "H-3", "H-4", "H-5"}

    before = _table_counts(engine)
    dry = rollback_batch(engine, "B", dry_run=True)
    assert _table_counts(engine) == before  # a dry run changes nothing
    result = rollback_batch(engine, "B")
    assert dry.model_dump(exclude={"dry_run"}) == result.model_dump(exclude={"dry_run"})
    assert result.rows_deleted == {"chunks": 1, "dossiers": 2, "findings": 1, "ledger": 4}

    assert _codes(engine) == {"H-1": "A", "H-2": "A", "H-3": "A"}  # H-3 was only 'unchanged' in B
    assert loaded_fingerprint(engine, "A") == fp_a
    check = verify_batch(engine, "A")
    assert check.ok and check.recomputed_fingerprint == fp_a
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(schema.batches.c.batch_id, schema.batches.c.status)).all())
        events = (
            conn.execute(select(schema.batch_events.c.event).where(schema.batch_events.c.batch_id == "B"))
            .scalars()
            .all()
        )
        left = conn.execute(text("SELECT COUNT(*) FROM ledger WHERE batch_id = 'B'")).scalar_one()
    assert statuses == {"A": "finished", "B": "rolled_back"}
    assert events == ["started", "finished", "rolled_back"]
    assert left == 0


def test_rollback_restores_the_version_it_updated(engine: Engine) -> None:
    fp_a = _load(engine, "A", [f.dossier("H-1", phone="0912345678"), f.dossier("H-2")])
    _load(engine, "B", [f.dossier("H-1", phone="0987654321")], policy="update")
    result = rollback_batch(engine, "B")
    assert result.rows_restored == {"dossiers": 1}
    with engine.connect() as conn:
        row = (
            conn.execute(select(schema.dossiers).where(schema.dossiers.c.dossier_code == "H-1"))
            .mappings()
            .one()
        )
        assert conn.execute(text("SELECT COUNT(*) FROM history")).scalar_one() == 0
    assert (row["phone"], row["batch_id"], row["updated_batch_id"]) == ("0912345678", "A", None)
    assert verify_batch(engine, "A").ok
    assert loaded_fingerprint(engine, "A") == fp_a


@pytest.mark.parametrize("policy", ["keep", "update"])
def test_rollback_gives_back_the_time_of_day_of_the_version_that_stays(engine: Engine, policy: str) -> None:
    """A's version (with a time of day) and B's (another time) of one dossier: rolling back B leaves A's, from
    history (update) or as A found it (keep); rolling back A then hands B its own, from B's ledger payload."""
    from datetime import datetime

    fp_a = _load(engine, "A", [f.dossier("H-1", received_at="2025-02-23T14:35:20")])
    fp_b = _load(
        engine,
        "B",
        [f.dossier("H-1", received_at="2025-02-23T16:00:00", due_at="2025-03-10T09:30:00")],
        policy,
    )
    rollback_batch(engine, "B")
    d = schema.dossiers.c
    with engine.connect() as conn:
        row = conn.execute(select(d.received_at, d.due_at, d.batch_id)).one()
    assert tuple(row) == (datetime(2025, 2, 23, 14, 35, 20), None, "A")
    assert verify_batch(engine, "A").ok and loaded_fingerprint(engine, "A") == fp_a
    _load(
        engine,
        "B",
        [f.dossier("H-1", received_at="2025-02-23T16:00:00", due_at="2025-03-10T09:30:00")],
        policy,
    )
    rollback_batch(engine, "A")
    with engine.connect() as conn:
        row = conn.execute(select(d.received_at, d.due_at)).one()
    assert tuple(row) == (datetime(2025, 2, 23, 16, 0), datetime(2025, 3, 10, 9, 30))
    check = verify_batch(engine, "B")
    assert check.ok and check.recomputed_fingerprint == fp_b, check.problems


def test_rows_another_batch_also_loaded_stay_when_the_first_is_rolled_back(engine: Engine) -> None:
    _load(engine, "A", [f.dossier("H-1"), f.dossier("H-2")])
    fp_b = _load(engine, "B", [f.dossier("H-2"), f.dossier("H-3")])
    result = rollback_batch(engine, "A")
    assert result.rows_kept_for_other_batches == 1
    assert _codes(engine) == {"H-2": "B", "H-3": "B"}
    check = verify_batch(engine, "B")
    assert check.ok and check.recomputed_fingerprint == fp_b


def test_a_rolled_back_batch_can_be_loaded_again(engine: Engine) -> None:
    fp = _load(engine, "A", [f.dossier("H-1")])
    rollback_batch(engine, "A")
    assert _load(engine, "A", [f.dossier("H-1")]) == fp
    first = rollback_batch(engine, "A")
    before = _table_counts(engine)
    again = rollback_batch(engine, "A")  # nothing to do: says when it was done, with that rollback's figures
    assert _table_counts(engine) == before
    assert again.already_rolled_back and not first.already_rolled_back
    assert again.rolled_back_at is not None
    assert (again.rows_deleted, again.rows_restored) == (first.rows_deleted, first.rows_restored)


def test_unknown_batch_lists_the_known_ones(engine: Engine) -> None:
    _load(engine, "2025-07-bao-thang", [f.dossier("H-1")])
    with pytest.raises(BatchNotFoundError) as caught:
        rollback_batch(engine, "nope")
    assert caught.value.message == "there is no batch 'nope' in this target; known batches: 2025-07-bao-thang"


# Chains of three batches on one key (each also loads a row of its own), rolled back in every order: after each
# rollback the target must be what loading only the batches still standing would have made. Policy update,
# unless a batch names "keep".
CHAINS: dict[str, list[tuple[str, ...]]] = {
    "insert, update, update": [("A", "0911111111"), ("B", "0922222222"), ("C", "0933333333")],
    "insert, same again, update": [("A", "0911111111"), ("R", "0911111111"), ("U", "0933333333")],
    "insert, keep, update": [("A", "0911111111"), ("K", "0922222222", "keep"), ("U", "0933333333")],
    "insert, keep, keep": [("A", "0911111111"), ("K", "0922222222", "keep"), ("L", "0933333333", "keep")],
    "insert, keep, same as first": [
        ("A", "0911111111"),
        ("K", "0922222222", "keep"),
        ("R", "0911111111", "keep"),
    ],
    "insert, keep, same as kept": [
        ("A", "0911111111"),
        ("K", "0922222222", "keep"),
        ("S", "0922222222", "keep"),
    ],
    "insert, update, keep": [("A", "0911111111"), ("U", "0933333333"), ("K", "0922222222", "keep")],
    "insert, same again, keep": [("A", "0911111111"), ("R", "0911111111"), ("K", "0922222222", "keep")],
}


def _chain_load(engine: Engine, chain: list[tuple[str, ...]], keep: set[str]) -> dict[str, str]:
    """Load the batches of ``chain`` that are in ``keep``, in order → batch id → fingerprint."""
    return {
        batch_id: _load(
            engine, batch_id, [f.dossier("H-1", phone=phone), f.dossier(f"H-{batch_id}")], policy or "update"
        )
        for batch_id, phone, policy in ((*link, None)[:3] for link in chain)
        if batch_id in keep
    }


def _state(engine: Engine) -> tuple[list[tuple], list[tuple]]:
    d, h = schema.dossiers.c, schema.history.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(d.dossier_code, d.phone, d.content_hash, d.batch_id, d.updated_batch_id)
        ).all()
        history = conn.execute(select(h.natural_key, h.content_hash, h.replaced_by_batch)).all()
    return sorted(tuple(r) for r in rows), sorted(tuple(r) for r in history)


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(schema.metadata.sorted_tables):
            conn.execute(delete(table))


# (chain, batches standing) → the target that loading only those batches makes, on a SQLite reference: the same
# for the three databases, so worked out once per chain and process.
_EXPECTED: dict[tuple[str, frozenset[str]], tuple[list[tuple], list[tuple]]] = {}


def _expected(chain_name: str, standing: frozenset[str], folder: Path) -> tuple[list[tuple], list[tuple]]:
    key = (chain_name, standing)
    if key not in _EXPECTED:
        reference = open_target(f"sqlite:///{folder / 'reference.db'}")
        try:
            _empty(reference)
            _chain_load(reference, CHAINS[chain_name], set(standing))
            _EXPECTED[key] = _state(reference)
        finally:
            reference.dispose()
    return _EXPECTED[key]


@pytest.mark.parametrize("chain_name", list(CHAINS))
def test_every_rollback_order_leaves_what_the_remaining_batches_alone_would_have_loaded(
    engine: Engine, tmp_path: Path, chain_name: str
) -> None:
    chain = CHAINS[chain_name]
    ids = [link[0] for link in chain]
    for order in itertools.permutations(ids):
        _empty(engine)
        fingerprints = _chain_load(engine, chain, set(ids))
        standing = set(ids)
        for batch_id in order:
            rollback_batch(engine, batch_id)
            standing.discard(batch_id)
            where = f"{chain_name}: rolled back {order[: order.index(batch_id) + 1]}"
            assert _state(engine) == _expected(chain_name, frozenset(standing), tmp_path), where
            for other in standing:
                check = verify_batch(engine, other)
                assert check.ok, (where, other, check.problems)
                assert check.recomputed_fingerprint == fingerprints[other], (where, other)


def test_rollback_of_a_batch_that_updated_thousands_of_rows_restores_each_row(engine: Engine) -> None:
    """More keys than one slice of look-ups (900): every row gets its own replaced version back."""
    n = 1000
    phones = {f"H-{i:04d}": f"09{i:08d}" for i in range(n)}
    fp_a = _load(engine, "A", [f.dossier(code, phone=phone) for code, phone in phones.items()])
    _load(engine, "B", [f.dossier(code, phone="0999999999") for code in phones], policy="update")
    result = rollback_batch(engine, "B")
    assert (result.rows_restored, result.rows_deleted["history"]) == ({"dossiers": n}, n)
    with engine.connect() as conn:
        d = schema.dossiers.c
        rows = conn.execute(select(d.dossier_code, d.phone, d.batch_id, d.updated_batch_id)).all()
        assert conn.execute(text("SELECT COUNT(*) FROM history")).scalar_one() == 0
    assert {code: (phone, batch, by) for code, phone, batch, by in rows} == {
        code: (phone, "A", None) for code, phone in phones.items()
    }
    check = verify_batch(engine, "A")
    assert check.ok and check.recomputed_fingerprint == fp_a


def test_a_rollback_reads_the_batch_a_page_at_a_time(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger's updated keys and the owned rows come a page at a time (here 4 rows), never all at once, and
    the target ends as if the rolled-back batch had never run: the versions it replaced are back, the rows it
    inserted are gone, and those another batch also loaded pass to that batch."""
    from handover.target import rollback_rows

    pages: list[int] = []
    real_pages = rollback_rows.pages

    def spy(conn, statement):  # type: ignore[no-untyped-def]
        for page in real_pages(conn, statement):
            pages.append(len(page))
            yield page

    monkeypatch.setattr(rollback_rows, "PAGE", 4)
    monkeypatch.setattr(rollback_rows, "pages", spy)

    a_rows = [f.dossier(f"H-{i:03d}", phone=f"09{i:08d}") for i in range(25)]
    updated = [f.dossier(f"H-{i:03d}", phone="0999999999") for i in range(10)]
    own = [f.dossier(f"B-{i:03d}") for i in range(11)]
    c_rows = [own[i] for i in range(0, 11, 3)] + [f.dossier("C-001")]

    def load_all(target: Engine, batches: list[str]) -> dict[str, str]:
        rows = {"A": a_rows, "B": updated + a_rows[10:15] + own, "C": c_rows}
        return {b: _load(target, b, rows[b], "update") for b in batches}

    fingerprints = load_all(engine, ["A", "B", "C"])
    result = rollback_batch(engine, "B")
    assert pages and max(pages) <= 4 and len(pages) >= 6  # 10 updated keys, then 11 owned rows
    assert result.rows_restored == {"dossiers": 10}
    assert result.rows_kept_for_other_batches == 4  # B-000, B-003, B-006, B-009 pass to C
    assert result.rows_deleted["dossiers"] == 7

    reference = open_target(f"sqlite:///{tmp_path / 'reference.db'}")
    try:
        load_all(reference, ["A", "C"])
        assert _state(engine) == _state(reference)
    finally:
        reference.dispose()
    for batch_id in ("A", "C"):
        check = verify_batch(engine, batch_id)
        assert check.ok and check.recomputed_fingerprint == fingerprints[batch_id], check.problems


def test_a_postgresql_role_that_may_not_create_temporary_tables_still_rolls_back(pg_url: str) -> None:
    """On PostgreSQL the replaced versions go back through a temporary table; a role without the TEMPORARY
    privilege gets them back a statement per row, with the same result."""
    import uuid

    from sqlalchemy.engine import make_url

    owner = open_target(pg_url)
    role = f"ho_notemp_{uuid.uuid4().hex[:8]}"
    database = make_url(pg_url).database
    try:
        fp_a = _load(owner, "A", [f.dossier(f"H-{i}", phone=f"09{i:08d}") for i in range(5)])
        _load(owner, "B", [f.dossier(f"H-{i}", phone="0999999999") for i in range(5)], policy="update")
        with owner.begin() as conn:
            conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'"))
            conn.execute(text(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"))
            conn.execute(text(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}"))
            conn.execute(text(f"REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC"))
        restricted = open_target(
            make_url(pg_url).set(username=role, password="pw").render_as_string(hide_password=False)
        )
        try:
            with restricted.connect() as conn, pytest.raises(Exception, match="permission denied"):
                conn.execute(text("CREATE TEMPORARY TABLE probe (x int)"))
            result = rollback_batch(restricted, "B")
        finally:
            restricted.dispose()
        assert result.rows_restored == {"dossiers": 5}
        with owner.connect() as conn:
            d = schema.dossiers.c
            rows = conn.execute(select(d.dossier_code, d.phone, d.batch_id, d.updated_batch_id)).all()
        assert sorted(rows) == [(f"H-{i}", f"09{i:08d}", "A", None) for i in range(5)]
        check = verify_batch(owner, "A")
        assert check.ok and check.recomputed_fingerprint == fp_a
    finally:
        with owner.begin() as conn:
            conn.execute(text(f"GRANT TEMPORARY ON DATABASE {database} TO PUBLIC"))
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        owner.dispose()


# The case: beta loads; alpha, run later with policy keep, meets rows whose content changed and keeps
# beta's version; beta is rolled back. The target must then be what alpha alone would have left.
# Columns left out of the comparison, and why they legitimately differ:
# * ``id``: the surrogate key; a row beta inserted keeps the id the database gave it then, alpha alone would have
#   got other ids (nothing refers to them: the ledger, history and reports name rows by natural key);
# * ``loaded_at``: when the row was physically written, which is the clock of the run, not content.
# Every other column (content, content_hash, batch_id, updated_batch_id) must be equal.
_IGNORED = {"id", "loaded_at"}
_N_CHANGED = 1009  # more than one slice of look-ups (900)


def _load_both(engine: Engine, batch_id: str, dossiers: list, records: list, policy: str) -> str:
    loader = Loader(engine, batch_id, conflict_policy=policy)  # type: ignore[arg-type]
    loader.begin_batch(batch_id, "c" * 64, [f.source("bt"), f.source("hk", entity=Entity.RECORD)])
    loader.load_chunk(f.chunk(dossiers))
    loader.load_chunk(f.chunk(records, source_id="hk", entity=Entity.RECORD))
    return loader.finish_batch({})


def _beta(engine: Engine, policy: str = "keep") -> str:
    dossiers = [f.dossier(f"D-{i:04d}", summary=f"beta {i}", phone="0911111111") for i in range(1100)]
    dossiers += [f.dossier(f"B-{i:03d}", summary="beta only") for i in range(30)]
    records = [f.record(f"R-{i:03d}", amount=1000.0 + i) for i in range(40)]
    return _load_both(engine, "beta", dossiers, records, policy)


def _alpha(engine: Engine, policy: str = "keep") -> str:
    # D-0000..D-1008 changed, D-1009..D-1059 the same as beta's, D-1060..D-1099 not delivered; rows of its own
    dossiers = [
        f.dossier(f"D-{i:04d}", summary=f"alpha {i}", phone="0922222222", received_date="2025-06-21")
        for i in range(_N_CHANGED)
    ]
    dossiers += [
        f.dossier(f"D-{i:04d}", summary=f"beta {i}", phone="0911111111") for i in range(_N_CHANGED, 1060)
    ]
    dossiers += [f.dossier(f"A-{i:03d}", summary="alpha only") for i in range(20)]
    records = [f.record(f"R-{i:03d}", amount=2000.0 + i, subject_name="Lò Thị Mai") for i in range(25)]
    records += [f.record(f"R-{i:03d}", amount=1000.0 + i) for i in range(25, 35)]
    return _load_both(engine, "alpha", dossiers, records, policy)


def _tables(engine: Engine) -> dict[str, list[tuple]]:
    """The dossiers, records and history tables row for row (sorted), without the columns of ``_IGNORED``;
    a history entry's stored row without them either."""
    out: dict[str, list[tuple]] = {}
    with engine.connect() as conn:
        for table in (schema.dossiers, schema.records):
            columns = [c for c in table.columns if c.name not in _IGNORED]
            out[table.name] = sorted(tuple(r) for r in conn.execute(select(*columns)).all())
        h = schema.history.c
        entries = []
        for key, digest, by, row_json in conn.execute(
            select(h.natural_key, h.content_hash, h.replaced_by_batch, h.row_json)
        ):
            stored = {k: v for k, v in json.loads(row_json).items() if k not in _IGNORED}
            entries.append((key, digest, by, json.dumps(stored, sort_keys=True)))
        out["history"] = sorted(entries)
    return out


@pytest.mark.parametrize("policy", ["keep", "update"])
def test_rollback_of_a_batch_whose_version_another_batch_kept_leaves_that_batch_s_own(
    engine: Engine, tmp_path: Path, policy: str
) -> None:
    _beta(engine)
    fp_alpha = _alpha(engine, policy)
    with engine.connect() as conn:
        lg = schema.ledger.c
        actions = dict(
            conn.execute(
                select(lg.action, func.count()).where(lg.batch_id == "alpha").group_by(lg.action)
            ).all()
        )
    changed = "conflict_kept" if policy == "keep" else "updated"
    assert actions == {changed: _N_CHANGED + 25, "unchanged": 61, "inserted": 20}

    result = rollback_batch(engine, "beta")
    assert result.rows_kept_for_other_batches == 1060 + 35
    if policy == "keep":
        assert result.rows_given_heir_version == _N_CHANGED + 25

    reference = open_target(f"sqlite:///{tmp_path / 'reference.db'}")
    try:
        assert _alpha(reference, policy) == fp_alpha
        expected = _tables(reference)
    finally:
        reference.dispose()
    got = _tables(engine)
    assert len(got["dossiers"]) == 1080 and len(got["records"]) == 35
    for name in ("dossiers", "records", "history"):
        assert got[name] == expected[name], name
    check = verify_batch(engine, "alpha")
    assert check.ok and check.recomputed_fingerprint == fp_alpha, check.problems[:3]

    rollback_batch(engine, "alpha")
    assert _table_counts(engine)["dossiers"] == _table_counts(engine)["records"] == 0
    assert _table_counts(engine)["history"] == 0


@pytest.mark.parametrize("policy", ["keep", "update"])
def test_rolling_back_alpha_then_beta_empties_the_target(engine: Engine, policy: str) -> None:
    _beta(engine)
    _alpha(engine, policy)
    rollback_batch(engine, "alpha")
    with engine.connect() as conn:
        d = schema.dossiers.c
        summaries = dict(conn.execute(select(d.dossier_code, d.summary)).all())
    assert summaries["D-0000"] == "beta 0" and set(summaries.values()) <= {
        *(f"beta {i}" for i in range(1100)),
        "beta only",
    }
    rollback_batch(engine, "beta")
    counts = _table_counts(engine)
    assert (counts["dossiers"], counts["records"], counts["history"], counts["ledger"]) == (0, 0, 0, 0)


def test_a_kept_version_missing_from_the_ledger_stops_the_rollback_and_changes_nothing(
    engine: Engine,
) -> None:
    _load(engine, "beta", [f.dossier("H-1", summary="beta"), f.dossier("H-2")])
    _load(engine, "alpha", [f.dossier("H-1", summary="alpha")])
    with engine.begin() as conn:  # a payload cut short: not alpha's whole version any more
        conn.execute(
            schema.ledger.update()
            .where(schema.ledger.c.batch_id == "alpha")
            .values(payload='{"summary": "alpha"}')
        )
    before = _tables(engine), _table_counts(engine)
    with pytest.raises(LoadError) as caught:
        rollback_batch(engine, "beta")
    assert caught.value.message == (
        "batch 'alpha' kept the version of batch 'beta' of dossier H-1 (source 'bt'), and its ledger holds no "
        "complete copy of its own version to give back"
    )
    assert (_tables(engine), _table_counts(engine)) == before
