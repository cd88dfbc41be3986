"""Rights and retention: data keys per (subject, retention category, year), rights requests,
objections and restrictions.

Existing keys become the subject's ``general`` key of epoch 0 (their wrap AAD is the old one)
and existing decisions point at it; an erased subject's wiped row becomes the erasure marker
(category ``*``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # recreate="always": SQLite cannot change a primary key in place; on PostgreSQL the copy
    # is as cheap as the ALTERs for a table of one row per subject.
    with op.batch_alter_table("subject_key", recreate="always") as batch:
        batch.add_column(
            sa.Column("category", sa.String(32), nullable=False, server_default="general")
        )
        batch.add_column(sa.Column("epoch", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_constraint("pk_subject_key", type_="primary")
        batch.create_primary_key("pk_subject_key", ["pseudonym", "category", "epoch"])
    op.execute("UPDATE subject_key SET category = '*' WHERE wrapped_key IS NULL")
    # Retention sweeps a category's expired years across all subjects.
    op.create_index("ix_subject_key_category_epoch", "subject_key", ["category", "epoch"])

    with op.batch_alter_table("decision") as batch:
        batch.add_column(
            sa.Column("key_category", sa.String(32), nullable=False, server_default="general")
        )
        batch.add_column(sa.Column("key_epoch", sa.Integer(), nullable=False, server_default="0"))

    kinds = (
        "'access', 'portability', 'objection', 'objection_withdrawal', 'restriction', "
        "'restriction_lift', 'erasure'"
    )
    op.create_table(
        "rights_request",
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("subject_pseudonym", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("log_entry_id", sa.String(32), nullable=True),
        sa.CheckConstraint(f"kind IN ({kinds})", name=op.f("ck_rights_request_kind_known")),
        sa.CheckConstraint(
            "status IN ('completed', 'pending')", name=op.f("ck_rights_request_status_known")
        ),
        sa.CheckConstraint(
            "(status = 'completed') = (completed_at IS NOT NULL)",
            name=op.f("ck_rights_request_completed_has_time"),
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_rights_request")),
    )
    for column in ("subject_pseudonym", "received_at", "status"):
        op.create_index(op.f(f"ix_rights_request_{column}"), "rights_request", [column])
    op.create_table(
        "subject_preference",
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("objected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restricted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pseudonym", name=op.f("pk_subject_preference")),
    )


def downgrade() -> None:
    op.drop_table("subject_preference")
    for column in ("subject_pseudonym", "received_at", "status"):
        op.drop_index(op.f(f"ix_rights_request_{column}"), table_name="rights_request")
    op.drop_table("rights_request")
    with op.batch_alter_table("decision") as batch:
        batch.drop_column("key_epoch")
        batch.drop_column("key_category")
    op.drop_index("ix_subject_key_category_epoch", table_name="subject_key")
    # Keys of other categories and years have no place in the old one-key-per-subject table.
    op.execute("DELETE FROM subject_key WHERE NOT (category IN ('general', '*') AND epoch = 0)")
    with op.batch_alter_table("subject_key", recreate="always") as batch:
        batch.drop_constraint("pk_subject_key", type_="primary")
        batch.create_primary_key("pk_subject_key", ["pseudonym"])
        batch.drop_column("epoch")
        batch.drop_column("category")
