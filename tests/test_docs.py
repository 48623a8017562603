"""Docs are checked: every command has help text and appears in the README."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.main import get_command

from handover.cli import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(group, prefix: str = "handover"):
    for name, cmd in group.commands.items():
        path = f"{prefix} {name}"
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, path)
        else:
            yield path, cmd


def test_every_command_has_help_and_is_in_readme() -> None:
    root = get_command(app)
    found = list(_commands(root))
    assert len(found) >= 8
    for path, cmd in found:
        assert (cmd.help or "").strip(), f"{path} has no help text"
        for param in cmd.params:
            if isinstance(param, typer.core.TyperOption) or param.param_type_name == "option":
                assert (getattr(param, "help", "") or "").strip(), f"{path} {param.name} has no help"
        assert f"`{path}" in README or f"$ {path}" in README, f"{path} is not in README.md"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    import re

    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    command = re.search(r'^TEST_COMMAND="(.+)"$', ci, re.M)
    assert command, ".ci/run has no TEST_COMMAND"
    assert f"\n{command.group(1)}\n" in README
    assert "handover demo\n" in README  # the first command ends with the demo
