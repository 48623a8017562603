"""Many batches at once (``handover run-many``): each batch is one Dask task, run by
:func:`handover.pipeline.run.run_batch` inside a Dask worker process.

* ``jobs``: a :class:`distributed.LocalCluster` of that many worker processes, one thread each, started for the
  run and stopped after it (default: one per CPU).
* ``scheduler``: an existing cluster (``dask scheduler`` and ``dask worker ADDRESS`` on each machine); its
  workers must have ``handover`` installed and see the plan's files at the same paths.

Batches share one target, PostgreSQL or MariaDB: a SQLite target is refused for more than one job (or a
cluster), before anything starts. Each batch runs in its worker process alone (a batch works in one process: the
parallelism is the batches'), and one batch at a time per worker process, whatever its thread count.

A batch that fails is an outcome with its message, never an exception: the others go on. A batch already
finished in its target with the same configuration is not run again (``skipped``); an unfinished one resumes
from its committed chunks, as ``handover run`` does. A worker process that dies mid-batch (SIGKILL, out of
memory) makes the scheduler give the batch to another worker (up to ``distributed.scheduler.allowed-failures``
deaths, 3 by default): the new run takes over the batch's lock (:mod:`handover.target.locks`) and resumes.

Progress comes back as Dask events (``Worker.log_event`` → ``Client.subscribe_topic``), one topic per run;
``on_progress`` is called in the caller's thread.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import sys
import threading
import time
import tomllib
import types
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from handover.errors import ConfigError, ExitCode, HandoverError
from handover.models import Counts

if TYPE_CHECKING:
    from handover.config import BatchConfig

PLAN_FILE = "plan.toml"
Status = Literal["waiting", "running", "finished", "skipped", "failed"]
# one batch at a time in a worker process, whatever its number of threads
_ONE_BATCH = threading.Lock()
_EVENT_INTERVAL_S = 0.25  # at most this often a progress event of one batch, besides stage changes


@dataclass(frozen=True)
class PlannedBatch:
    """A batch to run: its configuration file, and what its plan entry (:class:`handover.plan.PlannedBatch`)
    says of it."""

    config: Path
    batch_id: str | None = None
    province_code: str | None = None
    district_code: str | None = None
    district_name: str | None = None


@dataclass
class ManyInputs:
    """What ``run-many`` was given: the batches in order, and the plan's exports it could not decide (not run)."""

    batches: list[PlannedBatch]
    undecided: list[dict[str, Any]] = field(default_factory=list)


class BatchOutcome(BaseModel):
    """How one batch of a ``run-many`` ended."""

    batch_id: str
    config: str
    province_code: str | None = None
    district_code: str | None = None
    district_name: str | None = None
    status: Literal["finished", "skipped", "failed"]
    message: str | None = Field(None, description="Why it failed (the error's message, context and hint).")
    exit_code: int = Field(0, description="What `handover run` would have exited with.")
    counts: Counts | None = None
    balanced: bool | None = Field(
        None, description="Every source's balance holds (read = data + non-data, …)."
    )
    new_rows: int = 0
    findings: int = 0
    chunks_skipped: int = Field(
        0, description="Chunks committed by an earlier (killed) run, not loaded again."
    )
    fingerprint: str | None = None
    seconds: float = Field(0.0, description="Wall time of the batch's last attempt, in its worker.")
    cpu_seconds: float = Field(
        0.0, description="CPU time of the batch's last attempt, in its worker process."
    )
    worker: str | None = Field(None, description="host:pid of the worker process that ran its last attempt.")
    attempts: int = Field(1, description="Runs started: more than 1 when a worker process died mid-batch.")
    notices: list[str] = Field(default_factory=list)
    reports: dict[str, str] = Field(default_factory=dict)


