"""One exception tree for everything a user can be told.

Every error names what went wrong in plain words, where (file, row, column, source, stage), and what to do
next (``hint``). The CLI renders it once, in a panel on stderr, and exits with ``exit_code``.
Data-quality problems are *not* exceptions: they are :class:`handover.models.Finding` rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class ExitCode:
    """Documented exit codes of the ``handover`` command."""

    OK = 0
    INTERNAL = 1
    USAGE = 2  # bad arguments or configuration
    INPUT = 3  # a source cannot be read or lacks what is required
    GATE = 4  # the quality gate stopped the batch before loading
    LOAD = 5  # the target database refused or could not be reached
    LOCKED = 6  # another process holds the batch
    REFERENCE = 7  # the unit reference failed its own checks
    VERIFY = 8  # db verify: the target rows differ from the batch's ledger or fingerprint
    NOT_FOUND = 9  # the batch named is not in the target, or the target database does not exist
    BATCHES_FAILED = 10  # run-many: one or more batches failed (each listed); the others ran


class HandoverError(Exception):
    """Root of every user-facing error.

    ``context`` carries where it happened (``file``, ``row``, ``column``, ``source``, ``stage`` ...);
    ``hint`` says what the user can do next.
    """

    exit_code: int = ExitCode.INTERNAL
    stage: str | None = None

    def __init__(self, message: str, *, hint: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context = {k: v for k, v in context.items() if v is not None}
        if self.stage and "stage" not in self.context:
            self.context["stage"] = self.stage

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a worker process, re-raised in the main one: keep hint and context across the pickle.
        return (_rebuild, (type(self), self.message, self.hint, self.context))

    def __str__(self) -> str:
        parts = [self.message]
        where = ", ".join(f"{k}={v}" for k, v in self.context.items())
        if where:
            parts.append(f"({where})")
        if self.hint:
            parts.append(f"→ {self.hint}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "hint": self.hint,
            "context": {k: str(v) for k, v in self.context.items()},
            "exit_code": self.exit_code,
        }


def _rebuild(
    cls: type[HandoverError], message: str, hint: str | None, context: dict[str, Any]
) -> HandoverError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.message, error.hint, error.context = message, hint, dict(context)
    return error


class ConfigError(HandoverError):
    """The batch configuration, a mapping file or a command-line value is wrong."""

    exit_code = ExitCode.USAGE
    stage = "config"


class UnitReferenceError(HandoverError):
    """The administrative-unit reference (mappings/units) is missing or inconsistent."""

    exit_code = ExitCode.REFERENCE
    stage = "units"


class SourceError(HandoverError):
    """A source file or database cannot be read, or lacks a required column."""

    exit_code = ExitCode.INPUT
    stage = "extract"


class MapError(HandoverError):
    """The map stage cannot run (rule or decision file invalid, routing table broken)."""

    exit_code = ExitCode.USAGE
    stage = "map"


class ValidationGateError(HandoverError):
    """Too many rows failed validation: the batch stops before anything is loaded."""

    exit_code = ExitCode.GATE
    stage = "validate"


class LoadError(HandoverError):
    """The target database refused the load or could not be reached; the chunk was rolled back."""

    exit_code = ExitCode.LOAD
    stage = "load"


class BatchLockedError(LoadError):
    """Another process is running the same batch against the same target."""

    exit_code = ExitCode.LOCKED


class ReportError(HandoverError):
    """A report could not be written."""

    exit_code = ExitCode.INPUT
    stage = "report"


@contextmanager
def writing(path: Path, what: str, hint: str) -> Iterator[None]:
    """Writing the file (or folder) ``path`` of a report, its folder made first: an ``OSError`` becomes a
    :class:`ReportError` "Cannot write ``what``: …" naming ``path``, with ``hint``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield
    except OSError as exc:
        raise ReportError(f"Cannot write {what}: {exc.strerror or exc}", file=str(path), hint=hint) from exc


class VerificationError(HandoverError):
    """``db verify`` found the target rows differing from the batch's ledger or fingerprint."""

    exit_code = ExitCode.VERIFY
    stage = "verify"


class NotFoundError(HandoverError):
    """What a command names (a batch, a target database) does not exist; nothing was created or changed."""

    exit_code = ExitCode.NOT_FOUND


class BatchNotFoundError(NotFoundError):
    """The batch id is not in the target's ``batches`` table."""


class TargetNotFoundError(NotFoundError):
    """The target database named by the URL does not exist (only ``run`` and ``db upgrade`` create one)."""
