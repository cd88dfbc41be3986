"""The ``profile`` table as migration 0024 builds it is the table the model describes."""

from __future__ import annotations

from sqlalchemy import Engine


def test_the_migration_builds_the_profile_table_the_model_describes(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import api.profiles.models  # noqa: F401  # the table, on Base.metadata
    from api.core.database import Base

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    ours = [d for d in differences if "'profile'" in repr(d) or "profile_" in repr(d)]
    assert ours == []
