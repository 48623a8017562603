"""The target service database: table definitions, writers, ledger, locks, migrations.

* :mod:`.db` — ``open_target(url)`` (friendly errors, schema through migrations, version check), ``db upgrade``.
* :mod:`.loader` — ``Loader``: one chunk = one transaction (rows, ledger, findings, progress row).
* :mod:`.hashing` — content hash and loaded-set fingerprint, as auditors recompute them.
* :mod:`.locks` — ``batch_lock``: one process per batch and target.
* :mod:`.rollback` / :mod:`.verify` — undo a batch; recompute its hashes from the rows.
* :mod:`.writers` — COPY on PostgreSQL, batched executemany elsewhere.
"""
