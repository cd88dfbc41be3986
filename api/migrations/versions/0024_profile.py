"""Profiles: ``profile``, one row per profile built about a person, sealed in its log entry.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "profile",
        sa.Column("profile_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("explainer_version", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("application_key_id", sa.String(64), nullable=False),
        sa.Column("subject_pseudonym", sa.String(64), nullable=False),
        sa.Column("log_entry_id", sa.String(32), nullable=False),
        sa.Column("key_category", sa.String(32), nullable=False),
        sa.Column("key_epoch", sa.Integer(), nullable=False),
        sa.Column("features_ct", sa.LargeBinary(), nullable=False),
        sa.Column("explanation_ct", sa.LargeBinary(), nullable=False),
        sa.Column("notice_ct", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("profile_id", name=op.f("pk_profile")),
        sa.UniqueConstraint("log_entry_id", name=op.f("uq_profile_log_entry_id")),
    )
    op.create_index("ix_profile_subject_pseudonym", "profile", ["subject_pseudonym"])


def downgrade() -> None:
    op.drop_index("ix_profile_subject_pseudonym", table_name="profile")
    op.drop_table("profile")
