"""The ``handover`` command: parse options, call one library function, render with rich.

No pandas and no SQL here; heavy imports happen inside the commands that need them, so ``--help`` is fast.
Every :class:`handover.errors.HandoverError` is rendered once, in a red panel on stderr, by :func:`main`.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from handover.errors import ExitCode, HandoverError

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

class _Typer(typer.Typer):
    """A Typer whose commands render a HandoverError once (panel on stderr) and exit with its code.

    Done per command, not only in :func:`main`, so that in-process tests (typer.testing.CliRunner) see exactly
    what a user sees.
    """

    def command(self, *args: Any, **kwargs: Any) -> Any:
        register = super().command(*args, **kwargs)

        def decorate(func: Any) -> Any:
            @functools.wraps(func)
            def wrapper(*a: Any, **k: Any) -> Any:
                try:
                    return func(*a, **k)
                except HandoverError as exc:
                    if _state["debug"]:
                        err_console.print_exception()
                    render_error(exc)
                    raise typer.Exit(exc.exit_code) from None

            register(wrapper)
            return func

        return decorate


app = _Typer(
    name="handover",
    help="Move the pending work of the abolished districts to the new communes: extract → map → validate → "
    "load → report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
units_app = _Typer(
    help="The old → new administrative-unit reference and resolver.", no_args_is_help=True
)
sources_app = _Typer(help="Look at district exports before loading them.", no_args_is_help=True)
db_app = _Typer(help="The target database: schema versions, verification.", no_args_is_help=True)
app.add_typer(units_app, name="units")
app.add_typer(sources_app, name="sources")
app.add_typer(db_app, name="db")

console = Console()
err_console = Console(stderr=True)
_state: dict[str, Any] = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show the Python traceback of an error.")] = False,
) -> None:
    _state["debug"] = debug


def _print_json(data: Any) -> None:
    """JSON on stdout, UTF-8, not escaped: what scripts read."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


# ==========================================================================================================
# units  (section owned by the units work: handover/units/)
# ==========================================================================================================


# ==========================================================================================================
# sources  (section owned by the sources work: handover/sources/)
# ==========================================================================================================


# ==========================================================================================================
# db, rollback  (section owned by the target work: handover/target/)
# ==========================================================================================================


# ==========================================================================================================
# init, run, demo, report  (section owned by the pipeline work: handover/pipeline/, handover/demo.py)
# ==========================================================================================================

ConfigArg = Annotated[Path, typer.Argument(help="The batch configuration (TOML); see: handover init.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example configuration.")] = Path(
        "batch.toml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example batch configuration."""
    from handover.config import EXAMPLE_TOML

    if path.exists() and not force:
        raise typer.BadParameter(f"{path} exists; choose another path or add --force", param_hint="PATH")
    path.write_text(EXAMPLE_TOML, encoding="utf-8")
    console.print(f"Wrote [bold]{path}[/bold]. Edit the sources, then: handover run {path} --dry-run")


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
            tasks[key] = bar.add_task(f"{stage:<8} {source_id}", total=None)
        bar.update(tasks[key], completed=rows)

    return bar, update


def _render_batch(result: Any) -> None:
    table = Table(title=f"Batch {result.batch_id} ({result.status})", title_justify="left")
    for col in ("source", "extracted", "loaded", "review", "quarantined", "excluded", "duplicate", "balance"):
        table.add_column(col, justify="left" if col == "source" else "right")
    rows = [*result.per_source.items(), ("TOTAL", result.total)]
    for name, c in rows:
        table.add_row(
            name,
            *(
                f"{getattr(c, k):,}"
                for k in ("extracted", "loaded", "review", "quarantined", "excluded", "duplicate")
            ),
            "[green]✔[/green]" if c.balanced() else "[red]✘[/red]",
            end_section=name == rows[-2][0] if len(rows) > 1 else False,
        )
    console.print(table)
    console.print(
        f"New rows in the target: {result.new_rows:,}   conflicts: {result.conflicts:,}   "
        f"chunks resumed (already committed): {result.chunks_skipped:,}"
    )
    if result.findings:
        top = ", ".join(f"{k} {v:,}" for k, v in sorted(result.findings.items(), key=lambda kv: -kv[1])[:8])
        console.print(f"Findings: {top}")
    if result.fingerprint:
        console.print(f"Loaded-set fingerprint (SHA-256): {result.fingerprint}")
    console.print("Stage seconds: " + ", ".join(f"{t.stage} {t.seconds:.1f}" for t in result.timings))
    for kind, path in result.reports.items():
        console.print(f"Report ({kind}): [bold]{path}[/bold]")


@app.command()
def run(
    config: ConfigArg,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Extract, map and validate everything; write nothing to the target."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a batch: extract → map → validate → load → report. Re-running resumes or changes nothing."""
    from handover.config import load_config
    from handover.pipeline.run import run_batch

    cfg = load_config(config)
    bar, update = _progress_bar()
    with bar:
        result = run_batch(cfg, dry_run=dry_run, progress=update)
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
        f"Batch config: [bold]{out / 'batch.toml'}[/bold]   target: [bold]{out / 'target.db'}[/bold]"
    )
    console.print(f"Re-run it (adds nothing): handover run {out / 'batch.toml'}")


# ==========================================================================================================
# the edge: errors rendered once
# ==========================================================================================================


def render_error(exc: HandoverError) -> None:
    lines = [f"[bold]{exc.message}[/bold]"]
    for key, value in exc.context.items():
        lines.append(f"  {key}: {value}")
    if exc.hint:
        lines.append(f"\n[green]What to do:[/green] {exc.hint}")
    err_console.print(Panel("\n".join(lines), title=f"handover: {type(exc).__name__}", border_style="red"))


def main() -> None:
    """Console-script entry point."""
    try:
        code = app(standalone_mode=False)  # click returns the code of a typer.Exit here
        sys.exit(code if isinstance(code, int) else 0)
    except HandoverError as exc:
        if _state["debug"]:
            err_console.print_exception()
        render_error(exc)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("Aborted.")
        sys.exit(ExitCode.INTERNAL)
    except KeyboardInterrupt:
        err_console.print("Interrupted: committed chunks are kept; run the same command again to resume.")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: unknown command, bad option value
        show = getattr(exc, "show", None)
        if show:
            show()
        else:
            err_console.print(str(exc))
        sys.exit(ExitCode.USAGE)
    except Exception as exc:  # the unexpected
        if _state["debug"]:
            raise
        err_console.print(
            Panel(
                f"[bold]Unexpected error:[/bold] {type(exc).__name__}: {exc}\n\n"
                "[green]What to do:[/green] run again with --debug and report the traceback.",
                title="handover: internal error",
                border_style="red",
            )
        )
        sys.exit(ExitCode.INTERNAL)


if __name__ == "__main__":
    main()
