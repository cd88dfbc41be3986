"""Tables of the shared plumbing: applications and the API keys of applications and staff.

Keys are stored as SHA-256 hashes only: a copy of the database (a backup, a replica, a
support dump) does not let anyone call the API. Revocation sets ``revoked_at``; rows are kept
so that log entries and reviews can still name the key that acted.

An application outlives its keys (they rotate), and owns the pseudonym scope its people are
found in: see :mod:`api.core.applications`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from api.core.database import Base
from api.core.timestamps import UTCDateTime

__all__ = ["ApiKey", "Application"]


class Application(Base):
    """A client system that asks for decisions, under one name whatever keys it holds."""

    __tablename__ = "application"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # ``app:<name>`` (its own people), ``group:<group>`` (shared with the group's other
    # applications) or ``legacy`` (the one namespace of keys created before scopes existed).
    pseudonym_scope: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # An application's webhooks may reach private and loopback addresses only when an admin
    # said so (api.webhooks.destinations); every other application's callbacks must be public.
    allow_private_callbacks: Mapped[bool] = mapped_column(Boolean, server_default=false())


class ApiKey(Base):
    """An API key: who holds it, which role it grants, and whether it still does."""

    __tablename__ = "api_key"
    __table_args__ = (
        CheckConstraint(
            "role IN ('application', 'reviewer', 'auditor', 'admin')", name="role_known"
        ),
        # An application key always belongs to an application; a staff key never does.
        CheckConstraint(
            "(role = 'application') = (application IS NOT NULL)", name="application_iff_role"
        ),
    )

    # Public id: shown in listings and logs, and used to revoke; not a secret.
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # Hex SHA-256 of the whole key; UNIQUE is also the index authentication looks up.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    application: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("application.name"), index=True
    )
