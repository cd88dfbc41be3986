"""Model oversight: ``model_oversight``, the mode an admin set for a served model.

``automated`` (no row), ``human_only`` or ``paused``; every worker reads the table once a
second, and each change is also in the decision log.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "model_oversight",
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_entry_id", sa.String(32), nullable=False),
        sa.CheckConstraint(
            "mode IN ('automated', 'human_only', 'paused')",
            name=op.f("ck_model_oversight_mode_known"),
        ),
        sa.PrimaryKeyConstraint("model_name", name=op.f("pk_model_oversight")),
    )


def downgrade() -> None:
    op.drop_table("model_oversight")
