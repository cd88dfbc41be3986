"""Callback allowance: application.allow_private_callbacks, off for every application.

Webhooks go to public addresses only; an admin may let one application's webhooks reach its
private network (``glassbox apps allow-private-callbacks``); every key of that application,
a rotated one included, has it.

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
    # A plain ADD COLUMN: a batch rebuild would drop a table that api_key refers to.
    op.add_column(
        "application",
        sa.Column(
            "allow_private_callbacks", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )


def downgrade() -> None:
    op.drop_column("application", "allow_private_callbacks")
