"""One private folder per run for every temporary file: spool, snapshots of the sources, report jobs.

A run's temporary files hold the rows in clear (ID numbers, phones), so they live in one folder of mode 0700,
``handover-work-*`` under :func:`base_dir` (``HANDOVER_WORK_DIR``, else the system's temporary folder, which
``TMPDIR`` sets), with an owner marker (``owner.json``: host, pid, the process's start time and the machine's
boot id). The folder is removed when the run ends; a run killed with SIGKILL (or a power cut) cannot remove it,
so every new :class:`WorkFolder` first removes the folders of this user whose owner process is dead (gone,
its pid reused by another process, or started before the last boot); a live owner's folder is left alone.
While a work folder is open, the temporary files of this process and of the worker processes it starts
(``tempfile`` and ``TMPDIR``: openpyxl's sheet files, great-expectations' folders) are made inside it too.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PREFIX = "handover-work-"
MARKER = "owner.json"
UNMARKED_GRACE_SECONDS = 600  # a folder without its marker yet: being made, unless this old
_active: list[WorkFolder] = []


def base_dir() -> Path:
    """Where the work folders are made: ``HANDOVER_WORK_DIR``, else the system's temporary folder."""
    configured = os.environ.get("HANDOVER_WORK_DIR")
    return Path(configured) if configured else Path(tempfile.gettempdir())


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of ``pid`` from /proc; None where there is no /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return rest[0], int(rest[19])


def owner_marker() -> dict[str, Any]:
    """What identifies this process as a folder's owner, even after its pid is reused or the machine rebooted."""
    stat = _proc_stat(os.getpid())
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "start": stat[1] if stat else None,
        "boot_id": _boot_id(),
        "created": time.time(),
    }


def owner_alive(owner: dict[str, Any]) -> bool:
    """Is the process named by an owner marker still running? (another machine's folder: assumed so)"""
    if owner.get("host") != socket.gethostname():
        return True
    boot = _boot_id()
    if boot and owner.get("boot_id") and owner["boot_id"] != boot:
        return False
    pid = int(owner["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process holds the pid: not ours
        return False
    stat = _proc_stat(pid)
    if stat is None:
        return True
    state, start = stat
    if state == "Z":  # killed, not yet reaped by its parent
        return False
    return owner.get("start") is None or start == owner["start"]


def sweep(base: Path) -> list[Path]:
    """Remove this user's work folders under ``base`` whose owner is dead; → the folders removed."""
    removed: list[Path] = []
    try:
        entries = list(base.iterdir())
    except OSError:
        return removed
    uid = os.getuid()
    for folder in entries:
        if not folder.name.startswith(PREFIX):
            continue
        try:
            st = folder.lstat()
            if not folder.is_dir() or folder.is_symlink() or st.st_uid != uid:
                continue
            try:
                owner = json.loads((folder / MARKER).read_text(encoding="utf-8"))
                dead = not owner_alive(owner)
            except (OSError, ValueError, KeyError, TypeError):
                dead = time.time() - st.st_mtime > UNMARKED_GRACE_SECONDS
        except OSError:
            continue
        if dead:
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(folder)
    return removed


class WorkFolder:
    """A run's private folder (see the module text). Use as a context manager, or :meth:`open` and
    :meth:`close`."""

    def __init__(self, base: Path | None = None) -> None:
        self.base = base
        self.dir: Path | None = None
        self.removed: list[Path] = []  # dead runs' folders removed on opening
        self._saved_tempdir: str | None = None
        self._saved_env: str | None = None

    def open(self) -> WorkFolder:
        base = self.base or base_dir()
        try:
            base.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.removed = sweep(base)
            self.dir = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))  # mode 0700
        except OSError as exc:
            from handover.errors import ConfigError

            raise ConfigError(
                f"Cannot make the run's private work folder in {base}: {exc.strerror or exc}.",
                hint="Set HANDOVER_WORK_DIR (or TMPDIR) to a folder this user can write to, with room for a copy "
                "of the sources and the validated rows.",
                file=str(base),
            ) from exc
        os.chmod(self.dir, 0o700)
        part = self.dir / f"{MARKER}.part"
        part.write_text(json.dumps(owner_marker()), encoding="utf-8")
        os.replace(part, self.dir / MARKER)
        (self.dir / "tmp").mkdir(mode=0o700)
        self._saved_tempdir = tempfile.tempdir
        self._saved_env = os.environ.get("TMPDIR")
        tempfile.tempdir = os.environ["TMPDIR"] = str(self.dir / "tmp")  # the worker processes' too
        _active.append(self)
        return self

    def subdir(self, prefix: str) -> Path:
        """A new folder (mode 0700) inside this one."""
        assert self.dir is not None, "open the work folder first"
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.dir))

    def close(self) -> None:
        if self.dir is None:
            return
        if self in _active:
            _active.remove(self)
            tempfile.tempdir = self._saved_tempdir
            if self._saved_env is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = self._saved_env
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self) -> WorkFolder:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def current() -> WorkFolder | None:
    """The work folder this process has open (the innermost), if any."""
    return _active[-1] if _active else None


@contextmanager
def private_dir(prefix: str) -> Iterator[Path]:
    """A fresh private folder, removed afterwards: inside this process's open work folder, or (a command that
    opened none, such as ``handover report``) inside a work folder of its own."""
    active = current()
    if active is not None:
        path = active.subdir(prefix)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
        return
    with WorkFolder() as work:
        yield work.subdir(prefix)
