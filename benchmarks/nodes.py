"""Two nodes behind Redis against one node: total server CPU per delivered message.

    python benchmarks/nodes.py [--rounds 3] [--rate 1000] [--pairs 50] [--duration 10]
                               [--setups one,routed,broadcast] [--storage memory|mongo]

Scenario 2's open loop (a fixed rate of sends, the same offered load for every setup), in
alternating rounds. Storage: ``memory`` (the default) runs each node on in-memory storage
with Redis coordination (``memory_node.py``: each node keeps its own copy of the chats, so
the figures are the nodes' own work and Redis', not a storage server's); ``mongo`` runs
them on SecantusDB, which stores a few hundred messages per second here at best and then
bounds everything. The setups:

- ``one``: one node;
- ``routed``: two nodes and Redis, customers on one and vendors on the other, so every
  message and receipt crosses nodes (``CHAT_CROSS_NODE=routed``, the default);
- ``broadcast``: the same with python-socketio's Redis manager (``CHAT_CROSS_NODE=broadcast``).

The figure is the CPU time (utime + stime from /proc) of every node and of Redis in the
measured window, divided by the messages delivered to recipients in it; SecantusDB's CPU is
reported apart (it is the same storage work in every setup). Every server process, Redis
and SecantusDB are pinned to CPU 0, the load generator to CPU 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from typing import Any

from bench import (
    HERE,
    LOADGEN_CPU,
    RESULTS,
    SECRET,
    Server,
    cpu_seconds,
    machine,
    median,
    pinned,
    start_mongo,
    start_redis,
)


def run(servers: list[Server], extra: dict[str, int], args: list[str]) -> dict[str, Any]:
    urls = ["--url", servers[0].url] + (["--url2", servers[1].url] if len(servers) > 1 else [])
    command = pinned(LOADGEN_CPU, ["node", str(HERE / "loadgen.js"), "latency", *urls,
                                   "--secret", SECRET, *args])
    pids = {f"node{n}": s.process.pid for n, s in enumerate(servers)} | extra
    marks: dict[str, dict[str, float]] = {}
    result: dict[str, Any] = {}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as loadgen:
        assert loadgen.stdout is not None
        for line in loadgen.stdout:
            if line.startswith("MARK "):
                marks[line.split()[1]] = {name: cpu_seconds(pid) for name, pid in pids.items()}
            elif line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
        loadgen.wait(30)
    if "start" in marks and "end" in marks and result.get("deliveredInWindow"):
        used = {name: marks["end"][name] - marks["start"][name] for name in pids}
        result["cpuSeconds"] = {k: round(v, 3) for k, v in used.items()}
        servers_cpu = sum(v for k, v in used.items() if k != "mongo")
        result["serverCpuUsPerDelivered"] = round(1e6 * servers_cpu / result["deliveredInWindow"], 1)
        if "mongo" in used:
            result["mongoCpuUsPerDelivered"] = round(
                1e6 * used["mongo"] / result["deliveredInWindow"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--setups", default="one,routed,broadcast")
    parser.add_argument("--storage", choices=["memory", "mongo"], default="memory")
    opts = parser.parse_args()
    setups = opts.setups.split(",")
    args = ["--pairs", str(opts.pairs), "--rate", str(opts.rate), "--duration",
            str(opts.duration), "--warmup", "3"]
    mongo, mongo_url = start_mongo()[:2] if opts.storage == "mongo" else (None, None)
    redis, redis_url = start_redis()
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in setups}
    try:
        for n in range(opts.rounds):
            for setup in setups:
                db = {"CHAT_MONGO_DB": f"bench_nodes_{os.getpid()}_{setup}_{n}"}
                extra = {"mongo": mongo.pid} if mongo is not None else {}
                storage, url = ("mongo", mongo_url) if mongo is not None else ("memory", None)
                if setup == "one":
                    servers = [Server("service", storage, url, db)]
                else:
                    env = {**db, "CHAT_REDIS_URL": redis_url, "CHAT_TRANSPORTS": "websocket",
                           "CHAT_CROSS_NODE": setup}
                    if mongo is None:  # loaded as mongo, run on memory: memory_node.py
                        env["CHAT_MONGO_URL"] = "mongodb://127.0.0.1:1/?retryWrites=false"
                    kind = "service" if mongo is not None else "memory-node"
                    servers = [Server(kind, "mongo", url or env["CHAT_MONGO_URL"], env)
                               for _ in range(2)]
                    extra["redis"] = redis.pid
                try:
                    result = run(servers, extra, args)
                finally:
                    for server in servers:
                        server.stop()
                runs[setup].append(result)
                print(f"  round {n + 1} {setup}: {result.get('serverCpuUsPerDelivered')} µs/msg, "
                      f"{result.get('deliveredPerSecond')} msg/s, p99 "
                      f"{result.get('latencyMs', {}).get('p99')} ms, lost {result.get('lost')}, "
                      f"errors {result.get('errors')}, cpu {result.get('cpuSeconds')}", flush=True)
    finally:
        for process in (mongo, redis):
            if process is not None:
                process.terminate()
                process.wait(15)

    summary = {s: {"serverCpuUsPerDelivered": median(runs[s], "serverCpuUsPerDelivered"),
                   "perRound": [r.get("serverCpuUsPerDelivered") for r in runs[s]],
                   "mongoCpuUsPerDelivered": median(runs[s], "mongoCpuUsPerDelivered"),
                   "deliveredPerSecond": median(runs[s], "deliveredPerSecond"),
                   "p99": median(runs[s], "latencyMs", "p99"), "lost": median(runs[s], "lost"),
                   "errors": median(runs[s], "errors")} for s in setups}
    one = summary.get("one", {}).get("serverCpuUsPerDelivered")
    for s in setups:
        value = summary[s]["serverCpuUsPerDelivered"]
        summary[s]["overOneNode"] = round(value / one, 2) if one and value else None
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"nodes-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"machine": machine(), "args": args, "storage": opts.storage,
                               "summary": summary,
                               "runs": runs}, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"full results: {out}")


if __name__ == "__main__":
    main()
