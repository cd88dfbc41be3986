"""Rectification outside a contest (Art. 16), and erasures held in part recorded as completed.

``decision_rectification`` holds the corrected values of a decision's stored inputs, sealed
under the decision's data key; ``rights_request`` learns the kind ``rectification`` and the
review case a request waits for. An erasure that a legal hold kept in part was ``pending``; it
is now ``completed`` for what could be done (the hold is in its outcome, and the retention job
shreds what it kept once it lapses), so the old ones are completed as of when they were made.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | None = None
depends_on: str | None = None

_KINDS = (
    "'access', 'portability', 'objection', 'objection_withdrawal', 'restriction', "
    "'restriction_lift', 'erasure'"
)


def upgrade() -> None:
    op.create_table(
        "decision_rectification",
        sa.Column("rectification_id", sa.String(32), nullable=False),
        sa.Column("decision_id", sa.String(32), nullable=False),
        sa.Column("subject_pseudonym", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("rectified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("features", sa.Text(), nullable=False),
        sa.Column("corrections_ct", sa.LargeBinary(), nullable=False),
        sa.Column("statement_ct", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decision.decision_id"],
            name=op.f("fk_decision_rectification_decision_id_decision"),
        ),
        sa.PrimaryKeyConstraint("rectification_id", name=op.f("pk_decision_rectification")),
    )
    op.create_index(
        op.f("ix_decision_rectification_decision_id"), "decision_rectification", ["decision_id"]
    )
    # SQLite changes a check constraint only by rebuilding the table.
    with op.batch_alter_table("rights_request") as batch:
        batch.add_column(sa.Column("case_id", sa.String(32), nullable=True))
        batch.drop_constraint(op.f("ck_rights_request_kind_known"), type_="check")
        batch.create_check_constraint(
            op.f("ck_rights_request_kind_known"), f"kind IN ({_KINDS}, 'rectification')"
        )
    op.create_index(op.f("ix_rights_request_case_id"), "rights_request", ["case_id"])
    op.execute(
        "UPDATE rights_request SET status = 'completed', completed_at = received_at "
        "WHERE kind = 'erasure' AND status = 'pending'"
    )


def downgrade() -> None:
    op.execute("DELETE FROM rights_request WHERE kind = 'rectification'")
    op.drop_index(op.f("ix_rights_request_case_id"), table_name="rights_request")
    with op.batch_alter_table("rights_request") as batch:
        batch.drop_constraint(op.f("ck_rights_request_kind_known"), type_="check")
        batch.create_check_constraint(op.f("ck_rights_request_kind_known"), f"kind IN ({_KINDS})")
        batch.drop_column("case_id")
    op.drop_index(
        op.f("ix_decision_rectification_decision_id"), table_name="decision_rectification"
    )
    op.drop_table("decision_rectification")
