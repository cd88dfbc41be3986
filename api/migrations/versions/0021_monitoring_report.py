"""Periodic reports: ``monitoring_report``, each with its hash, signature and log entry.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "monitoring_report",
        sa.Column("report_id", sa.String(32), nullable=False),
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("report_json", sa.Text(), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("public_key_id", sa.String(16), nullable=False),
        sa.Column("log_entry_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_monitoring_report")),
    )
    op.create_index(
        "ix_monitoring_report_model_name_created_at",
        "monitoring_report",
        ["model_name", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_monitoring_report_model_name_created_at", table_name="monitoring_report")
    op.drop_table("monitoring_report")
