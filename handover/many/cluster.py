"""The Dask cluster a ``run-many`` runs on: a local cluster started for the run, or an existing one at a
scheduler's address, whose workers must all import ``handover``."""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from handover.errors import ConfigError


class Cluster:
    """A client on a local cluster started for the run, or on the cluster at ``scheduler``."""

    def __init__(self, jobs: int | None, scheduler: str | None, batches: int) -> None:
        self.jobs, self.scheduler, self.batches = jobs, scheduler, batches
        self.cluster: Any = None
        self.client: Any = None

    def __enter__(self) -> Any:
        from distributed import Client

        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout="20s")
                self.client.wait_for_workers(1, timeout=60)
            except (OSError, TimeoutError) as exc:
                self.__exit__()
                raise ConfigError(
                    f"Cannot use the Dask cluster at {self.scheduler}: {exc}",
                    hint="Start it first: `dask scheduler` on one machine, `dask worker ADDRESS --nthreads 1` on "
                    "each machine (with handover installed), then give --scheduler tcp://HOST:8786.",
                ) from exc
        else:
            from distributed import LocalCluster

            with _plain_main():  # the worker processes do not run the caller's script again
                self.cluster = LocalCluster(
                    n_workers=max(1, min(self.jobs or 1, self.batches)),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # no dashboard; its HTTP server (health) on a free port
                    scheduler_kwargs={"dashboard": False},
                    memory_limit=0,  # a batch's memory is bounded by its chunks: no limit of Dask's kills it
                    silence_logs=logging.ERROR,
                )
            self.client = Client(self.cluster)
        _check_workers(self.client, self.scheduler)
        return self.client

    def __exit__(self, *exc: object) -> None:
        for part in (self.client, self.cluster):
            if part is not None:
                with suppress(Exception):  # closing what may be gone already
                    part.close()


def cluster(jobs: int | None, scheduler: str | None, batches: int) -> Cluster:
    return Cluster(jobs, scheduler, batches)


def _worker_version() -> str:
    import handover

    return handover.__version__


def _check_workers(client: Any, scheduler: str | None) -> None:
    """Every worker imports ``handover`` (a worker without it would fail every batch it is given)."""
    try:
        client.run(_worker_version)
    except Exception as exc:
        raise ConfigError(
            f"A worker of the cluster at {scheduler or 'this machine'} cannot run handover: "
            f"{type(exc).__name__}: {exc}",
            hint="Install handover (the same version) on every machine that runs `dask worker`.",
        ) from exc


@contextmanager
def _plain_main() -> Iterator[None]:
    """A spawned worker process first imports the parent's ``__main__`` again, unless there is nothing to import:
    a caller's script without an ``if __name__ == "__main__":`` guard would run again in every worker. While the
    cluster starts its worker processes, ``__main__`` is an empty module; the functions sent to the workers live
    in this module, never in ``__main__``."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main
