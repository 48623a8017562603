"""``run-many`` on a real Dask cluster (2 worker processes) into real PostgreSQL and MariaDB targets.

Per database: 6 district batches (and one whose export is missing) run side by side; the same 6 batches run one
by one with ``run_batch`` into a second database are the reference. The targets are compared row by row (content
hashes, ledger, findings) and batch by batch (status, loaded-set fingerprint). A third database gets the 6
batches with one worker process armed to SIGKILL itself after its first committed chunk (:mod:`handover.faults`):
the batch it held is run again by the cluster, takes over the lock, resumes, and the target equals the
reference. A second ``run-many`` (the CLI) adds nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from handover import cli
from handover.config import load_config
from handover.demo.districts import DistrictExport
from handover.errors import ExitCode
from handover.faults import arm
from handover.many.inputs import read_inputs
from handover.many.run import run_many
from handover.pipeline.run import run_batch
from handover.target import schema
from tests.conftest import db_url
from tests.many.conftest import write_plan

pytestmark = pytest.mark.slow
runner = CliRunner()


def _snapshot(url: str) -> dict[str, Any]:
    """What a target holds, in an order that does not depend on which batch ran first; each row's batch id
    first."""

    def rows(conn: Any, *columns: Any) -> list[tuple[str, ...]]:
        return sorted(tuple("" if v is None else str(v) for v in r) for r in conn.execute(select(*columns)))

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            d, led, f, b = schema.dossiers.c, schema.ledger.c, schema.findings.c, schema.batches.c
            return {
                "dossiers": rows(conn, d.batch_id, d.source_system, d.dossier_code, d.content_hash),
                "ledger": rows(
                    conn,
                    led.batch_id,
                    led.source_id,
                    led.source_row,
                    led.disposition,
                    led.natural_key,
                    led.content_hash,
                    led.new_commune_code,
                    led.action,
                ),
                "findings": rows(conn, f.batch_id, f.source_id, f.source_row, f.check_name, f.field),
                "batches": rows(conn, b.batch_id, b.status, b.fingerprint),
            }
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
def scenario(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    dask_scheduler: str,
    district_exports: list[DistrictExport],
) -> Iterator[dict[str, Any]]:
    """The side-by-side run (with the broken batch) and the one-by-one reference, on one kind of server."""
    tmp = tmp_path_factory.mktemp(f"many-{request.param}")
    with ExitStack() as stack:

        def fresh() -> str:
            made = db_url(request.param, tmp)
            stack.callback(lambda: next(made, None))  # drops the database
            return next(made)

        side_url, one_url = fresh(), fresh()
        plan = write_plan(tmp / "side", district_exports, side_url, broken=True)
        outcomes = run_many(read_inputs([plan]).batches, scheduler=dask_scheduler)
        reference = write_plan(tmp / "one", district_exports, one_url)
        for config in sorted((reference / "batches").glob("*.toml")):
            run_batch(load_config(config))
        yield {
            "kind": request.param,
            "fresh": fresh,
            "plan": plan,
            "side_url": side_url,
            "outcomes": outcomes,
            "reference": _snapshot(one_url),
            "tmp": tmp,
        }


def test_side_by_side_equals_one_by_one(scenario: dict[str, Any]) -> None:
    finished = [o for o in scenario["outcomes"] if o.status == "finished"]
    assert [o.batch_id for o in finished] == [f"rm-{e}" for e in ("001", "024", "040", "002", "026", "042")]
    assert all(o.balanced and o.counts.loaded > 0 and o.new_rows == o.counts.loaded for o in finished)
    assert {o.worker for o in finished} and len({o.worker for o in finished}) == 2  # both workers worked
    side = _snapshot(scenario["side_url"])
    assert side == scenario["reference"]
    assert len(side["batches"]) == 6 and all(status == "finished" for _, status, _ in side["batches"])
    assert {o.batch_id: o.fingerprint for o in finished} == {b: fp for b, _, fp in side["batches"]}
    assert len(side["dossiers"]) == sum(o.counts.loaded for o in finished)


def test_broken_batch_fails_alone_with_its_message(scenario: dict[str, Any]) -> None:
    broken = scenario["outcomes"][-1]
    assert (broken.batch_id, broken.status, broken.exit_code) == ("rm-999", "failed", ExitCode.INPUT)
    assert "ho-so-999.csv" in broken.message and broken.district_code == "999"
    assert sum(o.status == "finished" for o in scenario["outcomes"]) == 6
    assert "rm-999" not in {b for b, _, _ in _snapshot(scenario["side_url"])["batches"]}


def test_second_run_many_adds_nothing(scenario: dict[str, Any], dask_scheduler: str) -> None:
    before = _snapshot(scenario["side_url"])
    again = runner.invoke(
        cli.app, ["run-many", str(scenario["plan"]), "--scheduler", dask_scheduler, "--json"]
    )
    assert again.exit_code == ExitCode.BATCHES_FAILED, again.output  # the broken batch fails again
    outcomes = json.loads(again.stdout)
    assert [o["status"] for o in outcomes] == ["skipped"] * 6 + ["failed"]
    assert all(o["new_rows"] == 0 for o in outcomes)
    first = {o.batch_id: o for o in scenario["outcomes"]}
    for o in outcomes[:6]:  # a skipped batch shows what its target recorded
        assert o["fingerprint"] == first[o["batch_id"]].fingerprint
        assert o["counts"] == first[o["batch_id"]].counts.model_dump()
    assert "ho-so-999.csv" in outcomes[-1]["message"]
    assert _snapshot(scenario["side_url"]) == before


def test_worker_killed_mid_load_resumes_elsewhere(
    scenario: dict[str, Any], dask_scheduler: str, district_exports: list[DistrictExport]
) -> None:
    """Two batches, one per worker process; one process is killed inside its second chunk's transaction."""
    from distributed import Client

    url = scenario["fresh"]()
    plan = write_plan(scenario["tmp"] / "killed", district_exports[:2], url)
    with Client(dask_scheduler) as client:
        victim = sorted(client.scheduler_info()["workers"])[0]
        client.run(
            arm, "load.inside:2", workers=[victim]
        )  # SIGKILL with its second chunk written, uncommitted
        try:
            outcomes = run_many(read_inputs([plan]).batches, scheduler=dask_scheduler)
        finally:
            client.run(arm, None)
            client.wait_for_workers(2, timeout=60)
    assert [o.status for o in outcomes] == ["finished"] * 2, [o.message for o in outcomes]
    resumed = [o for o in outcomes if o.attempts > 1]
    assert len(resumed) == 1
    killed = resumed[0]
    assert killed.chunks_skipped == 1  # the chunk committed before the kill; the second was rolled back
    assert any("took over the stale lock" in n and "no longer runs" in n for n in killed.notices)
    assert _snapshot(url) == _snapshot_of(scenario["reference"], {o.batch_id for o in outcomes})
    engine = create_engine(url)
    with engine.connect() as conn:  # no key loaded twice
        keys = conn.execute(
            select(schema.dossiers.c.source_system, schema.dossiers.c.dossier_code, func.count())
            .group_by(schema.dossiers.c.source_system, schema.dossiers.c.dossier_code)
            .having(func.count() > 1)
        ).all()
    engine.dispose()
    assert keys == []


def _snapshot_of(snapshot: dict[str, Any], batches: set[str]) -> dict[str, Any]:
    return {table: [r for r in rows if r[0] in batches] for table, rows in snapshot.items()}


def test_sqlite_target_refused_for_two_jobs(tmp_path: Path, district_exports: list[DistrictExport]) -> None:
    plan = write_plan(tmp_path / "plan", district_exports[:2], f"sqlite:///{tmp_path / 'target.db'}")
    result = runner.invoke(cli.app, ["run-many", str(plan), "--jobs", "2"])
    assert result.exit_code == ExitCode.USAGE
    assert "A SQLite target cannot take batches side by side (2 jobs)" in result.output
    assert "--jobs 1" in result.output and "Nothing was started" in result.output
    assert not (tmp_path / "target.db").exists()
    assert not (tmp_path / "plan" / "reports").exists()
