"""Many batches at once (``handover run-many``): each batch is one Dask task, run by
:func:`handover.pipeline.run.run_batch` inside a Dask worker process.

* ``jobs``: a :class:`distributed.LocalCluster` of that many worker processes, one thread each, started for the
  run and stopped after it (default: one per CPU).
* ``scheduler``: an existing cluster (``dask scheduler`` and ``dask worker ADDRESS`` on each machine); its
  workers must have ``handover`` installed and see the plan's files at the same paths.

Batches share one target, PostgreSQL or MariaDB: a SQLite target is refused for more than one job (or a
cluster), before anything starts. Each batch runs in its worker process alone (a batch works in one process: the
parallelism is the batches'), and one batch at a time per worker process, whatever its thread count.

A batch that fails is an outcome with its message, never an exception: the others go on. A batch already
finished in its target with the same configuration is not run again (``skipped``); an unfinished one resumes
from its committed chunks, as ``handover run`` does. A worker process that dies mid-batch (SIGKILL, out of
memory) makes the scheduler give the batch to another worker (up to ``distributed.scheduler.allowed-failures``
deaths, 3 by default): the new run takes over the batch's lock (:mod:`handover.target.locks`) and resumes.

Progress comes back as Dask events (``Worker.log_event`` → ``Client.subscribe_topic``), one topic per run;
``on_progress`` is called in the caller's thread.

The package, one module per job: :mod:`~handover.many.inputs` (what ``run-many`` is given: a plan or batch
configurations), :mod:`~handover.many.outcome` (each batch's outcome and live progress), :mod:`~handover.many.run`
(:func:`~handover.many.run.run_many`: the checks before anything starts, the submission and the events),
:mod:`~handover.many.cluster` (the Dask cluster and client) and :mod:`~handover.many.worker` (the task each worker
runs).
"""
