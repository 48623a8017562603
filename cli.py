"""The ``handover`` command: parse options, call one library function, render with rich.

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

from handover.errors import ConfigError, ExitCode, HandoverError
from handover.safe import printable, printable_json

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
    if isinstance(data, str):
        return _lit(data)
    if isinstance(data, dict):
        return {_literal_data(k): _literal_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_literal_data(v) for v in data]
    return data


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

_RulesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules", help="Province rule file (CSV: old_commune_code, keyword, new_commune_code). Repeatable."
    ),
]
_DecisionsOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--decisions", help="Manual decisions file (CSV: source_system, dossier_code, new_commune_code)."
    ),
]


@units_app.command("build")
def units_build(
    gso: Annotated[
        Path | None,
        typer.Option(
            "--gso", help="Folder with the two statistics-office CSV tables (default: the shipped data/gso/)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: mappings/units).")
    ] = None,
) -> None:
    """Build the unit reference (old units, new units, crosswalk, provenance) from the raw GSO tables."""
    from handover.resources import gso_dir, mappings_dir
    from handover.units.build import build_reference

    out_dir = out or mappings_dir() / "units"
    provenance = build_reference(gso or gso_dir(), out_dir)
    console.print(f"[green]Built[/green] {_lit(out_dir)}")
    for name, count in provenance["outputs"].items():
        console.print(f"  {name}: {count:,} rows")


@units_app.command("check")
def units_check(
    gso: Annotated[
        Path | None,
        typer.Option("--gso", help="Also re-detect the raw tables' defects and compare their checksums."),
    ] = None,
    folder: Annotated[Path | None, typer.Option("--folder", help="Reference folder to check.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """The reference's data-quality report; exits 7 when a check needed for a usable reference fails."""
    from handover.resources import mappings_dir
    from handover.units.check import check_reference

    report = check_reference(folder or mappings_dir() / "units", gso)
    if as_json:
        _print_json(report)
    else:
        rows = [
            [
                c["check"],
                c["severity"],
                Text("ok", style="green") if c["passed"] else Text("FAILED", style="red"),
                f"{c['count']:,}",
                c["message"],
                "; ".join(c["examples"][:3]),
            ]
            for c in report["checks"]
        ]
        headers = ("check", "severity", "result", "count", "what", "examples")
        _print_rows(f"Unit reference check: {report['folder']}", headers, rows, right={"count"})
        console.print(
            "[green]Reference usable.[/green]" if report["ok"] else "[red]Reference NOT usable.[/red]"
        )
    if not report["ok"]:
        raise typer.Exit(ExitCode.REFERENCE)


