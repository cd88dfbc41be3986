"""Callback allowance: api_key.allow_private_callbacks, off for every key.

Webhooks go to public addresses only; an admin may let one application's webhooks reach its
private network (``glassbox keys allow-private-callbacks``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(
            sa.Column(
                "allow_private_callbacks", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("api_key") as batch:
        batch.drop_column("allow_private_callbacks")
