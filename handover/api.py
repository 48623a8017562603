"""The library functions that take what a user has (a batch file, a database URL, an address) rather than an open
engine: each opens what it needs, calls the stage that does the work, and closes what it opened. The ``handover``
commands call these same functions; :mod:`handover` re-exports them (``handover.run_batch``, ...). Their
namesakes in the stage modules (:func:`handover.pipeline.run.run_batch`, :func:`handover.target.verify.verify_batch`,
:func:`handover.target.rollback.rollback_batch`, :func:`handover.reports.write_reports`) do the work and take a
loaded configuration or an open SQLAlchemy engine.

Nothing heavy is imported here at module level: pandas, SQLAlchemy and great-expectations load inside the call
that needs them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handover.config import BatchConfig
    from handover.models import BatchResult
    from handover.parties import PartiesConfig
    from handover.pipeline.run import Progress
    from handover.reports import ReportPaths
    from handover.target.rollback import RollbackResult
    from handover.target.verify import VerifyResult
    from handover.units import Resolution, UnitResolver


def run_batch(
    config: BatchConfig | str | os.PathLike[str],
    *,
    dry_run: bool = False,
    mappings: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> BatchResult:
    """Run one batch, extract → map → validate → load → report, as ``handover run CONFIG`` does.

    ``config`` is a :class:`~handover.config.BatchConfig` (from :func:`handover.load_config`) or the path of a batch
    TOML file. ``dry_run`` extracts, maps and validates everything and writes nothing to the target. ``mappings``
    names the province's mappings folder and wins over ``[mapping] dir`` (``--mappings``); the ``config`` passed in
    is not changed. ``progress(stage, source_id, rows_done)`` is called as rows go by. Running a finished batch
    again adds nothing; running a crashed one resumes it. Raises a :class:`~handover.errors.HandoverError`
    subclass (``ConfigError``, ``SourceError``, ``ValidationGateError``, ``LoadError`` ...) on failure.

    Example::

        result = handover.run_batch("handover-demo/batch.toml", dry_run=True)
        result.status, result.total.extracted  # ('dry_run', 1528)
    """
    from handover.config import BatchConfig, load_config
    from handover.pipeline.run import run_batch as run

    cfg = config if isinstance(config, BatchConfig) else load_config(config)
    if mappings is not None:
        cfg = cfg.model_copy(deep=True)
        cfg.mapping.dir = Path(mappings).resolve()
    return run(cfg, dry_run=dry_run, progress=progress)


def verify_batch(
    db_url: str, batch_id: str, *, attachments: str | os.PathLike[str] | None = None
) -> VerifyResult:
    """Check a batch's ledger against the target rows both ways, recomputing content hashes and the loaded-set
    fingerprint from the rows, and re-hash its attachment files (``handover db verify``; ``attachments``: the
    store's folder when it moved since the batch ran); changes nothing. ``result.ok`` is False on any difference,
    and ``result.mismatch_error()`` is then the :class:`~handover.errors.VerificationError` the command shows.
    Raises ``TargetNotFoundError`` for a SQLite file that does not exist (none is created), ``BatchNotFoundError``
    for an unknown batch, ``LoadError`` for a target that cannot be reached or is at another schema version.

    Example::

        check = handover.verify_batch("sqlite:///handover-demo/target.db", "demo-lao-cai-2025-07")
        check.ok, check.rows_checked  # (True, 1308)
    """
    from handover.target.db import open_target
    from handover.target.verify import verify_batch as verify

    engine = open_target(db_url, create=False)
    try:
        return verify(engine, batch_id, attachments=None if attachments is None else Path(attachments))
    finally:
        engine.dispose()


def rollback_batch(db_url: str, batch_id: str, *, dry_run: bool = False) -> RollbackResult:
    """Undo one batch from its ledger (``handover rollback``): delete the rows it inserted, restore the versions it
    updated; with ``dry_run``, the same figures and nothing changed. A batch rolled back before is left as it is
    (``result.already_rolled_back``). Raises as :func:`verify_batch` does, and ``BatchLockedError`` while a run of
    the batch holds its lock.

    Example::

        undo = handover.rollback_batch("sqlite:///handover-demo/target.db", "demo-lao-cai-2025-07", dry_run=True)
        undo.rows_deleted["dossiers"], undo.rows_deleted["records"]  # (1019, 289)
    """
    from handover.target.db import open_target
    from handover.target.rollback import rollback_batch as rollback

    engine = open_target(db_url, create=False)
    try:
        return rollback(engine, batch_id, dry_run=dry_run)
    finally:
        engine.dispose()


def write_reports(
    db_url: str, batch_id: str, out_dir: str | os.PathLike[str], *, parties: PartiesConfig | None = None
) -> ReportPaths:
    """Write a batch's officials' workbook and auditors' HTML report into ``out_dir``, and each receiver's handover
    record file into ``<out_dir>/<batch>-bien-ban/`` (``paths.records``), read back from the target (``handover
    report``). ``parties``: the ``[report.parties]`` of the batch configuration printed on the records (``None``:
    blanks to fill by hand). A report an official edited is kept and the new one goes to a versioned name
    (``paths.notices`` says so). Raises ``TargetNotFoundError`` / ``BatchNotFoundError`` as :func:`verify_batch`.

    Example::

        paths = handover.write_reports("sqlite:///handover-demo/target.db", "demo-lao-cai-2025-07", "reports")
        paths.workbook.name  # 'demo-lao-cai-2025-07-doi-soat.xlsx'
    """
    from handover.reports import write_reports_from_url

    return write_reports_from_url(db_url, batch_id, Path(out_dir), parties=parties)


def unit_resolver(
    rules: Sequence[str | os.PathLike[str]] = (), decisions: Sequence[str | os.PathLike[str]] = ()
) -> UnitResolver:
    """The old → new unit resolver on the shipped reference, with a province's rule files (CSV: old_commune_code,
    keyword, new_commune_code) and officials' decision files (``handover units lookup --rules/--decisions``);
    for many look-ups (``resolver.resolve(...)``, ``resolver.resolve_many(addresses)``). Raises ``MapError`` for a
    rule or decision file that is not valid.

    Example::

        resolver = handover.unit_resolver()
        [r.status for r in resolver.resolve_many(["Xã Sơn Hà, Bảo Thắng, Lào Cai", "Xã Không Có"])]
        # ['unique', 'not_found']
    """
    from handover.units import UnitResolver

    return UnitResolver.load([Path(p) for p in rules], [Path(p) for p in decisions])


def resolve_unit(
    address: str,
    *,
    rules: Sequence[str | os.PathLike[str]] = (),
    decisions: Sequence[str | os.PathLike[str]] = (),
) -> Resolution:
    """Resolve one old address to the new commune(s) (``handover units lookup ADDRESS``): ``status`` unique, split,
    ambiguous or not_found, the old unit recognised, the new commune(s), the method, suggestions (never applied).

    Example::

        res = handover.resolve_unit("Xã Sơn Hà, Huyện Bảo Thắng, Tỉnh Lào Cai")
        res.status, res.new[0].commune_code, res.new[0].name  # ('unique', '02905', 'Xã Bảo Thắng')
    """
    return unit_resolver(rules, decisions).resolve(address)
