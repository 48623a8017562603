"""``handover run-many``: :func:`run_many` checks every batch before anything starts, submits the batches as
Dask tasks, follows their progress events and collects their outcomes."""

from __future__ import annotations

import os
import queue
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handover.errors import ConfigError, HandoverError
from handover.many.cluster import cluster
from handover.many.inputs import PlannedBatch
from handover.many.outcome import BatchOutcome, BatchProgress, failed_outcome
from handover.many.worker import run_one

if TYPE_CHECKING:
    from handover.config import BatchConfig


def run_many(
    configs: Sequence[PlannedBatch | Path | str],
    jobs: int | None = None,
    scheduler: str | None = None,
    on_progress: Callable[[BatchProgress], None] | None = None,
) -> list[BatchOutcome]:
    """Run the batches as Dask tasks, ``jobs`` at a time on a local cluster (default: one per CPU) or on the
    cluster whose scheduler is at ``scheduler``; the outcome of each, in the order given. A batch that fails
    is an outcome (``status="failed"``, its message), not an exception; an exception (:class:`ConfigError`)
    means nothing was started: a SQLite target with more than one job, a batch id twice, a cluster that cannot
    be reached or whose workers lack ``handover``."""
    from handover.config import load_config

    if jobs is not None and scheduler:
        raise ConfigError("Give --jobs or --scheduler, not both: a cluster's size is its workers'.")
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs must be 1 or more (got {jobs}).")
    planned = [c if isinstance(c, PlannedBatch) else PlannedBatch(config=Path(c)) for c in configs]
    outcomes: dict[int, BatchOutcome] = {}
    loaded: dict[int, BatchConfig] = {}
    for i, batch in enumerate(planned):
        try:
            cfg = load_config(batch.config)
            if batch.batch_id and batch.batch_id != cfg.batch.id:
                raise ConfigError(
                    f"The plan names batch {batch.batch_id}, but {batch.config} is batch {cfg.batch.id}.",
                    file=str(batch.config),
                    hint="Write the plan again (handover plan), or correct its batch_id.",
                )
            loaded[i] = cfg
        except HandoverError as exc:
            outcomes[i] = failed_outcome(batch, exc)
    _check_ids(planned, loaded)
    if jobs is None and not scheduler:
        jobs = _cpu_count()
    _check_targets(planned, loaded, jobs, scheduler)

    board = {i: BatchProgress(batch_id=_batch_id(planned[i], loaded.get(i)), district=_district(planned[i]))
             for i in range(len(planned))}  # fmt: skip
    notify = on_progress or (lambda _: None)
    for i, entry in board.items():  # every batch is shown from the start: failed already, or waiting
        if i in outcomes:
            _settle(entry, outcomes[i], notify)
        else:
            notify(entry)
    if loaded:
        with cluster(jobs, scheduler, len(loaded)) as client:
            _run_on(client, planned, loaded, board, outcomes, notify)
    return [outcomes[i] for i in range(len(planned))]


def _batch_id(batch: PlannedBatch, cfg: BatchConfig | None) -> str:
    return cfg.batch.id if cfg is not None else batch.batch_id or batch.config.stem


def _district(batch: PlannedBatch) -> str:
    parts = [p for p in (batch.district_code, batch.district_name) if p]
    return " ".join(parts)


def _check_ids(planned: list[PlannedBatch], loaded: dict[int, BatchConfig]) -> None:
    """Two configurations of one batch id for one target would fight over its lock: refused before the run."""
    seen: dict[tuple[str, str], Path] = {}
    for i, cfg in loaded.items():
        key = (cfg.batch.id, cfg.target.url)
        if key in seen:
            raise ConfigError(
                f"Batch {cfg.batch.id} is named twice for the same target: {seen[key]} and {planned[i].config}.",
                hint="Each batch of a run needs its own batch id.",
            )
        seen[key] = planned[i].config


