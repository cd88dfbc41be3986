"""Tables of outbound webhooks: one row per notification, one row per attempt to deliver it.

``webhook_delivery`` is the outbox. A row is inserted in the same transaction as the human
outcome that causes it, so an outcome is never committed without its notification, nor a
notification sent for an outcome that was rolled back. ``webhook_attempt`` is the record of every
attempt (when, the HTTP status or a coarse reason it failed, how long), which the application
can read back to see why it was or was not told.

Payloads carry identifiers, models, outcomes and timestamps only -- no personal data -- so they
are stored in clear, as the canonical JSON that is sent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.core.database import Base
from api.core.timestamps import UTCDateTime

__all__ = ["DELIVERY_STATES", "WebhookAttempt", "WebhookDelivery"]

DELIVERY_STATES = ("pending", "delivering", "delivered", "failed")


class WebhookDelivery(Base):
    """One notification to one application's callback URL, and where its delivery stands.

    ``pending`` waits for ``next_attempt_at``; ``delivering`` is claimed by a dispatcher whose
    lease (``lease``, until ``next_attempt_at``) lets another dispatcher take it over if the first
    one died mid-attempt; ``delivered`` and ``failed`` are final.
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        CheckConstraint(
            "state IN ('pending', 'delivering', 'delivered', 'failed')", name="state_known"
        ),
        # What a dispatcher asks for on every poll: due rows of the two open states.
        Index("ix_webhook_delivery_due", "state", "next_attempt_at"),
    )

    delivery_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event: Mapped[str] = mapped_column(String(64))
    # The decision the notification is about, so its application can list what it was sent.
    decision_id: Mapped[str | None] = mapped_column(String(32), index=True)
    application_key_id: Mapped[str] = mapped_column(String(64))
    callback_url: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The claim of the dispatcher attempting it now: only that claim may record the outcome.
    lease: Mapped[str | None] = mapped_column(String(32))


class WebhookAttempt(Base):
    """One attempt to deliver a notification: appended once it is over, never changed."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (UniqueConstraint("delivery_id", "number", name="uq_webhook_attempt_number"),)

    attempt_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(32), ForeignKey("webhook_delivery.delivery_id"))
    number: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer)
    # Why it was not delivered, in a few words ("connection failed", "timeout", "HTTP 503",
    # "destination not allowed"), never an exception's message: messages quote the URL, query
    # string included, and the OS's words would make the record a port scanner's oracle.
    error: Mapped[str | None] = mapped_column(String(64))
    duration_ms: Mapped[float] = mapped_column(Float)
