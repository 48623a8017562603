"""The demo's handover records printed through LibreOffice: each one a signable document (the acceptance check
of issue 17, item 1). Slow; skipped without LibreOffice or pdfplumber."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from handover.pipeline.run import run_demo

OFFICE = shutil.which("libreoffice") or shutil.which("soffice")
pdfplumber = pytest.importorskip("pdfplumber")

CM = 72 / 2.54  # PDF points in a centimetre
HEADING = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "BIÊN BẢN BÀN GIAO HỒ SƠ")
PAGE_NO = re.compile(r"Trang (\d+) / (\d+)")


def _records_only(workbook: Path, out: Path) -> list[str]:
    """A copy of the workbook with only its record sheets (a commune code ends their names) → their names."""
    from openpyxl import load_workbook

    wb = load_workbook(workbook)
    for ws in list(wb.worksheets):
        if not re.search(r" \d{5}$", ws.title):
            wb.remove(ws)
    wb.save(out)
    return wb.sheetnames


def _lines(page) -> list[tuple[float, float, str]]:
    """The page's text lines (top, bottom, text), top to bottom."""
    lines: dict[float, list] = {}
    for w in page.extract_words(keep_blank_chars=False, use_text_flow=False):
        lines.setdefault(round(w["top"]), []).append(w)
    return [
        (min(w["top"] for w in ws), max(w["bottom"] for w in ws), " ".join(w["text"] for w in ws))
        for _, ws in sorted(lines.items())
    ]


@pytest.mark.slow
@pytest.mark.skipif(
    OFFICE is None, reason="LibreOffice is not installed (apt-get install libreoffice-calc-nogui)"
)
def test_each_record_prints_as_one_signable_document(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo")
    records = tmp_path / "records.xlsx"
    names = _records_only(Path(result.reports["workbook"]), records)
    assert len(names) >= 3
    profile = tmp_path / "profile"  # own profile: no clash with another running LibreOffice
    done = subprocess.run(
        [OFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(tmp_path), str(records)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    pdf_path = tmp_path / "records.pdf"
    assert pdf_path.exists(), done.stdout + done.stderr

    documents: list[list[list[tuple[float, float, str]]]] = []  # pages of each record
    with pdfplumber.open(pdf_path) as pdf:
        for page in pdf.pages:
            lines = _lines(page)
            text = "\n".join(t for _, _, t in lines)
            number = PAGE_NO.search(text)
            assert number, text[-200:]
            if number.group(1) == "1":  # a record starts: with its heading, on a page of its own
                for heading in HEADING:
                    assert heading in text, (len(documents), heading)
                assert re.search(r"Số: demo-lao-cai-2025-07-\d{5}/BB-BGHS", text)
                assert re.search(r"Lào Cai, ngày \d{2} tháng \d{2} năm \d{4}", text)
                assert "(giờ Việt Nam)" in text
                documents.append([])
            else:
                assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" not in text
            assert documents, "the first page starts a record"
            documents[-1].append(lines)
            # page p of n, numbered within the record
            assert int(number.group(1)) == len(documents[-1])
            page_height = page.height

    assert len(documents) == len(names)  # every record starts on its own page, numbered from 1
    for pages in documents:
        totals = [int(PAGE_NO.search("\n".join(t for *_, t in lines)).group(2)) for lines in pages]
        assert set(totals) == {len(pages)}  # "Trang p / n": n is the record's own page count
        last = pages[-1]
        texts = [t for *_, t in last]
        # the totals, the signature captions and the room to sign on one page: the record's last
        assert any(t.startswith("Cộng:") for t in texts), texts
        assert any("theo tình trạng hạn" in t for t in texts)
        captions = [i for i, t in enumerate(texts) if "ĐẠI DIỆN BÊN GIAO" in t and "ĐẠI DIỆN BÊN NHẬN" in t]
        assert captions, texts
        notes = [i for i, t in enumerate(texts) if t.count("(Ký, ghi rõ họ tên, đóng dấu)") == 2]
        assert notes and notes[0] > captions[0]
        below = last[notes[0] + 1 :]
        bottom = last[notes[0]][1]
        next_top = below[0][0] if below else page_height
        assert next_top - bottom >= 4 * CM, (texts, next_top - bottom)
        for earlier in pages[:-1]:  # no signature caption anywhere else
            assert not any("ĐẠI DIỆN BÊN" in t for *_, t in earlier)
    # Vietnamese only on the signed document
    for pages in documents:
        for lines in pages:
            for *_, t in lines:
                assert not re.search(r"\b(giving|receiving|Handover|Total|dossiers|records|batch)\b", t), t
