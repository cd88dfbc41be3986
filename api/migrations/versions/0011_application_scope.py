"""Applications and their pseudonym scopes: application, api_key.application.

Every application key created before this revision becomes the one key of an application of
its own, named after the key, in the ``legacy`` scope: that scope pseudonymises in the bare
``pseudonym_namespace``, exactly as every key did until now, so the people already recorded
keep their pseudonyms (and their tokens keep working). Applications created from now on get a
scope of their own (``app:<name>``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def _name_for(key_name: str, key_id: str, taken: set[str]) -> str:
    # api.core.applications.application_name_for as of this revision, frozen here.
    slug = re.sub(r"[^a-z0-9_-]+", "-", key_name.lower()).strip("-_")
    if not slug[:1].isalpha():
        slug = f"app-{slug}".rstrip("-")
    slug = slug[:64].rstrip("-_")
    if slug in taken:
        slug = f"{slug[:47]}-{key_id[:16]}"
    taken.add(slug)
    return slug


def upgrade() -> None:
    op.create_table(
        "application",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("pseudonym_scope", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_application")),
    )
    op.add_column("api_key", sa.Column("application", sa.String(64), nullable=True))

    bind = op.get_bind()
    keys = bind.execute(
        sa.text(
            "SELECT key_id, name FROM api_key WHERE role = 'application' "
            "ORDER BY created_at, key_id"
        )
    ).all()
    taken: set[str] = set()
    now = datetime.now(UTC)
    for key_id, key_name in keys:
        name = _name_for(key_name, key_id, taken)
        bind.execute(
            sa.text(
                "INSERT INTO application (name, pseudonym_scope, created_at) "
                "VALUES (:name, 'legacy', :now)"
            ),
            {"name": name, "now": now},
        )
        bind.execute(
            sa.text("UPDATE api_key SET application = :name WHERE key_id = :key_id"),
            {"name": name, "key_id": key_id},
        )

    # SQLite adds constraints only by rebuilding the table.
    with op.batch_alter_table("api_key") as batch:
        batch.create_foreign_key(
            op.f("fk_api_key_application_application"), "application", ["application"], ["name"]
        )
        batch.create_check_constraint(
            op.f("ck_api_key_application_iff_role"),
            "(role = 'application') = (application IS NOT NULL)",
        )
    op.create_index(op.f("ix_api_key_application"), "api_key", ["application"])


def downgrade() -> None:
    op.drop_index(op.f("ix_api_key_application"), table_name="api_key")
    with op.batch_alter_table("api_key") as batch:
        batch.drop_constraint(op.f("ck_api_key_application_iff_role"), type_="check")
        batch.drop_constraint(op.f("fk_api_key_application_application"), type_="foreignkey")
        batch.drop_column("application")
    op.drop_table("application")
