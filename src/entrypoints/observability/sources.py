"""Metric families read from state when Prometheus scrapes: nothing on the message path.

``watch_sockets`` covers what the Socket.IO entrypoint knows (connections, Engine.IO
sessions and what closed them, emits, Redis publish errors); ``watch_webhooks`` the
webhook dispatcher's ``stats``; ``watch_drain`` whether the node is draining.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from chat_server.application.webhooks import DispatchStats
from chat_server.entrypoints.observability.metrics import ServiceMetrics
from chat_server.entrypoints.socketio.lifecycle import Lifecycle
from chat_server.entrypoints.socketio.notifier import CHAT, PRESENCE
from chat_server.entrypoints.socketio.server import ChatSocketServer

# DispatchStats field -> the outcome label of chat_webhook_deliveries_total.
WEBHOOK_OUTCOMES = {"delivered": "delivered", "retried": "retried", "dropped": "dropped",
                    "gave_up": "gave_up", "lost_leases": "lost_lease"}


def watch_sockets(metrics: ServiceMetrics, sio: ChatSocketServer, lifecycle: Lifecycle) -> None:
    def collect() -> Iterable[Metric]:
        per_namespace = Counter(conn.namespace for conn in list(lifecycle.connections.values()))
        connections = GaugeMetricFamily(
            "chat_connections", "Socket.IO connections on this node, by namespace",
            labels=("namespace",))
        for namespace in (PRESENCE, CHAT):
            connections.add_metric((namespace,), per_namespace.get(namespace, 0))
        engine = sio.eio
        stats = engine.stats
        closed = CounterMetricFamily(
            "chat_engineio_sessions_closed", "Engine.IO sessions the server closed, by reason "
            "(slow_client: CHAT_SOCKET_BUFFER_BYTES passed)", labels=("reason",))
        for reason, count in (("slow_client", stats.buffer_overflows),
                              ("ping_timeout", stats.ping_timeouts),
                              ("connect_timeout", stats.connect_timeouts),
                              ("oversized_packet", stats.oversized_packets)):
            closed.add_metric((reason,), count)
        emits = CounterMetricFamily("chat_emits", "Server events emitted, by name",
                                    labels=("event",))
        for event, count in sorted(sio.emitted.items()):
            emits.add_metric((event,), count)
        return [
            connections,
            GaugeMetricFamily("chat_engineio_sessions", "Engine.IO sessions on this node",
                              value=len(engine.sockets)),
            GaugeMetricFamily("chat_engineio_pending_sessions", "Engine.IO sessions that "
                              "opened no namespace yet", value=engine.pending_sessions),
            closed,
            CounterMetricFamily("chat_engineio_handshakes_refused", "Handshakes refused "
                                "(CHAT_MAX_PENDING_SESSIONS reached, or draining)",
                                value=stats.handshakes_refused),
            emits,
            CounterMetricFamily("chat_redis_publish_errors", "Cross-node emits that could "
                                "not be published to Redis",
                                value=getattr(sio.manager, "publish_errors", 0)),
        ]

    metrics.watch(collect)


def watch_webhooks(metrics: ServiceMetrics, stats: DispatchStats,
                   receiver_down: Callable[[], bool]) -> None:
    """The webhook dispatcher's ``stats`` and whether its circuit is open
    (``WebhookDispatcher.stats``, ``WebhookDispatcher.circuit``)."""

    def collect() -> Iterable[Metric]:
        deliveries = CounterMetricFamily(
            "chat_webhook_deliveries", "Webhook deliveries on this node, by outcome "
            "(gave_up: its retry window ended; lost_lease: another node took it over)",
            labels=("outcome",))
        for field, outcome in WEBHOOK_OUTCOMES.items():
            deliveries.add_metric((outcome,), getattr(stats, field))
        return [
            deliveries,
            CounterMetricFamily("chat_webhook_jobs", "Internal outbox jobs evaluated "
                                "(unread checks)", value=stats.evaluated),
            CounterMetricFamily("chat_webhook_outbox_errors", "Outbox or sender failures "
                                "(storage down, unexpected errors)", value=stats.errors),
            CounterMetricFamily("chat_webhook_circuit_opened", "Times the receiver was taken "
                                "for down (deliveries paused, one probe at a time)",
                                value=stats.circuit_opened),
            GaugeMetricFamily("chat_webhook_receiver_down", "1 while deliveries are paused "
                              "because the receiver fails", value=int(receiver_down())),
        ]

    metrics.watch(collect)


def watch_drain(metrics: ServiceMetrics, draining: Callable[[], bool]) -> None:
    def collect() -> Iterable[Metric]:
        return [GaugeMetricFamily("chat_draining", "1 from SIGTERM on: the node stops "
                                  "accepting and closes its sessions", value=int(draining()))]

    metrics.watch(collect)
