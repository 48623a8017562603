"""load_chunk on the three databases: insert, unchanged, conflicts, duplicates, ledger, atomicity, resume."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import pytest
from sqlalchemy import Engine, func, select, text

from handover.errors import LoadError
from handover.models import DISPOSITIONS, Entity
from handover.target import schema, writers
from handover.target.hashing import content_hash, loaded_fingerprint
from handover.target.loader import Loader
from tests.target import factories as f


def _count(engine: Engine, table: str, where: str = "1=1") -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {where}")).scalar_one()


def _load_batch(engine: Engine, batch_id: str, chunks: list, *, policy: str = "keep", sha: str = f.SHA_A):
    loader = Loader(engine, batch_id, conflict_policy=policy)  # type: ignore[arg-type]
    loader.begin_batch(f"batch {batch_id}", "c" * 64, [f.source(sha=sha)])
    results = [loader.load_chunk(c) for c in chunks]
    fingerprint = loader.finish_batch({"chunks": len(chunks)})
    return results, fingerprint


def test_insert_then_rerun_under_a_new_batch_is_unchanged(engine: Engine) -> None:
    rows = [
        f.dossier("H48-0001"),
        f.dossier("H48-0002"),
        f.dossier("H48-0003", disposition="review", reason="split"),
    ]
    (first,), _ = _load_batch(engine, "b1", [f.chunk(rows)])
    assert (first.inserted, first.counts.loaded, first.counts.review) == (2, 2, 1)
    (second,), _ = _load_batch(engine, "b2", [f.chunk(rows)])
    assert (second.inserted, second.unchanged, second.conflicts) == (0, 2, 0)
    assert _count(engine, "dossiers") == 2
    assert _count(engine, "ledger", "batch_id = 'b2' AND action = 'unchanged'") == 2
    with engine.connect() as conn:
        got = conn.execute(
            select(
                schema.dossiers.c.dossier_code, schema.dossiers.c.batch_id, schema.dossiers.c.received_date
            )
        ).all()
    assert sorted((c, b, str(d)) for c, b, d in got) == [
        ("H48-0001", "b1", "2025-06-20"),
        ("H48-0002", "b1", "2025-06-20"),
    ]


def test_conflict_keep_reports_and_keeps_the_loaded_version(engine: Engine) -> None:
    _load_batch(engine, "b1", [f.chunk([f.dossier("H48-0001", phone="0912345678")])])
    again = f.chunk([f.dossier("H48-0001", phone="0987654321")])
    (result,), _ = _load_batch(engine, "b2", [again])
    assert (result.conflicts, result.updated, result.inserted) == (1, 0, 0)
    assert [x.check for x in result.findings] == ["content_conflict"]
    assert result.findings[0].severity == "warning"
    with engine.connect() as conn:
        assert conn.execute(select(schema.dossiers.c.phone)).scalar_one() == "0912345678"
        action, payload = conn.execute(
            select(schema.ledger.c.action, schema.ledger.c.payload).where(schema.ledger.c.batch_id == "b2")
        ).one()
        stored = conn.execute(
            select(schema.findings.c.check_name, schema.findings.c.severity).where(
                schema.findings.c.batch_id == "b2"
            )
        ).all()
    assert action == "conflict_kept"
    assert json.loads(payload)["phone"] == "0987654321"  # the delivered version is not lost
    assert stored == [("content_conflict", "warning")]
    assert _count(engine, "history") == 0


def test_conflict_update_keeps_the_old_version_in_history(engine: Engine) -> None:
    _load_batch(engine, "b1", [f.chunk([f.dossier("H48-0001", phone="0912345678")])])
    again = f.chunk([f.dossier("H48-0001", phone="0987654321")])
    (result,), _ = _load_batch(engine, "b2", [again], policy="update")
    assert (result.conflicts, result.updated) == (1, 1)
    with engine.connect() as conn:
        row = conn.execute(select(schema.dossiers)).mappings().one()
        history = conn.execute(select(schema.history)).mappings().one()
    assert (row["phone"], row["batch_id"], row["updated_batch_id"]) == ("0987654321", "b1", "b2")
    old = json.loads(history["row_json"])
    assert (old["phone"], old["batch_id"], history["replaced_by_batch"]) == ("0912345678", "b1", "b2")
    assert history["content_hash"] == old["content_hash"] != row["content_hash"]


def test_cross_chunk_duplicates_within_a_batch(engine: Engine) -> None:
    chunks = [
        f.chunk([f.dossier("H48-0001"), f.dossier("H48-0002")], index=0),
        f.chunk([f.dossier("H48-0001"), f.dossier("H48-0002", fee=50000.0), f.dossier("H48-0004")], index=1),
    ]
    results, _ = _load_batch(engine, "b1", chunks)
    second = results[1]
    assert (second.counts.duplicate, second.counts.quarantined, second.counts.loaded) == (1, 1, 1)
    assert [x.check for x in second.findings] == ["dossier_code_unique"]
    assert second.findings[0].severity == "error" and second.findings[0].row == 1003
    assert _count(engine, "dossiers") == 3
    with engine.connect() as conn:
        fee = conn.execute(
            select(schema.dossiers.c.fee).where(schema.dossiers.c.dossier_code == "H48-0002")
        ).scalar()
    assert fee == 0.0  # the first delivery stays


@pytest.mark.parametrize("policy", ["keep", "update"])
def test_cross_chunk_duplicates_of_keys_an_earlier_batch_loaded(engine: Engine, policy: str) -> None:
    """The ledger look-up for keys this batch loaded in an earlier chunk also holds when the target row belongs
    to another batch (found unchanged, kept in a conflict, or updated)."""
    _load_batch(engine, "b1", [f.chunk([f.dossier("H48-0001"), f.dossier("H48-0002", phone="0911111111")])])
    chunks = [
        f.chunk([f.dossier("H48-0001"), f.dossier("H48-0002", phone="0922222222")], index=0),
        f.chunk(
            [
                f.dossier("H48-0001"),  # as this batch delivered it in chunk 0: duplicate
                f.dossier("H48-0002", phone="0922222222"),  # the same
                f.dossier("H48-0001", fee=1.0),  # the same key, other content: quarantined
                f.dossier("H48-0002", phone="0911111111"),  # the target's old content, not this batch's
            ],
            index=1,
        ),
    ]
    results, _ = _load_batch(engine, "b2", chunks, policy=policy)
    first, second = results
    assert (first.unchanged, first.conflicts, first.updated) == (1, 1, 1 if policy == "update" else 0)
    assert (second.counts.duplicate, second.counts.quarantined, second.counts.loaded) == (2, 2, 0)
    assert [x.check for x in second.findings] == ["dossier_code_unique"] * 2
    assert _count(engine, "dossiers") == 2
    assert _count(engine, "ledger", "batch_id = 'b2' AND disposition = 'duplicate'") == 2


def _looked_up(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The keys each chunk looks up in the target (:func:`~handover.target.lookup.target_rows`), chunk by
    chunk."""
    from handover.target import chunkload

    calls: list[list[str]] = []
    real = chunkload.target_rows

    def spy(conn, entity, source_id, keys, columns=None):  # type: ignore[no-untyped-def]
        calls.append(list(keys))
        return real(conn, entity, source_id, keys, columns)

    monkeypatch.setattr(chunkload, "target_rows", spy)
    return calls