@dataclass
class BatchProgress:
    """The live state of one batch, as :func:`run_many` passes it to ``on_progress``."""

    batch_id: str
    district: str = ""
    status: Status = "waiting"
    stage: str = ""
    rows: int = 0
    findings: int | None = None
    started: float | None = None  # time.monotonic() in the caller's process when its first attempt began
    seconds: float | None = None  # once ended: the batch's own wall time
    attempts: int = 0
    worker: str | None = None
    outcome: BatchOutcome | None = None


# -- inputs ---------------------------------------------------------------------------------------------------


def read_inputs(paths: Sequence[Path | str]) -> ManyInputs:
    """The batches named by ``paths``: a plan (``plan.toml``, or a folder holding one), or batch configuration
    files, in the order given (a plan's in its order)."""
    if not paths:
        raise ConfigError("Name a plan (plan.toml or its folder) or one or more batch configuration files.")
    batches: list[PlannedBatch] = []
    undecided: list[dict[str, Any]] = []
    for given in map(Path, paths):
        path = given / PLAN_FILE if given.is_dir() else given
        if given.is_dir() and not path.is_file():
            raise ConfigError(
                f"The folder {given} holds no {PLAN_FILE}.",
                file=str(given),
                hint="Name the plan folder `handover plan` wrote, its plan.toml, or batch configuration files.",
            )
        if not path.is_file():
            batches.append(PlannedBatch(config=path))  # fails alone, with the loader's message
            continue
        if _is_plan(path):
            plan = _load_plan(path)
            batches.extend(plan.batches)
            undecided.extend(plan.undecided)
        else:
            batches.append(PlannedBatch(config=path))
    return ManyInputs(batches, undecided)


def _is_plan(path: Path) -> bool:
    """A plan holds ``[plan]`` and ``[[batch]]`` entries; a batch configuration one ``[batch]`` table."""
    if path.name == PLAN_FILE:
        return True
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False  # a broken batch configuration fails alone, with the loader's message
    return "plan" in data or isinstance(data.get("batch"), list)


def _load_plan(path: Path) -> ManyInputs:
    """The batches of a plan (:func:`handover.plan.load_plan`), their configurations resolved."""
    from handover.plan import load_plan

    plan = load_plan(path)
    batches = [
        PlannedBatch(
            config=config,
            batch_id=entry.batch_id,
            province_code=entry.province_code,
            district_code=entry.district_code,
            district_name=entry.district_name,
        )
        for entry, config in zip(plan.batch, plan.config_paths(), strict=True)
    ]
    return ManyInputs(batches, [u.model_dump() for u in plan.undecided])


# -- the run --------------------------------------------------------------------------------------------------


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
            outcomes[i] = _failed(batch, exc)
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
        with _cluster(jobs, scheduler, len(loaded)) as client:
            _run_on(client, planned, loaded, board, outcomes, notify)
    return [outcomes[i] for i in range(len(planned))]


def _batch_id(batch: PlannedBatch, cfg: BatchConfig | None) -> str:
    return cfg.batch.id if cfg is not None else batch.batch_id or batch.config.stem


def _district(batch: PlannedBatch) -> str:
    parts = [p for p in (batch.district_code, batch.district_name) if p]
    return " ".join(parts)


def _failed(batch: PlannedBatch, exc: BaseException, **extra: Any) -> BatchOutcome:
    """The outcome of a batch that could not run: the error's message as ``handover run`` would show it."""
    if isinstance(exc, HandoverError):
        message, exit_code = str(exc), exc.exit_code
    else:
        message, exit_code = f"{type(exc).__name__}: {exc}", ExitCode.INTERNAL
    from handover.redact import scrub

    return BatchOutcome(
        batch_id=batch.batch_id or batch.config.stem,
        config=str(batch.config),
        province_code=batch.province_code,
        district_code=batch.district_code,
        district_name=batch.district_name,
        status="failed",
        message=scrub(message),
        exit_code=exit_code,
        **extra,
    )


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


