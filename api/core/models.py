"""Tables of the shared plumbing: the API keys of applications and staff.

Keys are stored as SHA-256 hashes only: a copy of the database (a backup, a replica, a
support dump) does not let anyone call the API. Revocation sets ``revoked_at``; rows are kept
so that log entries and reviews can still name the key that acted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from api.core.database import Base
from api.core.timestamps import UTCDateTime

__all__ = ["ApiKey"]


class ApiKey(Base):
    """An API key: who holds it, which role it grants, and whether it still does."""

    __tablename__ = "api_key"
    __table_args__ = (
        CheckConstraint(
            "role IN ('application', 'reviewer', 'auditor', 'admin')", name="role_known"
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
