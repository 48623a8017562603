"""SQL sources are read inside read-only transactions: a query that would write is refused by the server, and the
district database is left as it was."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from handover.config import SourceConfig
from handover.errors import SourceError
from handover.sources import open_source


def _source(url: str, query: str) -> SourceConfig:
    return SourceConfig(id="district", kind="sql", url=url, query=query, old_province_code="10",
                        old_district_code="086")  # fmt: skip


def test_postgresql_source_is_read_in_a_read_only_transaction(pg_url: str) -> None:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE ho_so (ma_ho_so text PRIMARY KEY, chu_ho_so text)"))
        conn.execute(text("INSERT INTO ho_so VALUES ('000.00.86.H38-250620-0001', 'Nguyễn Văn An')"))
        conn.execute(text("CREATE SEQUENCE s"))
    ok = open_source(
        _source(pg_url, "SELECT ma_ho_so AS dossier_code, chu_ho_so AS applicant_name FROM ho_so"), 10
    )
    frame = next(iter(ok.chunks())).frame
    assert frame["dossier_code"].tolist() == ["000.00.86.H38-250620-0001"]
    assert frame["applicant_name"].tolist() == ["Nguyễn Văn An"]

    # nextval() writes (it advances the sequence): PostgreSQL refuses it in a read-only transaction
    writing = "SELECT ma_ho_so AS dossier_code, nextval('s') AS so_thu_tu FROM ho_so"
    with pytest.raises(SourceError, match="read-only transaction"):
        reader = open_source(_source(pg_url, writing), 10)
        list(reader.chunks())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT last_value, is_called FROM s")).one() == (1, False)  # never advanced
    engine.dispose()