def _check_targets(
    planned: list[PlannedBatch], loaded: dict[int, BatchConfig], jobs: int | None, scheduler: str | None
) -> None:
    """A SQLite target takes one writer at a time, on one machine: refused for more than one job."""
    if not scheduler and (jobs or 1) <= 1:
        return
    from handover.target.db import safe_url

    sqlite = [(planned[i].config, cfg) for i, cfg in loaded.items() if cfg.target.url.startswith("sqlite")]
    if not sqlite:
        return
    how = f"--scheduler {scheduler}" if scheduler else f"{jobs} jobs"
    names = ", ".join(f"{cfg.batch.id} ({safe_url(cfg.target.url)})" for _, cfg in sqlite[:3])
    more = f" and {len(sqlite) - 3} more" if len(sqlite) > 3 else ""
    raise ConfigError(
        f"A SQLite target cannot take batches side by side ({how}): {names}{more}. Nothing was started.",
        file=str(sqlite[0][0]),
        hint="Point [target] url at a PostgreSQL or MariaDB database "
        '(url = "postgresql+psycopg://user@host/handover"), or run one batch at a time: --jobs 1.',
    )


def _run_on(
    client: Any,
    planned: list[PlannedBatch],
    loaded: dict[int, BatchConfig],
    board: dict[int, BatchProgress],
    outcomes: dict[int, BatchOutcome],
    notify: Callable[[BatchProgress], None],
) -> None:
    """Submit every loaded batch, follow the events, collect the outcomes."""
    topic = f"handover-run-many-{uuid.uuid4().hex}"
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    client.subscribe_topic(topic, lambda event: events.put(event[1]))
    index = {board[i].batch_id: i for i in loaded}
    futures = {}
    try:
        for n, (i, _) in enumerate(loaded.items()):
            futures[i] = client.submit(
                run_one,
                planned[i],
                topic,
                key=f"batch-{board[i].batch_id}-{uuid.uuid4().hex[:8]}",
                pure=False,
                priority=len(loaded) - n,  # in the order given
            )
        pending = dict(futures)
        while pending:
            _drain(events, index, board, notify)
            for i in [i for i, f in pending.items() if f.done()]:
                future = pending.pop(i)
                _drain(events, index, board, notify)
                outcome = _result(future, planned[i], board[i])
                outcomes[i] = outcome
                _settle(board[i], outcome, notify)
            if pending:
                time.sleep(0.1)
    finally:
        for future in futures.values():
            future.release()
        with suppress(Exception):  # the client is going away anyway
            client.unsubscribe_topic(topic)


def _drain(
    events: queue.Queue[dict[str, Any]],
    index: dict[str, int],
    board: dict[int, BatchProgress],
    notify: Callable[[BatchProgress], None],
) -> None:
    while True:
        try:
            event = events.get_nowait()
        except queue.Empty:
            return
        i = index.get(event.get("batch_id", ""))
        if i is None or board[i].outcome is not None:
            continue
        entry = board[i]
        if event.get("stage") == "start":
            entry.attempts += 1
            entry.started = entry.started or time.monotonic()
            entry.status, entry.stage, entry.rows, entry.worker = "running", "start", 0, event.get("worker")
        else:
            entry.stage, entry.rows = event.get("stage", entry.stage), int(event.get("rows", entry.rows))
        notify(entry)


def _result(future: Any, batch: PlannedBatch, entry: BatchProgress) -> BatchOutcome:
    try:
        outcome: BatchOutcome = future.result()
    except Exception as exc:
        from distributed import KilledWorker

        if isinstance(exc, KilledWorker):
            error = HandoverError(
                f"The worker processes running this batch stopped {max(entry.attempts, 1)} times (killed, or out "
                "of memory): given up. The chunks committed so far stay.",
                hint="Run the same command again: it resumes. If it happens again, run this batch alone with "
                "`handover run` and watch its memory.",
            )
            return failed_outcome(batch, error, attempts=max(entry.attempts, 1), worker=entry.worker)
        return failed_outcome(batch, exc, attempts=max(entry.attempts, 1), worker=entry.worker)
    outcome.attempts = max(entry.attempts, 1)
    if batch.district_code or batch.district_name:
        outcome.province_code, outcome.district_code = batch.province_code, batch.district_code
        outcome.district_name = batch.district_name
    return outcome


def _settle(entry: BatchProgress, outcome: BatchOutcome, notify: Callable[[BatchProgress], None]) -> None:
    entry.outcome = outcome
    entry.status = outcome.status
    entry.stage = outcome.status
    entry.findings = outcome.findings
    entry.seconds = outcome.seconds
    entry.attempts = outcome.attempts
    entry.worker = outcome.worker or entry.worker
    if outcome.counts is not None:
        entry.rows = outcome.counts.extracted
    notify(entry)


def _cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
