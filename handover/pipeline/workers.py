"""Pass 1 of a batch (map → validate → spool) and the database-free part of pass 2, in this process or with
worker processes.

Validation (great-expectations and the custom rules) is the CPU-heavy part of pass 1: with workers, this process
reads and maps the chunks while worker processes validate the ones before, each writing its chunk to the spool
file reserved for it in order; during the load, the workers prepare the next chunks
(:func:`~handover.target.loader.prepare_chunk`: checked values, keys, hashes, and the rows encoded for the target,
COPY text or bound tuples), each into a file beside its spool file, while this process writes the current one.
Both paths run the same functions on the same chunks, so the spool, the findings, the counts, the
great-expectations totals and the target are the same whichever path ran (tested).

``batch.workers`` chooses: ``"auto"`` gives big file sources (:data:`AUTO_MIN_BYTES` in all) one worker per CPU
beyond the one this process works with; small batches (and one-CPU machines) stay in this process, where starting
a process and importing great-expectations in it (≈ 4 s, 140 MB each) would cost more than it saves.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import sys
import time
import types
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from handover.errors import HandoverError
from handover.faults import checkpoint
from handover.models import DISPOSITIONS, Chunk, Counts, Entity, Finding
from handover.pipeline.keyspan import ChunkKeys, chunk_keys
from handover.pipeline.spool import Spool
from handover.processes import start_worker

if TYPE_CHECKING:
    from handover.config import SourceConfig
    from handover.pipeline.map import MapSettings
    from handover.pipeline.validate import ValidationSettings, Validator
    from handover.target.loader import PreparedChunk
    from handover.target.writers import Wire

T = TypeVar("T")

# file sources this big in all get workers (≈ 50,000 CSV rows; .xlsx bytes count three times)
AUTO_MIN_BYTES = 16 * 1024 * 1024
MAX_AUTO_WORKERS = 4


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class SizedSource(Protocol):
    """What :func:`choose_workers` reads of a source (a :class:`~handover.models.SourceFingerprint`, or a
    :class:`PlannedSource` before the sources are opened)."""

    @property
    def kind(self) -> str: ...

    @property
    def size_bytes(self) -> int | None: ...


@dataclasses.dataclass(frozen=True)
class PlannedSource:
    kind: str
    size_bytes: int | None


def planned_sources(configs: Sequence[SourceConfig]) -> list[PlannedSource]:
    """Kind and file size of each configured source, without opening it (SQL sources and missing files: no
    size), so that the workers can start while the sources are opened and checked."""
    out = []
    for cfg in configs:
        try:
            size = cfg.path.stat().st_size if cfg.path is not None else None
        except OSError:  # opening the source says what is wrong with it
            size = None
        out.append(PlannedSource(cfg.kind, size))
    return out


def choose_workers(setting: int | str, sources: Sequence[SizedSource]) -> int:
    """Worker processes for pass 1 (0 = map and validate in this process): ``setting`` when it is a number,
    else automatic: one per CPU beyond the one this process reads with, for file sources of
    :data:`AUTO_MIN_BYTES` or more in all (see the module text)."""
    if setting != "auto":
        return int(setting)
    # compressed spreadsheets hold about three times the rows of a CSV file of the same size
    size = sum((s.size_bytes or 0) * (3 if s.kind in ("xlsx", "xls") else 1) for s in sources)
    if size < AUTO_MIN_BYTES:
        return 0
    return max(0, min(cpu_count() - 1, MAX_AUTO_WORKERS))


@dataclasses.dataclass
class ChunkOutcome:
    """What pass 1 did with one chunk (the chunk itself is in its spool file)."""

    source_id: str
    index: int
    rows: int
    counts: Counts
    findings: list[Finding]
    gx: list[dict[str, Any]]  # this chunk's great-expectations results (Validator.last_gx)
    seconds: dict[str, float]  # stage → seconds spent on this chunk
    path: Path | None = None  # its spool file
    keys: ChunkKeys | None = None  # the rows to load and their keys, for the batch-wide key check


def chunk_counts(frame: Any) -> Counts:
    vc = frame["disposition"].value_counts()
    return Counts(extracted=len(frame), **{d: int(vc.get(d, 0)) for d in DISPOSITIONS})


class Validation:
    """Validate → spool file, with the validators of one process (built on first use, or ahead by
    :func:`_warm_up` in a worker: importing great-expectations takes seconds, and a resumed batch may have nothing
    left to validate)."""

    def __init__(self) -> None:
        self.validators: dict[tuple[Entity, ValidationSettings | None], Validator] = {}

    def validator(self, entity: Entity, settings: ValidationSettings | None = None) -> Validator:
        from handover.pipeline.validate import Validator

        if (entity, settings) not in self.validators:
            self.validators[entity, settings] = Validator.load(entity, settings=settings)
        return self.validators[entity, settings]

    def run(self, chunk: Chunk, path: Path, settings: ValidationSettings | None = None) -> ChunkOutcome:
        checkpoint("validate")  # crash drills: in a worker, the main process must say so and stop cleanly
        start = time.perf_counter()
        validator = self.validator(Entity(chunk.entity), settings)
        chunk = validator.validate_chunk(chunk)
        counts = chunk_counts(chunk.frame)
        keys = chunk_keys(chunk)
        Spool.write(path, chunk)
        return ChunkOutcome(
            source_id=chunk.source_id,
            index=chunk.index,
            rows=len(chunk.frame),
            counts=counts,
            findings=chunk.findings,
            gx=validator.last_gx(),
            seconds={"validate": time.perf_counter() - start},
            path=path,
            keys=keys,
        )


# -- worker processes ----------------------------------------------------------------------------------------


_VALIDATION: Validation | None = None


def _validation() -> Validation:
    global _VALIDATION
    if _VALIDATION is None:
        _VALIDATION = Validation()
    return _VALIDATION


def _validate_in_worker(chunk: Chunk, path: Path, settings: ValidationSettings | None = None) -> ChunkOutcome:
    return _validation().run(chunk, path, settings)


def _warm_up(entities: tuple[str, ...], settings: ValidationSettings | None = None) -> None:
    """Build the worker's validators (great-expectations' import and context: seconds) before its first chunk.
    An error here shows again, and is reported, when the first chunk is validated."""
    with suppress(Exception):
        for entity in entities:
            _validation().validator(Entity(entity), settings)


def _prepare_in_worker(path: Path, wire: Wire) -> Path:
    """Prepare the chunk spooled at ``path`` into a file beside it, which the main process reads when the chunk
    is its turn: its memory then holds the chunk it writes, not also the next one arriving."""
    from handover.target.loader import prepare_chunk

    prepared = path.with_suffix(".prepared")
    Spool.write(prepared, prepare_chunk(Spool.read(path), wire))
    return prepared


def _worker_died() -> HandoverError:
    return HandoverError(
        "A worker process (validate, or prepare for the load) stopped unexpectedly (killed, or out of memory); "
        "the chunks committed so far stay, the rest was not loaded.",
        hint="Run the same command again: it resumes. If it happens again, set workers = 0 under [batch] in the "
        "batch config to work in this process only, or lower chunk_size.",
        stage="validate/load",
    )


@contextmanager
def _plain_main() -> Iterator[None]:
    """A spawned worker first imports the parent's ``__main__`` again, unless there is nothing to import: a
    caller's script without an ``if __name__ == "__main__":`` guard would run again in every worker. While the
    pool may start a worker (at a submit), ``__main__`` is an empty module; the functions sent to workers live in
    this module, never in ``__main__``."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _start_pool_worker(parent: int) -> None:
    """A pool worker's start (:func:`~handover.processes.start_worker`); at its end it leaves at once. Tearing
    down an interpreter that imported great-expectations takes about a second (module by module), which the
    batch waited for when it closed the pool. A pool worker holds nothing that needs it: each task's files are
    closed when its result is sent back, and the pool reads no exit status."""
    start_worker(parent)
    atexit.register(_leave_at_once)


