"""Review cases, and human outcomes as decisions that supersede automated ones.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_ACTIVE = "state IN ('open', 'assigned')"


def upgrade() -> None:
    op.create_table(
        "review_case",
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("decision_id", sa.String(32), nullable=False),
        sa.Column("subject_pseudonym", sa.String(64), nullable=False),
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extended_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("extended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extended_by", sa.String(64), nullable=True),
        sa.Column("assigned_to", sa.String(64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("proposed_resolution", sa.String(16), nullable=True),
        sa.Column("proposed_outcome", sa.String(64), nullable=True),
        sa.Column("proposed_by", sa.String(64), nullable=True),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("outcome", sa.String(64), nullable=True),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("approved_by", sa.String(64), nullable=True),
        sa.Column("human_decision_id", sa.String(32), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("statement_ct", sa.LargeBinary(), nullable=True),
        sa.Column("corrections_ct", sa.LargeBinary(), nullable=True),
        sa.Column("rationale_ct", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint(
            "state IN ('open', 'assigned', 'resolved', 'withdrawn')",
            name=op.f("ck_review_case_state"),
        ),
        sa.CheckConstraint(
            "origin IN ('contest', 'policy', 'escalation')", name=op.f("ck_review_case_origin")
        ),
        sa.CheckConstraint(
            "resolution IS NULL OR resolution IN ('uphold', 'overturn', 'amend')",
            name=op.f("ck_review_case_resolution"),
        ),
        sa.CheckConstraint(
            "state <> 'resolved' OR (resolved_by IS NOT NULL AND resolution IS NOT NULL "
            "AND human_decision_id IS NOT NULL AND rationale_ct IS NOT NULL)",
            name=op.f("ck_review_case_resolved_complete"),
        ),
        sa.CheckConstraint(
            "state <> 'assigned' OR assigned_to IS NOT NULL",
            name=op.f("ck_review_case_assigned_has_owner"),
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decision.decision_id"],
            name=op.f("fk_review_case_decision_id_decision"),
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_review_case")),
    )
    for column in ("decision_id", "subject_pseudonym", "resolved_by"):
        op.create_index(op.f(f"ix_review_case_{column}"), "review_case", [column], unique=False)
    op.create_index("ix_review_case_queue", "review_case", ["state", "due_at"], unique=False)
    op.create_index(
        "uq_review_case_active_decision",
        "review_case",
        ["decision_id"],
        unique=True,
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )
    with op.batch_alter_table("decision") as batch:
        batch.add_column(
            sa.Column("decided_by", sa.String(8), nullable=False, server_default="model")
        )
        batch.add_column(sa.Column("supersedes_decision_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("case_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("reviewer_key_id", sa.String(64), nullable=True))
    op.create_index(
        op.f("ix_decision_supersedes_decision_id"),
        "decision",
        ["supersedes_decision_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_decision_supersedes_decision_id"), table_name="decision")
    with op.batch_alter_table("decision") as batch:
        for column in ("reviewer_key_id", "case_id", "supersedes_decision_id", "decided_by"):
            batch.drop_column(column)
    op.drop_index("uq_review_case_active_decision", table_name="review_case")
    op.drop_index("ix_review_case_queue", table_name="review_case")
    for column in ("decision_id", "subject_pseudonym", "resolved_by"):
        op.drop_index(op.f(f"ix_review_case_{column}"), table_name="review_case")
    op.drop_table("review_case")