@units_app.command("lookup")
def units_lookup(
    address: Annotated[
        str | None, typer.Argument(help='Old address, e.g. "Xã Sơn Hà, Huyện Bảo Thắng, Tỉnh Lào Cai".')
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option("--input", help="File with one address per line; prints JSON lines in input order."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    rules: _RulesOpt = None,
    decisions: _DecisionsOpt = None,
) -> None:
    """Resolve an old address (or a file of them) to the new commune(s)."""
    from handover.errors import ConfigError
    from handover.units import UnitResolver

    if (address is None) == (input_file is None):
        raise ConfigError(
            "Give either one ADDRESS or --input FILE.",
            hint='Try: handover units lookup "Xã Sơn Hà, Bảo Thắng, Lào Cai"',
        )
    resolver = UnitResolver.load(rules or [], decisions or [])
    if input_file is not None:
        from handover.errors import SourceError

        try:
            with input_file.open(encoding="utf-8-sig") as fh:
                lines = (line.rstrip("\r\n") for line in fh)
                for res in resolver.resolve_many(lines):
                    sys.stdout.write(
                        printable_json(json.dumps(res.to_json_dict(), ensure_ascii=False)) + "\n"
                    )
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(
                f"Cannot read {input_file}: {exc}",
                file=str(input_file),
                hint="Give a UTF-8 text file, one address per line.",
            ) from exc
        return
    res = resolver.resolve(address)
    if as_json:
        _print_json(res.to_json_dict())
        return
    colour = {"unique": "green", "split": "yellow", "ambiguous": "yellow", "not_found": "red"}[res.status]
    title = f"[{colour}]{res.status}[/{colour}]" + (f" ({res.method})" if res.method else "")
    table = Table(title=f"{_lit(address)} → {title}")
    for column in ("", "province", "district", "commune", "name", "relation"):
        table.add_column(column)
    if res.old:
        table.add_row(
            "old",
            _lit(res.old.province_code or ""),
            _lit(res.old.district_code or ""),
            _lit(res.old.commune_code or ""),
            _lit(res.old.name or ""),
            "",
        )
    for n in res.new:
        table.add_row("new", _lit(n.province_code), "", _lit(n.commune_code), _lit(n.name), n.relation or "")
    if table.row_count:
        console.print(table)
    else:
        console.print(f"{_lit(address)} → {title}")
    if res.reason:
        console.print(f"Why: {_lit(res.reason)}")
    for s in res.suggestions:
        console.print(f"  Suggestion (not applied): {_lit(s)}")


# ==========================================================================================================
# sources  (section owned by the sources work: handover/sources/)
# ==========================================================================================================


@sources_app.command("inspect")
def sources_inspect(
    file: Annotated[
        Path | None, typer.Argument(help="The export to look at: .csv/.txt, .xlsx or .xls (or --url).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON on stdout.")] = False,
    sheet: Annotated[
        str | None, typer.Option("--sheet", help="Sheet to read (default: the first visible sheet).")
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding", help="Text encoding (utf-8, utf-16, cp1258, tcvn3, vni); default: detect."
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", help="Header profile in mappings/profiles/ (default: dossier-vi, then record-vi)."
        ),
    ] = None,
    multiline_fields: Annotated[
        bool, typer.Option("--multiline-fields", help="CSV values may span many lines (multiline_fields).")
    ] = False,
    url: Annotated[
        str | None,
        typer.Option("--url", help="A district database (SQLAlchemy URL), read only, instead of FILE."),
    ] = None,
    table: Annotated[str | None, typer.Option("--table", help="With --url: the table to read.")] = None,
    query: Annotated[
        str | None, typer.Option("--query", help="With --url: a SELECT to read instead.")
    ] = None,
    row_id: Annotated[
        str | None, typer.Option("--row-id", help="With --url: the column holding each row's identity.")
    ] = None,
    base_table: Annotated[
        str | None,
        typer.Option("--base-table", help="With --url: the table whose count the balance starts from."),
    ] = None,
    count_query: Annotated[
        str | None,
        typer.Option("--count-query", help="With --url: a SELECT count(*) instead of --base-table."),
    ] = None,
) -> None:
    """Show how a file (or a district database's table or query) would be read: encoding and evidence, sheet,
    header row, column → field map, unmapped columns, data rows, footer lines dropped, and five sample rows
    (ID numbers masked)."""
    from handover.sources.inspect import inspect_source, inspect_sql

    if url:
        from handover.target.db import safe_url

        rep = inspect_sql(
            url,
            table=table,
            query=query,
            row_id=row_id,
            base_table=base_table,
            count_query=count_query,
            profile=profile,
        )
        name = safe_url(url) + (f" ({table})" if table else " (query)")
    elif file is None:
        raise ConfigError(
            "Name the export to inspect, or a database with --url.",
            hint="handover sources inspect export.xlsx, or: handover sources inspect --url sqlite:///district.db "
            "--table ho_so",
        )
    else:
        rep = inspect_source(
            file, sheet=sheet, encoding=encoding, profile=profile, multiline_fields=multiline_fields
        )
        name = str(file)
    if as_json:
        _print_json(rep)
        return
    raw, rep = rep, _literal_data(rep)  # headers, cells, sheet names: shown as written
    facts = Table(title=_lit(name), show_header=False)
    facts.add_column("what", style="bold")
    facts.add_column("found")
    if rep.get("encoding"):
        facts.add_row("Encoding", f"{rep['encoding']} — {rep.get('encoding_evidence', '')}")
    if rep.get("delimiter"):
        facts.add_row("Separator", f"{_lit(repr(raw['delimiter']))} — {rep.get('delimiter_evidence', '')}")
    if rep.get("sheet"):
        facts.add_row("Sheet", f"{rep['sheet']} ({rep.get('sheet_evidence', 'named')})")
    rows = rep.get("header_rows") or [rep.get("header_row")]
    facts.add_row("Header row", ", ".join(str(r) for r in rows))
    facts.add_row("Profile", f"{rep.get('profile')} ({rep.get('entity')})")
    if rep.get("kind_warning"):
        facts.add_row("[yellow]File kind[/yellow]", rep["kind_warning"])
    sample = rep.get("sample") or {"complete": True}
    facts.add_row(
        "Data rows",
        str(rep.get("data_rows", 0)) + ("" if sample["complete"] else f" — {sample['note']}"),
    )
    facts.add_row("Footer lines dropped", str(rep.get("footer_dropped", 0)))
    if "physical_rows" in rep and sample["complete"] and rep.get("kind") != "sql":  # a sample: not every row
        rules = ", ".join(f"{rule} {n}" for rule, n in rep.get("non_data", {}).items())
        non_data = sum(rep.get("non_data", {}).values())
        facts.add_row(
            "Rows read",
            f"{rep['physical_rows']} = {rep.get('data_rows', 0)} data + {non_data} non-data"
            + (f" ({rules})" if rules else ""),
        )
    if rep.get("row_id") or rep.get("kind") == "sql":
        facts.add_row(
            "Row identity", f"column {rep['row_id']}" if rep.get("row_id") else "position in the result"
        )
    if rep.get("base_count"):
        base = rep["base_count"]
        read = rep.get("data_rows", 0)
        text = f"{base['rows']:,} ({base['by']}); the query returned {read:,}"
        if base["rows"] != read:
            text = f"[bold red]{text}: {abs(base['rows'] - read):,} rows differ (a JOIN or WHERE)[/bold red]"
        facts.add_row("District system rows", text)
    if rep.get("hidden_row_count"):
        facts.add_row("Hidden rows (read as data)", str(rep["hidden_row_count"]))
    if rep.get("unmapped"):
        facts.add_row("Unmapped (kept in extras)", ", ".join(rep["unmapped"]))
    for header, enc in rep.get("column_encodings", {}).items():
        facts.add_row(f"Column '{header}'", f"{enc['encoding']}: {enc['evidence']}")
    for check, count in rep.get("findings", {}).items():
        facts.add_row(f"Warnings: {check}", str(count))
    console.print(facts)
    for gap in rep.get("missing", []):  # already literal (_literal_data)
        line = (
            f"[bold red]No column maps to {gap['what']}[/bold red] ({' / '.join(gap['fields'])}): "
            f"{gap['consequence']}."
        )
        if gap.get("suggestion"):
            hint = gap["suggestion"]
            line += (
                f" Likeliest column: {hint['column']} '{hint['header']}'. Map it under "
                f"\\[sources.columns]: {hint['config']}"
            )
        else:
            line += " No column looks like it: map one under \\[sources.columns]."
        err_console.print(line, soft_wrap=True, markup=True, highlight=False)
    cols = Table(title="Columns → fields")
    for name in ("Column", "Header", "Field"):
        cols.add_column(name)
    for c in rep.get("columns", []):
        cols.add_row(c.get("column", ""), c["source"], c["field"] or "[dim](extras)[/dim]")
    console.print(cols)
    for line in rep.get("footer_lines", [])[:10]:
        console.print(f"[dim]dropped row {line['row']}: {line['text']}[/dim]")
    if rep.get("samples"):
        keys: list[str] = []
        for row in rep["samples"]:
            keys += [k for k in row if k not in keys and k != "source_row"]
        # as many sample rows as fit columns of 16 characters (a date, a phone number, half a dossier code)
        room = (console.width - max((len(k) for k in keys), default=5) - 4) // (16 + 3)
        shown = rep["samples"][: max(1, room)]
        title = "Sample rows (ID and phone numbers masked)"
        if len(shown) < len(rep["samples"]):
            title += f": {len(shown)} of {len(rep['samples'])}, a wider terminal or --json shows all"
        sample = Table(title=title)
        sample.add_column("field", no_wrap=True)
        for row in shown:  # long values fold: no code is cut
            sample.add_column(f"row {row['source_row']}", overflow="fold")
        for k in keys:
            sample.add_row(k, *[str(row.get(k, "")) for row in shown])
        console.print(sample)


# ==========================================================================================================
# mappings
# ==========================================================================================================


@mappings_app.command("export")
def mappings_export(
    folder: Annotated[Path, typer.Argument(help="New folder for the copy (e.g. mappings-lao-cai).")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Write into a folder that is not empty (same-named files replaced)."),
    ] = False,
) -> None:
    """Copy the shipped mappings (units, procedures, statuses, profiles...) to a folder for the province to edit;
    name it under [mapping] dir in the batch configuration (or run --mappings DIR)."""
    from handover.resources import export_mappings

    written = export_mappings(folder, force=force)
    console.print(f"Wrote {len(written)} files to [bold]{_lit(folder)}[/bold]", soft_wrap=True)
    console.print(
        f'Edit them, then name the folder in the batch configuration: \\[mapping] dir = "{_lit(folder)}"',
        soft_wrap=True,
    )


# ==========================================================================================================
# db, rollback  (section owned by the target work: handover/target/)
# ==========================================================================================================

DbUrlOpt = Annotated[
    str,
    typer.Option(
        "--db", help="SQLAlchemy URL of the target, e.g. sqlite:///target.db or postgresql://u@h/db."
    ),
]
DbJsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


@db_app.command("upgrade")
def db_upgrade(db: DbUrlOpt) -> None:
    """Create or upgrade the target's tables to the newest schema version."""
    from handover.target.db import upgrade_target

    result = upgrade_target(db)
    if result.changed:
        console.print(
            f"{_lit(result.url)}: schema {result.from_revision or '(empty)'} → {result.to_revision}",
            soft_wrap=True,
        )
    else:
        console.print(
            f"{_lit(result.url)}: schema already at {result.to_revision}, nothing to do", soft_wrap=True
        )


@db_app.command("status")
def db_status(
    db: DbUrlOpt,
    as_json: DbJsonOpt = False,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="province or district: batches and rows per old province or district instead of the batch list.",
        ),
    ] = None,
    plan: Annotated[
        Path | None,
        typer.Option(
            "--plan", help="With --by: the plan (plan.toml or its folder) whose batches are expected."
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="With --by: also write the table as a self-contained HTML page."),
    ] = None,
) -> None:
    """Schema version, rows per table and the batches of a target; with --by, where each old province or
    district stands (batches finished/failed/running/not started, rows loaded/held back/waiting for review)."""
    from handover.target.db import target_status

    if by is None and (plan is not None or html is not None):
        raise ConfigError("--plan and --html go with --by.", hint="Add --by district or --by province.")
    if by is not None:
        _db_progress(db, by, plan, html, as_json)
        return
    status = target_status(db)
    if as_json:
        _print_json(status.model_dump(mode="json"))
        return
    state = "up to date" if status.up_to_date else f"needs: handover db upgrade --db {_lit(status.url)}"
    console.print(
        f"{_lit(status.url)} ({status.dialect}): schema {status.current_revision or '(none)'} — {state}",
        soft_wrap=True,
    )
    rows = [
        [
            b.batch_id,
            b.status,
            f"{b.started_at:%Y-%m-%d %H:%M}",
            f"{b.finished_at:%Y-%m-%d %H:%M}" if b.finished_at else "",
            f"{b.rows_in_ledger:,}",
            (b.fingerprint or "")[:16],
        ]
        for b in status.batches
    ]
    headers = ("batch", "status", "started (UTC)", "finished (UTC)", "ledger rows", "fingerprint")
    _print_rows("Batches", headers, rows, right={"ledger rows"})


