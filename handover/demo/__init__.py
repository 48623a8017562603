"""Synthetic district exports for ``handover demo`` (and for tests and benchmarks).

Two real districts of the old Lào Cai province (10), with their real communes read from ``mappings/units``:

* Huyện Bảo Thắng (086): ``exports/bao_thang_086.xlsx``, a printed-list style Excel export (title lines, merged
  cells, a total line and a signature block, dates as real dates and as dd/mm/yyyy text, CCCD as numbers);
* Huyện Văn Bàn (089): ``exports/van_ban_089.csv``, a system export (UTF-8 with BOM, comma, codes);
* Bảo Thắng's "district system": ``exports/district_system.db`` (SQLite) with civil-status registrations
  (``so_ho_tich``) and business households (``ho_kinh_doanh``).

Every person, number and dossier is invented. A realistic share of problems is planted (bad dates, unknown and
split communes, finished dossiers, exact duplicates, invalid IDs, NFD text, one TCVN3 cell) in exact counts, so
the reports have something to show. Same seed → byte-identical files.

Both dossier lists carry fees and their payment (Văn Bàn: ``Lệ phí`` and ``Số tiền đã nộp``, ``Ngày thanh
toán``, ``Hình thức thanh toán``, ``Số biên lai``; Bảo Thắng: ``Lệ phí (đồng)``, ``Số tiền đã thu``, ``Ngày thu
phí``, ``Hình thức thu phí``, ``Số biên lai``): about five in six fee-bearing dossiers paid with a receipt, one
overpaid (Văn Bàn), one paid without a receipt number (Bảo Thắng). A few applicants have neither phone nor
e-mail (3 in Văn Bàn, 2 in Bảo Thắng). Scanned files are tiny one-page PDFs
(:func:`handover.demo.scans.write_sample_pdfs`): Văn Bàn's system keeps each dossier's in a folder named by its
code (``exports/tep-dinh-kem/van-ban/<code>/``, required: 3 folders missing, one scan filed with two
dossiers); Bảo Thắng's list names the scans of the dossiers filed online in its last month in the column ``Tệp
đính kèm`` (``exports/tep-dinh-kem/bao-thang/``, not required: 2 named files missing). All of this is drawn from a
second random generator (:func:`handover.demo.extras.extras_rng`), so the values of the demo's first columns stay as they were.

The package, one module per job:

* :mod:`~handover.demo.reference`: the real communes (``mappings/units``) and the demo's districts;
* :mod:`~handover.demo.people`: invented people, ID numbers, phones, dates;
* :mod:`~handover.demo.dossiers`: the pending dossiers both district lists share, with their planted problems;
* :mod:`~handover.demo.extras`: fees paid and applicants without contact (the second generator);
* :mod:`~handover.demo.scans`: the scanned files and the tiny PDFs that stand for them;
* :mod:`~handover.demo.bao_thang`, :mod:`~handover.demo.van_ban`, :mod:`~handover.demo.district_db`: each
  source's writer, headers and column map;
* :mod:`~handover.demo.batch`: :func:`~handover.demo.batch.generate_demo_inputs` and the demo's ``batch.toml``;
* :mod:`~handover.demo.districts`: many districts' exports and configurations (run-many tests, benchmarks).
"""
