"""Decisions: every scored decision with its sealed features, frozen explanation and notice.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "decision",
        sa.Column("decision_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("explainer_version", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("significant", sa.Boolean(), nullable=False),
        sa.Column("review_required", sa.Boolean(), nullable=False),
        sa.Column("review_reasons", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.String(32), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("personalised", sa.Boolean(), nullable=True),
        sa.Column("application_key_id", sa.String(64), nullable=False),
        sa.Column("subject_pseudonym", sa.String(64), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("log_entry_id", sa.String(32), nullable=True),
        sa.Column("features_ct", sa.LargeBinary(), nullable=False),
        sa.Column("explanation_ct", sa.LargeBinary(), nullable=False),
        sa.Column("notice_ct", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_decision")),
        sa.UniqueConstraint("log_entry_id", name=op.f("uq_decision_log_entry_id")),
    )
    for column in ("created_at", "model_name", "application_key_id", "subject_pseudonym"):
        op.create_index(op.f(f"ix_decision_{column}"), "decision", [column], unique=False)


def downgrade() -> None:
    for column in ("created_at", "model_name", "application_key_id", "subject_pseudonym"):
        op.drop_index(op.f(f"ix_decision_{column}"), table_name="decision")
    op.drop_table("decision")