def test_a_new_source_looks_up_only_the_keys_its_batch_may_have_loaded(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No other batch has rows of the source: the key filter leaves out the keys this batch never loaded, and
    the repeats are still found. With another batch's row of the source there, every key is looked up."""
    calls = _looked_up(monkeypatch)
    first = [f.dossier(f"H48-{i:04d}") for i in range(50)]
    again = [f.dossier("H48-0007"), f.dossier("H48-0100"), f.dossier("H48-0008", fee=1.0)]
    results, _ = _load_batch(engine, "b1", [f.chunk(first, index=0), f.chunk(again, index=1)])
    assert len(calls[0]) == 0  # nothing loaded yet
    # H48-0100 only if it is a false positive
    assert {"H48-0007", "H48-0008"} <= set(calls[1]) and len(calls[1]) <= 3
    assert (results[1].counts.duplicate, results[1].counts.quarantined, results[1].inserted) == (1, 1, 1)
    assert _count(engine, "dossiers") == 51

    calls.clear()
    results, _ = _load_batch(engine, "b2", [f.chunk([f.dossier("H48-0001"), f.dossier("H48-0200")])])
    assert sorted(calls[0]) == ["H48-0001", "H48-0200"]  # b1's rows are there: no filter
    assert (results[0].unchanged, results[0].inserted) == (1, 1)


def test_a_batch_that_starts_on_the_same_source_midway_is_met_by_look_ups(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """b1's key filter answers for its source until b2 loads rows of that source during b1's run. A key both
    deliver then meets the target's unique key; b1 loads the chunk again, looking every key up, and finds b2's row instead of failing."""
    calls = _looked_up(monkeypatch)
    b1 = Loader(engine, "b1")
    b1.begin_batch("b1", "c" * 64, [f.source()])
    b1.load_chunk(f.chunk([f.dossier("H48-0001"), f.dossier("H48-0002")], index=0))
    assert calls == [[]]  # the filter answers: nothing to look up

    b2 = Loader(engine, "b2")
    b2.begin_batch("b2", "c" * 64, [f.source()])
    b2_result = b2.load_chunk(f.chunk([f.dossier("H48-0002"), f.dossier("H48-0003", phone="0911111111")]))
    b2.finish_batch({})
    assert (b2_result.unchanged, b2_result.inserted) == (1, 1)  # b1's row is there: b2 looks everything up

    calls.clear()
    rows = [f.dossier("H48-0003", phone="0922222222"), f.dossier("H48-0004"), f.dossier("H48-0001")]
    result = b1.load_chunk(f.chunk(rows, index=1))
    # the first attempt looked up only the repeat H48-0001; the second every key
    assert calls[-1] == ["H48-0001", "H48-0003", "H48-0004"]
    assert (result.inserted, result.conflicts, result.counts.duplicate) == (1, 1, 1)
    calls.clear()
    b1.load_chunk(f.chunk([f.dossier("H48-0005")], index=2))
    assert calls == [["H48-0005"]]  # the filter no longer answers for the source
    b1.finish_batch({})
    assert _count(engine, "dossiers") == 5
    with engine.connect() as conn:
        owner, phone = conn.execute(
            select(schema.dossiers.c.batch_id, schema.dossiers.c.phone).where(
                schema.dossiers.c.dossier_code == "H48-0003"
            )
        ).one()
    assert (owner, phone) == ("b2", "0911111111")  # kept: b1's conflict policy is "keep"
    assert _count(engine, "chunks", "batch_id = 'b1'") == 3
    assert _count(engine, "ledger", "batch_id = 'b1'") == 6


def test_a_resumed_batch_finds_the_keys_its_earlier_run_loaded(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new loader (a run after a crash) fills its key filter from the batch's rows already in the target,
    dossiers and records alike."""
    calls = _looked_up(monkeypatch)
    loader = Loader(engine, "b1")
    loader.begin_batch("b1", "c" * 64, [f.source(), f.source("hs", entity=Entity.RECORD)])
    loader.load_chunk(f.chunk([f.dossier("H48-0001"), f.dossier("H48-0002")], index=0))
    records = [f.record("12/2024"), f.record("12/2024", record_type="death")]
    loader.load_chunk(f.chunk(records, source_id="hs", entity=Entity.RECORD, index=0))
    loader.fail_batch("killed")

    calls.clear()
    resumed = Loader(engine, "b1")
    assert resumed.begin_batch("b1", "c" * 64, [f.source(), f.source("hs", entity=Entity.RECORD)]) == {
        ("bt", 0),
        ("hs", 0),
    }
    dossiers = resumed.load_chunk(f.chunk([f.dossier("H48-0002"), f.dossier("H48-0003")], index=1))
    again = [f.record("12/2024", record_type="death"), f.record("13/2024")]
    records_result = resumed.load_chunk(f.chunk(again, source_id="hs", entity=Entity.RECORD, index=1))
    resumed.finish_batch({})
    assert "H48-0002" in calls[0] and "death/12/2024" in calls[1]
    assert (dossiers.counts.duplicate, dossiers.inserted) == (1, 1)
    assert (records_result.counts.duplicate, records_result.inserted) == (1, 1)
    assert _count(engine, "dossiers") == 3 and _count(engine, "records") == 3


def test_ledger_balances_every_chunk(engine: Engine) -> None:
    rows = [
        f.dossier("H48-0001"),
        f.dossier("H48-0002", disposition="review", reason="Xã bị chia tách"),
        f.dossier("H48-0003", disposition="quarantined", reason="Ngày sai", received_date="2025-02-30"),
        f.dossier("H48-0004", disposition="excluded", reason="Đã trả kết quả"),
        f.dossier("H48-0001", disposition="duplicate", reason="trùng"),
    ]
    finding = f.warning("bt", 2, "H48-0001")
    results, _ = _load_batch(engine, "b1", [f.chunk(rows, findings=[finding]), f.chunk(rows[:2], index=1)])
    with engine.connect() as conn:
        chunk_rows = (
            conn.execute(select(schema.chunks).order_by(schema.chunks.c.chunk_index)).mappings().all()
        )
        ledger = conn.execute(
            select(schema.ledger.c.source_row, schema.ledger.c.disposition, schema.ledger.c.payload)
        ).all()
        findings = conn.execute(select(schema.findings.c.check_name, schema.findings.c.source_row)).all()
    assert len(ledger) == 7  # one ledger row per extracted row
    for c in chunk_rows:
        assert c["rows"] == sum(c[d] for d in DISPOSITIONS)
    assert [
        (c["rows"], c["loaded"], c["review"], c["quarantined"], c["excluded"], c["duplicate"])
        for c in chunk_rows
    ] == [
        (5, 1, 1, 1, 1, 1),
        (2, 0, 1, 0, 0, 1),  # H48-0001 again in chunk 1: exact duplicate of chunk 0
    ]
    held_back = {r: json.loads(p) for r, d, p in ledger if d != "loaded"}
    assert held_back[4]["received_date"] == "2025-02-30"  # the canonical row is kept for the report
    assert held_back[3]["new_commune_code"] == "02905"
    assert ("phone_format", 2) in findings
    assert results[0].counts.balanced() and results[1].counts.balanced()


def test_content_hash_follows_the_documented_recipe_from_rows_read_back(engine: Engine) -> None:
    _load_batch(
        engine,
        "b1",
        [
            f.chunk(
                [
                    f.dossier("H48-0001", fee=150000.0, email=None),
                    f.dossier("H48-0002", fee=150000.0, email=None, received_at="2025-06-20T14:35:20"),
                ]
            )
        ],
    )
    with engine.connect() as conn:
        rows = conn.execute(select(schema.dossiers).order_by(schema.dossiers.c.dossier_code)).mappings().all()
    # The recipe, by hand: sorted content columns, NULL -> "", dates ISO, date-times "YYYY-MM-DD HH:MM:SS",
    # numbers %.15g, the optional columns (the payment columns of revision 0005, the times of day of 0006) only
    # when they hold a value (here: one time of day), JSON, SHA-256.
    skip = {"id", "batch_id", "updated_batch_id", "loaded_at", "content_hash"}
    optional = {"amount_paid", "payment_date", "payment_channel", "receipt_number"}
    optional |= {"received_at", "due_at", "returned_at"}
    for row, received_at in zip(rows, [None, "2025-06-20 14:35:20"], strict=True):
        assert content_hash(dict(row), Entity.DOSSIER) == row["content_hash"]
        expected_text = {
            "fee": "150000",
            "received_date": "2025-06-20",
            "email": "",
            "applicant_name": "Nguyễn Thị Hoà",
        }
        pairs = []
        for name in sorted(c.name for c in schema.dossiers.columns if c.name not in skip):
            value = row[name]
            if name in optional:
                if name == "received_at" and received_at:
                    pairs.append([name, received_at])
                else:
                    assert value is None
                continue
            if name in expected_text:
                shown = expected_text[name]
            elif value is None:
                shown = ""
            else:
                shown = str(value)
            pairs.append([name, shown])
        by_hand = hashlib.sha256(
            json.dumps(pairs, ensure_ascii=False, separators=(",", ":")).encode()
        ).hexdigest()
        assert by_hand == row["content_hash"], row["dossier_code"]


def test_times_of_day_are_stored_as_naive_local_date_times(engine: Engine) -> None:
    """The extract's local wall times go in as they are (no zone, whole seconds) on every database, come back
    equal, and hash the same read back; a row without one hashes as before the columns existed (above); a value
    with a zone or not a date-time quarantines its row."""
    rows = [
        f.dossier("H48-0001", received_at="2025-02-23T10:00:00", due_at="2025-03-10T16:30:05"),
        f.dossier("H48-0002", received_at="1994-10-24T23:59:59", returned_at="2025-06-30T07:15:00"),
        f.dossier("H48-0003"),
        f.dossier("H48-0004", received_at="2025-02-23T10:00:00+07:00"),
        f.dossier("H48-0005", due_at="2025-03-10"),
    ]
    (result,), stored = _load_batch(engine, "b1", [f.chunk(rows)])
    assert (result.inserted, result.counts.quarantined) == (3, 2)
    with engine.connect() as conn:
        got = {r["dossier_code"]: r for r in conn.execute(select(schema.dossiers)).mappings().all()}
        bad = conn.execute(
            select(schema.findings.c.natural_key, schema.findings.c.field).where(
                schema.findings.c.check_name == "load_value_invalid"
            )
        ).all()
    assert sorted(bad) == [("H48-0004", "received_at"), ("H48-0005", "due_at")]
    first, second, third = got["H48-0001"], got["H48-0002"], got["H48-0003"]
    assert (first["received_at"], first["due_at"], first["returned_at"]) == (
        datetime(2025, 2, 23, 10, 0, 0),
        datetime(2025, 3, 10, 16, 30, 5),
        None,
    )
    assert first["received_at"].tzinfo is None
    assert (second["received_at"], second["returned_at"]) == (
        datetime(1994, 10, 24, 23, 59, 59),
        datetime(2025, 6, 30, 7, 15),
    )
    assert (third["received_at"], third["due_at"], third["returned_at"]) == (None, None, None)
    assert str(first["received_date"]) == "2025-06-20"  # the day is the date column's, kept as given
    for row in got.values():
        assert content_hash(dict(row), Entity.DOSSIER) == row["content_hash"]
    # a time changes the hash; without one the row hashes as it did before the columns existed
    assert first["content_hash"] != content_hash(
        {**first, "received_at": None, "due_at": None}, Entity.DOSSIER
    )
    with_nulls = {k: v for k, v in third.items() if k not in ("received_at", "due_at", "returned_at")}
    assert content_hash(with_nulls, Entity.DOSSIER) == third["content_hash"]
    assert loaded_fingerprint(engine, "b1") == stored


def test_records_load_with_their_composite_key(engine: Engine) -> None:
    rows = [f.record("12/2024"), f.record("12/2024", record_type="death"), f.record("13/2024")]
    loader = Loader(engine, "r1")
    loader.begin_batch("records", "c" * 64, [f.source("hs", entity=Entity.RECORD)])
    result = loader.load_chunk(f.chunk(rows, source_id="hs", entity=Entity.RECORD))
    assert result.inserted == 3
    with engine.connect() as conn:
        keys = conn.execute(select(schema.ledger.c.natural_key)).scalars().all()
        read_back = conn.execute(select(schema.records)).mappings().all()
    assert sorted(keys) == ["birth/12/2024", "birth/13/2024", "death/12/2024"]
    for row in read_back:
        assert row["amount"] == 360000.5
        assert str(row["subject_birth_date"]) == "2024-02-20"
        assert content_hash(dict(row), Entity.RECORD) == row["content_hash"]


def test_values_the_target_cannot_hold_quarantine_the_row(engine: Engine) -> None:
    rows = [
        f.dossier("H48-0001", phone="0" * 25),
        f.dossier("H48-0002", fee="free"),
        f.dossier(None),
        f.dossier("H48-4"),
    ]
    (result,), _ = _load_batch(engine, "b1", [f.chunk(rows)])
    assert (result.counts.loaded, result.counts.quarantined) == (1, 3)
    assert [(x.check, x.field, x.row) for x in result.findings] == [
        ("load_value_invalid", "phone", 2),
        ("load_value_invalid", "fee", 3),
        ("load_value_invalid", "dossier_code", 4),
    ]


def test_rerunning_a_finished_batch_adds_nothing(engine: Engine) -> None:
    chunks = [f.chunk([f.dossier("H48-0001")], index=0), f.chunk([f.dossier("H48-0002")], index=1)]
    _, fingerprint = _load_batch(engine, "b1", chunks)
    before = {t: _count(engine, t) for t in ("dossiers", "ledger", "findings", "chunks", "history")}
    loader = Loader(engine, "b1")
    done = loader.begin_batch("batch b1", "c" * 64, [f.source()])
    assert done == {("bt", 0), ("bt", 1)}
    again = loader.load_chunk(chunks[0])  # even if asked, a committed chunk is not loaded twice
    assert again.skipped and again.counts.loaded == 1
    assert loader.finish_batch({}) == fingerprint
    assert {t: _count(engine, t) for t in before} == before
    assert loaded_fingerprint(engine, "b1") == fingerprint


def test_fingerprint_is_sha256_of_sorted_ledger_lines(engine: Engine) -> None:
    _, fingerprint = _load_batch(
        engine,
        "b1",
        [f.chunk([f.dossier("B-2"), f.dossier("A-1"), f.dossier("C-3", disposition="excluded")])],
    )
    with engine.connect() as conn:
        hashes = dict(
            conn.execute(select(schema.dossiers.c.dossier_code, schema.dossiers.c.content_hash)).all()
        )
    lines = sorted(f"dossier|bt|{code}|{hashes[code]}\n" for code in ("A-1", "B-2"))
    assert fingerprint == hashlib.sha256("".join(lines).encode()).hexdigest()


def test_changed_source_refuses_to_resume(engine: Engine) -> None:
    loader = Loader(engine, "b1")
    loader.begin_batch("b1", "c" * 64, [f.source(sha=f.SHA_A)])
    loader.load_chunk(f.chunk([f.dossier("H48-0001")]))
    with pytest.raises(LoadError) as caught:
        Loader(engine, "b1").begin_batch("b1", "c" * 64, [f.source(sha=f.SHA_B)])
    assert (
        caught.value.message
        == f"source 'bt' changed since batch b1 started: SHA-256 was {f.SHA_A}, is now {f.SHA_B}"
    )
    assert "handover rollback b1" in (caught.value.hint or "")


def test_resume_returns_committed_chunks_and_logs_events(engine: Engine) -> None:
    loader = Loader(engine, "b1")
    loader.begin_batch("b1", "c" * 64, [f.source()])
    loader.load_chunk(f.chunk([f.dossier("H48-0001")], index=0))
    loader.fail_batch("killed")
    assert Loader(engine, "b1").begin_batch("b1", "c" * 64, [f.source()]) == {("bt", 0)}
    with engine.connect() as conn:
        events = (
            conn.execute(select(schema.batch_events.c.event).order_by(schema.batch_events.c.id))
            .scalars()
            .all()
        )
        status = conn.execute(select(schema.batches.c.status)).scalar_one()
    assert events == ["started", "failed", "resumed"]
    assert status == "running"


def test_exception_inside_load_chunk_leaves_nothing_of_the_chunk(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader = Loader(engine, "b1")
    loader.begin_batch("b1", "c" * 64, [f.source()])
    chunk = f.chunk([f.dossier("H48-0001"), f.dossier("H48-0002")], findings=[f.warning("bt", 2, "H48-0001")])
    real = writers.insert_encoded

    def failing(conn, table, rows):  # type: ignore[no-untyped-def]
        if table is schema.findings:  # after the target rows and the ledger were written
            raise RuntimeError("power cut")
        return real(conn, table, rows)

    monkeypatch.setattr(writers, "insert_encoded", failing)
    with pytest.raises(RuntimeError, match="power cut"):
        loader.load_chunk(chunk)
    for table in ("dossiers", "ledger", "findings", "chunks"):
        assert _count(engine, table) == 0, table
    monkeypatch.setattr(writers, "insert_encoded", real)
    assert loader.load_chunk(chunk).inserted == 2  # the same command again resumes cleanly
    assert _count(engine, "ledger") == 2


def test_database_refusal_becomes_a_load_error(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    loader = Loader(engine, "b1")
    loader.begin_batch("b1", "c" * 64, [f.source()])
    real = writers.insert_encoded

    def refusing(conn, table, rows):  # type: ignore[no-untyped-def]
        if table is schema.ledger:
            raise OperationalError("INSERT INTO ledger", None, Exception("disk full"))
        return real(conn, table, rows)

    monkeypatch.setattr(writers, "insert_encoded", refusing)
    with pytest.raises(LoadError) as caught:
        loader.load_chunk(f.chunk([f.dossier("H48-0001")]))
    assert caught.value.message == "the target database refused chunk 0 of source 'bt': disk full"
    assert caught.value.context["chunk"] == 0
    assert _count(engine, "dossiers") == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.chunks)).scalar() == 0


def test_changed_chunking_is_refused_not_doubled(engine: Engine) -> None:
    loader = Loader(engine, "b1")
    loader.begin_batch("b1", "c" * 64, [f.source()])
    loader.load_chunk(f.chunk([f.dossier("H-1"), f.dossier("H-2")], index=0, first_row=2))
    regrouped = f.chunk([f.dossier("H-2"), f.dossier("H-3")], index=1, first_row=3)  # row 3 was in chunk 0
    with pytest.raises(LoadError, match="row 3 of source 'bt' is already in batch b1, but chunk 1 is not"):
        loader.load_chunk(regrouped)
    assert _count(engine, "ledger") == 2


def test_extras_given_as_a_dict_are_stored_as_json(engine: Engine) -> None:
    _load_batch(engine, "b1", [f.chunk([f.dossier("H-1", extras={"Số tờ": 3, "Ghi chú": "gấp"})])])
    with engine.connect() as conn:
        stored = conn.execute(select(schema.dossiers.c.extras)).scalar_one()
    assert json.loads(stored) == {"Số tờ": 3, "Ghi chú": "gấp"}


def test_payloads_built_column_wise_equal_the_row_wise_json() -> None:
    import numpy as np
    import pandas as pd

    from handover.target.values import RawColumns, payload_json, payloads_json

    frame = pd.DataFrame(
        {
            "dossier_code": ["H-1", None, "H-3", "Mã\u0301", 'q"\\'],
            "fee": [0.0, -0.0, float("nan"), 1.5, 3.0],
            "mixed": [1, 1.0, True, "1", None],
            "extras": [{"Số tờ": 3}, [1, 2], None, "{}", float("nan")],
            "when": pd.to_datetime(["2025-06-01", None, "2025-06-03", "2025-06-04", "2025-06-05"]),
            "count": np.arange(5, dtype=np.int64),
            "flag": [True, False, True, True, False],
        }
    )
    columns = ["fee", "dossier_code", "mixed", "extras", "when", "count", "flag"]
    positions = [0, 1, 3, 4]
    expected = [payload_json(r) for r in frame.iloc[positions][columns].to_dict("records")]
    assert payloads_json(RawColumns(frame), columns, positions) == expected
    assert json.loads(expected[1])["fee"] == -0.0 and json.loads(expected[0])["extras"] == {"Số tờ": 3}
    assert payloads_json(RawColumns(frame), [], positions) == ["{}"] * 4


def test_rows_are_written_in_key_order_and_keep_their_source_rows(sqlite_url: str) -> None:
    """Each key index takes a chunk as neighbouring entries (benchmarks/ledger_bench.py): the ledger rows and
    the new target rows are written sorted by key, each still with its own source row and disposition."""
    from handover.target.db import open_target

    engine = open_target(sqlite_url)
    try:
        rows = [
            f.dossier("H-3"),
            f.dossier("H-1", disposition="review", reason="split"),
            f.dossier("H-2"),
            f.dossier("H-0"),
        ]
        _load_batch(engine, "b1", [f.chunk(rows, first_row=10)])
        with engine.connect() as conn:
            ledger = conn.execute(
                text("SELECT natural_key, source_row, disposition FROM ledger ORDER BY rowid")
            )
            written = conn.execute(text("SELECT dossier_code FROM dossiers ORDER BY id")).scalars().all()
            assert [tuple(r) for r in ledger] == [
                ("H-0", 13, "loaded"),
                ("H-1", 11, "review"),
                ("H-2", 12, "loaded"),
                ("H-3", 10, "loaded"),
            ]
        assert written == ["H-0", "H-2", "H-3"]
    finally:
        engine.dispose()


def test_postgresql_statistics_are_refreshed_as_the_batch_grows(pg_url: str) -> None:
    """Without statistics PostgreSQL plans the per-chunk key look-ups as scans of the batch's whole ledger
    (quadratic in the batch): the loader ANALYZEs after its first chunk and whenever its rows have doubled."""
    from handover.target.db import open_target

    engine = open_target(pg_url)
    try:
        loader = Loader(engine, "b1")
        loader.begin_batch("b1", "c" * 64, [f.source()])

        def ledger_tuples() -> float:
            with engine.connect() as conn:
                return conn.execute(
                    text("SELECT reltuples FROM pg_class WHERE relname = 'ledger'")
                ).scalar_one()

        assert ledger_tuples() < 0  # never analysed
        seen = []
        for index in range(3):
            rows = [f.dossier(f"H-{index}-{i}") for i in range(3)]
            loader.load_chunk(f.chunk(rows, index=index))
            seen.append(ledger_tuples())
        assert seen == [3, 6, 6]  # after 3 rows, after 6 (doubled), not after 9 (next at 12)

        def ledger_columns_with_statistics() -> set[str]:
            with engine.connect() as conn:
                return set(
                    conn.execute(text("SELECT attname FROM pg_stats WHERE tablename = 'ledger'")).scalars()
                )

        # during the load only the columns the look-ups filter on; at the end every column, for the reports
        during = ledger_columns_with_statistics()
        assert {"batch_id", "source_id", "source_row", "natural_key"} <= during
        assert not {"reason", "payload", "candidates", "new_commune_code"} & during
        loader.finish_batch({})
        assert {"reason", "payload", "candidates", "new_commune_code"} <= ledger_columns_with_statistics()
    finally:
        engine.dispose()
