"""Decision indexes: only those the service reads by.

Each index is a page that the commit of every decision writes to the WAL and a checkpoint copies
back to the database file. ``created_at``, ``model_name`` and ``application_key_id`` were never
searched by (a person's decisions are found by pseudonym, one decision by its id), and the index
on ``supersedes_decision_id`` now leaves out automated decisions, which never carry one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_UNSEARCHED = ("created_at", "model_name", "application_key_id")
_SUPERSEDES = "ix_decision_supersedes_decision_id"
_HUMAN_ONLY = sa.text("supersedes_decision_id IS NOT NULL")


def upgrade() -> None:
    for column in _UNSEARCHED:
        op.drop_index(op.f(f"ix_decision_{column}"), table_name="decision")
    op.drop_index(_SUPERSEDES, table_name="decision")
    op.create_index(
        _SUPERSEDES,
        "decision",
        ["supersedes_decision_id"],
        sqlite_where=_HUMAN_ONLY,
        postgresql_where=_HUMAN_ONLY,
    )


def downgrade() -> None:
    op.drop_index(_SUPERSEDES, table_name="decision")
    op.create_index(_SUPERSEDES, "decision", ["supersedes_decision_id"])
    for column in _UNSEARCHED:
        op.create_index(op.f(f"ix_decision_{column}"), "decision", [column])
