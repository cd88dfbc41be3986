"""Log entries: no unique indexes on ``prev_hash`` and ``entry_hash``.

Hashes are random, so each of those two indexes put every appended entry on a random page: two
of the dozen-odd pages each decision's commit writes to the WAL, and copied back to the database
file by every checkpoint. Nothing is looked up by hash. What they guarded stays guarded: the chain
cannot fork, because an entry's ``seq`` is its head's plus one and ``seq`` is the primary key (two
writers that read the same head both try to insert the same ``seq``, and one fails), behind the
single writer on SQLite and the advisory lock on PostgreSQL; and any entry inserted or changed
past them breaks a link that ``verify_log`` names.

SQLite cannot drop a table constraint, so there the table is rebuilt with its rows, its index and
its append-only triggers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

_HASH_CONSTRAINTS = ("uq_log_entry_prev_hash", "uq_log_entry_entry_hash")
# As 0001 created them: a rebuilt table must refuse UPDATE and DELETE as the old one did.
_SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER log_entry_no_update BEFORE UPDATE ON log_entry
    BEGIN SELECT RAISE(ABORT, 'log_entry is append-only'); END
    """,
    """
    CREATE TRIGGER log_entry_no_delete BEFORE DELETE ON log_entry
    BEGIN SELECT RAISE(ABORT, 'log_entry is append-only'); END
    """,
)


def _sqlite_rebuild(*, hash_constraints: bool) -> None:
    unique = "".join(
        f",\n    CONSTRAINT {name} UNIQUE ({name.removeprefix('uq_log_entry_')})"
        for name in (_HASH_CONSTRAINTS if hash_constraints else ())
    )
    op.execute(
        f"""
        CREATE TABLE log_entry_rebuilt (
            seq INTEGER NOT NULL,
            entry_id VARCHAR(32) NOT NULL,
            entry_at VARCHAR(32) NOT NULL,
            kind VARCHAR(32) NOT NULL,
            subject_pseudonym VARCHAR(64),
            body TEXT NOT NULL,
            prev_hash VARCHAR(64) NOT NULL,
            entry_hash VARCHAR(64) NOT NULL,
            CONSTRAINT pk_log_entry PRIMARY KEY (seq),
            CONSTRAINT ck_log_entry_seq_positive CHECK (seq >= 1),
            CONSTRAINT uq_log_entry_entry_id UNIQUE (entry_id){unique}
        )
        """
    )
    op.execute(
        "INSERT INTO log_entry_rebuilt (seq, entry_id, entry_at, kind, subject_pseudonym, body,"
        " prev_hash, entry_hash) SELECT seq, entry_id, entry_at, kind, subject_pseudonym, body,"
        " prev_hash, entry_hash FROM log_entry ORDER BY seq"
    )
    # DROP TABLE takes the table's index and triggers with it, and fires no trigger itself.
    op.execute("DROP TABLE log_entry")
    op.execute("ALTER TABLE log_entry_rebuilt RENAME TO log_entry")
    op.execute("CREATE INDEX ix_log_entry_subject_pseudonym ON log_entry (subject_pseudonym)")
    for statement in _SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in _HASH_CONSTRAINTS:
            op.drop_constraint(name, "log_entry", type_="unique")
    else:
        _sqlite_rebuild(hash_constraints=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in _HASH_CONSTRAINTS:
            op.create_unique_constraint(name, "log_entry", [name.removeprefix("uq_log_entry_")])
    else:
        _sqlite_rebuild(hash_constraints=True)
