"""Tables of the key vault.

``subject_key`` holds each subject's data keys, wrapped by the key-encryption key. It is not the
log: a row is updated on erasure -- the wrapped data key is wiped (crypto-shredding, Art. 17)
while the log's ciphertexts and hashes stay.

A subject has one data key per retention category and calendar year (``epoch``): log entries are
immutable, so the only way to keep fraud history for ten years while erasing a person's
marketing scores now -- or to retire two-year-old scores while keeping last month's -- is to
seal them under different keys and shred each key when its own period ends.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from api.core.database import Base
from api.core.timestamps import UTCDateTime

__all__ = ["SubjectKey"]


class SubjectKey(Base):
    """A subject's data key for one retention category and year, wrapped by the KEK.

    Wiped on erasure or when its retention period ends. The row of category ``*`` is not a key
    but the marker of an erasure request (Art. 17): no new key is created for that subject.
    Category ``general`` with epoch 0 is a subject's single key from before keys were split.
    """

    __tablename__ = "subject_key"
    __table_args__ = (
        CheckConstraint(
            "(wrapped_key IS NULL) = (shredded_at IS NOT NULL)", name="shredded_has_no_key"
        ),
        # Retention sweeps a category's expired years across all subjects.
        Index("ix_subject_key_category_epoch", "category", "epoch"),
    )

    pseudonym: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The retention category of the model whose records the key seals (its spec's
    # ``retention.category``), and the calendar year (UTC) they were created in.
    category: Mapped[str] = mapped_column(String(32), primary_key=True, default="general")
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True, default=0)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
