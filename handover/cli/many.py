"""``handover plan`` and ``handover run-many``: many district batches, on Dask distributed."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from handover.cli.base import (
    COUNT_COLUMNS,
    JsonOpt,
    _balance_mark,
    _count_cells,
    _lit,
    _print_json,
    _print_rows,
    app,
    console,
    err_console,
)
from handover.errors import ExitCode
from handover.safe import printable

_MANY_COUNTS = COUNT_COLUMNS[:4]  # excluded, duplicate: its reports


def _many_live(board: dict[str, Any], height: int = 40) -> Any:
    """The live view of a run-many: one line per batch (stage, rows, findings, elapsed), the running ones first;
    as many lines as ``height`` allows, and the count of batches in each state under them."""
    import time
    from collections import Counter

    entries = list(board.values())
    counts = Counter(e.status for e in entries)
    caption = ", ".join(f"{counts[s]} {s}" for s in ("running", "waiting", "finished", "skipped", "failed"))
    table = Table(
        title="run-many", title_justify="left", caption=caption, caption_justify="left", expand=False
    )
    for col, right in (("batch", False), ("district", False), ("stage", False), ("rows", True),
                       ("findings", True), ("elapsed", True), ("try", True)):  # fmt: skip
        table.add_column(col, justify="right" if right else "left", no_wrap=True)
    order = {"running": 0, "failed": 1, "waiting": 2, "finished": 3, "skipped": 3}
    now = time.monotonic()
    for entry in sorted(entries, key=lambda e: order[e.status])[: max(5, height - 8)]:
        if entry.seconds is not None and entry.status != "running":
            elapsed = f"{entry.seconds:.1f} s"
        elif entry.started is not None:
            elapsed = f"{now - entry.started:.1f} s"
        else:
            elapsed = ""
        style = {"failed": "red", "finished": "green", "skipped": "dim"}.get(entry.status, "")
        table.add_row(
            Text(printable(entry.batch_id)),
            Text(printable(entry.district)),
            Text(entry.stage or entry.status, style=style),
            f"{entry.rows:,}" if entry.rows else "",
            f"{entry.findings:,}" if entry.findings is not None else "",
            elapsed,
            str(entry.attempts) if entry.attempts > 1 else "",
        )
    return table


def _render_many(outcomes: list[Any], seconds: float) -> None:
    retried = any(o.attempts > 1 for o in outcomes)  # the tries column only when a worker died mid-batch
    rows = []
    for o in outcomes:
        c = o.counts
        balance = "" if o.balanced is None else _balance_mark(o.balanced)
        rows.append(
            [
                o.batch_id,
                " ".join(p for p in (o.district_code, o.district_name) if p),
                Text(o.status, style={"failed": "red", "finished": "green"}.get(o.status, "")),
                *_count_cells(c, _MANY_COUNTS),
                f"{o.findings:,}" if c is not None else "",
                f"{o.seconds:.1f}",
                *([str(o.attempts)] if retried else []),
                balance,
            ]
        )
    headers = (
        "batch",
        "district",
        "status",
        *_MANY_COUNTS,
        "findings",
        "seconds",
        *(["tries"] if retried else []),
    )
    _print_rows(
        "Batches",
        (*headers, "balance"),
        rows,
        right={*_MANY_COUNTS, "findings", "seconds", "tries", "balance"},
    )
    for o in outcomes:
        for notice in o.notices:
            err_console.print(f"[yellow]Note:[/yellow] {_lit(o.batch_id)}: {_lit(notice, newlines=True)}")
    failed = [o for o in outcomes if o.status == "failed"]
    for o in failed:
        err_console.print(
            f"[red]Failed:[/red] {_lit(o.batch_id)} ({_lit(o.config)}): {_lit(o.message or '', newlines=True)}",
            soft_wrap=True,
        )
    by = {s: sum(o.status == s for o in outcomes) for s in ("finished", "skipped", "failed")}
    new_rows = sum(o.new_rows for o in outcomes)
    console.print(
        f"{len(outcomes)} batches: {by['finished']} finished, {by['skipped']} already finished (skipped), "
        f"{by['failed']} failed; new rows in the target: {new_rows:,}; {seconds:.1f} s"
    )
    if failed:
        console.print(
            "Correct what each failed batch says, then run the same command again: finished batches are "
            "skipped, unfinished ones resume."
        )


@app.command("run-many")
def run_many(
    plan: Annotated[
        list[Path],
        typer.Argument(help="A plan (plan.toml or its folder, from handover plan) or batch configurations."),
    ],
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", help="Batches side by side on this machine (default: one per CPU)."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", help="A Dask cluster's scheduler (tcp://HOST:8786) instead of this machine."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run many batches side by side as Dask tasks; re-running resumes the unfinished and skips the finished.
    Exits 10 when a batch failed (each is listed with its message; the others ran)."""
    import time

    from handover.many.inputs import read_inputs
    from handover.many.run import run_many as run_batches

    inputs = read_inputs(plan)
    if inputs.undecided:
        paths = ", ".join(str(u.get("path", "?")) for u in inputs.undecided[:5])
        more = f" and {len(inputs.undecided) - 5} more" if len(inputs.undecided) > 5 else ""
        err_console.print(
            f"[yellow]Note:[/yellow] the plan lists {len(inputs.undecided)} thing(s) it could not decide, not "
            f"run: {_lit(paths)}{more} (see its plan.toml)",
            soft_wrap=True,
        )
    board: dict[str, Any] = {}
    start = time.monotonic()
    live = None
    if err_console.is_terminal and not as_json:
        from rich.live import Live

        live = Live(get_renderable=lambda: _many_live(board, err_console.height), console=err_console, transient=True,
                    refresh_per_second=4)  # fmt: skip

    def update(progress: Any) -> None:
        board[progress.batch_id] = progress
        if live is None and progress.outcome is not None and not as_json:  # a log: one line per batch ended
            o = progress.outcome
            err_console.print(
                f"{_lit(o.batch_id)}: {o.status}"
                + (f", {o.counts.extracted:,} rows, {o.findings:,} findings" if o.counts else "")
                + f", {o.seconds:.1f} s",
                soft_wrap=True,
            )

    with live if live is not None else nullcontext():
        outcomes = run_batches(inputs.batches, jobs=jobs, scheduler=scheduler, on_progress=update)
    if as_json:
        _print_json([o.model_dump(mode="json") for o in outcomes])
    else:
        _render_many(outcomes, time.monotonic() - start)
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(ExitCode.BATCHES_FAILED)


