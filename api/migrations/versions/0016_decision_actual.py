"""What really happened: ``decision_actual``, one per decision, reported by its application.

Indexed by model and decision time: the figures of a model and period read this table alone.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "decision_actual",
        sa.Column("decision_id", sa.String(32), nullable=False),
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("positive", sa.Boolean(), nullable=False),
        sa.Column("item_rank", sa.Integer(), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_entry_id", sa.String(32), nullable=False),
        sa.CheckConstraint(
            "item_rank IS NULL OR item_rank >= 1",
            name=op.f("ck_decision_actual_item_rank_positive"),
        ),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_decision_actual")),
    )
    op.create_index(
        "ix_decision_actual_model_name_decided_at",
        "decision_actual",
        ["model_name", "decided_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_decision_actual_model_name_decided_at", table_name="decision_actual")
    op.drop_table("decision_actual")
