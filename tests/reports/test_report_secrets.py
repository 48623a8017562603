"""The commune-sheet workers of a large report get the database password through a pipe: no job file holds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from handover.errors import ReportError
from handover.reports import workbook

SECRET = "secretpw"


def _tell(url: str, batch_id: str, codes: Any, folder: str, max_rows: int, secret: Any = None) -> Any:
    """In the worker: what it was given, and whether any file of its folder holds the password."""
    on_disk = [p.name for p in Path(folder).rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    raise ReportError(f"url={url} secret={secret} on_disk={on_disk}")


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:5432/db",
        f"postgresql+psycopg://postgres@127.0.0.1:5432/db?password={SECRET}",
    ],
)
def test_the_password_reaches_the_worker_by_pipe_not_by_file(url: str, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HANDOVER_WORK_DIR", str(tmp_path))
    monkeypatch.setattr(workbook, "_render_share", _tell)  # pickled by name: the worker runs it
    engine = create_engine(url)  # no connection is made
    job = workbook._Parallel(engine, "b", [["00001", "00002"]])
    try:
        with pytest.raises(ReportError) as caught:
            job.attach(None, set(), 0, None, None)  # type: ignore[arg-type]
    finally:
        job.close()
    message = caught.value.message
    assert "on_disk=[]" in message
    assert f"'{SECRET}'" in message  # the worker had it, as ``secret``
    assert message.split(" secret=")[0] == "url=postgresql+psycopg://postgres@127.0.0.1:5432/db"
    assert list(tmp_path.iterdir()) == []  # the report's private folder is gone