def _db_progress(db: str, by: str, plan: Path | None, html: Path | None, as_json: bool) -> None:
    from handover.target.progress import progress, write_progress_html

    result = progress(db, by, plan)  # type: ignore[arg-type]
    if html is not None:
        write_progress_html(result, html)
    if as_json:
        _print_json(result.to_json())
        return

    def line(a: Any, name: str, code: str) -> list[str]:
        n = a.batches
        return [
            name,
            code,
            f"{n.get('finished', 0):,}",
            f"{n.get('failed', 0):,}",
            f"{n.get('running', 0):,}",
            f"{n.get('not_started', 0):,}",
            f"{a.rows_loaded:,}",
            f"{a.rows_held_back:,}",
            f"{a.rows_review:,}",
        ]

    rows = []
    for a in result.areas:
        if result.by == "district":
            rows.append(
                line(a, a.district_name or "(unknown)", f"{a.province_code or '-'}/{a.district_code or '-'}")
            )
        else:
            rows.append(line(a, a.province_name or "(unknown)", a.province_code or "-"))
    rows.append(line(result.total, "Total", ""))
    numbers = ("finished", "failed", "running", "not started", "loaded", "held back", "review waiting")
    _print_rows(
        f"{result.url} by old {result.by}",
        (result.by, "code", *numbers),
        rows,
        right=set(numbers),
        total_last=True,
    )
    if html is not None:
        console.print(f"HTML: {_lit(html)}", soft_wrap=True)


