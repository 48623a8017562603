"""``handover units``, ``handover sources inspect`` and ``handover mappings export``: the reference, the exports, the editable tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from handover.cli.base import (
    _lit,
    _literal_data,
    _print_json,
    _print_rows,
    console,
    err_console,
    mappings_app,
    sources_app,
    units_app,
)
from handover.errors import ConfigError, ExitCode

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
                    _print_json(res.to_json_dict())
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