class _Cluster:
    """A client on a local cluster started for the run, or on the cluster at ``scheduler``."""

    def __init__(self, jobs: int | None, scheduler: str | None, batches: int) -> None:
        self.jobs, self.scheduler, self.batches = jobs, scheduler, batches
        self.cluster: Any = None
        self.client: Any = None

    def __enter__(self) -> Any:
        from distributed import Client

        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout="20s")
                self.client.wait_for_workers(1, timeout=60)
            except (OSError, TimeoutError) as exc:
                self.__exit__()
                raise ConfigError(
                    f"Cannot use the Dask cluster at {self.scheduler}: {exc}",
                    hint="Start it first: `dask scheduler` on one machine, `dask worker ADDRESS --nthreads 1` on "
                    "each machine (with handover installed), then give --scheduler tcp://HOST:8786.",
                ) from exc
        else:
            from distributed import LocalCluster

            with _plain_main():  # the worker processes do not run the caller's script again
                self.cluster = LocalCluster(
                    n_workers=max(1, min(self.jobs or 1, self.batches)),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # no dashboard; its HTTP server (health) on a free port
                    scheduler_kwargs={"dashboard": False},
                    memory_limit=0,  # a batch's memory is bounded by its chunks: no limit of Dask's kills it
                    silence_logs=logging.ERROR,
                )
            self.client = Client(self.cluster)
        _check_workers(self.client, self.scheduler)
        return self.client

    def __exit__(self, *exc: object) -> None:
        for part in (self.client, self.cluster):
            if part is not None:
                with suppress(Exception):  # closing what may be gone already
                    part.close()


def _cluster(jobs: int | None, scheduler: str | None, batches: int) -> _Cluster:
    return _Cluster(jobs, scheduler, batches)


def _worker_version() -> str:
    import handover

    return handover.__version__


def _check_workers(client: Any, scheduler: str | None) -> None:
    """Every worker imports ``handover`` (a worker without it would fail every batch it is given)."""
    try:
        client.run(_worker_version)
    except Exception as exc:
        raise ConfigError(
            f"A worker of the cluster at {scheduler or 'this machine'} cannot run handover: "
            f"{type(exc).__name__}: {exc}",
            hint="Install handover (the same version) on every machine that runs `dask worker`.",
        ) from exc


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
            return _failed(batch, error, attempts=max(entry.attempts, 1), worker=entry.worker)
        return _failed(batch, exc, attempts=max(entry.attempts, 1), worker=entry.worker)
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


# -- in the worker --------------------------------------------------------------------------------------------


class _Events:
    """Progress events of one batch attempt, to the run's topic (nothing outside a Dask worker)."""

    def __init__(self, topic: str, batch_id: str, worker: str) -> None:
        self.topic, self.batch_id, self.worker = topic, batch_id, worker
        self.rows: dict[tuple[str, str], int] = {}
        self.stage = ""
        self.sent = 0.0
        try:
            from distributed import get_worker

            self._worker: Any = get_worker()
        except (ImportError, ValueError):
            self._worker = None

    def send(self, stage: str, rows: int = 0) -> None:
        if self._worker is not None:
            self._worker.log_event(
                self.topic, {"batch_id": self.batch_id, "stage": stage, "rows": rows, "worker": self.worker}
            )
        self.sent = time.monotonic()

    def progress(self, stage: str, source_id: str, rows: int) -> None:
        """:data:`handover.pipeline.run.Progress`: rows so far of ``stage`` in each source, summed."""
        self.rows[stage, source_id] = rows
        if stage != self.stage or time.monotonic() - self.sent >= _EVENT_INTERVAL_S:
            self.stage = stage
            self.send(stage, sum(n for (s, _), n in self.rows.items() if s == stage))