@db_app.command("verify")
def db_verify(
    db: DbUrlOpt,
    batch: Annotated[str, typer.Option("--batch", help="Batch id to verify.")],
    as_json: DbJsonOpt = False,
    attachments: Annotated[
        Path | None,
        typer.Option(
            "--attachments",
            help="The attachment store's folder, when it moved since the batch ran (default: where it was).",
        ),
    ] = None,
) -> None:
    """Check a batch's ledger against the target rows both ways, recomputing content hashes and the fingerprint
    from the rows themselves, and re-hash its attachment files; exit 8 on any difference."""
    from handover.api import verify_batch

    result = verify_batch(db, batch, attachments=attachments)
    if as_json:
        _print_json({**result.model_dump(mode="json"), "ok": result.ok})
    else:
        mark = {True: "[green]ok[/green]", False: "[red]MISMATCH[/red]"}
        console.print(
            f"batch {_lit(result.batch_id)} ({result.status}): {result.rows_checked} loaded rows checked"
        )
        console.print(f"  fingerprint stored     {result.stored_fingerprint}")
        console.print(
            f"  fingerprint recomputed {result.recomputed_fingerprint}  {mark[result.fingerprint_ok]}"
        )
        console.print(f"  ledger balance per source  {mark[result.balance_ok]}")
        console.print(f"  target rows outside the ledger  {mark[not result.rows_outside_ledger]}")
        if result.attachments_checked or result.attachment_problems:
            console.print(
                f"  attachment files re-hashed {result.attachments_checked}  {mark[not result.attachment_problems]}"
            )
        for p in result.problems[:50]:
            console.print(
                f"  [red]{p.entity} {_lit(p.source_system)} {_lit(p.natural_key)}: {_lit(p.problem)}[/red]"
            )
        if len(result.problems) > 50:
            console.print(f"  [red]... {len(result.problems) - 50} more (--json lists them all)[/red]")
    mismatch = result.mismatch_error()
    if mismatch is not None:
        render_error(mismatch)
        raise typer.Exit(mismatch.exit_code)


