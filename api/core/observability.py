"""Observability, installed in one call: request ids, the access log, metrics, ``/metrics``.

* :mod:`api.core.metrics` -- the Prometheus metrics of one app (:class:`~api.core.metrics.Metrics`);
* :mod:`api.core.logs` -- JSON log lines, written off the event loop, error messages redacted;
* :mod:`api.core.access_log` -- the layer that gives every request an id and logs and counts it
  by route template (and limits bodies and answers the fast routes, :mod:`api.core.fastpath`).

Metrics and logs carry no personal data (SPEC §8). ``/metrics`` is authenticated like
everything else (auditor or admin): outcome rates per model are business information;
``/v1/health`` is public, for load balancers.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.core.access_log import AccessLogMiddleware
from api.core.fastpath import FastRoute
from api.core.limits import BodyLimits
from api.core.metrics import Metrics, MetricsDep
from api.core.routing import ApiRoute
from api.core.security import AuditorOrAdminDep

__all__ = ["install_observability", "router"]

router = APIRouter(route_class=ApiRoute, tags=["operations"])


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
async def read_metrics(_: AuditorOrAdminDep, metrics: MetricsDep) -> Response:
    """The app's metrics in the Prometheus text format (auditor or admin)."""
    return Response(content=metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/health", summary="Readiness probe")
async def read_health() -> dict[str, str]:
    """``ready`` once the service has started -- which it does only with secrets that open its
    data and every served model loaded. Public, for load balancers; it tells nothing else."""
    return {"status": "ready"}


def install_observability(
    app: FastAPI,
    *,
    max_body_bytes: int | BodyLimits | None = None,
    fast_routes: Sequence[FastRoute] = (),
) -> Metrics:
    """Add request ids, the access log, metrics and the ``/metrics`` route to an app.

    Install it after a separate body limit, if any (so it wraps it and sees refused requests
    too) -- or give ``max_body_bytes`` and it limits bodies itself, in the same layer.

    Parameters
    ----------
    app : FastAPI
        The application.
    max_body_bytes : int or BodyLimits, optional
        Request body limit (413 problem), with routes' own limits; none when omitted.
    fast_routes : sequence of FastRoute
        Routes answered by the access-log layer itself (see :class:`~api.core.fastpath.FastRoute`).

    Returns
    -------
    Metrics
        The app's metrics, also at ``app.state.metrics`` (and
        :data:`~api.core.metrics.MetricsDep`).
    """
    metrics = Metrics()
    app.state.metrics = metrics
    app.add_middleware(
        AccessLogMiddleware,
        metrics=metrics,
        max_body_bytes=max_body_bytes,
        fast_routes=fast_routes,
    )
    app.include_router(router)
    return metrics
