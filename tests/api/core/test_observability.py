"""``/metrics`` is for auditors and admins; requests are counted by route template."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.core.metrics import Metrics
from api.core.security import Role
from tests.api.conftest import assert_problem, bearer


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_are_for_auditors_and_admins_and_count_by_route_template(
    client: TestClient, api_keys: dict[Role, str]
) -> None:
    assert_problem(client.get("/metrics"), 401)
    assert_problem(client.get("/metrics", headers=bearer(api_keys[Role.APPLICATION])), 403)
    assert_problem(client.get("/metrics", headers=bearer(api_keys[Role.REVIEWER])), 403)
    app_key = bearer(api_keys[Role.APPLICATION])
    client.get(f"/v1/decisions/{'a' * 32}", headers=app_key)
    client.get(f"/v1/decisions/{'b' * 32}", headers=app_key)
    client.get("/v1/nowhere/at/all")

    metrics: Metrics = client.app.state.metrics  # type: ignore[attr-defined]
    metrics.decisions.labels("fraud", "approve").inc(3)
    metrics.decision_seconds.labels("fraud").observe(0.004)
    metrics.log_append_seconds.observe(0.002)

    for role in (Role.AUDITOR, Role.ADMIN):
        response = client.get("/metrics", headers=bearer(api_keys[role]))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    route = (("method", "GET"), ("route", "/v1/decisions/{decision_id}"), ("status", "404"))
    assert samples[("glassbox_http_requests_total", route)] == 2
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert samples[("glassbox_http_requests_total", unmatched)] == 1
    refused = (("method", "GET"), ("route", "/metrics"), ("status", "403"))
    assert samples[("glassbox_http_requests_total", refused)] == 2
    assert samples[("glassbox_decisions_total", (("model", "fraud"), ("outcome", "approve")))] == 3
    assert samples[("glassbox_decision_seconds_bucket", (("le", "0.005"), ("model", "fraud")))] == 1
    assert samples[("glassbox_decision_seconds_bucket", (("le", "0.003"), ("model", "fraud")))] == 0
    assert samples[("glassbox_log_append_seconds_count", ())] == 1
    # No concrete path ever becomes a label.
    assert "a" * 32 not in response.text
