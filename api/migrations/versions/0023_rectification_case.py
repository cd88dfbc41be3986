"""A review case may be opened by a rectification (Art. 16) that would change an outcome.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | None = None
depends_on: str | None = None

_ACTIVE = "state IN ('open', 'assigned')"


def _origins(*origins: str) -> str:
    return "origin IN ({})".format(", ".join(f"'{origin}'" for origin in origins))


def _replace_origin_check(condition: str) -> None:
    # The partial unique index is dropped and made again around SQLite's table rebuild, which
    # would not carry its predicate over.
    op.drop_index("uq_review_case_active_decision", table_name="review_case")
    with op.batch_alter_table("review_case") as batch:
        batch.drop_constraint(op.f("ck_review_case_origin"), type_="check")
        batch.create_check_constraint(op.f("ck_review_case_origin"), condition)
    op.create_index(
        "uq_review_case_active_decision",
        "review_case",
        ["decision_id"],
        unique=True,
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )


def upgrade() -> None:
    _replace_origin_check(_origins("contest", "policy", "escalation", "rectification"))


def downgrade() -> None:
    op.execute("UPDATE review_case SET origin = 'contest' WHERE origin = 'rectification'")
    _replace_origin_check(_origins("contest", "policy", "escalation"))
