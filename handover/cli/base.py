"""The ``handover`` command: the typer app, its sub-command groups, shared rendering and the error edge.

No pandas and no SQL here; heavy imports happen inside the commands that need them, so ``--help`` is fast.
Every :class:`handover.errors.HandoverError` is rendered once, in a red panel on stderr, by :func:`main`.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from handover.errors import ExitCode, HandoverError
from handover.safe import map_texts, printable, printable_json

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
units_app = _Typer(help="The old → new administrative-unit reference and resolver.", no_args_is_help=True)
sources_app = _Typer(help="Look at district exports before loading them.", no_args_is_help=True)
db_app = _Typer(help="The target database: schema versions, verification.", no_args_is_help=True)
mappings_app = _Typer(help="The reference tables a province may edit (mappings/).", no_args_is_help=True)
app.add_typer(units_app, name="units")
app.add_typer(sources_app, name="sources")
app.add_typer(db_app, name="db")
app.add_typer(mappings_app, name="mappings")
export_app = _Typer(
    help="Files for other systems, read back from the target after a batch.", no_args_is_help=True
)
app.add_typer(export_app, name="export")
review_app = _Typer(help="Officials' decisions from the workbook's review sheet.", no_args_is_help=True)
app.add_typer(review_app, name="review")

# emoji codes off: a cell reading ":warning:" prints as written
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)
_state: dict[str, Any] = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show the Python traceback of an error.")] = False,
) -> None:
    _state["debug"] = debug


def _print_json(data: Any) -> None:
    """JSON on stdout, UTF-8, not escaped but for control and format characters (``\\u001b``): what scripts
    read, and safe on a terminal."""
    sys.stdout.write(printable_json(json.dumps(data, ensure_ascii=False, default=str)) + "\n")


def _lit(value: Any, *, newlines: bool = False) -> str:
    """Data (a cell, a header, a path, an id, a message quoting them) for a rich markup string or a table cell:
    shown as written, ``[red]`` included, control characters as visible escapes (:func:`printable`)."""
    return escape(printable(value, newlines=newlines))


def _literal_data(data: Any) -> Any:
    """Every string (keys too) of a report's nested dicts and lists through :func:`_lit`."""
    return map_texts(data, _lit)


def _print_rows(
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str | Text]],
    *,
    right: Collection[str] = (),
    total_last: bool = False,
) -> None:
    """``rows`` as a table when each cell fits on one line of the console; otherwise (a narrow terminal, or a
    log: 80 columns) a block per row, its first cell as the heading, so that no id or count is ever cut."""
    texts = [[c if isinstance(c, Text) else Text(printable(c)) for c in row] for row in rows]
    widths = [max([len(h), *(row[i].cell_len for row in texts)]) for i, h in enumerate(headers)]
    if sum(widths) + 3 * len(widths) + 1 <= console.width:
        table = Table(title=Text(printable(title)), title_justify="left")
        for col in headers:
            table.add_column(col, justify="right" if col in right else "left", no_wrap=True)
        for i, row in enumerate(texts):
            table.add_row(*row, end_section=total_last and i == len(texts) - 2)
        console.print(table)
        return
    console.print(Text(printable(title), style="italic"))
    for head, *cells in texts:
        console.print(Text.assemble(head, style="bold"))
        pairs = [Text.assemble(f"{h} ", c) for h, c in zip(headers[1:], cells, strict=True) if c.plain]
        line = Text()
        for pair in pairs:  # as many "header value" pairs a line as fit; a longer value wraps, indented
            if line and line.cell_len + 3 + pair.cell_len > console.width - 2:
                console.print(Padding(line, (0, 0, 0, 2), expand=False))
                line = Text()
            line.append_text(Text(" · ") + pair if line else pair)
        console.print(Padding(line, (0, 0, 0, 2), expand=False))


# ==========================================================================================================
# units  (section owned by the units work: handover/units/)
# ==========================================================================================================


DbUrlOpt = Annotated[
    str,
    typer.Option(
        "--db", help="SQLAlchemy URL of the target, e.g. sqlite:///target.db or postgresql://u@h/db."
    ),
]
ConfigArg = Annotated[Path, typer.Argument(help="The batch configuration (TOML); see: handover init.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
BatchIdArg = Annotated[str, typer.Argument(help="The batch id (the `id` in the batch TOML).")]
TargetDbOpt = Annotated[str, typer.Option("--db", help="SQLAlchemy URL of the target database.")]

# a batch's counts per disposition, as the tables show them (the order of handover.models.Counts)
COUNT_COLUMNS = ("extracted", "loaded", "review", "quarantined", "excluded", "duplicate")


def _count_cells(counts: Any, columns: Sequence[str]) -> list[str]:
    """The ``columns`` of :class:`handover.models.Counts` ``counts`` as table cells (thousands separated); empty
    cells when there are no counts."""
    return [f"{getattr(counts, k):,}" if counts is not None else "" for k in columns]


def _balance_mark(ok: bool) -> Text:
    """The balance column's cell: a green tick or a red cross."""
    return Text("✔", style="green") if ok else Text("✘", style="red")


def _note(text: str) -> None:
    """A note on stderr (a kept file, a batch's notice): shown as written, line breaks kept."""
    err_console.print(f"[yellow]Note:[/yellow] {_lit(text, newlines=True)}")


# ==========================================================================================================
# the edge: errors rendered once
# ==========================================================================================================


def render_error(exc: HandoverError) -> None:
    """The one place a user-facing error is shown: a red panel on a terminal, plain unwrapped lines otherwise
    (logs, pipes, CI), so that paths and codes stay whole and searchable. A cell or header quoted in it is
    shown as written, control characters as escapes."""
    from handover.redact import scrub

    title = f"handover: {type(exc).__name__}"
    lines = [f"[bold]{_lit(scrub(exc.message), newlines=True)}[/bold]"]
    lines += [f"  {_lit(key)}: {_lit(scrub(str(value)))}" for key, value in exc.context.items()]
    if exc.hint:
        lines.append(f"[green]What to do:[/green] {_lit(scrub(exc.hint), newlines=True)}")
    if err_console.is_terminal:
        err_console.print(Panel("\n".join(lines), title=title, border_style="red"))
    else:
        err_console.print(f"[red]{title}[/red]", *lines, sep="\n", soft_wrap=True)


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
            err_console.print(_lit(exc, newlines=True))
        sys.exit(ExitCode.USAGE)
    except Exception as exc:  # the unexpected
        if _state["debug"]:
            raise
        from handover.redact import scrub

        err_console.print(
            Panel(
                f"[bold]Unexpected error:[/bold] {_lit(scrub(f'{type(exc).__name__}: {exc}'), newlines=True)}\n\n"
                "[green]What to do:[/green] run again with --debug and report the traceback.",
                title="handover: internal error",
                border_style="red",
            )
        )
        sys.exit(ExitCode.INTERNAL)
