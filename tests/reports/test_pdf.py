"""LibreOffice renders the workbook (the acceptance check of the pipeline issue). Slow; skipped without it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

OFFICE = shutil.which("libreoffice") or shutil.which("soffice")


@pytest.mark.slow
@pytest.mark.skipif(
    OFFICE is None, reason="LibreOffice is not installed (apt-get install libreoffice-calc-nogui)"
)
def test_libreoffice_converts_the_workbook_to_pdf(built, tmp_path: Path) -> None:
    workbook = built[1].workbook
    profile = tmp_path / "profile"  # own profile: no clash with another running LibreOffice
    result = subprocess.run(
        [OFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(tmp_path), str(workbook)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    pdf = tmp_path / (workbook.stem + ".pdf")
    assert pdf.exists(), result.stdout + result.stderr
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 10_000
    # one page per sheet at least: summary, 3 communes, review, quarantine, conflicts, findings
    assert data.count(b"/Type /Page\n") + data.count(b"/Type/Page") >= 8 or data.count(b"/Type /Page") >= 8
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "BIÊN BẢN BÀN GIAO HỒ SƠ ĐANG GIẢI QUYẾT" in text
        assert '=HYPERLINK("http://' in text  # shown as text, not evaluated
        assert "@SUM(1+1) Lò Thị Mai" in text
        assert "ĐẠI DIỆN BÊN NHẬN" in text
