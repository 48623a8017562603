"""Alembic migrations of the target database (run in code by :mod:`handover.target.db`; no alembic.ini)."""
