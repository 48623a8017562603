"""Where the reference data lives.

``mappings/``, ``checks/`` and the statistics office's raw tables (``data/gso/``) sit at the repository root in a
checkout and inside the package (``handover/_data/``) in an installed wheel. Everything that reads them asks this
module. A batch may read its mappings from a province's own copy (``[mapping] dir``, written by
``handover mappings export``): :func:`using_mappings` makes :func:`mappings_dir` answer that folder, in this
process and in the worker processes it starts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
MAPPINGS_ENV = "HANDOVER_MAPPINGS_DIR"
# What the pipeline reads from a mappings folder: a province's copy must hold all of them.
MAPPING_ENTRIES = (
    "units/old_units.csv",
    "units/new_communes.csv",
    "units/crosswalk.csv",
    "procedures.csv",
    "statuses.csv",
    "record_types.csv",
    "value_codes.csv",
    "id_province_codes.csv",
    "profiles",
)
# Not exported, always the shipped ones: the TCVN3 and VNI character tables are fixed by their standards.
NOT_EXPORTED = ("encodings",)


@cache
def _data_dir(name: str, checkout: str | None = None) -> Path:
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / (checkout or name)):
        if candidate.is_dir():
            return candidate
    from handover.errors import ConfigError

    raise ConfigError(
        f"The reference folder '{checkout or name}/' is missing from this installation.",
        hint="Reinstall the package (pip install .) from a complete checkout.",
    )


def shipped_mappings_dir() -> Path:
    """The mappings shipped with handover (``mappings/`` of the checkout or of the installed package)."""
    return _data_dir("mappings")


def mappings_dir() -> Path:
    """The folder holding units, procedures.csv, statuses.csv and profiles/: the batch's own copy while
    :func:`using_mappings` is active, else the shipped one."""
    override = os.environ.get(MAPPINGS_ENV)
    return Path(override) if override else shipped_mappings_dir()


def checks_dir() -> Path:
    """The folder holding the data-quality suites (one TOML per entity)."""
    return _data_dir("checks")


def gso_dir() -> Path:
    """The statistics office's raw tables that ``mappings/units/`` is built from (``data/gso/`` of the
    checkout, ``handover/_data/gso/`` of an installed wheel; provenance in its ``PROVENANCE.md``)."""
    return _data_dir("gso", "data/gso")


def check_mappings_dir(folder: Path) -> Path:
    """``folder`` resolved, or a :class:`ConfigError` naming what a mappings folder lacks."""
    from handover.errors import ConfigError

    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise ConfigError(
            f"The mappings folder '{folder}' does not exist.",
            file=str(folder),
            column="mapping.dir",
            hint=f"Write a copy to edit with: handover mappings export {folder}",
        )
    missing = [entry for entry in MAPPING_ENTRIES if not (folder / entry).exists()]
    if missing:
        raise ConfigError(
            f"The mappings folder '{folder}' lacks {', '.join(missing)}.",
            file=str(folder),
            column="mapping.dir",
            hint="A mappings folder is a complete copy: write one with handover mappings export DIR, then edit it.",
        )
    return folder


@contextmanager
def using_mappings(folder: Path | None) -> Iterator[Path]:
    """Within the block, :func:`mappings_dir` is ``folder`` (checked by :func:`check_mappings_dir`); ``None``
    keeps the current one. Set through the environment, so that worker processes started inside the block read
    the same folder; the tables cached per folder are read again for another folder."""
    if folder is None:
        yield mappings_dir()
        return
    folder = check_mappings_dir(folder)
    before = os.environ.get(MAPPINGS_ENV)
    os.environ[MAPPINGS_ENV] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop(MAPPINGS_ENV, None)
        else:
            os.environ[MAPPINGS_ENV] = before


def mapping_files(folder: Path) -> list[Path]:
    """The files of a mappings folder, sorted by relative path (hidden files and caches left out)."""
    folder = Path(folder)
    files = [
        p
        for p in folder.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(folder).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def mappings_digest(folder: Path) -> str:
    """SHA-256 over every file of a mappings folder: relative path and bytes, in path order."""
    digest = hashlib.sha256()
    for path in mapping_files(folder):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def export_mappings(dest: Path, *, force: bool = False) -> list[Path]:
    """Copy the shipped mappings (all but the character tables of ``encodings/``) into ``dest`` for a province
    to edit; the files written, in path order.

    Refuses (ConfigError) a ``dest`` that exists and is not empty, unless ``force`` (files of the same name are
    then overwritten; other files stay)."""
    from handover.errors import ConfigError

    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise ConfigError(f"'{dest}' is a file, not a folder.", file=str(dest), hint="Choose a folder path.")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise ConfigError(
            f"The folder '{dest}' is not empty.",
            file=str(dest),
            hint="Choose a new folder, or add --force to overwrite the shipped files in it.",
        )
    source = shipped_mappings_dir()
    written: list[Path] = []
    for path in mapping_files(source):
        if path.relative_to(source).parts[0] in NOT_EXPORTED:
            continue
        target = dest / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(target)
    return written
