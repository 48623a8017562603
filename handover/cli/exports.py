"""``handover review import`` and ``handover export portal|notices``: what leaves the target for officials, the portal and citizens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from handover.cli.base import (
    BatchIdArg,
    JsonOpt,
    TargetDbOpt,
    _lit,
    _print_json,
    _print_rows,
    console,
    export_app,
    review_app,
)


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
    batch_id: BatchIdArg,
    db: TargetDbOpt,
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
    batch_id: BatchIdArg,
    db: TargetDbOpt,
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
