"""Pass 1 in worker processes gives exactly what it gives in one process: spool, findings, counts, GX totals,
split-rule matches, ledger and the loaded-set fingerprint."""

from __future__ import annotations

import csv
import json
import pickle
import random
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from handover.config import load_config
from handover.errors import HandoverError, LoadError
from handover.models import Entity, SourceFingerprint
from handover.pipeline import workers
from handover.pipeline.run import run_batch
from handover.target import schema
from tests.conftest import db_url

RULES = Path(__file__).resolve().parents[1] / "units" / "data" / "rules_kim_ma.csv"
KIM_MA = "Phường Kim Mã, Quận Ba Đình, Hà Nội"
ADDRESSES = [
    f"Tổ dân phố 5, {KIM_MA}",  # a split commune decided by the rule file
    KIM_MA,  # split, undecided: review
    "Phường Cống Vị, Quận Ba Đình, Hà Nội",
    "Xã Không Có, Hà Nội",  # not found
]


def _batch(folder: Path, batch_id: str, n_workers: int | str, url: str = "sqlite:///target.db") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(RULES, folder / "rules.csv")
    rng = random.Random(3)
    with (folder / "dossiers.csv").open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(
            [
                "Mã hồ sơ",
                "Tên thủ tục",
                "Chủ hồ sơ",
                "Địa chỉ",
                "Ngày tiếp nhận",
                "Ngày hẹn trả",
                "Trạng thái",
            ]
        )
        for i in range(80):
            out.writerow(
                [
                    f"000.00.01.H01-250601-{i % 71:04d}",  # 9 keys come back: duplicates or same-key conflicts
                    "Cấp giấy phép xây dựng",
                    "Nguyễn Văn A",
                    rng.choice(ADDRESSES),
                    f"2025-06-{1 + i % 9:02d}",
                    f"2025-07-{10 + i % 9:02d}",
                    rng.choice(["Đang xử lý", "Đã trả kết quả", "Chờ bổ sung"]),
                ]
            )
    config = folder / "batch.toml"
    config.write_text(
        f"""[batch]
id = "{batch_id}"
chunk_size = 7
workers = {n_workers}
[target]
url = "{url}"
[mapping]
rules = ["rules.csv"]
[thresholds]
max_error_share = 1.0
[[sources]]
id = "ba-dinh"
kind = "csv"
path = "dossiers.csv"
entity = "dossier"
old_province_code = "01"
[sources.columns]
"Mã hồ sơ" = "dossier_code"
"Tên thủ tục" = "procedure_name"
"Chủ hồ sơ" = "applicant_name"
"Địa chỉ" = "address"
"Ngày tiếp nhận" = "received_date"
"Ngày hẹn trả" = "due_date"
"Trạng thái" = "status_raw"
""",
        encoding="utf-8",
    )
    return config


def _ledger(db: Path) -> list[tuple]:
    engine = create_engine(f"sqlite:///{db}")
    lg = schema.ledger
    columns = [c for c in lg.c if c.name != "batch_id"]
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).order_by(lg.c.source_row)).all()
        (summary,) = conn.execute(select(schema.batches.c.summary_json)).scalars()
    engine.dispose()
    return [tuple(r) for r in rows], json.loads(summary)


def _stored(url: str, batch_id: str) -> tuple[list[tuple], list[tuple]]:
    """The batch's target rows and ledger rows as stored (load times, ids and the batch id left out)."""
    engine = create_engine(url)
    d, lg = schema.dossiers, schema.ledger
    with engine.connect() as conn:
        dossiers = conn.execute(
            select(*(c for c in d.c if c.name not in ("id", "loaded_at", "batch_id")))
            .where(d.c.batch_id == batch_id)
            .order_by(d.c.dossier_code)
        ).all()
        ledger = conn.execute(
            select(*(c for c in lg.c if c.name != "batch_id"))
            .where(lg.c.batch_id == batch_id)
            .order_by(lg.c.source_row)
        ).all()
    engine.dispose()
    return [tuple(r) for r in dossiers], [tuple(r) for r in ledger]


