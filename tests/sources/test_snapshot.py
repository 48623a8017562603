"""A source rewritten while the batch reads it: what is read is the private snapshot (the bytes hashed), and the
batch stops before anything is loaded when the original no longer holds those bytes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from typer.testing import CliRunner

from handover.cli import app
from handover.config import SourceConfig
from handover.errors import SourceError
from handover.pipeline.extract import OpenSource, check_unchanged, open_sources
from handover.target import schema

CHANGED_NAME = "Người Đổi Giữa Chừng"
CHANGED_CODE = "000.00.89.H38-999999-9999"


def _demo(tmp: Path) -> Path:
    from handover.demo.batch import generate_demo_inputs, write_demo_config
    from handover.demo.scans import VB_SCANS, write_sample_pdfs

    exports = generate_demo_inputs(tmp, seed=5, rows=120)
    write_sample_pdfs(exports / VB_SCANS, [CHANGED_CODE])  # the rewritten file's new dossier has its scan
    cfg = write_demo_config(tmp)
    body = re.sub(r"(?m)^chunk_size\s*=.*$", "chunk_size = 40", cfg.read_text(encoding="utf-8"))
    cfg.write_text(body, encoding="utf-8")
    return cfg


def _rewrite(path: Path) -> None:
    """What a district export tool writing the file again does: other names, one more row."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    first = lines[1].split(",")
    first[0], first[5] = CHANGED_CODE, CHANGED_NAME
    body = [lines[0]] + [
        re.sub(r",[^,]*,(0\d{8,11}),", f",{CHANGED_NAME},\\1,", ln, count=1) for ln in lines[1:]
    ]
    path.write_text("\n".join([*body, ",".join(first)]) + "\n", encoding="utf-8-sig")


def test_a_source_rewritten_mid_read_stops_the_batch_with_nothing_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _demo(tmp_path)
    original = tmp_path / "exports" / "van_ban_089.csv"
    real_chunks = OpenSource.chunks
    rewritten: list[int] = []

    def chunks(
        self: OpenSource,
    ):  # the read step's hook: the file is rewritten after its first chunk was read
        for n, chunk in enumerate(real_chunks(self)):
            yield chunk
            if n == 0 and self.config.id == "van-ban":
                assert self.reader.cfg.path != original  # the reader reads the snapshot, not the original
                _rewrite(original)
                rewritten.append(1)

    monkeypatch.setattr(OpenSource, "chunks", chunks)
    result = CliRunner().invoke(app, ["run", str(cfg)], catch_exceptions=False)
    assert rewritten
    assert result.exit_code == 3, result.output
    message = " ".join(result.output.split())
    assert f"The source file '{original}' changed while the batch read it" in message
    assert "nothing was loaded by this run" in message
    assert "Run again when the export is complete" in message
    engine = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.dossiers)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(schema.records)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(schema.ledger)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(schema.batches)).scalar_one() == 0
    engine.dispose()
    assert CHANGED_NAME.encode() not in (tmp_path / "target.db").read_bytes()

    # once the export is complete, the same command loads the file as it is now
    monkeypatch.setattr(OpenSource, "chunks", real_chunks)
    result = CliRunner().invoke(app, ["run", str(cfg)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    engine = create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    with engine.connect() as conn:
        codes = conn.execute(
            text("SELECT count(*) FROM dossiers WHERE dossier_code = :c"), {"c": CHANGED_CODE}
        )
        assert codes.scalar_one() == 1
        stored = conn.execute(
            select(schema.batch_sources.c.sha256).where(schema.batch_sources.c.source_id == "van-ban")
        ).scalar_one()
    engine.dispose()
    assert stored == hashlib.sha256(original.read_bytes()).hexdigest()


def test_the_reader_reads_the_snapshot_and_the_fingerprint_is_its_hash(tmp_path: Path) -> None:
    _demo(tmp_path)
    original = tmp_path / "exports" / "van_ban_089.csv"
    before = original.read_bytes()
    cfg = SourceConfig(id="van-ban", kind="csv", path=original, delimiter=",", old_district_code="089")
    (src,) = open_sources([cfg], 1000, tmp_path / "work")
    assert src.reader.cfg.path != original and src.reader.cfg.path.read_bytes() == before
    assert src.reader.file == str(original) and src.reader.report["file"] == str(original)
    fp = src.fingerprint
    assert (fp.location, fp.sha256, fp.size_bytes) == (
        str(original),
        hashlib.sha256(before).hexdigest(),
        len(before),
    )
    check_unchanged([src])  # nothing changed
    original.touch()  # a new modification time, the same bytes: no change
    check_unchanged([src])

    _rewrite(original)  # rewritten before the reader even started
    names = {n for chunk in src.chunks() for n in chunk.frame["applicant_name"]}
    assert CHANGED_NAME not in names and len(names) > 10  # read from the snapshot: the old content
    with pytest.raises(SourceError) as caught:
        check_unchanged([src])
    assert "changed while the batch read it" in caught.value.message
    assert caught.value.exit_code == 3 and caught.value.context["file"] == str(original)

    original.write_bytes(before[:-10])  # cut short
    with pytest.raises(SourceError, match=r"bytes when read"):
        check_unchanged([src])
    original.unlink()
    with pytest.raises(SourceError, match="no longer there"):
        check_unchanged([src])


def test_a_file_that_is_not_there_is_reported_by_its_reader_as_before(tmp_path: Path) -> None:
    missing = tmp_path / "none.csv"
    with pytest.raises(SourceError) as caught:
        open_sources([SourceConfig(id="x", kind="csv", path=missing)], 10, tmp_path / "work")
    assert caught.value.message == f"The source file '{missing}' does not exist."
