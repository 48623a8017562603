"""The auditors' HTML report: figures equal to the database, fingerprints, escaping, no personal data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update

from handover.reports.html import write_html
from handover.target import schema
from tests.reports.factory import BATCH, EVIL_PHONE, EXPECTED, EXPECTED_TOTAL, ID_PLAIN, NAMES, build_target

KEYS = ("extracted", "loaded", "review", "quarantined", "excluded", "duplicate")


def _balance(html: str) -> dict[tuple[str, str], dict[str, int]]:
    """(source, table) → counts, parsed from the balance table's data attributes."""
    out = {}
    for m in re.finditer(r'<tr[^>]*data-source="([^"]+)" data-table="(\w+)">(.*?)</tr>', html, re.S):
        cells = dict(re.findall(r'data-count="(\w+)">(\d+)<', m.group(3)))
        out[(m.group(1), m.group(2))] = {k: int(v) for k, v in cells.items()}
    return out


@pytest.fixture(scope="module")
def html(built) -> str:
    return built[1].html.read_text(encoding="utf-8")


def test_balance_equals_database_counts(built, html) -> None:
    engine = built[0]
    with engine.connect() as conn:
        db = {
            (s, d): n
            for s, d, n in conn.execute(
                select(schema.ledger.c.source_id, schema.ledger.c.disposition, func.count())
                .where(schema.ledger.c.batch_id == BATCH)
                .group_by(schema.ledger.c.source_id, schema.ledger.c.disposition)
            )
        }
    table = _balance(html)
    for source, counts in EXPECTED.items():
        for side in ("chunks", "ledger"):
            assert table[(source, side)] == counts
        for d in KEYS[1:]:
            assert table[(source, "ledger")][d] == db.get((source, d), 0)
    assert table[("TOTAL", "ledger")] == EXPECTED_TOTAL == table[("TOTAL", "chunks")]
    assert 'id="verdict"' in html and "verdict ok" in html


def test_fingerprint_stored_and_recomputed(built, html) -> None:
    fingerprint = built[2]["fingerprint"]
    assert re.search(rf'id="fp-stored">{fingerprint}<', html)
    assert re.search(rf'id="fp-recomputed">{fingerprint}<', html)
    assert f"handover db verify --db URL --batch {BATCH}" in html
    assert "SELECT entity, source_id, natural_key, content_hash" in html


def test_sources_gx_findings(html) -> None:
    assert "a" * 64 in html and "b" * 64 in html
    assert ">48213<" in html
    assert "expect_column_values_to_match_regex" in html
    assert re.search(r"<code>date_parse</code></td><td[^>]*>error</td><td class=\"num\">2</td>", html)


def test_no_personal_data_and_everything_escaped(html) -> None:
    for value in (ID_PLAIN, EVIL_PHONE, "0912345678", *NAMES, "Thôn Cóc Sâm"):
        assert value not in html, value
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # self-contained: no script, no external asset
    for needle in ("<script", "<link", "src=", "http://", "https://", "@import"):
        assert needle not in html, needle


def test_tampered_fingerprint_and_chunks_are_flagged(engine, tmp_path: Path) -> None:
    build_target(engine)
    with engine.begin() as conn:
        conn.execute(update(schema.batches).values(fingerprint="0" * 64))
        conn.execute(delete(schema.chunks).where(schema.chunks.c.source_id == "van_ban"))
    html = write_html(engine, BATCH, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "verdict bad" in html
    assert re.search(
        r'<td class="bad">✘</td>\s*</table>|Khớp <span class="en">match</span></th><td class="bad">✘', html
    )
    table = _balance(html)
    assert table[("van_ban", "chunks")]["extracted"] == 0
    assert table[("van_ban", "ledger")]["extracted"] == 7
    row = re.search(r'data-source="van_ban" data-table="chunks">.*?rowspan="2" class="(\w+)">', html, re.S)
    assert row and row.group(1) == "bad"


def test_recomputed_fingerprint_is_the_loaders_definition(built, html: str) -> None:
    """The fingerprint recomputed for the report is the loader's (:func:`handover.target.hashing.
    loaded_fingerprint`), and the report names it."""
    from handover.reports.html import report_context

    engine, _, facts = built
    with engine.connect() as conn:
        context = report_context(conn, BATCH)
    assert context["fp_recomputed"] == facts["fingerprint"]
    assert context["fp_impl"] == "handover.target.hashing.loaded_fingerprint"
    assert "Computed by handover.target.hashing.loaded_fingerprint." in html