@pytest.mark.slow
def test_workers_give_what_one_process_gives(tmp_path: Path) -> None:
    one = run_batch(load_config(_batch(tmp_path / "one", "b", 0)))
    two = run_batch(load_config(_batch(tmp_path / "two", "b", 2)))

    assert one.total == two.total and one.total.extracted == 80
    assert one.per_source == two.per_source
    assert one.findings == two.findings
    assert one.fingerprint == two.fingerprint
    ledger_one, summary_one = _ledger(tmp_path / "one" / "target.db")
    ledger_two, summary_two = _ledger(tmp_path / "two" / "target.db")
    assert len(ledger_two) == 80 and ledger_one == ledger_two
    assert summary_one["gx"] == summary_two["gx"]
    assert (
        sum(g["element_count"] for g in summary_two["gx"] if g["check"] == summary_two["gx"][0]["check"])
        == 80
    )
    # split-rule matches are counted in the workers and added up here
    rules = {r["keyword"]: r["matches"] for r in summary_two["rules"]}
    assert rules == {r["keyword"]: r["matches"] for r in summary_one["rules"]}
    assert rules["Tổ dân phố 5"] > 0 and rules["Tổ dân phố 99"] == 0
    # on SQLite the target rows and the ledger come encoded from a worker as bound tuples: stored value for
    # value as the rows this process encodes itself (PostgreSQL's COPY text: the test below)
    _assert_stored_alike(
        f"sqlite:///{tmp_path / 'one' / 'target.db'}", f"sqlite:///{tmp_path / 'two' / 'target.db'}", one, two
    )


def _assert_stored_alike(url_one: str, url_two: str, one, two) -> None:  # type: ignore[no-untyped-def]
    """The batch ``b`` run in one process (``one``, into url_one) and with workers (``two``) stored alike."""
    assert one.new_rows == two.new_rows > 0
    dossiers_one, ledger_one = _stored(url_one, "b")
    dossiers_two, ledger_two = _stored(url_two, "b")
    assert len(dossiers_two) == two.new_rows and dossiers_one == dossiers_two
    assert len(ledger_two) == 80 and ledger_one == ledger_two


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["postgresql"])
def test_rows_encoded_by_a_worker_are_stored_as_one_process_stores_them(kind: str, tmp_path: Path) -> None:
    """With workers, the target rows and the ledger come encoded from a worker (COPY text on PostgreSQL;
    SQLite's bound tuples: test_workers_give_what_one_process_gives): stored value for value as the rows this
    process encodes itself."""
    fresh = contextmanager(db_url)
    with fresh(kind, tmp_path / "one") as url_one, fresh(kind, tmp_path / "two") as url_two:
        one = run_batch(load_config(_batch(tmp_path / "one", "b", 0, url_one)))
        two = run_batch(load_config(_batch(tmp_path / "two", "b", 2, url_two)))
        _assert_stored_alike(url_one, url_two, one, two)


@pytest.mark.slow
def test_dry_run_findings_file_is_the_same_with_workers(tmp_path: Path) -> None:
    one = run_batch(load_config(_batch(tmp_path / "one", "b", '"auto"')), dry_run=True)  # small: in process
    two = run_batch(load_config(_batch(tmp_path / "two", "b", 1)), dry_run=True)
    first = Path(one.reports["findings"]).read_bytes()
    assert first.count(b"\n") > 80  # every row has findings (unknown procedure code at least)
    assert Path(two.reports["findings"]).read_bytes() == first
    assert not (tmp_path / "two" / "target.db").exists()


def _source(size: int | None, kind: str = "csv") -> SourceFingerprint:
    return SourceFingerprint(
        source_id="s", kind=kind, location="x", entity=Entity.DOSSIER, sha256="0" * 64, size_bytes=size
    )


