"""Alembic migrations; `renovote db upgrade` runs them."""
