"""The operations settings, the metric instruments' exposition, the webhook stats as
metrics, and the log filters (no query string, no WebSocket frame dumps)."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chat_server.application.webhooks import DispatchStats
from chat_server.entrypoints.observability.instruments import LabeledHistogram
from chat_server.entrypoints.observability.logs import HideQueryStrings, JsonFormatter
from chat_server.entrypoints.observability.metrics import ServiceMetrics
from chat_server.entrypoints.observability.sources import watch_webhooks
from chat_server.entrypoints.settings import ConfigError, Settings

JWT = {"CHAT_JWT_SECRET": "unit-tests-secret-0123456789-abcdef"}


def test_operations_settings_have_the_documented_defaults_and_are_read():
    default = Settings.load(JWT)
    assert (default.metrics, default.log_format, default.access_log, default.drain_s) == (
        True, "text", False, 10.0)
    custom = Settings.load({**JWT, "CHAT_METRICS": "0", "CHAT_LOG_FORMAT": "JSON",
                            "CHAT_ACCESS_LOG": "1", "CHAT_DRAIN_S": "2.5"})
    assert (custom.metrics, custom.log_format, custom.access_log, custom.drain_s) == (
        False, "json", True, 2.5)


@pytest.mark.parametrize(("env", "names"), [
    ({"CHAT_LOG_FORMAT": "xml"}, "CHAT_LOG_FORMAT"),
    ({"CHAT_METRICS": "maybe"}, "CHAT_METRICS"),
    ({"CHAT_DRAIN_S": "-1"}, "CHAT_DRAIN_S"),
    ({"CHAT_ACCESS_LOG": "yes please"}, "CHAT_ACCESS_LOG"),
])
def test_bad_operations_settings_are_refused_in_one_line(env: dict[str, str], names: str):
    with pytest.raises(ConfigError, match=names):
        Settings.load({**JWT, **env})


def exposed(metrics: ServiceMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_histogram_counts_a_value_equal_to_a_bound_in_that_bucket_and_is_cumulative():
    metrics = ServiceMetrics()
    histogram = LabeledHistogram("chat_test_seconds", "test", ("op",), buckets=(0.1, 1.0))
    metrics.watch(lambda: [histogram.collect()])
    for seconds in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(("x",), seconds)
    found = exposed(metrics)
    buckets = {le: found[("chat_test_seconds_bucket", (("le", le), ("op", "x")))]
               for le in ("0.1", "1.0", "+Inf")}
    assert buckets == {"0.1": 2, "1.0": 3, "+Inf": 4}
    assert found[("chat_test_seconds_count", (("op", "x"),))] == 4
    assert found[("chat_test_seconds_sum", (("op", "x"),))] == pytest.approx(3.65)


def test_webhook_stats_are_exposed_by_outcome_as_they_change():
    metrics, stats = ServiceMetrics(), DispatchStats()
    down = [False]
    watch_webhooks(metrics, stats, lambda: down[0])
    stats.delivered, stats.retried, stats.gave_up, stats.errors = 5, 2, 1, 3
    found = exposed(metrics)
    assert found[("chat_webhook_deliveries_total", (("outcome", "delivered"),))] == 5
    assert found[("chat_webhook_deliveries_total", (("outcome", "retried"),))] == 2
    assert found[("chat_webhook_deliveries_total", (("outcome", "gave_up"),))] == 1
    assert found[("chat_webhook_deliveries_total", (("outcome", "dropped"),))] == 0
    assert found[("chat_webhook_outbox_errors_total", ())] == 3
    assert found[("chat_webhook_receiver_down", ())] == 0
    stats.circuit_opened, down[0] = 1, True
    found = exposed(metrics)
    assert found[("chat_webhook_circuit_opened_total", ())] == 1
    assert found[("chat_webhook_receiver_down", ())] == 1
    stats.delivered += 1  # read at scrape time
    assert exposed(metrics)[("chat_webhook_deliveries_total", (("outcome", "delivered"),))] == 6


def record(name: str, msg: str, *args: object, level: int = logging.INFO,
           path: str = "/x/uvicorn/protocols/websockets/websockets_impl.py") -> logging.LogRecord:
    return logging.LogRecord(name, level, path, 1, msg, args, None)


def test_query_strings_are_cut_from_uvicorn_records_and_websocket_dumps_dropped():
    hide = HideQueryStrings()
    handshake = record("uvicorn.error", '%s - "WebSocket %s" [accepted]', "127.0.0.1:5",
                       "/socket.io/?EIO=4&transport=websocket&token=secret.jwt.here")
    assert hide.filter(handshake)
    assert handshake.getMessage() == '127.0.0.1:5 - "WebSocket /socket.io/" [accepted]'
    frame = record("uvicorn.error", "< TEXT %s [%d bytes]", "'42/chat,...'", 30,
                   level=logging.DEBUG, path="/venv/site-packages/websockets/protocol.py")
    assert not hide.filter(frame)
    ours = record("chat_server.gateway", "kept %s", "/a?b=c")
    assert hide.filter(ours) and ours.getMessage() == "kept /a?b=c"


def test_a_json_line_has_the_documented_fields_and_nothing_else_of_the_record():
    line = record("chat_server.gateway", "event %r failed", "sendMessage")
    line.__dict__.update(event="sendMessage", status=500, sid="abc", password="never")
    entry = json.loads(JsonFormatter().format(line))
    assert set(entry) == {"time", "level", "logger", "message", "event", "status", "sid"}
    assert entry["time"].endswith("Z") and entry["level"] == "INFO"
    assert entry["message"] == "event 'sendMessage' failed"
