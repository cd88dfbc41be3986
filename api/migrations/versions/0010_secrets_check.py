"""The secrets check: per secret, an HMAC of a fixed label under the secret of the first start.

A later start whose secrets differ refuses to run (``api.core.secret_check``) instead of
answering every stored record as altered and filing people under new pseudonyms.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "secret_check",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("check_value", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_secret_check")),
    )


def downgrade() -> None:
    op.drop_table("secret_check")
