"""``run_batch``: the one function that chains extract → map → validate → load → report.

Two passes keep memory flat and the target clean: pass 1 streams every source through map and validate into a
disk spool and counts (keys repeated across chunks are decided there, :mod:`handover.pipeline.keyspan`); the
quality gate looks at the counts; pass 2 reads each spooled chunk once, settles the key decisions made on its
rows after it was spooled, and loads it in one transaction with its ledger and progress rows (on a database
server the next chunk is read and prepared meanwhile, :mod:`handover.pipeline.ahead`). A crashed run is resumed
by running it again: chunks already committed are skipped. A batch works in one process (batches run side by
side with ``handover run-many``).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handover import __version__
from handover.attachments.check import AttachmentCheck
from handover.attachments.files import require_store, uses_attachments
from handover.config import WORKERS_IGNORED, BatchConfig
from handover.config_hash import config_sha256, legacy_config_sha256
from handover.errors import ConfigError, ValidationGateError
from handover.faults import checkpoint
from handover.models import (
    BatchResult,
    Counts,
    Entity,
    HandoverRound,
    StageTiming,
)
from handover.pipeline.ahead import one_ahead
from handover.pipeline.findings_csv import FindingsCsv
from handover.pipeline.spool import Spool
from handover.workdir import WorkFolder

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from handover.pipeline.map import MapSettings

# progress(stage, source_id, rows_done_in_source)
Progress = Callable[[str, str, int], None]


class _Timer:
    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def timed_iter(self, name: str, it: Iterator) -> Iterator:
        while True:
            start = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                self.seconds[name] += time.perf_counter() - start
                return
            self.seconds[name] += time.perf_counter() - start
            yield item


def build_map_settings(cfg: BatchConfig) -> MapSettings:
    """Load the resolver (with the province's rules and decisions), the routing and status tables."""
    from handover.calendar import days_off
    from handover.pipeline.map import MapSettings, load_record_routes, load_value_codes
    from handover.pipeline.routing import ProcedureRouter, StatusTable
    from handover.units import UnitResolver

    try:
        handover_day = date.fromisoformat(cfg.thresholds.handover_date)
    except ValueError as exc:
        raise ConfigError(
            f"thresholds.handover_date '{cfg.thresholds.handover_date}' is not a date.",
            file=str(cfg.config_path),
            column="thresholds.handover_date",
            hint='Write it as "YYYY-MM-DD", e.g. "2025-07-01".',
        ) from exc
    return MapSettings(
        resolver=UnitResolver.load(rules=cfg.mapping.rules, decisions=cfg.mapping.decisions),
        router=ProcedureRouter.load(cfg.mapping.procedures),
        statuses=StatusTable.load(extra=cfg.mapping.statuses),
        record_routes=load_record_routes(),
        value_codes=load_value_codes(),
        handover_date=handover_day,
        due_soon_days=cfg.thresholds.due_soon_days,
        days_off=days_off(handover_day, cfg.thresholds.days_off),
    )


def last_finding_id(engine: Engine, batch_id: str) -> int | None:
    """The id of the last finding the batch has stored (``None``: none yet); the findings up to it belong to
    the chunks committed so far."""
    from sqlalchemy import func, select

    from handover.target.schema import findings

    with engine.connect() as conn:
        return conn.execute(select(func.max(findings.c.id)).where(findings.c.batch_id == batch_id)).scalar()


def committed_chunks(engine: Engine, batch_id: str) -> set[tuple[str, int]]:
    """(source_id, chunk_index) of the chunks a batch has committed: what a resumed run skips."""
    from sqlalchemy import select

    from handover.target.schema import chunks

    stmt = select(chunks.c.source_id, chunks.c.chunk_index).where(chunks.c.batch_id == batch_id)
    with engine.connect() as conn:
        return {(source, int(index)) for source, index in conn.execute(stmt)}


DRY_RUN_GX = (
    "Dry run: nothing was loaded, so great-expectations did not check any loaded rows; the suites' row checks "
    "ran on every extracted row (their findings are in the findings file)."
)


def _check_loaded(
    engine: Engine,
    batch_id: str,
    entities: set[Entity],
    flagged: Counter[tuple[str, str]],
    rows: Counter[str],
) -> tuple[list[dict[str, Any]], str | None]:
    """The GX results of the batch (:func:`handover.pipeline.gx_target.check_loaded`) for its entities' suites."""
    from handover.pipeline.gx_target import check_loaded
    from handover.pipeline.suite import load_entity_suite

    suites = [load_entity_suite(entity) for entity in sorted(entities, key=lambda e: e.value)]
    return check_loaded(engine, batch_id, suites, dict(flagged), dict(rows))


def run_batch(
    cfg: BatchConfig,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> BatchResult:
    """Run one batch end to end and return its figures. Raises a :class:`HandoverError` subclass on failure.
    Every reference table is read from the batch's mappings folder (``[mapping] dir``) when it names one.

    pandas keeps the batch's text columns as Python strings (``mode.string_storage = "python"``), whether or
    not pyarrow is installed: the stages hand every value to Python (keys, hashes, COPY text, payloads), and
    Arrow-backed strings cost more to convert than they save (figures: ``benchmarks/RESULTS.md``)."""
    import pandas as pd

    from handover.resources import using_mappings

    with using_mappings(cfg.mapping.dir), pd.option_context("mode.string_storage", "python"):
        return _run_batch(cfg, dry_run=dry_run, progress=progress)


def _run_batch(cfg: BatchConfig, *, dry_run: bool, progress: Progress | None) -> BatchResult:
    from handover.pipeline.extract import check_unchanged, open_sources
    from handover.pipeline.keyspan import BatchKeys
    from handover.pipeline.pass1 import ChunkOutcome, Pass1
    from handover.pipeline.validate import ValidationSettings, gate_exceeded

    started = datetime.now()
    timer = _Timer()
    batch_id = cfg.batch.id
    notify = progress or (lambda *_: None)

    # rows each suite expectation flagged, by (entity, check), and rows validated by entity: for the GX summary
    flagged: Counter[tuple[str, str]] = Counter()
    entity_rows: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    pass1: dict[str, Counts] = {}
    chunks_skipped = new_rows = conflicts = 0
    attachment_figures: dict[str, Any] | None = None
    notices: list[str] = []
    rounds: list[HandoverRound] = []
    engine = loader = None
    # the checks know the target's limits (also in a dry run) and the handover date
    validation = ValidationSettings.of(cfg.target.url, cfg.thresholds.handover_date, cfg.checks.population)
    # every temporary file of the run (snapshots, spool, report jobs) in one private folder; dead runs' go
    folder = WorkFolder().open()
    if "workers" in cfg.batch.model_fields_set:
        notices.append(WORKERS_IGNORED)
    try:
        with timer.stage("extract"):
            sources = open_sources(cfg.sources, cfg.batch.chunk_size, folder.subdir("sources-"))
        with timer.stage("map"):
            settings = build_map_settings(cfg)
        attach, store_dir = None, None
        if uses_attachments(cfg):  # each dossier's scanned files, found and hashed before the gate
            attach = AttachmentCheck(cfg.sources, cfg.config_path)
            store_dir = None if dry_run else require_store(cfg)
        if not dry_run:
            from handover.target.db import open_target
            from handover.target.loader import Loader
            from handover.target.locks import batch_lock

            engine = open_target(cfg.target.url)
            if settings.resolver.decisions:  # each decision answers a review row of an earlier batch
                from handover.units.decisions import check_run_decisions

                check_run_decisions(
                    engine,
                    list(settings.resolver.decisions.values()),
                    settings.resolver.ref,
                    sources=[s.id for s in cfg.sources],
                )
        lock = batch_lock(engine, batch_id) if engine is not None else nullcontext()
        with (
            lock as held,
            Spool(folder.dir) as spool,
            FindingsCsv(spool.dir / "findings.csv") as findings_csv,
        ):
            pass_one = Pass1(settings, spool, validation)
            if getattr(held, "took_over", None):
                notices.append(held.took_over)
            fingerprints = [s.fingerprint for s in sources]
            # Read-only until the gate has passed: a batch stopped by the gate leaves no trace in the target.
            done = committed_chunks(engine, batch_id) if engine is not None else set()
            # the findings committed with the chunks this run will skip: added to the findings file at the end
            stored_upto = last_finding_id(engine, batch_id) if done else None
            validated: Counter[str] = Counter()

            batch_keys = BatchKeys()
            entity_of = {s.config.id: Entity(s.config.entity) for s in sources}

            def take(out: ChunkOutcome) -> None:
                pass1[out.source_id] = pass1.get(out.source_id, Counts()).add(out.counts)
                findings.update(f.check for f in out.findings)
                findings_csv.write(out.findings)
                if out.keys is not None and out.path is not None:  # keys across chunks: decided here
                    change, made = batch_keys.take(
                        out.source_id, entity_of[out.source_id], out.path, out.keys
                    )
                    pass1[out.source_id] = pass1[out.source_id].add(change)
                    findings.update(f.check for f in made)
                    findings_csv.write(made)
                entity = entity_of[out.source_id].value
                flagged.update({(entity, check): n for check, n in out.flagged.items()})
                entity_rows[entity] += out.rows
                for stage, seconds in out.seconds.items():
                    timer.seconds[stage] += seconds
                validated[out.source_id] += out.rows
                notify("validate", out.source_id, validated[out.source_id])

            # pass 1: extract → map → validate → spool
            for src in sources:
                rows = 0
                pass1[src.config.id] = Counts()
                for chunk in timer.timed_iter("extract", src.chunks()):
                    rows += len(chunk.frame)
                    checkpoint("extract")
                    if (src.config.id, chunk.index) in done:
                        chunks_skipped += 1
                        if attach is not None and attach.wants(src.config.id):
                            # its files hashed again (its findings are stored already), so that a later
                            # chunk's copy of one of them is still found as a duplicate content
                            with timer.stage("attachments"):
                                attach.check_chunk(chunk, getattr(src.reader, "extras_names", None))
                        notify("extract", src.config.id, rows)
                        continue
                    if attach is not None and attach.wants(src.config.id):
                        with timer.stage("attachments"):
                            attach.check_chunk(chunk, getattr(src.reader, "extras_names", None))
                    take(pass_one.submit(chunk))
            check_unchanged(sources)  # what was read is what is in the files now: else nothing is loaded
            fingerprints = [src.accounted() for src in sources]  # every physical row, now that all were read

            total1 = Counts.total(pass1.values())
            if total1.extracted and gate_exceeded(
                total1.quarantined, total1.extracted, cfg.thresholds.max_error_share
            ):
                top = ", ".join(f"{k} ({v})" for k, v in findings.most_common(5))
                kept = findings_csv.keep(cfg.report.dir / f"{batch_id}-findings.csv")
                raise ValidationGateError(
                    f"{total1.quarantined} of {total1.extracted} rows "
                    f"({total1.quarantined / total1.extracted:.0%}) have errors, more than the allowed "
                    f"{cfg.thresholds.max_error_share:.0%}: nothing was loaded. Most frequent findings: {top}.",
                    file=str(cfg.config_path),
                    findings=str(kept),
                    hint=f"Every finding, row by row, is in {kept}. Fix the sources and run again, or raise "
                    "thresholds.max_error_share in the batch config if these rows may be held back.",
                )

            rules = settings.resolver.rule_report()
            if engine is None:
                per_source = pass1
                fingerprint = None
                notices.append(DRY_RUN_GX)
                reports = {"findings": str(findings_csv.keep(cfg.report.dir / f"{batch_id}-findings.csv"))}
            else:
                store = None
                if store_dir is not None:
                    from handover.attachments.store import AttachmentStore

                    store = AttachmentStore(store_dir, batch_id).open()
                loader = Loader(
                    engine, batch_id, conflict_policy=cfg.target.conflict_policy, attachments=store
                )
                loader.begin_batch(
                    cfg.batch.description, config_sha256(cfg), fingerprints, same_as=legacy_config_sha256(cfg)
                )
                if store is not None:
                    from handover.target.attachments import record_store

                    record_store(engine, batch_id, store.root)
                # pass 2: load, one transaction per chunk
                loaded_rows: Counter[str] = Counter()
                chunks = one_ahead(
                    pass_one.for_load(batch_keys), loader.prepare, threaded=loader.prepares_ahead
                )
                for work, prepared in timer.timed_iter("load", chunks):
                    with timer.stage("load"):
                        result = loader.load_chunk(work, prepared)
                    new_rows += result.inserted
                    conflicts += result.conflicts
                    findings.update(f.check for f in result.findings)
                    findings_csv.write(result.findings)
                    loaded_rows[result.source_id] += result.counts.extracted
                    checkpoint("load.between")
                    notify("load", result.source_id, loaded_rows[result.source_id])
                gx, gx_notice = [], None
                if (
                    not loader.keeps_summary
                ):  # a finished batch run again keeps its summary, GX results included
                    with timer.stage("validate"):  # great-expectations once, on the rows the batch loaded
                        gx, gx_notice = _check_loaded(
                            engine, batch_id, set(entity_of.values()), flagged, entity_rows
                        )
                if gx_notice:
                    notices.append(gx_notice)
                from handover.target.counts import chunk_counts

                per_source = chunk_counts(engine, batch_id)
                total = Counts.total(per_source.values())
                summary: dict[str, Any] = {}
                if store is not None:
                    from handover.target.attachments import prune

                    with timer.stage("load"):  # files copied for chunks a killed run did not commit
                        pruned = prune(engine, store.root, batch_id)
                    summary["attachments"] = attachment_figures = {
                        "store": str(store.root),
                        "files_recorded": loader.attachment_rows,
                        "copied": store.copied,
                        "found_in_place": store.reused,
                        "orphans_removed": pruned,
                    }
                summary |= {
                    "counts": total.model_dump(),
                    "per_source": {k: v.model_dump() for k, v in per_source.items()},
                    "findings": dict(findings),
                    "gx": gx,
                    "rules": rules,
                    "chunks_skipped": chunks_skipped,
                    "host_pid": f"{os.uname().nodename}:{os.getpid()}",
                    "tool_version": __version__,
                }
                with timer.stage("load"):
                    fingerprint = loader.finish_batch(summary)
                with timer.stage("report"):
                    from handover.reports import read_rounds, write_reports

                    checkpoint("report")
                    paths = write_reports(engine, batch_id, cfg.report.dir, parties=cfg.report.parties)
                    reports = {"workbook": str(paths.workbook), "html": str(paths.html)}
                    if paths.records:  # one handover record file per receiving commune and department
                        reports["records"] = str(paths.records[0].path.parent)
                    notices.extend(paths.notices)
                    rounds = read_rounds(engine, batch_id)
                if stored_upto is not None:  # the skipped chunks' findings, from the target
                    findings_csv.add_stored(engine, batch_id, stored_upto)
                reports["findings"] = str(findings_csv.keep(cfg.report.dir / f"{batch_id}-findings.csv"))
            if findings_csv.kept:
                notices.append(findings_csv.kept)
    except BaseException as exc:
        if loader is not None and not isinstance(exc, ValidationGateError):
            with suppress(Exception):  # the original error is the one to show
                loader.fail_batch(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if engine is not None:
            engine.dispose()
        folder.close()

    from handover.target.db import safe_url

    total = Counts.total(per_source.values())
    return BatchResult(
        batch_id=batch_id,
        status="dry_run" if dry_run else "finished",
        target=safe_url(cfg.target.url),
        started_at=started,
        finished_at=datetime.now(),
        per_source=per_source,
        total=total,
        sources=fingerprints,
        chunks_skipped=chunks_skipped,
        new_rows=new_rows,
        conflicts=conflicts,
        findings=dict(findings),
        fingerprint=fingerprint,
        reports=reports,
        timings=[StageTiming(stage=k, seconds=round(v, 3)) for k, v in timer.seconds.items()],
        notices=notices,
        rules=rules,
        rounds=rounds,
        attachments=attachment_figures,
    )


def run_demo(
    out_dir: os.PathLike[str] | str,
    *,
    seed: int = 7,
    rows: int | None = None,
    progress: Progress | None = None,
) -> BatchResult:
    """``handover demo``: write synthetic exports of two Lào Cai districts and their batch config to
    ``out_dir``, then run the whole pipeline into ``out_dir/target.db`` with reports under ``out_dir/reports``."""
    from handover.config import load_config
    from handover.demo.batch import generate_demo_inputs, write_demo_config

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generate_demo_inputs(out, seed=seed, rows=rows)
    config_path = write_demo_config(out)
    return run_batch(load_config(config_path), progress=progress)
