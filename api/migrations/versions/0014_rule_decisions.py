"""Decisions made by rules: ``decision.score`` may be null, since rules give no score.

PostgreSQL drops the NOT NULL in place. SQLite cannot ALTER a column, and a batch rebuild would
drop and recreate ``decision``, which other tables refer to; removing a NOT NULL constraint
does not change how rows are stored, so the table's declaration is edited in the schema itself,
the documented way for such a change (https://sqlite.org/lang_altertable.html, "otheralter"),
and the database's integrity is checked after it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None

_NOT_NULL = re.compile(r"(\bscore\s+FLOAT)\s+NOT\s+NULL", re.IGNORECASE)


def _edit_sqlite_declaration(nullable: bool) -> None:
    bind = op.get_bind()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'decision'"
    ).scalar_one()
    if nullable:
        edited = _NOT_NULL.sub(r"\1", sql, count=1)
    else:
        edited = re.sub(r"(\bscore\s+FLOAT)(?!\s+NOT)", r"\1 NOT NULL", sql, count=1, flags=re.I)
    if edited == sql:
        return
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'decision'", (edited,)
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = bind.exec_driver_sql("PRAGMA integrity_check").scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"the decision table's declaration could not be edited: {problems}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _edit_sqlite_declaration(nullable=True)
    else:
        op.alter_column("decision", "score", existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    # Only possible while no decision by rules is stored: their score is null.
    if op.get_bind().dialect.name == "sqlite":
        _edit_sqlite_declaration(nullable=False)
    else:
        op.alter_column("decision", "score", existing_type=sa.Float(), nullable=False)
