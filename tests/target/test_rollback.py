"""Rollback: exactly what one batch loaded goes; other batches keep their rows and fingerprints."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text

from handover.errors import LoadError
from handover.target import schema
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
    rollback_batch(engine, "A")
    with pytest.raises(LoadError, match="already rolled back"):
        rollback_batch(engine, "A")


def test_unknown_batch_lists_the_known_ones(engine: Engine) -> None:
    _load(engine, "2025-07-bao-thang", [f.dossier("H-1")])
    with pytest.raises(LoadError) as caught:
        rollback_batch(engine, "nope")
    assert caught.value.message == "there is no batch 'nope' in this target; known batches: 2025-07-bao-thang"
