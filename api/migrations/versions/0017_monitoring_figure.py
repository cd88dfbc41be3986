"""Monitoring figures: ``monitoring_figure`` (counts per model, version, day and cell), and the
decision's sealed monitoring groups (``decision.monitoring_ct``).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "monitoring_figure",
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "model_name",
            "model_version",
            "day",
            "kind",
            "name",
            "value",
            "outcome",
            name=op.f("pk_monitoring_figure"),
        ),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("decision") as batch:
        batch.add_column(sa.Column("monitoring_ct", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.drop_column("monitoring_ct")
    op.drop_table("monitoring_figure")
