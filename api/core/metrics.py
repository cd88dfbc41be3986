"""Prometheus metrics -- with no personal data in them (SPEC §8).

:class:`Metrics` holds the Prometheus metrics of one app in a registry of its own (not the
process-global default), so several apps can live in one process -- the test suite builds many.
Labels are bounded and impersonal: model names, outcomes, route *templates*, methods and status
codes; never a subject, a path with identifiers in it, or a value.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _generate_latest

__all__ = [
    "DECISION_BUCKETS",
    "LOG_APPEND_BUCKETS",
    "Metrics",
    "MetricsDep",
    "get_metrics",
]

# Scoring plus TreeSHAP takes 0.5-50 ms; the buckets are dense there.
DECISION_BUCKETS: Final = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.25,
)
# A durable append waits for a group commit (an fsync): sub-millisecond to tens of ms.
LOG_APPEND_BUCKETS: Final = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)


class Metrics:
    """The Prometheus metrics of one app.

    Attributes
    ----------
    registry : CollectorRegistry
        The app's own registry.
    decisions : Counter
        ``glassbox_decisions_total{model, outcome}``.
    decision_seconds : Histogram
        ``glassbox_decision_seconds{model}``: scoring and explaining one decision.
    log_append_seconds : Histogram
        ``glassbox_log_append_seconds``: from submitting an entry to its durable commit.
    http_requests : Counter
        ``glassbox_http_requests_total{route, method, status}``.
    webhook_attempts : Counter
        ``glassbox_webhook_attempts_total{result}``: delivered, rejected (a non-2xx answer),
        refused (a destination not allowed) or error (no answer: no connection, timed out).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "glassbox_decisions_total",
            "Automated decisions returned, by model and outcome.",
            ["model", "outcome"],
            registry=self.registry,
        )
        self.decision_seconds = Histogram(
            "glassbox_decision_seconds",
            "Time to score and explain one decision.",
            ["model"],
            buckets=DECISION_BUCKETS,
            registry=self.registry,
        )
        self.log_append_seconds = Histogram(
            "glassbox_log_append_seconds",
            "Time from submitting a log entry to its durable commit.",
            buckets=LOG_APPEND_BUCKETS,
            registry=self.registry,
        )
        self.http_requests = Counter(
            "glassbox_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.webhook_attempts = Counter(
            "glassbox_webhook_attempts_total",
            "Attempts to deliver a webhook, by result.",
            ["result"],
            registry=self.registry,
        )

        # ``labels()`` checks and converts its values and takes a lock on every call; the hot
        # path asks for the same few children over and over, so they are kept here.
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def _child(self, metric: Counter | Histogram, *values: str) -> Any:
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def count_decision(self, model: str, outcome: str, seconds: float, log_seconds: float) -> None:
        """Count one automated decision and record its compute and log-append times.

        Parameters
        ----------
        model, outcome : str
            The deciding model's name and the outcome.
        seconds : float
            Scoring and explaining it.
        log_seconds : float
            From submitting its record to the durable commit.
        """
        self._child(self.decisions, model, outcome).inc()
        self._child(self.decision_seconds, model).observe(seconds)
        self.log_append_seconds.observe(log_seconds)

    def count_request(self, route: str, method: str, status: int) -> None:
        """Count one answered HTTP request.

        Parameters
        ----------
        route : str
            The route template (never the raw path: it may carry identifiers).
        method : str
            The HTTP method, or ``OTHER``.
        status : int
            The response status.
        """
        self._child(self.http_requests, route, method, str(status)).inc()

    def render(self) -> bytes:
        """Return the metrics in the Prometheus text format.

        Returns
        -------
        bytes
            The exposition, served with :data:`prometheus_client.CONTENT_TYPE_LATEST`.
        """
        return _generate_latest(self.registry)


async def get_metrics(request: Request) -> Metrics:
    """The running app's metrics (a dependency).

    Parameters
    ----------
    request : Request
        The request.

    Returns
    -------
    Metrics
        What :func:`api.core.observability.install_observability` put on ``app.state.metrics``.
    """
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]
