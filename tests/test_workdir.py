"""The run's private work folder: mode 0700, an owner marker, gone at the end; a dead owner's folder is removed by
the next run, a live owner's left alone."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from handover import workdir
from handover.errors import ConfigError
from handover.workdir import MARKER, PREFIX, WorkFolder, owner_marker, private_dir, sweep


def _folder(base: Path, owner: dict | None, age: float = 0) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
    (folder / "000000.pkl").write_bytes(b"rows")
    if owner is not None:
        (folder / MARKER).write_text(json.dumps(owner), encoding="utf-8")
    if age:
        old = time.time() - age
        os.utime(folder, (old, old))
    return folder


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # gone and reaped
    return proc.pid


def test_a_work_folder_is_private_marked_and_removed(tmp_path: Path) -> None:
    saved, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    with WorkFolder(tmp_path) as work:
        assert work.dir is not None and work.dir.parent == tmp_path
        assert stat.S_IMODE(work.dir.stat().st_mode) == 0o700
        owner = json.loads((work.dir / MARKER).read_text(encoding="utf-8"))
        assert owner["pid"] == os.getpid() and owner == {**owner_marker(), "created": owner["created"]}
        # this process's temporary files go inside it, and those of the processes it starts
        assert tempfile.gettempdir() == os.environ["TMPDIR"] == str(work.dir / "tmp")
        with private_dir("sheets-") as sheets:
            assert sheets.parent == work.dir and stat.S_IMODE(sheets.stat().st_mode) == 0o700
        assert not sheets.exists()
        folder = work.dir
    assert not folder.exists() and tempfile.tempdir == saved and os.environ.get("TMPDIR") == saved_env


def test_private_dir_without_a_run_makes_its_own_marked_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HANDOVER_WORK_DIR", str(tmp_path))
    with private_dir("sheets-") as sheets:
        assert sheets.parent.parent == tmp_path and (sheets.parent / MARKER).is_file()
    assert list(tmp_path.iterdir()) == []


def test_the_next_run_removes_dead_owners_folders_and_keeps_live_ones(tmp_path: Path) -> None:
    me = owner_marker()
    live = _folder(tmp_path, me)
    dead = _folder(tmp_path, {**me, "pid": _dead_pid()})
    reused = _folder(tmp_path, {**me, "start": (me["start"] or 0) - 1})  # this pid, another process's start
    rebooted = _folder(tmp_path, {**me, "boot_id": "another-boot"})
    elsewhere = _folder(tmp_path, {**me, "host": "another-host", "pid": _dead_pid()})
    unmarked_new = _folder(tmp_path, None)  # being made right now
    unmarked_old = _folder(tmp_path, None, age=2 * workdir.UNMARKED_GRACE_SECONDS)
    other = tmp_path / "not-ours"
    other.mkdir()
    with WorkFolder(tmp_path) as work:
        assert sorted(work.removed) == sorted([dead, reused, rebooted, unmarked_old])
        left = {p.name for p in tmp_path.iterdir()}
        assert left == {p.name for p in (live, elsewhere, unmarked_new, other)} | {work.dir.name}
    assert sweep(tmp_path) == []  # what is left belongs to live owners (or to another machine)


def test_a_work_folder_base_that_cannot_be_used_is_a_config_error(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(ConfigError) as caught:
        WorkFolder(blocked / "work").open()
    assert caught.value.exit_code == 2 and "HANDOVER_WORK_DIR" in (caught.value.hint or "")
    assert workdir.current() is None
