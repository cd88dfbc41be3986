"""Served versions in the database: ``model_serving`` and ``serving_worker``.

Which version of each model is served is named here once an admin reloads or rolls back a
model; every worker follows it within a second and reports what it serves in
``serving_worker``. Expand-only: workers of the previous release ignore both tables.

Revision ID: 0026
Revises: 0024
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0024"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "model_serving",
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_entry_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("model_name", name=op.f("pk_model_serving")),
    )
    op.create_table(
        "serving_worker",
        sa.Column("worker_id", sa.String(32), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("versions", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_serving_worker")),
    )


def downgrade() -> None:
    op.drop_table("serving_worker")
    op.drop_table("model_serving")
