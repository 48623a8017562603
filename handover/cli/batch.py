"""``handover init``, ``run``, ``demo`` and ``report``: one batch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from handover.cli.base import (
    COUNT_COLUMNS,
    BatchIdArg,
    ConfigArg,
    JsonOpt,
    TargetDbOpt,
    _balance_mark,
    _count_cells,
    _lit,
    _note,
    _print_json,
    _print_rows,
    app,
    console,
    err_console,
)
from handover.safe import printable


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example configuration.")] = Path(
        "batch.toml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example batch configuration."""
    from handover.config_example import EXAMPLE_TOML

    if path.exists() and not force:
        raise typer.BadParameter(f"{path} exists; choose another path or add --force", param_hint="PATH")
    path.write_text(EXAMPLE_TOML, encoding="utf-8")
    console.print(
        f"Wrote [bold]{_lit(path)}[/bold]. Edit the sources, then: handover run {_lit(path)} --dry-run"
    )


def _progress_bar() -> tuple[Any, Any]:
    """A rich progress display and the callback the library calls: (stage, source, rows so far)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=None),
        TextColumn("{task.completed:>9,} rows"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    tasks: dict[tuple[str, str], Any] = {}

    def update(stage: str, source_id: str, rows: int) -> None:
        key = (stage, source_id)
        if key not in tasks:
            tasks[key] = bar.add_task(_lit(f"{stage:<8} {source_id}"), total=None)
        bar.update(tasks[key], completed=rows)

    return bar, update


def _render_batch(result: Any) -> None:
    from handover.models import EXPECTED_RULES

    accounts = {s.source_id: s.rows for s in result.sources}
    known = [a for a in accounts.values() if a is not None]
    rows = []
    for name, c in [*result.per_source.items(), ("TOTAL", result.total)]:
        account = accounts.get(name)
        if name == "TOTAL":
            ok = (
                all(a.balances(result.per_source.get(s, c)) for s, a in accounts.items() if a)
                and c.balanced()
            )
            non_data, read = sum(a.non_data_rows for a in known), sum(a.physical_rows for a in known)
        else:
            ok = account.balances(c) if account else c.balanced()
            non_data, read = (account.non_data_rows, account.physical_rows) if account else ("", "")
        rows.append(
            [
                name,
                *_count_cells(c, COUNT_COLUMNS),
                *(f"{v:,}" if isinstance(v, int) else v for v in (non_data, read)),
                _balance_mark(ok),
            ]
        )
    _print_rows(
        f"Batch {result.batch_id} ({result.status})",
        ("source", *COUNT_COLUMNS, "non-data", "read", "balance"),
        rows,
        right={*COUNT_COLUMNS, "non-data", "read", "balance"},
        total_last=True,
    )
    for source_id in result.per_source:
        account = accounts.get(source_id)
        if account is None:
            continue
        console.print(Text(printable(f"{source_id}: {account.summary()}")), overflow="fold")
        notable = [line for line in account.lines if line.rule not in EXPECTED_RULES]
        for line in notable[:10]:  # cells: shown as written, control characters as visible escapes
            console.print(Text(printable(f"  row {line.row} {line.rule}: {line.text}")), overflow="fold")
        if len(notable) > 10:
            console.print(f"  … {len(notable) - 10} more: --json and the HTML report list them")
    console.print(
        f"New rows in the target: {result.new_rows:,}   conflicts: {result.conflicts:,}   "
        f"chunks resumed (already committed): {result.chunks_skipped:,}"
    )
    if result.findings:
        top = ", ".join(f"{k} {v:,}" for k, v in sorted(result.findings.items(), key=lambda kv: -kv[1])[:8])
        console.print(f"Findings: {_lit(top)}")
    for rule in result.rules:
        unused = "  [yellow](never matched: check the keyword)[/yellow]" if not rule["matches"] else ""
        console.print(
            f"Split rule {_lit(Path(rule['file']).name)}:{rule['line']} {_lit(rule['old_commune_code'])} "
            f"'{_lit(rule['keyword'])}' → {_lit(rule['new_commune_code'])}: {rule['matches']:,} rows{unused}",
            soft_wrap=True,
        )
    if result.attachments:
        a = result.attachments
        console.print(
            f"Attachments: {a['files_recorded']:,} file(s) recorded ({a['copied']:,} copied, "
            f"{a['found_in_place']:,} already in place) in [bold]{_lit(a['store'])}[/bold]"
        )
    if result.fingerprint:
        console.print(f"Loaded-set fingerprint (SHA-256): {result.fingerprint}")
    _render_rounds(result.rounds)
    console.print("Stage seconds: " + ", ".join(f"{t.stage} {t.seconds:.1f}" for t in result.timings))
    for kind, path in result.reports.items():
        console.print(f"Report ({kind}): [bold]{_lit(path)}[/bold]")
    for notice in result.notices:
        _note(notice)


_ROUND_UNITS_SHOWN = 20


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _render_rounds(rounds: list[Any]) -> None:
    """A later round of its sources: each round's totals, and the records this one issues (to sign)."""
    if len(rounds) < 2:
        return
    console.print(
        f"Rounds of these sources: this batch is round {len(rounds)} and hands over only what is new"
    )
    for i, r in enumerate(rounds, 1):
        when = f"finished {r.finished_at:%Y-%m-%d %H:%M} UTC" if r.finished_at else r.status
        console.print(
            f"  {i} {_lit(r.batch_id)} ({when}): {_plural(r.dossiers, 'dossier')}, "
            f"{_plural(r.records, 'record')} → {_plural(len(r.units), 'handover record')}",
            soft_wrap=True,
        )
    for unit in rounds[-1].units[:_ROUND_UNITS_SHOWN]:
        kind = "first record" if unit.round < 2 else f"supplement {unit.round - 1}"
        console.print(
            f"    {_lit(unit.code or '?')} {_lit(unit.name or '')}: {_plural(unit.dossiers, 'dossier')}, "
            f"{_plural(unit.records, 'record')}, {kind} Số {_lit(unit.record_number)}",
            soft_wrap=True,
        )
    more = len(rounds[-1].units) - _ROUND_UNITS_SHOWN
    if more > 0:
        console.print(f"    … {more:,} more: sheet Tổng hợp of the workbook and --json list them")


