"""What an application reads back about the webhooks it was sent."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.core.timestamps import as_utc

__all__ = ["DecisionWebhooksRead", "WebhookAttemptRead", "WebhookDeliveryRead"]


_Moment = Annotated[datetime, AfterValidator(as_utc)]
_MaybeMoment = Annotated[datetime | None, AfterValidator(as_utc)]


class WebhookAttemptRead(BaseModel):
    """One attempt to deliver a webhook."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    number: int = Field(description="1 for the first attempt.")
    attempted_at: _Moment
    status_code: int | None = Field(description="The HTTP status answered, if any.")
    error: str | None = Field(
        description="The class of network failure (ConnectError, ReadTimeout ...), if any."
    )
    duration_ms: float


class WebhookDeliveryRead(BaseModel):
    """One webhook, where its delivery stands, and every attempt so far."""

    model_config = ConfigDict(frozen=True)

    delivery_id: str = Field(description="Sent as Glassbox-Delivery; the same on every retry.")
    event: str
    state: Literal["pending", "delivering", "delivered", "failed"]
    created_at: _Moment
    next_attempt_at: _MaybeMoment = Field(description="When it is tried next, while not final.")
    last_attempt_at: _MaybeMoment
    delivered_at: _MaybeMoment
    payload: dict[str, Any] = Field(description="The body's data, as sent.")
    attempts: list[WebhookAttemptRead]


class DecisionWebhooksRead(BaseModel):
    """The webhooks sent about one decision, oldest first."""

    model_config = ConfigDict(frozen=True)

    decision_id: str
    deliveries: list[WebhookDeliveryRead]
