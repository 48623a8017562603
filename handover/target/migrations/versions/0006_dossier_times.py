"""dossiers.received_at, due_at and returned_at: the time of day of the received, due and returned dates

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

The ``*_date`` columns keep the local calendar day every check and report uses; these nullable ``DATETIME``
columns keep the source's time of day beside it, as Asia/Ho_Chi_Minh wall time without a zone (MariaDB's
DATETIME has none; the same naive value on every database). They are NULL when the source gives a date alone
(or local midnight), and in every row loaded before this version; the content hash takes them only when they
hold a value (:mod:`handover.target.hashing`), so those rows keep their hashes and still verify.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('received_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('due_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('returned_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.drop_column('returned_at')
        batch_op.drop_column('due_at')
        batch_op.drop_column('received_at')
