"""The spool between validate and load: a disk that refuses a work file is a user-facing error."""

from __future__ import annotations

import shutil

import pytest

from handover.errors import HandoverError
from handover.pipeline.spool import Spool
from tests.target import factories as f


def test_chunks_come_back_in_order_and_the_folder_goes() -> None:
    with Spool() as spool:
        for i in range(3):
            Spool.write(spool.reserve(), f.chunk([f.dossier(f"H-{i}")], index=i))
        assert [c.index for c in spool] == [0, 1, 2]
        folder = spool.dir
    assert not folder.exists()


def test_a_work_file_that_cannot_be_written_says_where_and_what_to_do() -> None:
    with Spool() as spool:
        path = spool.reserve()
        shutil.rmtree(spool.dir)  # as good as a full or vanished temporary folder
        with pytest.raises(HandoverError) as caught:
            Spool.write(path, f.chunk([f.dossier("H-1")]))
    error = caught.value
    assert error.message.startswith(f"could not write the work file {path}: ")
    assert "TMPDIR" in (error.hint or "") and error.context["file"] == str(path)
