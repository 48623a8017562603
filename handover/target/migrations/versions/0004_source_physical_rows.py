"""batch_sources.physical_rows and batch_sources.non_data_json: every physical row of a source accounted for

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

The balance starts at the source: ``physical_rows`` is what the reader read (records of a CSV, rows 1..last of a
sheet, rows of a SQL query), and ``non_data_json`` the reader's account of the rows it did not take as data
(``{"data_rows": n, "non_data": {rule: n}, "lines": [{"row", "rule", "text"}], "total_stated": n}``), so that
``physical_rows = data_rows + non-data rows`` and ``data_rows = rows_extracted`` can be checked from the target.
Both are NULL for sources of batches begun before this version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('batch_sources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('physical_rows', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('non_data_json', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('batch_sources', schema=None) as batch_op:
        batch_op.drop_column('non_data_json')
        batch_op.drop_column('physical_rows')
