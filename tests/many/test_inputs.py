"""What ``run-many`` is given: a plan folder, its plan.toml, or batch configurations; and what it refuses before
starting anything (no cluster is started by these tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from handover.demo.districts import DistrictExport
from handover.errors import ConfigError
from handover.many.inputs import read_inputs
from handover.many.run import run_many
from tests.many.conftest import write_plan


@pytest.fixture
def plan(tmp_path: Path, district_exports: list[DistrictExport]) -> Path:
    return write_plan(tmp_path / "plan", district_exports[:3], "postgresql+psycopg://u@h/db", broken=True)


def test_plan_folder_plan_file_and_configs(plan: Path) -> None:
    by_folder = read_inputs([plan])
    assert [b.batch_id for b in by_folder.batches] == ["rm-001", "rm-024", "rm-040", "rm-999"]
    assert by_folder.batches[0].config == (plan / "batches" / "rm-001.toml").resolve()
    assert (by_folder.batches[1].province_code, by_folder.batches[1].district_name) == (
        "02",
        "Thành phố Hà Giang",
    )
    assert [u["path"] for u in by_folder.undecided] == ["exports/ghi-chu.docx"]
    assert read_inputs([plan / "plan.toml"]) == by_folder
    configs = read_inputs([plan / "batches" / "rm-040.toml", plan / "batches" / "rm-001.toml"])
    assert [b.config.name for b in configs.batches] == ["rm-040.toml", "rm-001.toml"]
    assert configs.undecided == [] and configs.batches[0].district_code is None


def test_a_folder_without_a_plan_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"holds no plan\.toml"):
        read_inputs([tmp_path])


def test_one_batch_id_twice_for_one_target_is_refused(plan: Path) -> None:
    config = plan / "batches" / "rm-001.toml"
    with pytest.raises(ConfigError, match="Batch rm-001 is named twice for the same target"):
        run_many([config, config], jobs=1)


def test_a_plan_entry_that_names_another_batch_fails_alone(plan: Path, tmp_path: Path) -> None:
    """Its configuration names another batch id: that batch fails (no cluster is needed to say so)."""
    text = (
        (plan / "plan.toml").read_text(encoding="utf-8").replace('batch_id = "rm-999"', 'batch_id = "rm-998"')
    )
    (plan / "plan.toml").write_text(text, encoding="utf-8")
    batches = read_inputs([plan]).batches
    outcomes = run_many(batches[-1:], jobs=1)
    assert [(o.batch_id, o.status, o.exit_code) for o in outcomes] == [("rm-998", "failed", 2)]
    assert (
        "The plan names batch rm-998, but" in outcomes[0].message and "is batch rm-999" in outcomes[0].message
    )