@app.command("rollback")
def rollback(
    batch_id: Annotated[str, typer.Argument(help="Id of the batch to undo.")],
    db: DbUrlOpt,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be undone; change nothing.")
    ] = False,
    as_json: DbJsonOpt = False,
) -> None:
    """Undo one batch: delete the rows it inserted, restore the versions it updated (ledger-driven)."""
    from handover.api import rollback_batch

    result = rollback_batch(db, batch_id, dry_run=dry_run)
    if as_json:
        _print_json(result.model_dump(mode="json"))
        return
    if result.lock_taken_over:
        err_console.print(f"[yellow]{result.lock_taken_over}[/yellow]", soft_wrap=True)
    if result.already_rolled_back:
        when = f" on {result.rolled_back_at:%Y-%m-%d %H:%M:%S} UTC" if result.rolled_back_at else ""
        figures = ", ".join(f"{n} {t}" for t, n in sorted(result.rows_deleted.items()) if n) or "none"
        restored = ", ".join(f"{n} {t}" for t, n in sorted(result.rows_restored.items()) if n) or "none"
        console.print(
            f"Đợt {_lit(batch_id)} đã được hoàn tác trước đó{when}: không làm gì thêm. / "
            f"Batch {_lit(batch_id)} was already rolled back{when}: nothing to do. "
            f"Rows deleted then: {figures}; restored: {restored}.",
            soft_wrap=True,
        )
        if result.attachment_files_removed:  # left by a rollback killed after its commit
            console.print(f"{result.attachment_files_removed} attachment file(s) removed from the store")
        return
    title = f"Rollback of batch {_lit(batch_id)}" + (" (dry run: nothing changed)" if dry_run else "")
    table = Table("table", "rows deleted", "rows restored", title=title)
    for name in sorted(set(result.rows_deleted) | set(result.rows_restored)):
        table.add_row(name, str(result.rows_deleted.get(name, 0)), str(result.rows_restored.get(name, 0)))
    console.print(table)
    if result.rows_kept_for_other_batches:
        console.print(f"{result.rows_kept_for_other_batches} row(s) kept: another batch also loaded them")
    if result.superseded_updates:
        console.print(f"{result.superseded_updates} update(s) kept: a later batch changed those rows again")
    if result.attachment_files_removed:
        console.print(
            f"{result.attachment_files_removed} attachment file(s) removed from the store"
            + (" (dry run: would be)" if dry_run else "")
        )
    if result.rows_given_heir_version:
        console.print(
            f"{result.rows_given_heir_version} row(s) given back the version of the batch that had kept them"
        )


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


