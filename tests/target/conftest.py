"""An opened, emptied target on each of the three databases.

Creating a server database and migrating it costs about two seconds, so each test module gets one database per
dialect (created by the shared conftest's helper) and every test starts from empty tables. Tests about creating
the schema itself use the function-scoped ``any_db_url`` instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete

from handover.target import schema
from handover.target.db import open_target
from tests.conftest import db_url


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mariadb"])
def target_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from db_url(request.param, tmp_path_factory.mktemp("target"))


@pytest.fixture(scope="module")
def module_engine(target_url: str) -> Iterator[Engine]:
    eng = open_target(target_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def engine(module_engine: Engine) -> Engine:
    with module_engine.begin() as conn:
        for table in reversed(schema.metadata.sorted_tables):
            conn.execute(delete(table))
    return module_engine
