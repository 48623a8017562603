"""initial: the tables of handover.target.schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-27

Frozen copy of handover/target/schema.py at version 0001 (tests compare the two). Later schema changes go in
new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('batch_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('batch_id', sa.String(length=100), nullable=False),
    sa.Column('event', sa.String(length=20), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('batch_sources',
    sa.Column('batch_id', sa.String(length=100), nullable=False),
    sa.Column('source_id', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('entity', sa.String(length=10), nullable=False),
    sa.Column('location', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('rows_extracted', sa.Integer(), nullable=True),
    sa.Column('complete', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('batch_id', 'source_id'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('batches',
    sa.Column('batch_id', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('config_sha256', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('tool_version', sa.String(length=20), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=True),
    sa.Column('summary_json', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('batch_id'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('chunks',
    sa.Column('batch_id', sa.String(length=100), nullable=False),
    sa.Column('source_id', sa.String(length=100), nullable=False),
    sa.Column('chunk_index', sa.Integer(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('loaded', sa.Integer(), nullable=False),
    sa.Column('review', sa.Integer(), nullable=False),
    sa.Column('quarantined', sa.Integer(), nullable=False),
    sa.Column('excluded', sa.Integer(), nullable=False),
    sa.Column('duplicate', sa.Integer(), nullable=False),
    sa.Column('inserted', sa.Integer(), nullable=False),
    sa.Column('conflicts', sa.Integer(), nullable=False),
    sa.Column('committed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('batch_id', 'source_id', 'chunk_index'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('dossiers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source_system', sa.String(length=100), nullable=False),
    sa.Column('dossier_code', sa.String(length=100), nullable=False),
    sa.Column('procedure_code', sa.String(length=60), nullable=True),
    sa.Column('procedure_name', sa.Text(), nullable=True),
    sa.Column('sector_code', sa.String(length=60), nullable=True),
    sa.Column('sector_name', sa.String(length=300), nullable=True),
    sa.Column('applicant_name', sa.String(length=300), nullable=True),
    sa.Column('applicant_type', sa.String(length=1), nullable=True),
    sa.Column('applicant_id', sa.String(length=20), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('received_date', sa.Date(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('returned_date', sa.Date(), nullable=True),
    sa.Column('status_raw', sa.String(length=100), nullable=True),
    sa.Column('status_code', sa.String(length=2), nullable=True),
    sa.Column('channel', sa.String(length=1), nullable=True),
    sa.Column('handling_unit', sa.String(length=300), nullable=True),
    sa.Column('fee', sa.Double(), nullable=True),
    sa.Column('handling_level', sa.String(length=30), nullable=True),
    sa.Column('handling_agency', sa.String(length=300), nullable=True),
    sa.Column('due_flag', sa.String(length=10), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('village', sa.String(length=200), nullable=True),
    sa.Column('old_province_code', sa.String(length=2), nullable=True),
    sa.Column('old_district_code', sa.String(length=3), nullable=True),
    sa.Column('old_commune_code', sa.String(length=5), nullable=True),
    sa.Column('old_province_name', sa.String(length=200), nullable=True),
    sa.Column('old_district_name', sa.String(length=200), nullable=True),
    sa.Column('old_commune_name', sa.String(length=200), nullable=True),
    sa.Column('new_province_code', sa.String(length=2), nullable=True),
    sa.Column('new_commune_code', sa.String(length=5), nullable=True),
    sa.Column('new_commune_name', sa.String(length=200), nullable=True),
    sa.Column('unit_method', sa.String(length=32), nullable=True),
    sa.Column('unit_relation', sa.String(length=32), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('extras', sa.Text(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.String(length=100), nullable=False),
    sa.Column('updated_batch_id', sa.String(length=100), nullable=True),
    sa.Column('loaded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_system', 'dossier_code', name='uq_dossiers_key'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.create_index('ix_dossiers_batch', ['batch_id'], unique=False)
        batch_op.create_index('ix_dossiers_new_commune', ['new_commune_code'], unique=False)

    op.create_table('findings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('batch_id', sa.String(length=100), nullable=False),
    sa.Column('source_id', sa.String(length=100), nullable=False),
    sa.Column('source_row', sa.Integer(), nullable=True),
    sa.Column('natural_key', sa.String(length=250), nullable=True),
    sa.Column('field', sa.String(length=60), nullable=True),
    sa.Column('check_name', sa.String(length=60), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('message_vi', sa.Text(), nullable=False),
    sa.Column('message_en', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.create_index('ix_findings_batch', ['batch_id', 'source_id'], unique=False)

    op.create_table('history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('entity', sa.String(length=10), nullable=False),
    sa.Column('source_system', sa.String(length=100), nullable=False),
    sa.Column('natural_key', sa.String(length=250), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('row_json', sa.Text(), nullable=False),
    sa.Column('replaced_by_batch', sa.String(length=100), nullable=False),
    sa.Column('replaced_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('ledger',
    sa.Column('batch_id', sa.String(length=100), nullable=False),
    sa.Column('source_id', sa.String(length=100), nullable=False),
    sa.Column('source_row', sa.Integer(), nullable=False),
    sa.Column('entity', sa.String(length=10), nullable=False),
    sa.Column('natural_key', sa.String(length=250), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.Column('disposition', sa.String(length=12), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('old_province_code', sa.String(length=2), nullable=True),
    sa.Column('old_district_code', sa.String(length=3), nullable=True),
    sa.Column('old_commune_code', sa.String(length=5), nullable=True),
    sa.Column('old_province_name', sa.String(length=200), nullable=True),
    sa.Column('old_district_name', sa.String(length=200), nullable=True),
    sa.Column('old_commune_name', sa.String(length=200), nullable=True),
    sa.Column('new_province_code', sa.String(length=2), nullable=True),
    sa.Column('new_commune_code', sa.String(length=5), nullable=True),
    sa.Column('new_commune_name', sa.String(length=200), nullable=True),
    sa.Column('unit_status', sa.String(length=10), nullable=True),
    sa.Column('candidates', sa.Text(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('batch_id', 'source_id', 'source_row'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('ledger', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_key', ['source_id', 'natural_key'], unique=False)
        batch_op.create_index('ix_ledger_batch_key', ['batch_id', 'source_id', 'natural_key'], unique=False)

    op.create_table('locks',
    sa.Column('name', sa.String(length=150), nullable=False),
    sa.Column('holder', sa.String(length=300), nullable=False),
    sa.Column('acquired_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('records',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source_system', sa.String(length=100), nullable=False),
    sa.Column('record_type', sa.String(length=30), nullable=False),
    sa.Column('record_number', sa.String(length=100), nullable=False),
    sa.Column('registered_date', sa.Date(), nullable=True),
    sa.Column('subject_name', sa.String(length=300), nullable=True),
    sa.Column('subject_id', sa.String(length=20), nullable=True),
    sa.Column('subject_birth_date', sa.Date(), nullable=True),
    sa.Column('related_name', sa.String(length=300), nullable=True),
    sa.Column('related_id', sa.String(length=20), nullable=True),
    sa.Column('business_name', sa.String(length=300), nullable=True),
    sa.Column('amount', sa.Double(), nullable=True),
    sa.Column('status_raw', sa.String(length=100), nullable=True),
    sa.Column('handling_level', sa.String(length=30), nullable=True),
    sa.Column('handling_agency', sa.String(length=300), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('village', sa.String(length=200), nullable=True),
    sa.Column('old_province_code', sa.String(length=2), nullable=True),
    sa.Column('old_district_code', sa.String(length=3), nullable=True),
    sa.Column('old_commune_code', sa.String(length=5), nullable=True),
    sa.Column('old_province_name', sa.String(length=200), nullable=True),
    sa.Column('old_district_name', sa.String(length=200), nullable=True),
    sa.Column('old_commune_name', sa.String(length=200), nullable=True),
    sa.Column('new_province_code', sa.String(length=2), nullable=True),
    sa.Column('new_commune_code', sa.String(length=5), nullable=True),
    sa.Column('new_commune_name', sa.String(length=200), nullable=True),
    sa.Column('unit_method', sa.String(length=32), nullable=True),
    sa.Column('unit_relation', sa.String(length=32), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('extras', sa.Text(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.String(length=100), nullable=False),
    sa.Column('updated_batch_id', sa.String(length=100), nullable=True),
    sa.Column('loaded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_system', 'record_type', 'record_number', name='uq_records_key'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.create_index('ix_records_batch', ['batch_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index('ix_records_batch')

    op.drop_table('records')
    op.drop_table('locks')
    with op.batch_alter_table('ledger', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_key')
        batch_op.drop_index('ix_ledger_batch_key')

    op.drop_table('ledger')
    op.drop_table('history')
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_index('ix_findings_batch')

    op.drop_table('findings')
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.drop_index('ix_dossiers_new_commune')
        batch_op.drop_index('ix_dossiers_batch')

    op.drop_table('dossiers')
    op.drop_table('chunks')
    op.drop_table('batches')
    op.drop_table('batch_sources')
    op.drop_table('batch_events')
