"""The public API (``import handover``): every name resolves to its one home, importing it is light, and the
functions give what the commands give on the same inputs (the README's library example is run as written)."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import handover
from handover import cli
from handover.demo.batch import generate_demo_inputs, write_demo_config
from handover.models import BatchResult

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
HEAVY = ("pandas", "great_expectations", "sqlalchemy", "openpyxl", "numpy")


def _readme_example() -> tuple[str, str]:
    """The code block of README's "Use as a library" section and the output block after it."""
    section = README.split("## Use as a library", 1)[1].split("\n## ", 1)[0]
    code, output = re.findall(r"^```(?:python)?\n(.*?)^```$", section, re.S | re.M)[:2]
    return code, output


def _count(url: str, table: str) -> int:
    assert Path(url.removeprefix("sqlite:///")).is_file(), url
    with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder as ``handover demo`` leaves it (small inputs), its batch run by ``handover run --json``."""
    root = tmp_path_factory.mktemp("api")
    generate_demo_inputs(root / "handover-demo", seed=7, rows=40)
    write_demo_config(root / "handover-demo")
    return root


@pytest.fixture(scope="module")
def cli_run(demo: Path) -> BatchResult:
    result = runner.invoke(cli.app, ["run", str(demo / "handover-demo" / "batch.toml"), "--json"])
    assert result.exit_code == 0, result.output
    return BatchResult.model_validate_json(result.stdout)


@pytest.fixture(scope="module")
def library_run(demo: Path, cli_run: BatchResult) -> tuple[str, dict[str, Any]]:
    """The README's example run as written from the demo's parent folder: what it printed, and its variables."""
    code, _ = _readme_example()
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.chdir(demo)
        exec(compile(code, "README.md", "exec"), namespace)
    # the example's target URL is relative to the folder it ran in
    namespace["url"] = f"sqlite:///{demo / namespace['config'].target.url.removeprefix('sqlite:///')}"
    return out.getvalue(), namespace


def test_every_public_name_resolves_to_its_home() -> None:
    for name in handover.__all__:
        value = getattr(handover, name)
        if name == "__version__":
            assert value == handover.__version__
            continue
        home = handover._HOMES[name]
        assert value is getattr(import_module(home), name), name
        assert (value.__doc__ or "").strip(), f"{name} has no docstring"
    assert set(handover.__all__) == {"__version__", *handover._HOMES}
    assert set(handover.__all__) <= set(dir(handover))
    assert issubclass(handover.ConfigError, handover.HandoverError)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        _ = handover.no_such_name


def test_import_handover_loads_nothing_heavy() -> None:
    script = (
        "import json, sys\n"
        "import handover\n"
        f"before = sorted(m for m in {HEAVY} if m in sys.modules)\n"
        "handover.HandoverError, handover.load_config, handover.make_plan, handover.run_batch\n"
        f"after = sorted(m for m in {HEAVY} if m in sys.modules)\n"
        "print(json.dumps([before, after]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    before, after = json.loads(done.stdout)
    assert before == [], f"import handover imported {before}"
    assert after == [], f"looking up the errors, load_config, make_plan, run_batch imported {after}"


def test_readme_example_prints_what_the_cli_run_shows(
    library_run: tuple[str, dict], cli_run: BatchResult
) -> None:
    printed, _ = library_run
    lines = printed.splitlines()
    loaded = cli_run.total.loaded
    assert lines[0] == f"finished {loaded} {cli_run.fingerprint}"
    assert lines[1] == f"True {loaded} True"
    deleted = ast.literal_eval(lines[2])  # the dict as printed
    assert deleted["dossiers"] + deleted["records"] == loaded
    assert deleted["ledger"] == cli_run.total.extracted
    assert lines[3] == "2 Batch configuration 'missing.toml' does not exist."
    # the output the README shows is the full demo's: the counts and fingerprint `handover demo` prints there
    _, shown = _readme_example()
    shown_lines = shown.splitlines()
    demo_fingerprint = re.search(r"Loaded-set fingerprint \(SHA-256\): (\w{64})", README).group(1)
    demo_loaded = int(re.search(r"New rows in the target: ([\d,]+)", README).group(1).replace(",", ""))
    assert shown_lines[0] == f"finished {demo_loaded} {demo_fingerprint}"
    assert shown_lines[1] == f"True {demo_loaded} True"
    shown_deleted = ast.literal_eval(shown_lines[2])
    assert shown_deleted["dossiers"] + shown_deleted["records"] == demo_loaded
    assert shown_lines[3] == lines[3]


def test_run_batch_gives_the_cli_runs_counts_and_fingerprint(
    library_run: tuple[str, dict], cli_run: BatchResult, demo: Path
) -> None:
    _, namespace = library_run
    result, url = namespace["result"], namespace["url"]
    assert isinstance(result, handover.BatchResult)
    assert result.status == cli_run.status == "finished"
    assert result.per_source == cli_run.per_source
    assert result.total == cli_run.total and result.total.balanced()
    assert result.fingerprint == cli_run.fingerprint
    assert [s.sha256 for s in result.sources] == [s.sha256 for s in cli_run.sources]
    # read back from both targets
    for table in ("dossiers", "records", "ledger"):
        assert _count(url, table) == _count(cli_run.target, table), table
    assert _count(url, "dossiers") + _count(url, "records") == result.total.loaded
    assert Path(result.reports["workbook"]).parent == Path("library-reports")  # as configured: relative
    assert (demo / result.reports["workbook"]).is_file()


def test_verify_and_rollback_through_the_api(
    library_run: tuple[str, dict], cli_run: BatchResult, tmp_path: Path
) -> None:
    _, namespace = library_run
    url, batch_id = namespace["url"], namespace["result"].batch_id
    check = handover.verify_batch(url, batch_id)
    assert check.ok and check.mismatch_error() is None
    assert check.rows_checked == cli_run.total.loaded

    # a row changed outside handover: the API says what `db verify` says, with its exit code
    tampered = tmp_path / "tampered.db"
    source = sqlite3.connect(url.removeprefix("sqlite:///"))
    with contextlib.closing(source) as src, contextlib.closing(sqlite3.connect(tampered)) as dst:
        src.backup(dst)
        dst.execute(
            "UPDATE dossiers SET applicant_name = 'Người Khác' WHERE id = (SELECT min(id) FROM dossiers)"
        )
        dst.commit()
    bad = handover.verify_batch(f"sqlite:///{tampered}", batch_id)
    error = bad.mismatch_error()
    assert not bad.ok and isinstance(error, handover.VerificationError)
    shown = runner.invoke(cli.app, ["db", "verify", "--db", f"sqlite:///{tampered}", "--batch", batch_id])
    assert shown.exit_code == error.exit_code == handover.ExitCode.VERIFY
    assert error.message in shown.stderr

    undo = handover.rollback_batch(url, batch_id)
    assert not undo.dry_run and undo.status_before == "finished"
    assert undo.rows_deleted["dossiers"] + undo.rows_deleted["records"] == cli_run.total.loaded
    assert _count(url, "dossiers") == _count(url, "records") == 0
    assert handover.rollback_batch(url, batch_id).already_rolled_back
    by_cli = runner.invoke(cli.app, ["rollback", batch_id, "--db", cli_run.target, "--json"])
    assert by_cli.exit_code == 0, by_cli.output
    assert json.loads(by_cli.stdout)["rows_deleted"] == undo.rows_deleted


def test_a_missing_target_or_batch_raises_what_the_cli_prints(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    for call in (handover.verify_batch, handover.rollback_batch):
        with pytest.raises(handover.TargetNotFoundError) as raised:
            call(url, "b1")
        assert not (tmp_path / "none.db").exists()
    shown = runner.invoke(cli.app, ["rollback", "b1", "--db", url])
    assert shown.exit_code == raised.value.exit_code == handover.ExitCode.NOT_FOUND
    assert raised.value.message in shown.stderr


def test_a_bad_config_raises_the_message_the_cli_prints(tmp_path: Path) -> None:
    path = tmp_path / "batch.toml"
    path.write_text(
        '[batch]\nid = "t1"\nchunk_size = 0\n[[sources]]\nid = "a"\nkind = "csv"\npath = "a.csv"\n',
        encoding="utf-8",
    )
    with pytest.raises(handover.ConfigError) as raised:
        handover.run_batch(path)
    with pytest.raises(handover.ConfigError) as loading:
        handover.load_config(path)
    assert raised.value.message == loading.value.message
    assert "batch.chunk_size" in raised.value.message
    shown = runner.invoke(cli.app, ["run", str(path)])
    assert shown.exit_code == raised.value.exit_code == handover.ExitCode.USAGE
    assert raised.value.message in shown.stderr
    assert raised.value.hint in shown.stderr
    assert not (tmp_path / "target.db").exists()


def test_run_batch_mappings_wins_and_leaves_the_config_as_it_was(demo: Path) -> None:
    config = handover.load_config(demo / "handover-demo" / "batch.toml")
    nowhere = demo / "no-such-mappings"
    with pytest.raises(handover.ConfigError) as raised:
        handover.run_batch(config, dry_run=True, mappings=nowhere)
    assert config.mapping.dir is None
    shown = runner.invoke(
        cli.app, ["run", str(demo / "handover-demo" / "batch.toml"), "--dry-run", "--mappings", str(nowhere)]
    )
    assert shown.exit_code == raised.value.exit_code
    assert raised.value.message in shown.stderr


def test_resolve_unit_answers_as_units_lookup() -> None:
    address = "Xã Sơn Hà, Huyện Bảo Thắng, Tỉnh Lào Cai"
    res = handover.resolve_unit(address)
    assert (res.status, res.method) == ("unique", "exact_name")
    assert [(n.commune_code, n.name) for n in res.new] == [("02905", "Xã Bảo Thắng")]
    shown = runner.invoke(cli.app, ["units", "lookup", address, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == res.to_json_dict()
    statuses = [r.status for r in handover.unit_resolver().resolve_many([address, "Xã Không Có"])]
    assert statuses == ["unique", "not_found"]


def test_the_command_lives_in_the_package_and_no_top_level_cli_is_installed() -> None:
    """The console script points into the package, and the wheel's contents are the package and its data only
    (no top-level ``cli`` module: the repository's ``cli.py`` is a launcher for the checkout)."""
    import tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"] == {"handover": "handover.cli:main"}
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["handover"]
    assert all(target.startswith("handover/") for target in wheel["force-include"].values())
    from handover.cli import app, main

    names = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    assert callable(main) and names >= {"run", "run-many", "report", "plan", "rollback"}
