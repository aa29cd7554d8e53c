"""``GET /metrics``: the Prometheus text format (``CHAT_METRICS``, on by default)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat_server.entrypoints.observability.metrics import ServiceMetrics


def metrics_route(metrics: ServiceMetrics) -> Route:
    async def scrape(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST,
                        headers={"Cache-Control": "no-store"})

    return Route("/metrics", scrape, methods=["GET"])
