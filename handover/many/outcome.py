"""How each batch of a ``run-many`` ended (:class:`BatchOutcome`) and its live state (:class:`BatchProgress`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from handover.errors import ExitCode, HandoverError
from handover.many.inputs import PlannedBatch
from handover.models import Counts

Status = Literal["waiting", "running", "finished", "skipped", "failed"]


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


def failed_outcome(batch: PlannedBatch, exc: BaseException, **extra: Any) -> BatchOutcome:
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