def test_workers_are_chosen_by_input_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "cpu_count", lambda: 4)
    assert workers.choose_workers("auto", [_source(1_000)]) == 0  # small: no process to start
    assert workers.choose_workers("auto", [_source(None)]) == 0  # SQL sources: size unknown
    big = workers.AUTO_MIN_BYTES
    assert workers.choose_workers("auto", [_source(big // 2), _source(big // 2)]) == 3  # one CPU reads
    assert workers.choose_workers("auto", [_source(big // 3 + 1, "xlsx")]) == 3  # compressed: more rows
    assert workers.choose_workers("auto", [_source(big // 3 + 1, "csv")]) == 0
    assert workers.choose_workers(2, [_source(1_000)]) == 2  # a number wins
    assert workers.choose_workers(0, [_source(big)]) == 0
    monkeypatch.setattr(workers, "cpu_count", lambda: 2)
    assert workers.choose_workers("auto", [_source(big)]) == 1
    monkeypatch.setattr(workers, "cpu_count", lambda: 1)
    assert workers.choose_workers("auto", [_source(big)]) == 0  # one CPU: nothing to overlap on
    monkeypatch.setattr(workers, "cpu_count", lambda: 64)
    assert workers.choose_workers("auto", [_source(big)]) == workers.MAX_AUTO_WORKERS


def test_workers_setting_is_checked(tmp_path: Path) -> None:
    from handover.errors import ConfigError

    config = _batch(tmp_path, "b", '"many"')
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert "workers" in str(info.value)


def test_user_errors_keep_hint_and_context_across_processes() -> None:
    error = LoadError("the target refused chunk 3", hint="run it again", source="s", chunk=3)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is LoadError and isinstance(back, HandoverError)
    assert back.message == error.message and back.hint == "run it again"
    assert back.context == {"source": "s", "chunk": 3, "stage": "load"}
    assert str(back) == str(error) and back.exit_code == error.exit_code


@pytest.mark.slow
def test_a_script_without_main_guard_is_not_run_again_in_workers(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = _batch(tmp_path / "b", "b", 1)
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import sys\n"
        "from handover.config import load_config\n"
        "from handover.pipeline.run import run_batch\n"
        "print('script body ran')\n"
        "result = run_batch(load_config(sys.argv[1]))\n"
        "print('extracted', result.total.extracted)\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, str(script), str(config)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("script body ran") == 1
    assert "extracted 80" in proc.stdout


def _processes_with(marker: str) -> list[int]:
    """PIDs of live processes whose environment holds ``marker`` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_killed_run_leaves_no_worker_behind_and_resumes(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time
    import uuid

    clean = run_batch(load_config(_batch(tmp_path / "clean", "b", 0)))
    config = _batch(tmp_path / "crash", "b", 1)
    script = (
        "import sys\nfrom handover.config import load_config\nfrom handover.pipeline.run import run_batch\n"
    )
    script += "run_batch(load_config(sys.argv[1]))\n"
    marker = f"HANDOVER_TEST_MARK={uuid.uuid4().hex}"
    env = dict(os.environ, HANDOVER_CRASH_AT="load.between:2", HANDOVER_TEST_MARK=marker.split("=", 1)[1])
    # (an orphaned worker would also keep the output pipes open: without the fix this times out)
    proc = subprocess.run(
        [sys.executable, "-c", script, str(config)], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr[-2000:]  # SIGKILL in the middle of the load
    deadline = time.monotonic() + 15
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(marker) == []  # the worker noticed and exited
    resumed = run_batch(load_config(config))
    assert resumed.chunks_skipped == 2
    assert resumed.fingerprint == clean.fingerprint and resumed.total == clean.total


@pytest.mark.slow
def test_a_worker_that_dies_is_reported_and_nothing_is_loaded(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    config = _batch(tmp_path, "b", 1)
    env = dict(os.environ, HANDOVER_CRASH_AT="validate:3")  # the worker is killed at its third chunk
    proc = subprocess.run(
        [sys.executable, "-c", "from handover.cli import main; main()", "run", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "A worker process (validate, or prepare for the load) stopped unexpectedly" in proc.stderr
    assert "Run the same command again: it resumes" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "target.db").exists() or _ledger_rows(tmp_path / "target.db") == 0
    resumed = run_batch(load_config(config))  # the same command again, without the drill
    assert resumed.total.extracted == 80 and resumed.chunks_skipped == 0


def _ledger_rows(db: Path) -> int:
    from sqlalchemy import func

    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(schema.ledger)).scalar_one()
    engine.dispose()
    return n
