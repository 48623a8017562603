"""The ``handover`` command: parse options, call one library function, render with rich.

No pandas and no SQL here; heavy imports happen inside the commands that need them, so ``--help`` is fast.
Every :class:`handover.errors.HandoverError` is rendered once, in a red panel on stderr, by :func:`main`.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel

from handover.errors import ExitCode, HandoverError

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

app = typer.Typer(
    name="handover",
    help="Move the pending work of the abolished districts to the new communes: extract → map → validate → "
    "load → report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
units_app = typer.Typer(
    help="The old → new administrative-unit reference and resolver.", no_args_is_help=True
)
sources_app = typer.Typer(help="Look at district exports before loading them.", no_args_is_help=True)
db_app = typer.Typer(help="The target database: schema versions, verification.", no_args_is_help=True)
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
        app(standalone_mode=False)
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
    except Exception as exc:  # click usage errors and the unexpected
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(ExitCode.USAGE)
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
