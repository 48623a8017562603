"""``handover db upgrade|status|verify`` and ``handover rollback``: the target database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from handover.cli.base import (
    DbUrlOpt,
    JsonOpt,
    _lit,
    _print_json,
    _print_rows,
    app,
    console,
    db_app,
    err_console,
    render_error,
)
from handover.errors import ConfigError


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
    as_json: JsonOpt = False,
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
    as_json: JsonOpt = False,
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
    as_json: JsonOpt = False,
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
