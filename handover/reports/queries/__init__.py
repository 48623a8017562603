"""The queries the reports share, read back from the target database (SQLAlchemy Core).

Reports never use in-memory pipeline state: everything here is recounted from ``batches``, ``batch_sources``,
``chunks``, ``ledger``, ``dossiers``, ``records`` and ``findings`` (see :mod:`handover.target.schema`).
Row-level queries are generators that stream with ``yield_per``: memory does not grow with the row count.
Aggregates (per source, per unit, per check) are small and returned whole.

* :mod:`~handover.reports.queries.batch`: the batch's row and sources, the ledger counted per source and per
  unit line, :class:`~handover.reports.queries.batch.Shared` aggregates, :func:`~handover.reports.queries.batch.
  guarded` database errors.
* :mod:`~handover.reports.queries.loaded`: the ledger joined to the loaded rows, and who receives them
  (communes, provincial departments).
* :mod:`~handover.reports.queries.streams`: the loaded dossiers and records, streamed a receiver at a time.
* :mod:`~handover.reports.queries.rounds`: the batches of the same sources, each handing over what is new.
* :mod:`~handover.reports.queries.held`: rows held back (review, quarantine), conflicts, findings per check.

The per-source counts of the committed ``chunks`` rows are :func:`handover.target.counts.chunk_counts`; the
loaded-set fingerprint is :func:`handover.target.hashing.loaded_fingerprint`.
"""