def _leave_at_once() -> None:
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(0)


class Workers:
    """The worker processes of a batch (none when ``count`` is 0). Started when made, each first builds its
    validators (:func:`_warm_up`), so that great-expectations' import overlaps this process opening the sources.
    Use as a context manager, or :meth:`close`."""

    def __init__(
        self, count: int, entities: Iterable[str] = (), settings: ValidationSettings | None = None
    ) -> None:
        self.count = count
        self._pool: ProcessPoolExecutor | None = None
        if count <= 0:
            return
        import multiprocessing

        # spawn: fresh interpreters (no copy of this process's open database connections), children of this
        # process (their CPU time shows in its rusage once the pool is shut down)
        self._pool = ProcessPoolExecutor(
            count,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_pool_worker,
            initargs=(os.getpid(),),
        )
        wanted = tuple(sorted({str(e) for e in entities}))
        with suppress(BrokenProcessPool):  # a worker that died at start is reported at the first chunk
            for _ in range(count):
                self.submit(_warm_up, wanted, settings)

    @property
    def active(self) -> bool:
        return self._pool is not None

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        assert self._pool is not None
        try:
            with _plain_main():
                return self._pool.submit(fn, *args)
        except BrokenProcessPool as exc:
            raise _worker_died() from exc

    @staticmethod
    def result(future: Future[T]) -> T:
        try:
            return future.result()
        except BrokenProcessPool as exc:
            raise _worker_died() from exc

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Pass1:
    """Maps every chunk handed to :meth:`submit`, runs :meth:`Validation.run` on it and gives the outcomes back
    in the order the chunks came, in this process (no ``workers``) or in the worker processes, at most
    ``workers + 1`` chunks in flight (memory stays flat). Use as a context manager; closing it stops the workers."""

    def __init__(
        self,
        settings: MapSettings,
        spool: Spool,
        workers: Workers | None = None,
        validation: ValidationSettings | None = None,
    ) -> None:
        self.settings = settings
        self.validation = validation  # the target's limits and the handover date, for the checks
        self.spool = spool
        self.pool = workers or Workers(0)
        self.workers = self.pool.count if self.pool.active else 0
        self.local = Validation()
        self._pending: deque[tuple[ChunkOutcome | Future[ChunkOutcome], float]] = deque()

    def submit(self, chunk: Chunk) -> Iterator[ChunkOutcome]:
        """Map ``chunk`` here, queue its validation; yield the outcomes that are ready (oldest first), waiting
        when too many are queued."""
        from handover.pipeline.map import map_chunk

        start = time.perf_counter()
        chunk = map_chunk(chunk, self.settings)
        mapped = time.perf_counter() - start
        path = self.spool.reserve()
        if self.workers > 0:
            self._pending.append(
                (self.pool.submit(_validate_in_worker, chunk, path, self.validation), mapped)
            )
        else:
            self._pending.append((self.local.run(chunk, path, self.validation), mapped))
        yield from self._ready(self.workers + 1 if self.workers > 0 else 0)

    def drain(self) -> Iterator[ChunkOutcome]:
        """Every outcome still queued, in order."""
        yield from self._ready(0)

    def _ready(self, keep: int) -> Iterator[ChunkOutcome]:
        while self._pending:
            head, mapped = self._pending[0]
            if isinstance(head, Future) and len(self._pending) <= keep and not head.done():
                return
            self._pending.popleft()
            outcome = self.pool.result(head) if isinstance(head, Future) else head
            outcome.seconds["map"] = mapped
            yield outcome

    def for_load(self, wire: Wire) -> Iterator[Chunk | PreparedChunk]:
        """The spooled chunks in order, for pass 2. With workers, each comes prepared for the load into a
        target of ``wire`` (:func:`~handover.target.loader.prepare_chunk`, the part that needs no database) by a
        worker while this process writes the ones before it; without, as plain chunks (the loader prepares
        them)."""
        if self.workers == 0:
            yield from self.spool
            return
        ahead: deque[Future[Path]] = deque()
        paths = iter(self.spool.paths())
        for path in paths:
            ahead.append(self.pool.submit(_prepare_in_worker, path, wire))
            if len(ahead) >= self.workers:  # one prepared chunk per worker in flight: memory stays flat
                break
        while ahead:
            written = self.pool.result(ahead.popleft())
            path = next(paths, None)
            if path is not None:
                ahead.append(self.pool.submit(_prepare_in_worker, path, wire))
            prepared: PreparedChunk = Spool.read(written)
            written.unlink()
            yield prepared

    def close(self) -> None:
        self.pool.close()
        self._pending.clear()

    def __enter__(self) -> Pass1:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
