"""A dead webhook receiver must not slow the chat: the steady chat of ``uploads.py``
(loadgen.js ``latency``: a few pairs, open loop at a fixed rate, send -> receive latency)
against ``chat-server`` in memory mode with

- ``none``: no webhooks configured (no dispatcher at all);
- ``refused``: ``CHAT_WEBHOOK_URL`` at a local port nothing listens on (every attempt fails
  at once with a refused connection, and is retried with backoff);
- ``hanging``: at a receiver in this process that accepts connections, reads the requests
  and never answers (every attempt holds a slot until ``CHAT_WEBHOOK_TIMEOUT_S``);

in rotating order, on fresh servers, ``--rounds`` times. Default webhook settings (timeout
5 s, concurrency 8) unless ``--env`` says otherwise. Server CPU is read from /proc at the
load generator's MARK lines, and ``GET /metrics`` (the webhook counters) at the same moments.

    .venv/bin/python benchmarks/dead_webhooks.py [--rounds 3] [--duration 30] [--pairs 4]
                                                [--rate 100] [--kinds none,refused,hanging]
                                                [--quick] [--env CHAT_X=1 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import threading
import time
import urllib.request
from typing import Any

from bench import RESULTS, Server, cpu_seconds, free_port, median, run_loadgen

WEBHOOK_SECRET = "benchmark-webhook-secret-0123456789abcdef"
KINDS = ("none", "refused", "hanging")
METRIC_LINE = re.compile(r'^(chat_webhook_\w+?)(?:_total)?(?:\{outcome="(\w+)"\})? ([0-9.e+]+)$')


class HangingReceiver:
    """Accepts connections, reads whatever comes and never answers, on a loop in a thread
    of its own. Counts connections and the requests started on them."""

    def __init__(self) -> None:
        self.port = free_port()
        self.connections = 0
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise SystemExit("the hanging receiver did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        writers: set[asyncio.StreamWriter] = set()

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writers.add(writer)
            try:
                while chunk := await reader.read(65536):
                    self.requests += chunk.count(b"POST ")
            except ConnectionError:
                pass
            finally:
                writers.discard(writer)
                writer.close()

        self._stop = asyncio.Event()
        server = await asyncio.start_server(hold, "127.0.0.1", self.port, backlog=1024)
        self._started.set()
        async with server:
            await self._stop.wait()
            for writer in list(writers):
                writer.close()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def webhook_metrics(url: str) -> dict[str, float]:
    """The ``chat_webhook_*`` samples of ``GET /metrics`` (``{}`` without webhooks)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if (match := METRIC_LINE.match(line)) is not None:
            name, outcome, value = match.groups()
            found[name[len("chat_webhook_"):] + (f".{outcome}" if outcome else "")] = float(value)
    return found


def one_run(kind: str, opts: argparse.Namespace) -> dict[str, Any]:
    receiver = HangingReceiver() if kind == "hanging" else None
    env: dict[str, str] = {}
    if kind != "none":
        port = receiver.port if receiver is not None else free_port()  # nothing listens there
        env.update(CHAT_WEBHOOK_URL=f"http://127.0.0.1:{port}/hooks/chat",
                   CHAT_WEBHOOK_SECRET=WEBHOOK_SECRET)
    env.update(dict(pair.split("=", 1) for pair in opts.env))
    server = Server("service", extra_env=env)
    samples: dict[str, tuple[float, float, dict[str, float]]] = {}

    def on_mark(name: str) -> None:
        samples[name] = (time.monotonic(), cpu_seconds(server.process.pid),
                         webhook_metrics(server.url))

    try:
        args = ["--pairs", str(opts.pairs), "--rate", str(opts.rate), "--duration",
                str(opts.duration), "--warmup", str(opts.warmup)]
        result = run_loadgen(server, "latency", args, on_mark=on_mark)
        result["webhooksAfterDrain"] = webhook_metrics(server.url)
    finally:
        server.stop()
        if receiver is not None:
            receiver.close()
    if "start" in samples and "end" in samples:
        (t0, c0, m0), (t1, c1, m1) = samples["start"], samples["end"]
        result["webhooksInWindow"] = {k: round(v - m0.get(k, 0.0)) for k, v in m1.items()}
        delivered = result.get("deliveredInWindow") or 0
        # Measured here, not in run_loadgen, so that it spans exactly the metrics samples.
        result["cpuUsPerMessage"] = round(1e6 * (c1 - c0) / delivered, 1) if delivered else None
        result["cpuPercent"] = round(100 * (c1 - c0) / (t1 - t0), 1)
    if receiver is not None:
        result["receiver"] = {"connections": receiver.connections, "requests": receiver.requests}
    return result


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for kind, results in runs.items():
        summary[kind] = {
            "p50": median(results, "latencyMs", "p50"), "p99": median(results, "latencyMs", "p99"),
            "p99Rounds": [r.get("latencyMs", {}).get("p99") for r in results],
            "cpuUsPerMessage": median(results, "cpuUsPerMessage"),
            "cpuPercent": median(results, "cpuPercent"),
            "lost": sum(r.get("lost", 0) for r in results),
            "errors": sum(r.get("errors", 0) for r in results),
        }
    base = summary.get("none", {})
    for kind in runs:
        if kind != "none" and base.get("p99") and summary[kind]["p99"] is not None:
            summary[kind]["p99VsNone"] = round(summary[kind]["p99"] / base["p99"], 2)
            summary[kind]["cpuVsNone"] = round(
                summary[kind]["cpuUsPerMessage"] / base["cpuUsPerMessage"], 2)
    # Per round: the runs of a round are a couple of minutes apart on the same machine.
    summary["p99RatiosPerRound"] = {} if "none" not in runs else {
        kind: [round(b["latencyMs"]["p99"] / a["latencyMs"]["p99"], 2)
               for a, b in zip(runs["none"], runs[kind], strict=False)
               if a.get("latencyMs", {}).get("p99") and b.get("latencyMs", {}).get("p99")]
        for kind in runs if kind != "none"}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--rate", type=int, default=100, help="chat messages per second")
    parser.add_argument("--env", action="append", default=[], help="CHAT_X=value for the server")
    parser.add_argument("--kinds", default=",".join(KINDS), help="a subset of " + ",".join(KINDS))
    parser.add_argument("--quick", action="store_true")
    opts = parser.parse_args()
    kinds = tuple(k for k in KINDS if k in opts.kinds.split(","))
    if opts.quick:
        opts.rounds, opts.duration, opts.warmup = 1, 5, 1
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for n in range(opts.rounds):
        shift = n % len(kinds)
        for kind in kinds[shift:] + kinds[:shift]:  # each kind comes first in turn
            r = one_run(kind, opts)
            runs[kind].append(r)
            lat = r.get("latencyMs", {})
            print(f"  round {n + 1} {kind}: latency p50 {lat.get('p50')} p99 {lat.get('p99')} "
                  f"max {lat.get('max')} ms, lost {r.get('lost')}, errors {r.get('errors')}; "
                  f"server CPU {r.get('cpuPercent')} %, {r.get('cpuUsPerMessage')} us/msg; "
                  f"webhooks in window {r.get('webhooksInWindow')}; "
                  f"receiver {r.get('receiver')}", flush=True)
    report = {"options": vars(opts), "summary": summarize(runs), "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"dead-webhooks-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report["summary"], indent=2))
    print(f"full results: {out}")


if __name__ == "__main__":
    main()
