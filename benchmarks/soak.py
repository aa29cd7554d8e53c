"""The soak benchmark: mixed traffic from a few hundred users for a few minutes, then everyone
leaves; the server's memory must come back and nothing may be left over.

    python benchmarks/soak.py [--users 300] [--duration 180] [--rate 0.5] [--settle 15]
                              [--storage mongo|memory]

``chat-server`` runs as operators run it (rate limits far above the load but on), with
``CHAT_DEBUG_STATS=1`` so that ``GET /debug/stats`` (loopback only) counts its asyncio
tasks, Engine.IO sessions and connections. Storage is SecantusDB by default: with
in-memory storage the stored messages themselves stay in the process, which is not a leak.

It runs a short warm-up round (the same traffic for 20 s) and lets the server settle, so
that the baseline includes what the first traffic allocates once (code paths, caches,
pools); then the measured round; then a settle time. Reported: RSS cold, after the warm-up
(baseline), the highest sample during traffic, after the traffic; tasks, sessions and
connections idle and after. It passes when RSS after is within 10 % of the baseline and
the counts are back to their idle values.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
import urllib.request
from typing import Any

from bench import HERE, LOADGEN_CPU, RESULTS, SECRET, Server, pinned, rss_kb, start_mongo


def stats(server: Server) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.url}/debug/stats", timeout=5) as response:
        return dict(json.load(response))


def soak(server: Server, users: int, duration: float, rate: float) -> tuple[dict[str, Any], int]:
    """One round of traffic; returns the load generator's result and the highest RSS."""
    command = pinned(LOADGEN_CPU, ["node", str(HERE / "soak.js"), "--url", server.url,
                                   "--secret", SECRET, "--users", str(users), "--duration",
                                   str(duration), "--rate", str(rate)])
    peak = [rss_kb(server.process.pid)]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1.0):
            peak[0] = max(peak[0], rss_kb(server.process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result: dict[str, Any] = {}
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 180)
        for line in out.stdout.splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
    finally:
        stop.set()
        sampler.join()
    return result, peak[0]


def settled(server: Server, idle: dict[str, Any], settle: float) -> dict[str, Any]:
    """Waits ``settle`` seconds, then up to as long again for the counts to come back."""
    time.sleep(settle)
    deadline = time.monotonic() + settle
    now = stats(server)
    while time.monotonic() < deadline and any(now[k] > idle[k] for k in idle):
        time.sleep(1)
        now = stats(server)
    return now


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--duration", type=float, default=180)
    parser.add_argument("--rate", type=float, default=0.5, help="actions per user per second")
    parser.add_argument("--settle", type=float, default=15)
    parser.add_argument("--storage", choices=["mongo", "memory"], default="mongo")
    opts = parser.parse_args()
    mongo = None
    url = None
    if opts.storage == "mongo":
        mongo, url, _ = start_mongo()
    try:
        server = Server("service", opts.storage, url, {"CHAT_DEBUG_STATS": "1"})
        try:
            time.sleep(2)
            idle = stats(server)
            cold = rss_kb(server.process.pid)
            warm, _ = soak(server, opts.users, 20, opts.rate)
            after_warm = settled(server, idle, opts.settle)
            baseline = rss_kb(server.process.pid)
            measured, peak = soak(server, opts.users, opts.duration, opts.rate)
            after = settled(server, idle, opts.settle)
            final = rss_kb(server.process.pid)
        finally:
            server.stop()
    finally:
        if mongo is not None:
            mongo.terminate()
            mongo.wait(15)
    growth = (final - baseline) / baseline
    report = {
        "users": opts.users, "durationS": opts.duration, "ratePerUser": opts.rate,
        "storage": opts.storage, "settleS": opts.settle,
        "rssKb": {"cold": cold, "baseline": baseline, "peak": peak, "after": final},
        "rssGrowthOverBaseline": round(growth, 4),
        "counts": {"idle": idle, "afterWarmup": after_warm, "after": after},
        "warmup": warm, "traffic": measured,
        "passed": growth <= 0.10 and all(after[k] <= idle[k] for k in idle)
        and not measured.get("fatal"),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k not in ("warmup",)}, indent=2))
    print(f"full results: {out}")


if __name__ == "__main__":
    main()
