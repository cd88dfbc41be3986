"""Review health: ``review_case.quality_sample``, a case drawn for a second reviewer's check.

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0017"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "review_case",
        sa.Column("quality_sample", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("review_case") as batch:
        batch.drop_column("quality_sample")