_COUNT_COLUMNS = ("extracted", "loaded", "review", "quarantined", "excluded", "duplicate")


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
                *(f"{getattr(c, k):,}" for k in _COUNT_COLUMNS),
                *(f"{v:,}" if isinstance(v, int) else v for v in (non_data, read)),
                Text("✔", style="green") if ok else Text("✘", style="red"),
            ]
        )
    _print_rows(
        f"Batch {result.batch_id} ({result.status})",
        ("source", *_COUNT_COLUMNS, "non-data", "read", "balance"),
        rows,
        right={*_COUNT_COLUMNS, "non-data", "read", "balance"},
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
        err_console.print(f"[yellow]Note:[/yellow] {_lit(notice, newlines=True)}")


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
    batch_id: Annotated[str, typer.Argument(help="The batch id (the `id` in the batch TOML).")],
    db: Annotated[str, typer.Option("--db", help="SQLAlchemy URL of the target database.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the workbook and the HTML report.")] = Path(
        "reports"
    ),
    as_json: JsonOpt = False,
) -> None:
    """Regenerate a batch's Excel workbook and HTML transfer report from the target database."""
    from handover.api import write_reports

    paths = write_reports(db, batch_id, out)
    if as_json:
        _print_json(
            {
                "batch_id": batch_id,
                "workbook": str(paths.workbook),
                "html": str(paths.html),
                "notices": list(paths.notices),
            }
        )
        return
    table = Table(title=f"Reports of batch {_lit(batch_id)}")
    table.add_column("Report")
    table.add_column("File", overflow="fold")  # a path is never cut
    table.add_row("Workbook (officials)", _lit(paths.workbook))
    table.add_row("HTML transfer report (auditors)", _lit(paths.html))
    console.print(table)
    for notice in paths.notices:
        err_console.print(f"[yellow]Note:[/yellow] {_lit(notice, newlines=True)}")


