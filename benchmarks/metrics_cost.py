"""What the metrics cost on the message path: scenario 1's load (50 pairs, at most 10
unacknowledged sends per pair) against ``chat-server`` with ``CHAT_METRICS=0`` and with
``CHAT_METRICS=1``, in alternating rounds; the figure is the server's CPU time per message
delivered to a recipient (docs/performance.md, "Metrics").

    python benchmarks/metrics_cost.py [--rounds 5] [--duration 10] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from bench import RESULTS, Server, run_loadgen

KINDS = {"metrics off": {"CHAT_METRICS": "0"}, "metrics on": {"CHAT_METRICS": "1"}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--quick", action="store_true")
    opts = parser.parse_args()
    rounds, duration = (1, 3) if opts.quick else (opts.rounds, opts.duration)
    args = ["--pairs", "50", "--duration", str(duration), "--warmup", "1" if opts.quick else "3"]
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for n in range(rounds):
        # Alternate which goes first, so that a slow spell of the machine hits both.
        order = list(KINDS) if n % 2 == 0 else list(reversed(KINDS))
        for kind in order:
            server = Server("service", extra_env=KINDS[kind])
            try:
                result = run_loadgen(server, "throughput", args)
            finally:
                server.stop()
            runs[kind].append(result)
            print(f"  round {n + 1} {kind}: {result.get('serverCpuUsPerDelivered')} µs/delivered, "
                  f"{result.get('deliveredPerSecond')} msg/s, lost {result.get('lost')}, "
                  f"errors {result.get('errors')}", flush=True)
    summary = {}
    for kind, results in runs.items():
        cpu = [r["serverCpuUsPerDelivered"] for r in results if r.get("serverCpuUsPerDelivered")]
        rate = [r["deliveredPerSecond"] for r in results if r.get("deliveredPerSecond")]
        summary[kind] = {"cpuUsPerDelivered": statistics.median(cpu) if cpu else None,
                         "perRound": cpu, "deliveredPerSecond": statistics.median(rate) if rate
                         else None, "lost": sum(r.get("lost") or 0 for r in results),
                         "errors": sum(r.get("errors") or 0 for r in results)}
    off, on = (summary[k]["cpuUsPerDelivered"] for k in KINDS)
    # Paired by round: each round ran both within a minute of each other.
    paired = [b / a - 1 for a, b in zip(summary["metrics off"]["perRound"],
                                        summary["metrics on"]["perRound"], strict=False)]
    report = {"args": args, "rounds": rounds, "summary": summary,
              "costMedian": on / off - 1 if off and on else None,
              "costPerRound": paired}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"metrics-cost-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({**report, "runs": runs}, indent=2))
    print(json.dumps(report, indent=2))
    print(f"full results: {out}")


if __name__ == "__main__":
    main()
