"""dossier_attachments: the scanned files a batch copied into the attachment store, one row per file and dossier

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

Each row names the dossier (``source_system`` + ``dossier_code``, the natural key), the file as the source named
it, where the store holds it (relative to the store's root, which the batch's ``attachment_store`` event names),
its size and SHA-256. Written in the same transaction as the dossier's chunk, so resume and rollback cover the
files as they cover the rows (``handover.attachments``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dossier_attachments',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('batch_id', sa.String(length=100), nullable=False),
        sa.Column('source_system', sa.String(length=100), nullable=False),
        sa.Column('dossier_code', sa.String(length=100), nullable=False),
        sa.Column('original_name', sa.Text(), nullable=False),
        sa.Column('stored_path', sa.String(length=700), nullable=False),
        sa.Column('size_bytes', sa.BigInteger(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('copied_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        mysql_charset='utf8mb4',
        mysql_collate='utf8mb4_bin',
        mysql_engine='InnoDB',
    )
    with op.batch_alter_table('dossier_attachments', schema=None) as batch_op:
        batch_op.create_index('ix_dossier_attachments_batch', ['batch_id'], unique=False)
        batch_op.create_index('ix_dossier_attachments_key', ['source_system', 'dossier_code'], unique=False)
        batch_op.create_index('ix_dossier_attachments_path', ['stored_path'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dossier_attachments', schema=None) as batch_op:
        batch_op.drop_index('ix_dossier_attachments_path')
        batch_op.drop_index('ix_dossier_attachments_key')
        batch_op.drop_index('ix_dossier_attachments_batch')
    op.drop_table('dossier_attachments')
