"""What an application reads back about the webhooks it was sent."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field

from api.core.timestamps import as_utc

__all__ = ["REFUSED", "DecisionWebhooksRead", "WebhookAttemptRead", "WebhookDeliveryRead"]

# The error of an attempt that was not made: the URL, or an address its name resolves to, is not
# a destination this application's webhooks may go to.
REFUSED: Final = "destination not allowed"


_Moment = Annotated[datetime, AfterValidator(as_utc)]
_MaybeMoment = Annotated[datetime | None, AfterValidator(as_utc)]


class WebhookAttemptRead(BaseModel):
    """One attempt to deliver a webhook."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    number: int = Field(description="1 for the first attempt.")
    attempted_at: _Moment
    status_code: int | None = Field(description="The HTTP status answered, if any.")
    error: str | None = Field(
        description="Why it was not delivered, coarsely: 'destination not allowed', 'name not "
        "resolved', 'connection failed', 'timeout' or 'HTTP <status>'."
    )
    duration_ms: float

    @computed_field(  # type: ignore[prop-decorator]  # pydantic's documented form
        description="delivered (a 2xx answer); refused (not sent: the destination is not "
        "allowed); failed (sent, without a 2xx answer)."
    )
    @property
    def result(self) -> Literal["delivered", "refused", "failed"]:
        if self.status_code is not None and 200 <= self.status_code < 300:
            return "delivered"
        return "refused" if self.error == REFUSED else "failed"


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
