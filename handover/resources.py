"""Where the shipped reference data lives.

``mappings/`` and ``checks/`` sit at the repository root in a checkout and inside the package
(``handover/_data/``) in an installed wheel. Everything that reads them asks this module.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def _data_dir(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    from handover.errors import ConfigError

    raise ConfigError(
        f"The reference folder '{name}/' is missing from this installation.",
        hint="Reinstall the package (pip install .) from a complete checkout.",
    )


def mappings_dir() -> Path:
    """The folder holding units, procedures.csv and profiles/."""
    return _data_dir("mappings")


def checks_dir() -> Path:
    """The folder holding the data-quality suites (one TOML per entity)."""
    return _data_dir("checks")


def shared_gso_dir() -> Path:
    """The statistics office's raw tables, beside the repository (``../shared/data/gso``)."""
    return _PACKAGE_DIR.parent.parent / "shared" / "data" / "gso"
