"""handover: move the pending work of Vietnam's abolished districts to the new communes.

The library does the work; the ``handover`` command only parses arguments, calls the functions below and renders
their results. Stages: extract → map → validate → load → report, chained by :func:`run_batch`.

The public API (``__all__``) is what the commands call, with the same arguments and errors::

    import handover

    config = handover.load_config("handover-demo/batch.toml")
    result = handover.run_batch(config)                   # handover run CONFIG
    check = handover.verify_batch(config.target.url, result.batch_id)   # handover db verify
    assert check.ok and check.recomputed_fingerprint == result.fingerprint

- batches: :func:`load_config`, :func:`run_batch` (→ :class:`BatchResult`), :func:`verify_batch`
  (→ :class:`VerifyResult`), :func:`rollback_batch` (→ :class:`RollbackResult`), :func:`write_reports`
  (→ :class:`ReportPaths`);
- many districts: :func:`make_plan` (``handover plan``: → :class:`PlanResult`), :func:`load_plan` (→ :class:`Plan`),
  :func:`run_many` (``handover run-many``: → a :class:`BatchOutcome` per batch) and :func:`read_inputs` (what it is
  given: a plan or batch configurations);
- sources: :func:`inspect_source`, :func:`inspect_sql` (``handover sources inspect``);
- units: :func:`resolve_unit` (→ :class:`Resolution`), :func:`unit_resolver` (→ :class:`UnitResolver`);
- errors: :class:`HandoverError` and its subclasses (``exit_code`` is the command's exit code, ``message``,
  ``hint`` and ``context`` what it prints).

``import handover`` is cheap: each name is imported when first used (pandas, SQLAlchemy and great-expectations
only inside the calls that need them).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name → the module that holds it (its one home; nothing is defined twice)
_HOMES: dict[str, str] = {
    # batches
    "load_config": "handover.config",
    "run_batch": "handover.api",
    "verify_batch": "handover.api",
    "rollback_batch": "handover.api",
    "write_reports": "handover.api",
    # many districts
    "make_plan": "handover.plan.make",
    "load_plan": "handover.plan.model",
    "run_many": "handover.many.run",
    "read_inputs": "handover.many.inputs",
    # sources
    "inspect_source": "handover.sources.inspect",
    "inspect_sql": "handover.sources.inspect",
    # units
    "resolve_unit": "handover.api",
    "unit_resolver": "handover.api",
    # results and settings
    "BatchConfig": "handover.config",
    "BatchResult": "handover.models",
    "Counts": "handover.models",
    "VerifyResult": "handover.target.verify",
    "RollbackResult": "handover.target.rollback",
    "ReportPaths": "handover.reports",
    "Plan": "handover.plan.model",
    "PlanResult": "handover.plan.make",
    "BatchOutcome": "handover.many.outcome",
    "Resolution": "handover.units.resolution",
    "UnitResolver": "handover.units.resolver",
    # errors
    "ExitCode": "handover.errors",
    "HandoverError": "handover.errors",
    "ConfigError": "handover.errors",
    "UnitReferenceError": "handover.errors",
    "SourceError": "handover.errors",
    "MapError": "handover.errors",
    "ValidationGateError": "handover.errors",
    "LoadError": "handover.errors",
    "BatchLockedError": "handover.errors",
    "ReportError": "handover.errors",
    "VerificationError": "handover.errors",
    "NotFoundError": "handover.errors",
    "BatchNotFoundError": "handover.errors",
    "TargetNotFoundError": "handover.errors",
}

__all__ = [
    "BatchConfig",
    "BatchLockedError",
    "BatchNotFoundError",
    "BatchOutcome",
    "BatchResult",
    "ConfigError",
    "Counts",
    "ExitCode",
    "HandoverError",
    "LoadError",
    "MapError",
    "NotFoundError",
    "Plan",
    "PlanResult",
    "ReportError",
    "ReportPaths",
    "Resolution",
    "RollbackResult",
    "SourceError",
    "TargetNotFoundError",
    "UnitReferenceError",
    "UnitResolver",
    "ValidationGateError",
    "VerificationError",
    "VerifyResult",
    "__version__",
    "inspect_source",
    "inspect_sql",
    "load_config",
    "load_plan",
    "make_plan",
    "read_inputs",
    "resolve_unit",
    "rollback_batch",
    "run_batch",
    "run_many",
    "unit_resolver",
    "verify_batch",
    "write_reports",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its home module on first use, and keep it."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'handover' has no attribute '{name}'")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ imports these on first use
    from handover.api import (
        resolve_unit,
        rollback_batch,
        run_batch,
        unit_resolver,
        verify_batch,
        write_reports,
    )
    from handover.config import BatchConfig, load_config
    from handover.errors import (
        BatchLockedError,
        BatchNotFoundError,
        ConfigError,
        ExitCode,
        HandoverError,
        LoadError,
        MapError,
        NotFoundError,
        ReportError,
        SourceError,
        TargetNotFoundError,
        UnitReferenceError,
        ValidationGateError,
        VerificationError,
    )
    from handover.many.inputs import read_inputs
    from handover.many.outcome import BatchOutcome
    from handover.many.run import run_many
    from handover.models import BatchResult, Counts
    from handover.plan.make import PlanResult, make_plan
    from handover.plan.model import Plan, load_plan
    from handover.reports import ReportPaths
    from handover.sources.inspect import inspect_source, inspect_sql
    from handover.target.rollback import RollbackResult
    from handover.target.verify import VerifyResult
    from handover.units.resolution import Resolution
    from handover.units.resolver import UnitResolver
