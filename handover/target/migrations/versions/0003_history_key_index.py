"""ix_history_key: history's (entity, source_system, natural_key) index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

A rollback finds a key's history entries (the version to restore, the later entry to point at it) by key. Without
an index each look-up read the whole table: rolling back a batch that updated 8,000 rows took 55 s on SQLite and
grew with the square of the rows (benchmarks/RESULTS.md, fifth session).
"""

from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('history', schema=None) as batch_op:
        batch_op.create_index('ix_history_key', ['entity', 'source_system', 'natural_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('history', schema=None) as batch_op:
        batch_op.drop_index('ix_history_key')