def run_one(batch: PlannedBatch, topic: str = "") -> BatchOutcome:
    """The Dask task: run one batch in this worker process (its own, with no worker processes of its own) and
    return its outcome; its errors are outcomes too. A batch already finished in its target with the same
    configuration is not run again (``skipped``)."""
    with _ONE_BATCH:
        start, cpu = time.perf_counter(), time.process_time()
        worker = f"{socket.gethostname()}:{os.getpid()}"
        try:
            outcome = _run_one(batch, topic, worker)
        except HandoverError as exc:
            outcome = _failed(batch, exc)
        except Exception as exc:  # an unexpected error: its type and message, like the CLI's last resort
            outcome = _failed(batch, exc)
        outcome.seconds = round(time.perf_counter() - start, 3)
        outcome.cpu_seconds = round(time.process_time() - cpu, 3)
        outcome.worker = worker
        return outcome


def _run_one(batch: PlannedBatch, topic: str, worker: str) -> BatchOutcome:
    from handover.config import load_config
    from handover.pipeline.run import run_batch

    cfg = load_config(batch.config)
    events = _Events(topic, cfg.batch.id, worker)
    events.send("start")
    base = {
        "batch_id": cfg.batch.id,
        "config": str(batch.config),
        "province_code": batch.province_code,
        "district_code": batch.district_code,
        "district_name": batch.district_name,
    }
    earlier = finished_earlier(cfg)
    if earlier is not None:
        return BatchOutcome(**base, **earlier, status="skipped")
    result = run_batch(cfg, progress=events.progress)
    accounts = {s.source_id: s.rows for s in result.sources}
    balanced = result.total.balanced() and all(
        account.balances(result.per_source.get(source_id, Counts()))
        for source_id, account in accounts.items()
        if account is not None
    )
    return BatchOutcome(
        **base,
        status="finished",
        counts=result.total,
        balanced=balanced,
        new_rows=result.new_rows,
        findings=sum(result.findings.values()),
        chunks_skipped=result.chunks_skipped,
        fingerprint=result.fingerprint,
        notices=result.notices,
        reports=result.reports,
    )


def finished_earlier(cfg: BatchConfig) -> dict[str, Any] | None:
    """The figures of ``cfg``'s batch when its target holds it finished with the same configuration (its
    counts, findings and fingerprint, as recorded); None when it is to be run (not there, unfinished, failed,
    rolled back, or recorded with another configuration: ``run_batch`` then says what differs). A finished
    batch's sources are not read again."""
    import json

    from sqlalchemy import inspect, select
    from sqlalchemy.exc import SQLAlchemyError

    from handover.pipeline.run import config_sha256, legacy_config_sha256
    from handover.target.counts import chunk_counts
    from handover.target.db import make_engine
    from handover.target.schema import batches

    try:
        engine = make_engine(cfg.target.url)
    except HandoverError:
        return None
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(batches.name):
                return None
            row = conn.execute(
                select(
                    batches.c.status, batches.c.config_sha256, batches.c.fingerprint, batches.c.summary_json
                ).where(batches.c.batch_id == cfg.batch.id)
            ).first()
        if row is None or row.status != "finished":
            return None
        if row.config_sha256 not in (config_sha256(cfg), legacy_config_sha256(cfg)):
            return None
        total = Counts.total(chunk_counts(engine, cfg.batch.id).values())
    except SQLAlchemyError:
        return None  # the run itself says what is wrong with the target
    finally:
        engine.dispose()
    summary = json.loads(row.summary_json or "{}")
    return {
        "counts": total,
        "balanced": total.balanced(),
        "findings": sum(summary.get("findings", {}).values()),
        "fingerprint": row.fingerprint,
    }


def _cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextmanager
def _plain_main() -> Iterator[None]:
    """A spawned worker process first imports the parent's ``__main__`` again, unless there is nothing to import:
    a caller's script without an ``if __name__ == "__main__":`` guard would run again in every worker. While the
    cluster starts its worker processes, ``__main__`` is an empty module; the functions sent to the workers live
    in this module, never in ``__main__``."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main
