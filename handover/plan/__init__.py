"""A plan: the batches of many districts, written by ``handover plan`` and read by ``handover run-many``.

``PLAN_DIR/plan.toml`` lists one ``[[batch]]`` per old district (its batch configuration, relative to the plan's
folder, and the district's old codes) and one ``[[undecided]]`` per thing of the exports folder the planner could
not decide (with the reason, in Vietnamese and English), which gets no configuration.

The package, one module per job:

* :mod:`~handover.plan.model`: the plan (:class:`~handover.plan.model.Plan`), read by
  :func:`~handover.plan.model.load_plan` and written by :func:`~handover.plan.model.plan_text`;
* :mod:`~handover.plan.make`: ``handover plan`` (:func:`~handover.plan.make.make_plan`), which writes one batch
  configuration per district and the plan;
* :mod:`~handover.plan.settings`: ``EXPORTS_DIR/plan.toml``, what the planner cannot infer from the folder;
* :mod:`~handover.plan.districts`: the old districts of the reference, found by a folder's or file's name;
* :mod:`~handover.plan.detect`: the sources each file holds, read as ``handover sources inspect`` reads them;
* :mod:`~handover.plan.toml`: a small TOML writer for the files it writes.
"""
