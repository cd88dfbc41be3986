"""Alembic migrations of the glassbox database; run them with ``api.core.database.migrate``."""
