"""Decision log: log_entry (append-only, hash-chained), subject_key, checkpoint.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The database itself refuses to change or remove log entries: a bug or a careless query in
# the service cannot rewrite history. (Someone with DDL rights can drop the triggers; the hash
# chain and signed checkpoints are what catch that.)
_SQLITE_GUARDS = [
    """
    CREATE TRIGGER log_entry_no_update BEFORE UPDATE ON log_entry
    BEGIN SELECT RAISE(ABORT, 'log_entry is append-only'); END
    """,
    """
    CREATE TRIGGER log_entry_no_delete BEFORE DELETE ON log_entry
    BEGIN SELECT RAISE(ABORT, 'log_entry is append-only'); END
    """,
]
_POSTGRESQL_GUARDS = [
    """
    CREATE FUNCTION log_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'log_entry is append-only';
    END
    $$
    """,
    """
    CREATE TRIGGER log_entry_no_change BEFORE UPDATE OR DELETE ON log_entry
    FOR EACH ROW EXECUTE FUNCTION log_entry_append_only()
    """,
    """
    CREATE TRIGGER log_entry_no_truncate BEFORE TRUNCATE ON log_entry
    FOR EACH STATEMENT EXECUTE FUNCTION log_entry_append_only()
    """,
]


def upgrade() -> None:
    op.create_table(
        "log_entry",
        sa.Column("seq", _SEQ, autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.String(32), nullable=False),
        sa.Column("entry_at", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject_pseudonym", sa.String(64), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_log_entry_seq_positive")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_log_entry")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_log_entry_entry_id")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_log_entry_prev_hash")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_log_entry_entry_hash")),
    )
    op.create_index(
        op.f("ix_log_entry_subject_pseudonym"), "log_entry", ["subject_pseudonym"], unique=False
    )
    op.create_table(
        "subject_key",
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(wrapped_key IS NULL) = (shredded_at IS NOT NULL)",
            name=op.f("ck_subject_key_shredded_has_no_key"),
        ),
        sa.PrimaryKeyConstraint("pseudonym", name=op.f("pk_subject_key")),
    )
    op.create_table(
        "checkpoint",
        sa.Column("checkpoint_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("public_key_id", sa.String(16), nullable=False),
        sa.CheckConstraint("size >= 0", name=op.f("ck_checkpoint_size_not_negative")),
        sa.PrimaryKeyConstraint("checkpoint_id", name=op.f("pk_checkpoint")),
    )
    op.create_index(
        op.f("ix_checkpoint_public_key_id"), "checkpoint", ["public_key_id"], unique=False
    )
    guards = _POSTGRESQL_GUARDS if op.get_bind().dialect.name == "postgresql" else _SQLITE_GUARDS
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER log_entry_no_truncate ON log_entry")
        op.execute("DROP TRIGGER log_entry_no_change ON log_entry")
        op.execute("DROP FUNCTION log_entry_append_only()")
    else:
        op.execute("DROP TRIGGER log_entry_no_delete")
        op.execute("DROP TRIGGER log_entry_no_update")
    op.drop_index(op.f("ix_checkpoint_public_key_id"), table_name="checkpoint")
    op.drop_table("checkpoint")
    op.drop_table("subject_key")
    op.drop_index(op.f("ix_log_entry_subject_pseudonym"), table_name="log_entry")
    op.drop_table("log_entry")
