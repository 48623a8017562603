"""In a Dask worker: the task that runs one batch (:func:`run_one`), one at a time per worker process, with its
progress events; a batch already finished in its target with the same configuration is skipped."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from handover.errors import HandoverError
from handover.many.inputs import PlannedBatch
from handover.many.outcome import BatchOutcome, failed_outcome
from handover.models import Counts

if TYPE_CHECKING:
    from handover.config import BatchConfig

# one batch at a time in a worker process, whatever its number of threads
_ONE_BATCH = threading.Lock()
_EVENT_INTERVAL_S = 0.25  # at most this often a progress event of one batch, besides stage changes


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
            outcome = failed_outcome(batch, exc)
        except Exception as exc:  # an unexpected error: its type and message, like the CLI's last resort
            outcome = failed_outcome(batch, exc)
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

    from handover.config_hash import config_sha256, legacy_config_sha256
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
