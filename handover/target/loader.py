"""The load stage's database side: one chunk, one transaction.

:meth:`Loader.load_chunk` writes, in a single transaction, the chunk's new target rows, the updates its conflict
policy allows (previous versions to ``history``), one ``ledger`` row for *every* row of the chunk, the chunk's
findings, the manifest rows of the scanned files of the dossiers it loads (copied into the attachment store just
before, :mod:`handover.attachments`), and the ``chunks`` progress row. A crash (SIGKILL, power loss) therefore
leaves the whole chunk or none of it, and a resumed run skips exactly the chunks whose progress row exists. The
:class:`Loader` also begins, finishes and fails the batch. The chunk's preparation without the database is
:func:`~handover.target.prepare.prepare_chunk`, its steps inside the transaction
:class:`~handover.target.chunkload.ChunkLoad`.

A loaded row's fate is decided by its natural key (``source_system`` + dossier code, or record type + number):

* already loaded by *this* batch (an earlier chunk or row) with the same content → disposition ``duplicate``;
  with different content → ``quarantined`` with an error finding ``dossier_code_unique``;
* absent from the target → inserted (action ``inserted``);
* present with the same content hash → ``unchanged``;
* present with another hash → a ``content_conflict`` warning, then policy ``keep`` (action ``conflict_kept``, the
  delivered version kept in the ledger's payload) or ``update`` (old version to ``history``, action ``updated``).

Rows are looked up by key through :mod:`~handover.target.lookup`; the look-ups skip the keys a batch certainly
has not loaded while no other batch's rows of the source are in the target (:mod:`~handover.target.keyfilter`).

Values the target cannot hold (an invalid ISO date, a non-number fee, text longer than its column, an empty key)
quarantine the row with an error finding ``load_value_invalid`` instead of failing the batch.
``source_system`` of every row is the chunk's source id.

What the ledger and the findings keep of a held-back row fits any target: its JSON payload is capped to the
target's TEXT (:mod:`~handover.target.limits`; cut fields listed under ``_truncated``), control characters in its
key, unit names and reasons are made visible (NUL → ␀). A chunk the database refuses all the same raises a
:class:`LoadError` naming the source row, its key and the field where the driver says.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

import handover
from handover.errors import ConfigError, LoadError
from handover.models import Chunk, Entity, SourceFingerprint
from handover.redact import mask_url, scrub
from handover.target import schema, writers
from handover.target.chunkload import ChunkLoad, ChunkLoadResult, check_rows_not_loaded, stored_result
from handover.target.hashing import loaded_fingerprint
from handover.target.keyfilter import LoadedKeys
from handover.target.prepare import PreparedChunk, prepare_chunk
from handover.target.sqlite import WalCheckpointer
from handover.target.values import utcnow
from handover.text import excerpt

if TYPE_CHECKING:
    from handover.attachments.store import AttachmentStore

# What the per-chunk look-ups filter on (the loader's "already loaded?", "already in this batch?" and resume
# checks): the statistics PostgreSQL needs while a batch loads.
_LOOKUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "ledger": ("batch_id", "source_id", "source_row", "natural_key", "entity", "disposition"),
    "dossiers": ("source_system", "dossier_code"),
    "records": ("source_system", "record_type", "record_number"),
}

log = logging.getLogger("handover.target.loader")


def _row_account_columns(source: SourceFingerprint) -> dict[str, Any]:
    """``batch_sources.physical_rows`` and ``non_data_json`` (the whole :class:`RowAccount`) of a source."""
    account = source.rows
    if account is None:
        return {"physical_rows": None, "non_data_json": None}
    return {"physical_rows": account.physical_rows, "non_data_json": account.model_dump_json()}


# ---------------------------------------------------------------------------------------------------------
# The loader
# ---------------------------------------------------------------------------------------------------------


class Loader:
    """Loads one batch into one target, chunk by chunk (see the module text)."""

    def __init__(
        self,
        engine: Engine,
        batch_id: str,
        conflict_policy: Literal["keep", "update"] = "keep",
        attachments: AttachmentStore | None = None,
    ) -> None:
        if conflict_policy not in ("keep", "update"):
            raise LoadError(
                f"unknown conflict policy '{conflict_policy}'",
                hint='set target.conflict_policy to "keep" or "update"',
            )
        self.engine = engine
        self.batch_id = batch_id
        self.conflict_policy = conflict_policy
        # the store the files of loaded dossiers are copied into, with the chunk (handover.attachments)
        self.attachments = attachments
        self.attachment_rows = 0  # manifest rows this loader has written
        self._written = 0  # rows this loader has written (chunks not skipped)
        self._chunks_loaded = 0  # chunks this loader has loaded (not skipped)
        self._finished_before = False  # the batch was finished when begun, with no source added
        self._checkpointer: WalCheckpointer | None = None  # SQLite: started by the first chunk
        self._analyze_at = 1  # PostgreSQL: refresh the planner's statistics once _written reaches this
        # the keys this batch loaded, while no other batch's are there (handover.target.keyfilter)
        self._loaded_keys = LoadedKeys(batch_id)

    # -- errors -------------------------------------------------------------------------------------------

    def _db_error(self, what: str, exc: SQLAlchemyError, **context: Any) -> LoadError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return LoadError(
            f"the target database refused {what}: {detail[0] if detail else type(exc).__name__}",
            hint="nothing of it was written; fix the cause and run the same command again (committed chunks "
            "are kept)",
            batch=self.batch_id,
            url=mask_url(self.engine.url),
            **context,
        )

    def _refused(self, chunk: Chunk, exc: writers.RowsRefused) -> LoadError:
        """The error of a chunk the database refused, naming the source row (its number in the source, its key,
        and the field when the driver says) instead of a position in the chunk: from the driver when it names
        the row (PostgreSQL's COPY), else found by trying the rows again (:func:`~handover.target.writers.
        locate_refused`, nothing written)."""
        where = f"chunk {chunk.index} of source '{chunk.source_id}'"
        found = writers.locate_refused(self.engine, exc) if exc.row_of is not None else None
        if found is None:
            return self._db_error(where, exc, source=chunk.source_id, chunk=chunk.index)
        index, error = found
        row, key = exc.row_of(index)  # type: ignore[misc]
        if row is None:  # a finding about the whole source
            return self._db_error(where, error, source=chunk.source_id, chunk=chunk.index)  # type: ignore[arg-type]
        key = excerpt(key, 60) if key else None
        field = writers.refused_field(error)
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()
        named = f"row {row}" + (f" (key {key})" if key else "") + (f", field {field}" if field else "")
        return LoadError(
            f"the target database refused {named} of source '{chunk.source_id}' (table {exc.table.name}, chunk "
            f"{chunk.index}): {detail[0] if detail else type(error).__name__}",
            hint=f"nothing of the chunk was written; correct row {row} of source '{chunk.source_id}'"
            + (f" (field {field})" if field else "")
            + " and run the same command again (committed chunks are kept). If the row looks right, the target "
            "holds a rule the checks do not know (a constraint or a trigger added to it): report it with this "
            "message",
            batch=self.batch_id,
            url=self.engine.url.render_as_string(hide_password=True),
            source=chunk.source_id,
            row=row,
            column=field,
            key=key,
            chunk=chunk.index,
        )

    def _event(self, conn: Connection, event: str, detail: str | None = None) -> None:
        conn.execute(
            insert(schema.batch_events).values(
                batch_id=self.batch_id, event=event, at=utcnow(), detail=detail
            )
        )

    # -- batch --------------------------------------------------------------------------------------------

    def begin_batch(
        self,
        description: str,
        config_sha256: str,
        sources: Sequence[SourceFingerprint],
        *,
        same_as: str | None = None,
    ) -> set[tuple[str, int]]:
        """Record the batch as running; return the (source_id, chunk_index) already committed (resume).

        ``same_as``: another hash of the same configuration (the earlier way of hashing it); a batch recorded
        with it is not refused as changed, and gets ``config_sha256`` recorded instead."""
        try:
            with self.engine.begin() as conn:
                return self._begin(conn, description, config_sha256, sources, same_as)
        except SQLAlchemyError as exc:
            raise self._db_error("the start of the batch", exc) from exc

    def _source_rows(self, sources: Iterable[SourceFingerprint]) -> list[dict[str, Any]]:
        return [
            {
                "batch_id": self.batch_id,
                "source_id": s.source_id,
                "kind": s.kind,
                "entity": str(s.entity),
                "location": s.location,
                "sha256": s.sha256,
                "size_bytes": s.size_bytes,
                "rows_extracted": None,
                "complete": 0,
                **_row_account_columns(s),
            }
            for s in sources
        ]

    def _begin(
        self,
        conn: Connection,
        description: str,
        config_sha256: str,
        sources: Sequence[SourceFingerprint],
        same_as: str | None = None,
    ) -> set[tuple[str, int]]:
        b = schema.batches
        row = conn.execute(select(b.c.status).where(b.c.batch_id == self.batch_id)).first()
        fresh = {
            "status": "running",
            "description": description,
            "config_sha256": config_sha256,
            "started_at": utcnow(),
            "finished_at": None,
            "fingerprint": None,
            "summary_json": None,
            "tool_version": handover.__version__,
        }
        if row is None:
            conn.execute(insert(b).values(batch_id=self.batch_id, **fresh))
            writers.insert_rows(conn, schema.batch_sources, self._source_rows(sources))
            self._event(conn, "started", f"{len(sources)} source(s)")
            return set()
        status = row[0]
        bs = schema.batch_sources
        if status == "rolled_back":
            conn.execute(bs.delete().where(bs.c.batch_id == self.batch_id))
            conn.execute(update(b).where(b.c.batch_id == self.batch_id).values(**fresh))
            writers.insert_rows(conn, bs, self._source_rows(sources))
            self._event(conn, "restarted", "the batch had been rolled back: loading it again from the start")
            return set()
        before_config = conn.execute(select(b.c.config_sha256).where(b.c.batch_id == self.batch_id)).scalar()
        if before_config and same_as and before_config == same_as and config_sha256:
            conn.execute(update(b).where(b.c.batch_id == self.batch_id).values(config_sha256=config_sha256))
            before_config = config_sha256
        if before_config and config_sha256 and before_config != config_sha256:
            raise ConfigError(
                f"the configuration of batch {self.batch_id} changed since it started (the batch file, or a "
                f"rule, decision or routing file it names): SHA-256 was {before_config}, is now {config_sha256}",
                hint="a batch is bound to its configuration so that re-runs change nothing: give the batch a new "
                f"id to apply the change (rows already loaded stay; decided rows are added), or roll it back "
                f"first: handover rollback {self.batch_id}",
                batch=self.batch_id,
            )
        recorded = dict(
            conn.execute(select(bs.c.source_id, bs.c.sha256).where(bs.c.batch_id == self.batch_id)).all()
        )
        for source in sources:
            before = recorded.get(source.source_id)
            if before is not None and before != source.sha256:
                raise LoadError(
                    f"source '{source.source_id}' changed since batch {self.batch_id} started: "
                    f"SHA-256 was {before}, is now {source.sha256}",
                    hint="the source changed since this batch started: give the batch a new id (conflicts will "
                    f"be reported) or roll it back: handover rollback {self.batch_id}",
                    source=source.source_id,
                    batch=self.batch_id,
                )
        added = [s for s in sources if s.source_id not in recorded]
        writers.insert_rows(conn, bs, self._source_rows(added))
        for source in sources:  # a batch begun before the rows were accounted for gets its account now
            if source.source_id in recorded and source.rows is not None:
                conn.execute(
                    update(bs)
                    .where(bs.c.batch_id == self.batch_id, bs.c.source_id == source.source_id)
                    .where(bs.c.physical_rows.is_(None))
                    .values(**_row_account_columns(source))
                )
        c = schema.chunks.c
        done = {
            (s, int(i))
            for s, i in conn.execute(
                select(c.source_id, c.chunk_index).where(c.batch_id == self.batch_id)
            ).all()
        }
        if status == "finished" and not added:
            self._finished_before = True
            self._event(conn, "resumed", f"already finished: {len(done)} chunk(s) committed, nothing to load")
        else:
            conn.execute(
                update(b)
                .where(b.c.batch_id == self.batch_id)
                .values(status="running", finished_at=None, config_sha256=config_sha256)
            )
            self._event(conn, "resumed", f"{len(done)} chunk(s) already committed")
        return done

    @property
    def keeps_summary(self) -> bool:
        """True when :meth:`finish_batch` will leave the batch row as it was: a re-run of a finished batch that
        loaded nothing."""
        return self._finished_before and not self._chunks_loaded

    def finish_batch(self, summary: dict[str, Any]) -> str:
        """Mark the batch finished; returns the loaded-set fingerprint (see :mod:`handover.target.hashing`).

        A re-run of a batch that was already finished and loaded nothing leaves the batch row as it was (its
        status, finish time and summary): only an event records the re-run."""
        self.close()
        if self.keeps_summary:
            try:
                with self.engine.connect() as conn:
                    return loaded_fingerprint(conn, self.batch_id)
            except SQLAlchemyError as exc:
                raise self._db_error("the end of the batch", exc) from exc
        self._refresh_statistics()
        try:
            with self.engine.begin() as conn:
                fingerprint = loaded_fingerprint(conn, self.batch_id)
                c = schema.chunks.c
                per_source = dict(
                    conn.execute(
                        select(c.source_id, func.sum(c.rows))
                        .where(c.batch_id == self.batch_id)
                        .group_by(c.source_id)
                    ).all()
                )
                bs = schema.batch_sources
                for source_id, rows in per_source.items():
                    conn.execute(
                        update(bs)
                        .where(bs.c.batch_id == self.batch_id, bs.c.source_id == source_id)
                        .values(rows_extracted=int(rows or 0), complete=1)
                    )
                b = schema.batches
                conn.execute(
                    update(b)
                    .where(b.c.batch_id == self.batch_id)
                    .values(
                        status="finished",
                        finished_at=utcnow(),
                        fingerprint=fingerprint,
                        summary_json=json.dumps(summary, ensure_ascii=False, default=str, sort_keys=True),
                    )
                )
                self._event(conn, "finished", f"fingerprint {fingerprint}")
                return fingerprint
        except SQLAlchemyError as exc:
            raise self._db_error("the end of the batch", exc) from exc

    def _refresh_statistics(self, *, lookups_only: bool = False) -> None:
        """After a bulk load the planner's row estimates are stale (autovacuum has not run yet): without fresh
        ones PostgreSQL picks nested loops over the ledger for the report queries (benchmarks/RESULTS.md). Cheap:
        ANALYZE samples. ``lookups_only`` (during the load, PostgreSQL): the
        tables the per-chunk look-ups read, and only the columns they filter on (the table's row count is
        refreshed all the same), so the wide text columns are not read (figures in benchmarks/RESULTS.md)."""
        tables = ("ledger", "findings", "dossiers", "records", "chunks")
        backend = self.engine.dialect.name
        try:
            if backend == "postgresql":
                if lookups_only:
                    what = ", ".join(f"{t} ({', '.join(columns)})" for t, columns in _LOOKUP_COLUMNS.items())
                else:
                    what = ", ".join(tables)
                with self.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE " + what)
            elif backend in ("mysql", "mariadb"):
                with self.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE TABLE " + ", ".join(tables)).all()
        except SQLAlchemyError as exc:  # statistics only speed things up: never fail a batch for them
            log.warning("could not refresh the planner statistics: %s", exc)

    def fail_batch(self, message: str) -> None:
        """Mark the batch failed (committed chunks stay: running it again resumes). Never raises."""
        self.close()
        try:
            with self.engine.begin() as conn:
                b = schema.batches
                conn.execute(update(b).where(b.c.batch_id == self.batch_id).values(status="failed"))
                self._event(conn, "failed", scrub(message)[:4000])
        except SQLAlchemyError as exc:  # the original error matters more
            log.warning("could not record the failure of batch %s: %s", self.batch_id, exc)

    # -- chunks -------------------------------------------------------------------------------------------

    @property
    def prepares_ahead(self) -> bool:
        """Whether the next chunk is best prepared in a second thread while a chunk's transaction runs: on a
        database server, whose work the transaction waits for outside Python's GIL in a few large writes."""
        return self.engine.dialect.name != "sqlite"

    def prepare(self, chunk: Chunk) -> PreparedChunk:
        """The part of ``chunk``'s load that needs no database (:func:`~handover.target.prepare.prepare_chunk`),
        for :meth:`load_chunk`; it may run in another thread while an earlier chunk's transaction runs."""
        return prepare_chunk(chunk, writers.Wire.of(self.engine))

    def load_chunk(self, chunk: Chunk, prepared: PreparedChunk | None = None) -> ChunkLoadResult:
        """Load one chunk in one transaction (see the module text); ``prepared``: its :meth:`prepare`, if made
        already (else it is made here)."""
        try:
            try:
                with self._chunk_transaction() as conn:
                    result = self._load(conn, chunk, prepared)
            except SQLAlchemyError as exc:
                if not self._loaded_keys.overtaken(self.engine, exc, Entity(chunk.entity), chunk.source_id):
                    raise
                # Another batch began loading this source during the run, and a key it delivered met a key the
                # filter had let through unlooked: nothing of the chunk was written. Again, looking up every key.
                with self._chunk_transaction() as conn:
                    result = self._load(conn, chunk)
        except writers.RowsRefused as exc:
            raise self._refused(chunk, exc) from exc
        except SQLAlchemyError as exc:
            raise self._db_error(
                f"chunk {chunk.index} of source '{chunk.source_id}'",
                exc,
                source=chunk.source_id,
                chunk=chunk.index,
            ) from exc
        if not result.skipped:
            self._chunks_loaded += 1
            self._written += result.counts.extracted
            if self._written >= self._analyze_at and self.engine.dialect.name == "postgresql":
                # Without statistics (a new or fast-growing table; autovacuum analyses a minute later at best)
                # PostgreSQL takes the per-chunk key look-ups as returning one row and reads the batch's whole
                # ledger for each chunk (benchmarks/RESULTS.md). ANALYZE samples, each time the rows written have
                # doubled: a few times per batch.
                self._refresh_statistics(lookups_only=True)
                self._analyze_at = 2 * self._written
        return result

    @contextmanager
    def _chunk_transaction(self) -> Iterator[Connection]:
        """A chunk's transaction. SQLite: without the connection's own WAL checkpoints, which a thread runs
        after the commit instead (:class:`~handover.target.sqlite.WalCheckpointer`)."""
        if self._checkpointer is None and self.engine.dialect.name == "sqlite":
            self._checkpointer = WalCheckpointer.for_engine(self.engine)
        if self._checkpointer is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self.engine.connect() as conn, self._checkpointer.deferred(conn), conn.begin():
            yield conn
        self._checkpointer.poke()

    def close(self) -> None:
        """Stop the checkpoint thread, if any (after a batch's last chunk; :meth:`finish_batch` and
        :meth:`fail_batch` call it). Loading another chunk starts it again."""
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None

    def _load(self, conn: Connection, chunk: Chunk, prepared: PreparedChunk | None = None) -> ChunkLoadResult:
        """One chunk's load in its transaction ``conn``: prepared (unless ``prepared`` is given), checked against
        the target and this batch's ledger, written (see :mod:`~handover.target.chunkload` for the steps)."""
        stored = stored_result(conn, self.batch_id, chunk)
        if stored is not None:
            return stored
        if prepared is None:
            prepared = prepare_chunk(chunk, writers.Wire.of(conn))
        check_rows_not_loaded(conn, self.batch_id, chunk, prepared.source_rows)
        key_filter, scope = self._loaded_keys.for_source(conn, prepared.entity, chunk.source_id)
        load = ChunkLoad(conn, self.batch_id, self.conflict_policy, prepared)
        candidates = load.look_up_target(key_filter, scope)
        load.mark_batch_repeats(candidates)
        if key_filter is not None:
            key_filter.add(scope, load.keys_to_load())
        load.decide_actions()
        load.write()
        if self.attachments is not None and prepared.entity is Entity.DOSSIER:
            self.attachment_rows += load.attach(self.attachments)
        return load.commit_progress()


__all__ = ["Loader"]
