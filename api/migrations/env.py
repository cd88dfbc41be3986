"""Alembic environment: runs the migrations on the connection handed over by ``migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import api.audit.models  # registers the decision-log tables on Base.metadata
import api.core.models  # the API-key table
import api.core.secret_check  # what the secrets of the first start looked like
import api.decisions.models  # the decision table
import api.monitoring.models  # the monitoring figures
import api.profiles.models  # profiles
import api.reports.models  # the signed periodic reports
import api.reviews.models  # review cases
import api.rights.models  # rights requests, objections and restrictions
import api.subjects.models  # revoked subject tokens
import api.vault.models  # the subjects' data keys
import api.webhooks.models  # noqa: F401  # the webhook outbox and its attempts
from api.core.database import Base, create_db_engine


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("glassbox migrations run online only (api.core.database.migrate)")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Fallback for the alembic command line (e.g. `alembic revision --autogenerate`):
    # the URL comes from the config's sqlalchemy.url.
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url configured")
    engine = create_db_engine(url)
    try:
        with engine.connect() as fresh:
            _run(fresh)
    finally:
        engine.dispose()


_main()