@app.command()
def run(
    config: ConfigArg,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Extract, map and validate everything; write nothing to the target."),
    ] = False,
    as_json: JsonOpt = False,
    mappings: Annotated[
        Path | None,
        typer.Option(
            "--mappings",
            help="The province's mappings folder (handover mappings export); wins over [mapping] dir.",
        ),
    ] = None,
) -> None:
    """Run a batch: extract → map → validate → load → report. Re-running resumes or changes nothing."""
    from handover.api import run_batch
    from handover.config import load_config

    cfg = load_config(config)
    bar, update = _progress_bar()
    with bar:
        result = run_batch(cfg, dry_run=dry_run, mappings=mappings, progress=update)
    if as_json:
        _print_json(result.model_dump(mode="json"))
    else:
        _render_batch(result)


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the demo exports, target.db and reports.")
    ] = Path("handover-demo"),
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same files.")] = 7,
    rows: Annotated[
        int | None, typer.Option("--rows", help="Dossiers per district (default: a realistic few hundred).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Generate synthetic exports of two Lào Cai districts and run the whole pipeline on them."""
    from handover.pipeline.run import run_demo

    bar, update = _progress_bar()
    with bar:
        result = run_demo(out, seed=seed, rows=rows, progress=update)
    if as_json:
        _print_json(result.model_dump(mode="json"))
        return
    _render_batch(result)
    console.print(
        f"Batch config: [bold]{_lit(out / 'batch.toml')}[/bold]   target: [bold]{_lit(out / 'target.db')}[/bold]"
    )
    console.print(f"Re-run it (adds nothing): handover run {_lit(out / 'batch.toml')}")


@app.command()
def report(
    batch_id: BatchIdArg,
    db: TargetDbOpt,
    out: Annotated[Path, typer.Option("--out", help="Folder for the workbook and the HTML report.")] = Path(
        "reports"
    ),
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="The batch TOML: its [report.parties] (place, representatives) are printed on the handover "
            "records; without it they are blanks to fill by hand.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Regenerate a batch's Excel workbook and HTML transfer report, and its handover record files (one per
    receiving commune and department), from the target database."""
    from handover.api import write_reports

    parties = None
    if config is not None:
        from handover.config import load_config

        parties = load_config(config).report.parties
    paths = write_reports(db, batch_id, out, parties=parties)
    if as_json:
        _print_json(
            {
                "batch_id": batch_id,
                "workbook": str(paths.workbook),
                "html": str(paths.html),
                "records": [str(f.path) for f in paths.records],
                "notices": list(paths.notices),
            }
        )
        return
    table = Table(title=f"Reports of batch {_lit(batch_id)}")
    table.add_column("Report")
    table.add_column("File", overflow="fold")  # a path is never cut
    table.add_row("Workbook (officials)", _lit(paths.workbook))
    table.add_row("HTML transfer report (auditors)", _lit(paths.html))
    if paths.records:
        communes = sum(f.kind == "commune" for f in paths.records)
        table.add_row(
            f"Handover records ({communes} communes, {len(paths.records) - communes} departments)",
            _lit(paths.records[0].path.parent),
        )
    console.print(table)
    for notice in paths.notices:
        _note(notice)
