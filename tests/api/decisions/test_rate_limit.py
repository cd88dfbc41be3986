"""The decision route's rate limit per API key, over real HTTP through the ASGI app: the request
over the limit gets a 429 problem with ``Retry-After`` and decides nothing; another key is not
affected; the fast lane and the full route answer it alike."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from api.core.settings import Settings
from api.decisions.models import Decision
from tests.api.conftest import Service, assert_problem, serve
from tests.api.decisions.support import transactions
from tests.conftest import TrainedModels

BURST = 3


@pytest.fixture
def limited(service_settings: Settings) -> Iterator[Service]:
    """The service with a burst of three decisions per key, refilled at one every two seconds."""
    settings = service_settings.model_copy(
        update={"decision_rate_per_second": 0.5, "decision_rate_burst": BURST}
    )
    with serve(settings) as running:
        yield running


def _decide(service: Service, who: str, features: dict[str, Any], n: int) -> Any:
    body = {"subject_ref": f"limit-{who}-{n}", "legal_basis": "contract", "features": features}
    return service.client.post("/v1/decisions/fraud", json=body, headers=service.auth(who))


def _decisions(service: Service) -> int:
    with service.context.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Decision)) or 0)


def _retry_after(response: Any) -> int:
    value = int(response.headers["retry-after"])
    # A token comes back every 2 s: the wait is whole seconds, at least one, at most two.
    assert 1 <= value <= 2
    return value


def test_the_request_over_a_keys_limit_gets_429_and_another_key_does_not(
    limited: Service, trained: TrainedModels
) -> None:
    features = transactions(trained, 1)[0]
    for n in range(BURST):
        assert _decide(limited, "shop", features, n).status_code == 201
    decided = _decisions(limited)

    refused = _decide(limited, "shop", features, BURST)
    body = assert_problem(refused, 429, "too-many-requests")
    _retry_after(refused)
    assert "shop" not in body["detail"] and "limit" in body["detail"]
    assert _decisions(limited) == decided  # nothing was scored or recorded

    other = _decide(limited, "crm", features, 0)
    assert other.status_code == 201, other.text

    metrics = limited.client.get("/metrics", headers=limited.auth("auditor")).text
    assert (
        'glassbox_http_requests_total{method="POST",route="/v1/decisions/{model_name}",'
        'status="429"} 1.0'
    ) in metrics


def test_the_fast_lane_and_the_full_route_throttle_alike(
    limited: Service, trained: TrainedModels
) -> None:
    features = transactions(trained, 1)[0]
    app: Any = limited.client.app
    answers = []
    for who, lane in (("shop", "fast"), ("crm", "full")):
        if lane == "full":
            # Any override sends every request down the full FastAPI path (api.decisions.fast).
            app.dependency_overrides[_decide] = _decide
        for n in range(BURST):
            assert _decide(limited, who, features, n).status_code == 201
        # The key authenticated on its first request and is cached: the lane can take it.
        assert limited.context.keys.cached(limited.keys[who]) is not None
        answers.append(_decide(limited, who, features, BURST))
    app.dependency_overrides.clear()

    fast, full = answers
    for response in answers:
        assert_problem(response, 429, "too-many-requests")
    assert _retry_after(fast) == _retry_after(full)
    assert fast.headers["content-type"] == full.headers["content-type"]
    assert {k: v for k, v in fast.json().items() if k != "instance"} == {
        k: v for k, v in full.json().items() if k != "instance"
    }
