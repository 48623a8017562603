"""Nothing sensitive left behind: a real run killed with SIGKILL while spooling leaves its private work folder;
the next run removes it, and no output, stored column, report or temporary file holds the database password,
given in the URL's userinfo or in its query string (SQLite and PostgreSQL targets)."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from handover.cli import app
from handover.target import schema
from handover.workdir import MARKER, PREFIX
from tests.cliproc import run_cli

pytestmark = pytest.mark.slow
SECRET = "secretpw"


def _texts(folder: Path) -> dict[Path, bytes]:
    """Every file under ``folder`` as bytes (workbooks: each part of the zip, uncompressed)."""
    out: dict[Path, bytes] = {}
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as z:
                    data += b"".join(z.read(name) for name in z.namelist())
            out[path] = data
    return out


def _target_text(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return "\n".join(
                repr(row) for table in schema.metadata.sorted_tables for row in conn.execute(select(table))
            )
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite-query", "postgresql-userinfo", "postgresql-query"])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(URL with the password, the same URL the test uses to read the target back)."""
    if request.param == "sqlite-query":
        plain = f"sqlite:///{tmp_path / 'target.db'}"
        return f"{plain}?password={SECRET}", plain
    plain = request.getfixturevalue("pg_url")
    if request.param == "postgresql-userinfo":
        return make_url(plain).set(password=SECRET).render_as_string(hide_password=False), plain
    return f"{plain}?password={SECRET}", plain


def _prepare(tmp: Path, url: str) -> Path:
    from handover.demo.batch import generate_demo_inputs, write_demo_config

    generate_demo_inputs(tmp, seed=3, rows=120)
    cfg = write_demo_config(tmp)
    body = cfg.read_text(encoding="utf-8")
    body = re.sub(r"(?m)^chunk_size\s*=.*$", "chunk_size = 40", body)
    body = re.sub(
        r'(?m)^url\s*=\s*"sqlite:///target\.db"',
        f'url = "{url}"\nattachments = "target-attachments"',  # the scans' store, on every database
        body,
    )
    # the district database (a SQL source) named with a password in its query string too
    body = body.replace('district_system.db"', f'district_system.db?password={SECRET}"')
    assert url in body and body.count(f"?password={SECRET}") >= 2
    cfg.write_text(body, encoding="utf-8")
    return cfg


def test_a_killed_run_leaves_nothing_behind_and_no_password_anywhere(
    target_url: tuple[str, str], tmp_path: Path
) -> None:
    url, plain = target_url
    cfg = _prepare(tmp_path / "batch", url)
    work = tmp_path / "work"
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "HANDOVER_WORK_DIR": str(work)}
    env.pop("HANDOVER_CRASH_AT", None)

    killed = run_cli(["run", str(cfg)], env={**env, "HANDOVER_CRASH_AT": "validate:2"})
    assert killed.returncode == -9, killed.stderr
    (left,) = work.iterdir()  # the dead run's folder: marked, private, holding its spool and snapshots
    assert left.name.startswith(PREFIX) and (left / MARKER).is_file()
    assert oct(left.stat().st_mode & 0o777) == "0o700"
    assert list(left.rglob("*.pkl")) and list(left.rglob("van_ban_089.csv"))
    for path, data in _texts(work).items():
        assert SECRET.encode() not in data, path

    done = run_cli(["run", str(cfg), "--json"], env=env)
    assert done.returncode == 0, done.stderr
    assert list(work.iterdir()) == []  # the dead run's folder removed, this run's own gone at its end
    result = json.loads(done.stdout)
    assert result["target"].count("***") == 1 and SECRET not in result["target"]
    locations = [s["location"] for s in result["sources"]]
    assert sum("password=***" in loc for loc in locations) == 2

    shown = run_cli(["run", str(cfg)], env=env)  # the table a user sees, re-run: adds nothing
    assert shown.returncode == 0, shown.stderr
    status = CliRunner().invoke(app, ["db", "status", "--db", url])
    status_json = CliRunner().invoke(app, ["db", "status", "--db", url, "--json"])
    assert status.exit_code == status_json.exit_code == 0, status.output
    for text in (killed.stdout, killed.stderr, done.stdout, done.stderr, shown.stdout, shown.stderr):
        assert SECRET not in text
    assert SECRET not in status.output and SECRET not in status_json.output
    assert "***" in status.output

    reports = _texts(tmp_path / "batch" / "reports")
    assert any(p.suffix == ".html" for p in reports) and any(p.suffix == ".xlsx" for p in reports)
    for path, data in reports.items():
        assert SECRET.encode() not in data, path
    html = next(data for p, data in reports.items() if p.suffix == ".html").decode()
    assert "password=***" in html
    stored = _target_text(plain)
    assert "password=***" in stored and SECRET not in stored
    if plain.startswith("sqlite"):
        for path, data in _texts(tmp_path).items():
            if path.name.startswith("target.db"):
                assert SECRET.encode() not in data, path
