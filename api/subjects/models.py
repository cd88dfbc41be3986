"""Tables of the subject domain: revoked subject tokens.

A subject token is stateless (signed, scoped, expiring), so revoking one needs a record: the
token's id is kept here until the token would have expired anyway.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from api.core.database import Base
from api.core.timestamps import UTCDateTime

__all__ = ["RevokedToken"]


class RevokedToken(Base):
    """A subject token that must no longer open anything."""

    __tablename__ = "revoked_token"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # After this the token is refused for having expired; the row may then be purged.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
