"""Decision rows carry a MAC of the columns that say what was decided.

``decision.row_mac`` holds those columns as written and their HMAC-SHA256 under a key derived
from the key-encryption key. The migration has no key, so rows written before stay NULL: read as
legacy (a logged one is still checked against its log entry).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("decision", sa.Column("row_mac", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.drop_column("row_mac")
