"""``handover`` runs in their own processes, forked from a warm server instead of started from nothing.

A new interpreter spends seconds importing great-expectations before the command does anything (4–6 s on the CI
machines), and the crash and concurrency tests start some twenty of them. Here a multiprocessing
*forkserver*, started once per test process, imports ``handover.cli`` and great-expectations once; each run is a fresh
``fork()`` of it that sets its own environment, working directory and standard streams, then calls
``cli.main()`` with the arguments. The run is a separate process with its own pid, exit code and signals, so
``SIGKILL`` (``HANDOVER_CRASH_AT``), lock holders named by pid and concurrent runs behave as with
``subprocess``. The forkserver holds no database connection and no thread, so a fork copies nothing live.

What differs from a new interpreter: the run ends with ``os._exit`` after its streams are flushed, so
interpreter shutdown (garbage collection of open connections) does not happen, as after a crash. The tests
that check what a whole program leaves behind (the README's commands, a script without a main guard) start
real interpreters.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path

_PRELOAD = ["tests.cliproc", "handover.cli", "great_expectations"]
_context: multiprocessing.context.ForkServerContext | None = None


def _ctx() -> multiprocessing.context.ForkServerContext:
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        assert isinstance(ctx, multiprocessing.context.ForkServerContext)
        ctx.set_forkserver_preload(_PRELOAD)
        _context = ctx
    return _context


def _main(argv: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> None:
    """In the forked process: become ``handover ARGV`` run from ``cwd`` with ``env``."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for path, fd in ((out, 1), (err, 2)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = ["handover", *argv]
    from handover import cli

    cli.main()


class CliProcess:
    """A running ``handover`` command, with the part of :class:`subprocess.Popen` the tests use."""

    def __init__(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | Path | None = None
    ) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="cliproc-")
        self._out = os.path.join(self._dir.name, "stdout")
        self._err = os.path.join(self._dir.name, "stderr")
        full_env = dict(os.environ if env is None else env)
        self._proc: BaseProcess = _ctx().Process(
            target=_main,
            args=([str(a) for a in argv], full_env, str(cwd or os.getcwd()), self._out, self._err),
        )
        self._proc.start()
        self.pid: int = self._proc.pid  # type: ignore[assignment]
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not self._proc.is_alive():
            self.returncode = self._proc.exitcode
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._proc.join(timeout)
        if self.poll() is None:
            raise subprocess.TimeoutExpired(["handover"], timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            self._proc.kill()

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        return (
            Path(self._out).read_text(encoding="utf-8", errors="replace"),
            Path(self._err).read_text(encoding="utf-8", errors="replace"),
        )

    def close(self) -> None:
        self.kill()
        self._proc.join()
        self._proc.close()
        self._dir.cleanup()


def run_cli(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``handover ARGV`` to its end, as :func:`subprocess.run` with ``capture_output=True, text=True`` gives it
    (``returncode`` is ``-9`` for a run that killed itself with ``SIGKILL``)."""
    proc = CliProcess(argv, env, cwd)
    try:
        try:
            stdout, stderr = proc.communicate(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        assert proc.returncode is not None
        return subprocess.CompletedProcess(["handover", *argv], proc.returncode, stdout, stderr)
    finally:
        proc.close()
