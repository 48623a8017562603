"""The demo's handover record files printed through LibreOffice, a commune's and a department's: each one a
signable document (the acceptance check of issue 17, item 1). Slow; skipped without LibreOffice or pdfplumber."""

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
def test_each_record_file_prints_as_one_signable_document(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo")
    folder = Path(result.reports["records"])
    # a commune's record of several pages and a department's record: one file each
    files = [folder / "02902-xa-phong-hai.xlsx", folder / "15-so-cong-thuong.xlsx"]
    profile = tmp_path / "profile"  # own profile: no clash with another running LibreOffice
    done = subprocess.run(
        [OFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(tmp_path), *map(str, files)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    numbers = {
        "02902-xa-phong-hai": r"Số: demo-lao-cai-2025-07-02902/BB-BGHS",
        "15-so-cong-thuong": r"Số: demo-lao-cai-2025-07-15-so-cong-thuong/BB-BGHS",
    }
    receivers = {
        "02902-xa-phong-hai": "BÊN NHẬN: Xã Phong Hải",
        "15-so-cong-thuong": "BÊN NHẬN: Sở Công Thương",
    }
    for file in files:
        pdf_path = tmp_path / f"{file.stem}.pdf"
        assert pdf_path.exists(), done.stdout + done.stderr
        pages = _check_document(pdf_path, numbers[file.stem], receivers[file.stem])
        if file.stem.startswith("02902"):
            assert len(pages) >= 2  # the page numbers of a record of several pages


def _check_document(pdf_path: Path, number: str, receiver: str) -> list[list[tuple[float, float, str]]]:
    """The PDF of one record file is one record: its heading on page 1, pages numbered 1..n of its own n, the
    totals, the signature captions and at least 4 cm of room to sign on its last page; Vietnamese only."""
    pages: list[list[tuple[float, float, str]]] = []
    with pdfplumber.open(pdf_path) as pdf:
        for page in pdf.pages:
            lines = _lines(page)
            text = "\n".join(t for _, _, t in lines)
            found = PAGE_NO.search(text)
            assert found, text[-200:]
            if not pages:  # the record starts: with its heading
                for heading in HEADING:
                    assert heading in text, heading
                assert re.search(number, text), text[:400]
                assert receiver in text, text[:600]
                assert re.search(r"Lào Cai, ngày \d{2} tháng \d{2} năm \d{4}", text)
                assert "(giờ Việt Nam)" in text
            else:
                assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" not in text
            pages.append(lines)
            assert int(found.group(1)) == len(pages)  # page p of n, numbered within the record
            page_height = page.height
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
    for lines in pages:
        for *_, t in lines:
            assert not re.search(r"\b(giving|receiving|Handover|Total|dossiers|records|batch|Guide)\b", t), t
    return pages
