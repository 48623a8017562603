"""The demo's scanned files: tiny one-page PDFs standing for each dossier's scans, filed the way each district
keeps them."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

from handover.demo.dossiers import Dossier
from handover.demo.extras import Extra, is_plain, unique_dossiers
from handover.demo.reference import BAO_THANG, HANDOVER, VAN_BAN

# The scans, in one folder beside the lists (named after no district: `handover plan` leaves it aside as one
# undecided folder rather than taking it for a district's)
SCANS = "tep-dinh-kem"
BT_SCANS = f"{SCANS}/bao-thang"  # Bảo Thắng: the list's column "Tệp đính kèm" names files in this folder
VB_SCANS = f"{SCANS}/van-ban"  # Văn Bàn: the system's file store, one folder per dossier code


def scan_bao_thang(xr: random.Random, exports: Path, rows: list[Dossier], extras: dict[int, Extra]) -> None:
    """Bảo Thắng scanned the dossiers filed online in the last month: one or two pages each, under
    ``tep-dinh-kem/bao-thang/<code>/``, named in the list's column; two named files were never saved (warnings:
    the source does not require them)."""
    folder = exports / BT_SCANS
    recent = HANDOVER - timedelta(days=31)
    scanned = [
        d
        for d in unique_dossiers(rows)
        if d.channel == "2" and isinstance(d.received, date) and d.received >= recent
    ]
    pool = [d for d in scanned if is_plain(d, BAO_THANG)]
    lost = {id(d) for d in xr.sample(pool, min(2, len(pool)))}
    for d in scanned:
        pages = 2 if xr.random() < 0.3 else 1
        extras[id(d)].files = [f"{BT_SCANS}/{d.code}/scan-{p}.pdf" for p in range(1, pages + 1)]
        if id(d) not in lost:
            write_sample_pdfs(folder, [d.code], per_dossier=pages)


def scan_van_ban(xr: random.Random, exports: Path, rows: list[Dossier]) -> None:
    """Văn Bàn's system keeps every dossier's scanned receipt slip in a folder named by its code
    (``tep-dinh-kem/van-ban/<code>/scan-1.pdf``); three folders are missing (the source requires them: those
    dossiers are quarantined), and one dossier's folder holds a copy of another's scan."""
    folder = exports / VB_SCANS
    unique = unique_dossiers(rows)
    plain = [d for d in unique if is_plain(d, VAN_BAN)]
    picked = xr.sample(plain, 5) if len(plain) >= 5 else []
    missing = {d.code for d in picked[:3]}
    codes = [c for c in dict.fromkeys(d.code for d in unique) if c not in missing]
    write_sample_pdfs(folder, codes, per_dossier=1)
    if picked:  # the same scan filed with a second dossier
        original, other = picked[3], picked[4]
        copy = folder / other.code / "scan-2.pdf"
        copy.write_bytes((folder / original.code / "scan-1.pdf").read_bytes())


# ---------------------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------------------


def write_sample_pdfs(folder: Path, codes: Iterable[str], *, per_dossier: int = 2) -> dict[str, list[Path]]:
    """Write ``per_dossier`` tiny one-page PDF files for each dossier code under ``folder/<code>/`` (the layout
    of ``folder = "<folder>/{dossier_code}/"``); returns code → files. Each file's content names its dossier and
    page, so no two are alike."""
    out: dict[str, list[Path]] = {}
    for code in codes:
        target = Path(folder) / code
        target.mkdir(parents=True, exist_ok=True)
        out[code] = []
        for page in range(1, per_dossier + 1):
            path = target / f"scan-{page}.pdf"
            path.write_bytes(_tiny_pdf(f"{code} p{page}"))
            out[code].append(path)
    return out


def _tiny_pdf(text: str) -> bytes:
    """A valid one-page PDF showing ``text`` (ASCII; others replaced by '?')."""
    shown = (
        text.encode("ascii", "replace").decode().replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    )
    stream = f"BT /F1 18 Tf 72 720 Td ({shown}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body = b"%PDF-1.4\n"
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(body))
        body += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    body += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return body