@app.command("plan")
def plan_cmd(
    exports: Annotated[
        Path,
        typer.Argument(help="Folder of district exports: one sub-folder (or named file) per old district."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for plan.toml and the batch configurations.")],
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Exit 3 when anything is undecided (the plan is written all the same)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write one batch configuration per old district of an exports folder and a plan listing them; what
    cannot be decided is listed with its reason and gets no configuration (exit 0; --strict: exit 3)."""
    from handover.plan.make import make_plan

    result = make_plan(exports, out)
    plan = result.plan
    if as_json:
        _print_json(
            {
                **plan.model_dump(mode="json"),
                "plan_file": str(result.plan_file),
                "sources": result.sources,
            }
        )
    else:
        rows = [
            [
                b.batch_id,
                f"{b.province_code}/{b.district_code}",
                b.district_name,
                b.config.as_posix(),
                ", ".join(
                    f"{s['id']} ({s['kind']}, {s['entity']}, {s['rows']:,} rows{'' if s['complete'] else '+'})"
                    for s in result.sources.get(b.batch_id, [])
                ),
            ]
            for b in plan.batch
        ]
        _print_rows("Batches", ("batch", "codes", "district", "config", "sources"), rows)
        if plan.undecided:
            _print_rows(
                "Undecided (no configuration)",
                ("path", "reason"),
                [[u.path, u.reason] for u in plan.undecided],
            )
        console.print(
            f"{len(plan.batch)} batch(es), {len(plan.undecided)} undecided: {_lit(out / 'plan.toml')}",
            soft_wrap=True,
        )
    if strict and plan.undecided:
        raise typer.Exit(ExitCode.INPUT)
