"""Shared fixtures: a temporary SQLite target, and the real PostgreSQL / MariaDB servers CI provides.

PostgreSQL and MariaDB URLs come from HANDOVER_TEST_PG_URL and HANDOVER_TEST_MYSQL_URL (set by .ci/run).
Without them the tests that need a server are skipped locally, and fail in CI (CI=true): a missing server in CI
is a broken CI, not a reason to go green.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def pytest_configure(config: pytest.Config) -> None:
    """With ``-n N`` and no ``--dist`` of the caller's, xdist's work-stealing scheduler: a worker that runs out
    of tests takes half of what the other has not started, so the long cases do not leave one worker idle at
    the end (the whole suite, 2 workers: 263 s → 200 s)."""
    given = any(arg == "-d" or arg.startswith("--dist") for arg in config.invocation_params.args)
    if getattr(config.option, "dist", "no") == "load" and not given:
        config.option.dist = "worksteal"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The modules with slow end-to-end cases first (the order is otherwise kept), so that those cases start at
    once and the short cases fill in around them. A module stays in one piece: split into its slow cases at the
    front and its short ones later, its module-scoped fixtures (a demo run, a LibreOffice render) were built
    twice."""
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'target.db'}"


def _server_url(var: str) -> str:
    url = os.environ.get(var)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{var} is not set: .ci/run must start the server and export it")
        pytest.skip(f"{var} not set")
    return url


def _fresh_database(base_url: str) -> Iterator[str]:
    """Create a throw-away database on the server named by base_url; drop it afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    name = f"ho_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:  # server down in CI must fail loudly
        admin.dispose()
        pytest.fail(f"cannot create a test database on {url.render_as_string(hide_password=True)}: {exc}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if url.get_backend_name() == "postgresql":
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                    {"n": name},
                )
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _fresh_database(_server_url("HANDOVER_TEST_PG_URL"))


@pytest.fixture
def pg_server_url() -> str:
    """The PostgreSQL server's own URL, for code that makes its databases itself (benchmarks/e2e.py)."""
    return _server_url("HANDOVER_TEST_PG_URL")


@pytest.fixture
def mysql_url() -> Iterator[str]:
    yield from _fresh_database(_server_url("HANDOVER_TEST_MYSQL_URL"))


def db_url(kind: str, folder: Path) -> Iterator[str]:
    """A fresh target of ``kind`` (sqlite: a file in ``folder``; postgresql, mariadb: a throw-away database)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'target.db'}"
    elif kind == "postgresql":
        yield from _fresh_database(_server_url("HANDOVER_TEST_PG_URL"))
    else:
        yield from _fresh_database(_server_url("HANDOVER_TEST_MYSQL_URL"))


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on all three databases."""
    yield from db_url(request.param, tmp_path)
