"""``ServiceMetrics``: every metric of ``GET /metrics`` (docs/deployment.md lists them).

Two kinds of source:

- what the service observes as it works, counted here on the spot: client events and
  their answer time (the dispatcher's observer), messages stored and other domain events
  (``MetricsSubscriber``), storage calls (``TimedRepository``), rate-limit rejections
  (``MeteredRateLimiter``);
- what other objects already know, read when Prometheus scrapes (``watch``): connections
  per namespace, Engine.IO sessions and their failures, emits, Redis publish errors,
  webhook deliveries. Reading state at scrape time costs the message path nothing.

No label ever holds a user id, chat id, token or text: event names are bounded to the
routes' (else ``unknown``), statuses to the error table, everything else is a name in code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.process_collector import ProcessCollector

from chat_server.entrypoints.observability.instruments import LabeledCounter, LabeledHistogram
from chat_server.entrypoints.socketio.connection import Connection

Source = Callable[[], Iterable[Metric]]


class ServiceMetrics:
    """The service's metrics, in a registry of their own (several apps may share a
    process, as in the tests)."""

    def __init__(self) -> None:
        self.events = LabeledCounter(
            "chat_events_received", "Client events answered, by namespace, event (one of "
            "the routes, else unknown) and status code", ("namespace", "event", "status"))
        self.event_seconds = LabeledHistogram(
            "chat_event_duration_seconds", "From dispatching a client event to answering it "
            "(the ack, or the error)", ("namespace", "event"))
        self.messages_stored = LabeledCounter(
            "chat_messages_stored", "Messages stored, by sender type", ("sender_type",))
        self.domain_events = LabeledCounter(
            "chat_domain_events", "What happened (the use cases' events), by type", ("type",))
        self.storage_seconds = LabeledHistogram(
            "chat_storage_operation_duration_seconds", "Storage calls, by repository and "
            "method", ("repository", "method"))
        self.storage_errors = LabeledCounter(
            "chat_storage_errors", "Storage calls that raised, by repository, method and "
            "error class", ("repository", "method", "error"))
        self.rate_limited = LabeledCounter(
            "chat_rate_limited", "Requests refused by a rate limit, by bucket kind", ("kind",))
        self._sources: list[Source] = []
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        ProcessCollector(namespace="", registry=self.registry)

    # --- the message path ----------------------------------------------------------------

    def event_answered(self, conn: Connection, event: str, status: int, seconds: float
                       ) -> None:
        """The dispatcher's ``EventObserver``."""
        namespace = conn.namespace
        self.events.inc((namespace, event, str(status)))
        self.event_seconds.observe((namespace, event), seconds)

    # --- scrape time ---------------------------------------------------------------------

    def watch(self, source: Source) -> None:
        """``source()`` is called at every scrape for metric families built from state."""
        self._sources.append(source)

    def collect(self) -> Iterator[Metric]:
        """The prometheus-client ``Collector`` protocol."""
        for family in (self.events, self.event_seconds, self.messages_stored,
                       self.domain_events, self.storage_seconds, self.storage_errors,
                       self.rate_limited):
            yield family.collect()
        for source in self._sources:
            yield from source()

    def render(self) -> bytes:
        """The Prometheus text exposition format."""
        return bytes(generate_latest(self.registry))
