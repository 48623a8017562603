"""dossiers.amount_paid, payment_date, payment_channel, receipt_number: the payment of a dossier's fee

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

``fee`` stays the amount due; the four new columns say whether, when, how and against which receipt it was paid
(:mod:`handover.fees`). They are NULL for rows loaded before this version, and a NULL one does not enter the
row's content hash (:data:`handover.target.hashing.OPTIONAL_COLUMNS`): those rows still verify.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('amount_paid', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('payment_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('payment_channel', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('receipt_number', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.drop_column('receipt_number')
        batch_op.drop_column('payment_channel')
        batch_op.drop_column('payment_date')
        batch_op.drop_column('amount_paid')
