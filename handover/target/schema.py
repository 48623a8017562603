"""Tables of the target service database (SQLAlchemy Core).

Every extracted source row leaves exactly one ``ledger`` row saying what happened to it (its disposition), so
``extracted = loaded + review + quarantined + excluded + duplicate`` can be recounted from the database alone.
Loaded rows live in ``dossiers`` / ``records`` with their ``content_hash``; ``chunks`` is the progress record
committed in the same transaction as each chunk's rows (resume skips committed chunks).
Created and upgraded only through the versioned migrations in ``handover/target/migrations``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# MySQL/MariaDB: InnoDB (transactions), utf8mb4 (Vietnamese), binary collation so that keys compare exactly as on
# PostgreSQL and SQLite (the server default utf8mb4_general_ci would make "Hòa" and "Hoa" the same key).
_TABLE_KW = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


# Unit columns shared by dossiers, records and the ledger.
def _unit_columns() -> list[Column]:
    return [
        Column("old_province_code", String(2)),
        Column("old_district_code", String(3)),
        Column("old_commune_code", String(5)),
        Column("old_province_name", String(200)),
        Column("old_district_name", String(200)),
        Column("old_commune_name", String(200)),
        Column("new_province_code", String(2)),
        Column("new_commune_code", String(5)),
        Column("new_commune_name", String(200)),
    ]


def _common_row_columns() -> list[Column]:
    return [
        Column("address", Text),
        Column("village", String(200)),
        *_unit_columns(),
        Column("unit_method", String(32)),
        Column("unit_relation", String(32)),
        Column("notes", Text),
        Column("extras", Text, doc="JSON of source columns that map to no field"),
        Column("content_hash", String(64), nullable=False),
        Column("batch_id", String(100), nullable=False, doc="batch that first inserted the row"),
        Column("updated_batch_id", String(100), doc="batch that last updated it (policy update)"),
        Column("loaded_at", DateTime, nullable=False),
    ]


batches = Table(
    "batches",
    metadata,
    Column("batch_id", String(100), primary_key=True),
    Column("description", Text),
    Column("config_sha256", String(64)),
    Column("status", String(20), nullable=False),  # running / finished / failed / rolled_back
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("tool_version", String(20)),
    Column("fingerprint", String(64), doc="SHA-256 of the loaded set (see handover.target.hashing)"),
    Column("summary_json", Text, doc="counts, findings per check, GX results summary"),
    **_TABLE_KW,
)

batch_sources = Table(
    "batch_sources",
    metadata,
    Column("batch_id", String(100), nullable=False),
    Column("source_id", String(100), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("entity", String(10), nullable=False),
    Column("location", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger),
    Column("rows_extracted", Integer),
    Column("complete", Integer, nullable=False, default=0),
    Column("physical_rows", Integer, doc="rows the reader read: data rows + non-data rows"),
    Column("non_data_json", Text, doc="the reader's account of its non-data rows (models.RowAccount)"),
    PrimaryKeyConstraint("batch_id", "source_id"),
    **_TABLE_KW,
)

chunks = Table(
    "chunks",
    metadata,
    Column("batch_id", String(100), nullable=False),
    Column("source_id", String(100), nullable=False),
    Column("chunk_index", Integer, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("loaded", Integer, nullable=False),
    Column("review", Integer, nullable=False),
    Column("quarantined", Integer, nullable=False),
    Column("excluded", Integer, nullable=False),
    Column("duplicate", Integer, nullable=False),
    Column("inserted", Integer, nullable=False, doc="rows new to the target"),
    Column("conflicts", Integer, nullable=False),
    Column("committed_at", DateTime, nullable=False),
    PrimaryKeyConstraint("batch_id", "source_id", "chunk_index"),
    **_TABLE_KW,
)

dossiers = Table(
    "dossiers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_system", String(100), nullable=False),
    Column("dossier_code", String(100), nullable=False),
    Column("procedure_code", String(60)),
    Column("procedure_name", Text),
    Column("sector_code", String(60)),
    Column("sector_name", String(300)),
    Column("applicant_name", String(300)),
    Column("applicant_type", String(1)),
    Column("applicant_id", String(20)),
    Column("phone", String(20)),
    Column("email", String(200)),
    Column("summary", Text),
    Column("received_date", Date),
    Column("due_date", Date),
    Column("returned_date", Date),
    # the time of day of those dates, when the source has one: Asia/Ho_Chi_Minh wall time, stored without a zone
    # (NULL for a date alone and in every row loaded before revision 0006; hashed only when set)
    Column("received_at", DateTime, doc="received: local date-time, when the source has a time of day"),
    Column("due_at", DateTime, doc="due: local date-time, when the source has a time of day"),
    Column("returned_at", DateTime, doc="returned: local date-time, when the source has a time of day"),
    Column("status_raw", String(100)),
    Column("status_code", String(2)),
    Column("channel", String(1)),
    Column("handling_unit", String(300)),
    Column("fee", Double, doc="amount due (phí, lệ phí), VND"),
    Column("amount_paid", Double, doc="amount paid, VND"),
    Column("payment_date", Date),
    Column("payment_channel", String(100), doc="cash / bank_transfer / portal (or the source's text)"),
    Column("receipt_number", String(100)),
    Column("handling_level", String(30)),
    Column("handling_agency", String(300)),
    Column("due_flag", String(10)),
    *_common_row_columns(),
    UniqueConstraint("source_system", "dossier_code", name="uq_dossiers_key"),
    **_TABLE_KW,
)
Index("ix_dossiers_batch", dossiers.c.batch_id)
Index("ix_dossiers_new_commune", dossiers.c.new_commune_code)

records = Table(
    "records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_system", String(100), nullable=False),
    Column("record_type", String(30), nullable=False),
    Column("record_number", String(100), nullable=False),
    Column("registered_date", Date),
    Column("subject_name", String(300)),
    Column("subject_id", String(20)),
    Column("subject_birth_date", Date),
    Column("related_name", String(300)),
    Column("related_id", String(20)),
    Column("business_name", String(300)),
    Column("amount", Double),
    Column("status_raw", String(100)),
    Column("handling_level", String(30)),
    Column("handling_agency", String(300)),
    *_common_row_columns(),
    UniqueConstraint("source_system", "record_type", "record_number", name="uq_records_key"),
    **_TABLE_KW,
)
Index("ix_records_batch", records.c.batch_id)

ledger = Table(
    "ledger",
    metadata,
    Column("batch_id", String(100), nullable=False),
    Column("source_id", String(100), nullable=False),
    Column("source_row", Integer, nullable=False),
    Column("entity", String(10), nullable=False),
    Column("natural_key", String(250), doc="dossier_code, or record_type/record_number"),
    Column("content_hash", String(64)),
    Column("disposition", String(12), nullable=False),  # models.Disposition
    Column("action", String(20), doc="loaded rows: inserted / unchanged / updated / conflict_kept"),
    Column("reason", Text, doc="why held back (Vietnamese / English)"),
    *_unit_columns(),
    Column("unit_status", String(10)),
    Column("candidates", Text, doc="JSON list of candidate new communes (review)"),
    Column("payload", Text, doc="JSON of the canonical row, for rows not loaded"),
    PrimaryKeyConstraint("batch_id", "source_id", "source_row"),
    **_TABLE_KW,
)
# The loader's look-up "has this batch loaded these keys already?" (also fast before the server has statistics),
# and rollback's "which other batches loaded these keys?" (batch ids named). Revision 0002 dropped the index on
# (source_id, natural_key): one random index entry less per source row.
Index("ix_ledger_batch_key", ledger.c.batch_id, ledger.c.source_id, ledger.c.natural_key)

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", String(100), nullable=False),
    Column("source_id", String(100), nullable=False),
    Column("source_row", Integer),
    Column("natural_key", String(250)),
    Column("field", String(60)),
    Column("check_name", String(60), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("message_vi", Text, nullable=False),
    Column("message_en", Text, nullable=False),
    **_TABLE_KW,
)
Index("ix_findings_batch", findings.c.batch_id, findings.c.source_id)

history = Table(
    "history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity", String(10), nullable=False),
    Column("source_system", String(100), nullable=False),
    Column("natural_key", String(250), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("row_json", Text, nullable=False, doc="the replaced version, every column"),
    Column("replaced_by_batch", String(100), nullable=False),
    Column("replaced_at", DateTime, nullable=False),
    **_TABLE_KW,
)

Index("ix_history_key", history.c.entity, history.c.source_system, history.c.natural_key)

batch_events = Table(
    "batch_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", String(100), nullable=False),
    Column("event", String(20), nullable=False),  # started / resumed / finished / failed / rolled_back
    Column("at", DateTime, nullable=False),
    Column("detail", Text),
    **_TABLE_KW,
)

dossier_attachments = Table(
    "dossier_attachments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", String(100), nullable=False),
    Column("source_system", String(100), nullable=False),
    Column("dossier_code", String(100), nullable=False, doc="the dossier's natural key (handover.keys)"),
    Column("original_name", Text, nullable=False, doc="the file as the source names it"),
    Column("stored_path", String(700), nullable=False, doc="where the store holds it, relative to its root"),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("copied_at", DateTime, nullable=False),
    **_TABLE_KW,
)
Index("ix_dossier_attachments_batch", dossier_attachments.c.batch_id)
Index("ix_dossier_attachments_key", dossier_attachments.c.source_system, dossier_attachments.c.dossier_code)
Index("ix_dossier_attachments_path", dossier_attachments.c.stored_path)

locks = Table(
    "locks",
    metadata,
    Column("name", String(150), primary_key=True),
    Column("holder", String(300), nullable=False, doc="host, pid, batch id"),
    Column("acquired_at", DateTime, nullable=False),
    **_TABLE_KW,
)
