"""Each app has the Prometheus metrics of its own registry."""

from __future__ import annotations

from api.core.metrics import Metrics


def test_each_app_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()  # a second app in the process does not collide
    first.decisions.labels("churn", "retain").inc()
    assert b'model="churn"' in first.render()
    assert b'model="churn"' not in second.render()