@review_app.command("import")
def review_import(
    workbook: Annotated[
        Path, typer.Argument(help="The batch's workbook with decisions filled in “Cần xem xét”.")
    ],
    db: Annotated[
        str, typer.Option("--db", help="SQLAlchemy URL of the target database the batch ran into.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The decisions CSV to write.")] = Path("decisions.csv"),
    batch: Annotated[
        str | None,
        typer.Option("--batch", help="The batch id; default: the one on the workbook's summary sheet."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the decided rows of the review sheet against the batch's review rows; write the decisions CSV.

    Exits 2, writing nothing, when any decision is refused (no such review row, a commune the row does not allow,
    a row decided twice differently)."""
    from handover.units.decisions import import_review

    result = import_review(workbook, out, db, batch_id=batch)
    if as_json:
        _print_json(
            {
                "workbook": str(result.workbook),
                "batch_id": result.batch_id,
                "out": str(result.out),
                "decisions": len(result.decisions),
                "records": result.records,
            }
        )
        return
    console.print(
        f"{len(result.decisions)} decision(s) of batch {_lit(result.batch_id)} checked "
        f"({result.records} for records) → {_lit(result.out)}"
    )
    console.print(
        f'Next: name it under \\[mapping] decisions = ["{_lit(result.out.name)}"] and run the batch under a new id.'
    )


# ==========================================================================================================
# export  (one function per command: handover/exports/)
# ==========================================================================================================


@export_app.command("portal")
def export_portal(
    batch_id: Annotated[str, typer.Argument(help="The batch id (the `id` in the batch TOML).")],
    db: Annotated[str, typer.Option("--db", help="SQLAlchemy URL of the target database.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the portal files.")] = Path("exports"),
    as_json: JsonOpt = False,
) -> None:
    """Write the national portal's sync records (DongBoHoSoMC) of the dossiers a batch loaded: JSON lines, CSV
    and the JSON Schema."""
    from handover.exports.portal import export_portal_from_url

    result = export_portal_from_url(db, batch_id, out)
    files = {"jsonl": str(result.jsonl), "csv": str(result.csv), "schema": str(result.schema)}
    if as_json:
        _print_json({"batch_id": batch_id, "dossiers": result.dossiers, **files})
        return
    console.print(f"Portal records of batch [bold]{_lit(batch_id)}[/bold]: {result.dossiers} dossiers")
    for kind, path in files.items():
        console.print(f"  {kind}: [bold]{_lit(path)}[/bold]")


@export_app.command("notices")
def export_notices(
    batch_id: Annotated[str, typer.Argument(help="The batch id (the `id` in the batch TOML).")],
    db: Annotated[str, typer.Option("--db", help="SQLAlchemy URL of the target database.")],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the notices (a personal-data folder in it).")
    ],
    masked: Annotated[
        bool,
        typer.Option("--masked", help="Also write a copy to share: ID numbers, phones and e-mails masked."),
    ] = False,
    templates: Annotated[
        Path | None,
        typer.Option(
            "--templates",
            help="Folder with sms.txt and email.txt (default: mappings/notices/ of the mappings).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Citizens' notices of a batch: per receiving unit, whom to tell where their dossier went (xlsx), and a
    CSV for an SMS / mail gateway. The files hold personal data: owner-only permissions."""
    from handover.exports.notices import write_notices_from_url

    result = write_notices_from_url(db, batch_id, out, masked=masked, templates_folder=templates)
    if as_json:
        _print_json(
            {
                "batch_id": batch_id,
                "folder": str(result.folder),
                "gateway": str(result.gateway),
                "masked_folder": str(result.masked_folder) if result.masked_folder else None,
                "dossiers": result.dossiers,
                "contactless": result.contactless,
                "sms": result.sms,
                "sms_multipart": result.sms_multipart,
                "emails": result.emails,
                "units": [
                    {
                        "code": u.code,
                        "name": u.name,
                        "kind": u.kind,
                        "notices": u.notices,
                        "contactless": u.contactless,
                        "workbook": str(u.workbook),
                        "masked_workbook": str(u.masked_workbook) if u.masked_workbook else None,
                    }
                    for u in result.units
                ],
            }
        )
        return
    rows = [
        [u.code if u.kind == "commune" else f"tỉnh {u.code}", u.name, f"{u.notices:,}", f"{u.contactless:,}"]
        for u in result.units
    ]
    headers = ("unit", "name", "to tell", "no contact")
    _print_rows(f"Notices of batch {batch_id}", headers, rows, right={"to tell", "no contact"})
    console.print(
        f"{result.dossiers:,} dossiers, {result.contactless:,} without a usable contact; "
        f"{result.sms:,} SMS ({result.sms_multipart:,} multi-part), {result.emails:,} e-mails: "
        f"{_lit(result.gateway)}",
        soft_wrap=True,
    )
    console.print(
        f"[yellow]Personal data (owner-only files): {_lit(result.folder)} — do not publish or attach to reports."
        "[/yellow]",
        soft_wrap=True,
    )
    if result.masked_folder:
        console.print(f"Masked copy to share: {_lit(result.masked_folder)}", soft_wrap=True)


# ==========================================================================================================
# plan  (section owned by the many-districts work: handover/plan.py)
# ==========================================================================================================


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
    from handover.plan import make_plan

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


if __name__ == "__main__":
    main()
