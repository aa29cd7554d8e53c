"""Runs the benchmark scenarios of docs/performance.md and prints the results table.

The server (``chat-server`` as operators run it, or a bare relay) is pinned to CPU 0 and
the load generator (Node, the official socket.io-client) to CPU 1. Scenarios 1 and 2 run
baseline and service alternately, ``--rounds`` times each, and compare medians. Server CPU
and RSS are read from /proc at the load generator's MARK lines.

The baseline is the bare python-socketio relay (``baseline_relay.py``) unless ``--baseline``
names another: ``python-lean`` (the same relay on the service's Engine.IO layer) or
``node`` (the same relay on Node's socket.io server, ``node_relay.js``). Scenario 6 runs one
load (by default scenario 2's fixed rate, the same for every server) against all of them and
the service on both Engine.IO transports, in alternating rounds, and reports the server's
CPU time per delivered message.

    python benchmarks/bench.py [--quick] [--rounds 3] [--scenarios 1,2,3,4,5,6]
                               [--storage memory,mongo] [--baseline python|python-lean|node]
                               [--transport-load latency|throughput] [--rate 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SECRET = "benchmark-secret-0123456789-abcdefgh"
HIGH = "1000000/10s"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The cores the server and the load generator are pinned to (swap them when another job
# holds one: the load generator needs a core of its own to saturate a server).
SERVER_CPU = int(os.environ.get("BENCH_SERVER_CPU", "0"))
LOADGEN_CPU = int(os.environ.get("BENCH_LOADGEN_CPU", "1"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def pinned(cpu: int, command: list[str]) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(cpu), *command] if taskset and (os.cpu_count() or 1) > 1 else command


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# The relays (no storage, no rules) and the service's variants, by name.
RELAYS = {
    "baseline": ["--engine", "stock"],  # bare python-socketio, one task per event
    "baseline-lean": ["--engine", "lean"],  # the same on the service's Engine.IO layer
    "baseline-lean-inline": ["--engine", "lean", "--inline"],  # ... and async_handlers=False
}
SERVICE_TRANSPORTS = {"service-stock": "stock", "service-lean": "lean"}
BASELINES = {"python": "baseline", "python-lean": "baseline-lean", "node": "node"}
# Scenario 6, in the order each round runs them.
TRANSPORT_KINDS = ["node", "baseline", "baseline-lean", "baseline-lean-inline", "service-stock",
                   "service-lean"]


class Server:
    def __init__(self, kind: str, storage: str = "memory", mongo_url: str | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        bin_dir = Path(sys.executable).parent
        if kind in RELAYS:
            command = [sys.executable, str(HERE / "baseline_relay.py"), str(self.port),
                       *RELAYS[kind]]
            env = dict(os.environ)
        elif kind == "node":
            command = ["node", str(HERE / "node_relay.js"), str(self.port)]
            env = dict(os.environ)
        else:
            command = ([sys.executable, str(HERE / "memory_node.py")] if kind == "memory-node"
                       else [str(bin_dir / "chat-server")])  # memory-node: nodes.py
            env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
            env.update(CHAT_PORT=str(self.port), CHAT_JWT_SECRET=SECRET, CHAT_LOG_LEVEL="warning",
                       CHAT_SEND_RATE=HIGH, CHAT_SEND_BURST="1000000", CHAT_REQUEST_RATE=HIGH,
                       CHAT_REQUEST_BURST="1000000", CHAT_STORAGE=storage)
            if storage == "mongo":
                assert mongo_url is not None
                env.update(CHAT_MONGO_URL=mongo_url,
                           CHAT_MONGO_DB=f"bench_{os.getpid()}_{int(time.time() * 1000)}")
            if kind in SERVICE_TRANSPORTS:
                env["CHAT_TRANSPORT_IMPL"] = SERVICE_TRANSPORTS[kind]
            env.update(extra_env or {})
        # Kept open for the server process lifetime; the file stays for a look after a failure.
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix=f"bench-{kind}-", suffix=".log", delete=False)
        self.process = subprocess.Popen(pinned(SERVER_CPU, command), env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self._up():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{kind} did not start: see {self.log.name}")
            time.sleep(0.1)

    def _up(self) -> bool:
        try:
            probe = ("/socket.io/?EIO=4&transport=polling"
                     if self.kind in RELAYS or self.kind == "node" else "/healthz")
            with urllib.request.urlopen(f"{self.url}{probe}", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def run_loadgen(server: Server, scenario: str, args: list[str], timeout: float = 900,
                on_mark: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Runs one scenario; samples the server's CPU and RSS at the MARK lines (and calls
    ``on_mark(name)`` there, for a caller that samples more)."""
    command = pinned(LOADGEN_CPU, ["node", str(HERE / "loadgen.js"), scenario, "--url", server.url,
                         "--secret", SECRET, *args])
    marks: dict[str, tuple[float, float, int]] = {}
    result: dict[str, Any] = {}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as loadgen:
        assert loadgen.stdout is not None
        deadline = time.monotonic() + timeout
        for line in loadgen.stdout:
            if line.startswith("MARK "):
                name = line.split()[1]
                pid = server.process.pid
                marks[name] = (time.monotonic(), cpu_seconds(pid), rss_kb(pid))
                if on_mark is not None:
                    on_mark(name)
            elif line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
            if time.monotonic() > deadline:
                loadgen.kill()
                break
        loadgen.wait(30)
    if "start" in marks and "end" in marks:
        (t0, c0, _), (t1, c1, r1) = marks["start"], marks["end"]
        result["serverCpuPercent"] = round(100 * (c1 - c0) / max(t1 - t0, 1e-9), 1)
        result["serverRssMb"] = round(r1 / 1024, 1)
        delivered = result.get("deliveredPerSecond")
        if delivered and c1 > c0:
            result["deliveredPerServerCoreSecond"] = round(delivered / ((c1 - c0) / (t1 - t0)))
        if result.get("deliveredInWindow"):
            result["serverCpuUsPerDelivered"] = round(
                1e6 * (c1 - c0) / result["deliveredInWindow"], 1)
    if "idle" in marks and "connected" in marks:
        idle, connected = marks["idle"][2], marks["connected"][2]
        result["serverRssIdleMb"] = round(idle / 1024, 1)
        result["serverRssConnectedMb"] = round(connected / 1024, 1)
        served = result.get("served") or 1
        result["rssPerUserKb"] = round((connected - idle) / served, 1)
    return result


def start_mongo() -> tuple[subprocess.Popen[bytes], str, Path]:
    data = Path(tempfile.mkdtemp(prefix="bench-secantusdb-"))
    port = free_port()
    binary = Path(sys.executable).with_name("secantusd-py")
    process = subprocess.Popen(pinned(SERVER_CPU, [str(binary), "--host", "127.0.0.1", "--port", str(port),
                                          "--storage-path", str(data / "db")]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"mongodb://127.0.0.1:{port}/?retryWrites=false"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, url, data
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("SecantusDB did not start") from None
            time.sleep(0.2)


def alternate(scenario: str, args: list[str], rounds: int, baseline: str = "baseline",
              kinds: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """``kinds`` run in turn, ``rounds`` times; the runs are keyed by kind, except that
    ``baseline`` (the server named by --baseline) is keyed "baseline"."""
    kinds = kinds or [baseline, "service"]
    runs: dict[str, list[dict[str, Any]]] = {}
    for n in range(rounds):
        for kind in kinds:
            server = Server(kind)
            try:
                result = run_loadgen(server, scenario, args)
            finally:
                server.stop()
            runs.setdefault("baseline" if kind == baseline else kind, []).append(result)
            print(f"  {scenario} round {n + 1} {kind}: {result.get('deliveredPerSecond')} msg/s, "
                  f"p99 {result.get('latencyMs', {}).get('p99')} ms, lost {result.get('lost')}, "
                  f"errors {result.get('errors')}, server CPU "
                  f"{result.get('serverCpuUsPerDelivered')} µs/delivered", flush=True)
    return runs


def median(runs: list[dict[str, Any]], *path: str) -> float | None:
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            values.append(value)
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="every scenario at small scale")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", default="1,2,3,4,5")
    parser.add_argument("--storage", default="memory,mongo", help="storages for scenario 4")
    parser.add_argument("--baseline", choices=sorted(BASELINES), default="python",
                        help="the relay that scenarios 1-3 compare the service with")
    parser.add_argument("--transport-load", choices=["latency", "throughput"],
                        default="latency", help="scenario 6: fixed rate, or saturating")
    parser.add_argument("--rate", type=int, default=1000, help="scenario 6's fixed rate")
    parser.add_argument("--latency-rate", type=int, default=1000, help="scenario 2's rate")
    opts = parser.parse_args()
    baseline = BASELINES[opts.baseline]
    quick = opts.quick
    rounds = 1 if quick else opts.rounds
    wanted = set(opts.scenarios.split(","))
    report: dict[str, Any] = {"machine": machine(), "quick": quick, "rounds": rounds,
                              "baseline": baseline}

    if "1" in wanted:
        args = ["--pairs", "50", "--duration", "3" if quick else "10", "--warmup", "1" if quick else "3"]
        runs = alternate("throughput", args, rounds, baseline)
        report["throughput"] = summarize(runs)
    if "2" in wanted:
        args = ["--pairs", "100", "--rate", str(opts.latency_rate), "--duration", "3" if quick else "10",
                "--warmup", "1" if quick else "3"]
        runs = alternate("latency", args, rounds, baseline)
        report["latency"] = summarize(runs)
    if "3" in wanted:
        report["connections"] = {}
        for kind, key in ((baseline, "baseline"), ("service", "service")):
            server = Server(kind)
            try:
                users = "500" if quick else "5000"
                c = run_loadgen(server, "connections", ["--users", users, "--concurrency", "100"])
            finally:
                server.stop()
            report["connections"][key] = c
            print(f"  connections {kind}: {c.get('served')}/{c.get('users')} served, connect p99 "
                  f"{c.get('connectMs', {}).get('p99')} ms, {c.get('rssPerUserKb')} KB/user",
                  flush=True)
    if "4" in wanted:
        report["history"] = {}
        for storage in opts.storage.split(","):
            mongo = None
            try:
                url = None
                if storage == "mongo":
                    mongo, url, _ = start_mongo()
                server = Server("service", storage, url)
                try:
                    # SecantusDB (the only MongoDB-compatible server here) stores about 250
                    # messages/s on the server's core: 20,000 keep the fill to a few minutes.
                    full = "100000" if storage == "memory" else os.environ.get(
                        "BENCH_MONGO_MESSAGES", "20000")
                    messages = "2000" if quick else full
                    h = run_loadgen(server, "history", ["--messages", messages, "--small", "100",
                                                        "--samples", "50" if quick else "200",
                                                        "--deadline", "1700"],
                                    timeout=1800)
                finally:
                    server.stop()
            finally:
                if mongo is not None:
                    mongo.terminate()
                    mongo.wait(15)
            report["history"][storage] = h
            ratios = {op: v.get("ratioP50") for op, v in h.get("operations", {}).items()}
            print(f"  history on {storage}: ratios large/small {ratios}, "
                  f"fill {h.get('fillSeconds')}", flush=True)

    if "5" in wanted:
        report["nodes"] = two_nodes(quick)
    if "6" in wanted:
        # The same offered load for every server (open loop, fixed rate), so that the CPU
        # per message compares like with like; a closed loop gives a faster server more
        # load and bigger batches. --transport-load throughput saturates each one instead.
        if opts.transport_load == "latency":
            args = ["--pairs", "100", "--rate", str(opts.rate), "--duration",
                    "3" if quick else "10", "--warmup", "1" if quick else "3"]
        else:
            args = ["--pairs", "50", "--duration", "3" if quick else "10",
                    "--warmup", "1" if quick else "3"]
        runs = alternate(opts.transport_load, args, rounds, kinds=TRANSPORT_KINDS)
        report["transportLoad"] = {"scenario": opts.transport_load, "args": args}
        report["transports"] = {kind: {
            "serverCpuUsPerDelivered": median(runs[kind], "serverCpuUsPerDelivered"),
            "perRound": [r.get("serverCpuUsPerDelivered") for r in runs[kind]],
            "deliveredPerSecond": median(runs[kind], "deliveredPerSecond"),
            "p99": median(runs[kind], "latencyMs", "p99"),
            "lost": median(runs[kind], "lost"), "errors": median(runs[kind], "errors"),
            "runs": runs[kind]} for kind in TRANSPORT_KINDS}

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if quick else ''}.json"
    out.write_text(json.dumps(report, indent=2))
    print(table(report))
    print(f"\nfull results: {out}")


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is missing: make system-deps")
    port = free_port()
    process = subprocess.Popen(pinned(SERVER_CPU, [binary, "--port", str(port), "--bind", "127.0.0.1",
                                          "--save", "", "--appendonly", "no"]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    return process, f"redis://127.0.0.1:{port}/0"


def two_nodes(quick: bool) -> dict[str, Any]:
    """Scenario 1 on MongoDB storage: one node, then two nodes behind Redis with customers
    on one and vendors on the other, so every message crosses nodes."""
    args = ["--pairs", "50", "--duration", "3" if quick else "10", "--warmup", "1" if quick else "3"]
    mongo, mongo_url, _ = start_mongo()
    redis, redis_url = start_redis()
    out: dict[str, Any] = {}
    try:
        one = Server("service", "mongo", mongo_url)
        try:
            out["oneNode"] = run_loadgen(one, "throughput", args)
        finally:
            one.stop()
        db = {"CHAT_MONGO_DB": f"bench_nodes_{os.getpid()}", "CHAT_REDIS_URL": redis_url,
              "CHAT_TRANSPORTS": "websocket"}
        a = Server("service", "mongo", mongo_url, db)
        b = Server("service", "mongo", mongo_url, db)
        try:
            out["twoNodes"] = run_loadgen(a, "throughput", [*args, "--url2", b.url])
        finally:
            a.stop()
            b.stop()
    finally:
        for process in (mongo, redis):
            process.terminate()
            process.wait(15)
    for name in ("oneNode", "twoNodes"):
        r = out[name]
        print(f"  {name}: {r.get('deliveredPerSecond')} msg/s, p99 "
              f"{r.get('latencyMs', {}).get('p99')} ms, lost {r.get('lost')}, errors "
              f"{r.get('errors')}", flush=True)
    return out


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    keys = {"deliveredPerSecond": ("deliveredPerSecond",), "p50": ("latencyMs", "p50"),
            "p95": ("latencyMs", "p95"), "p99": ("latencyMs", "p99"), "max": ("latencyMs", "max"),
            "lost": ("lost",), "errors": ("errors",), "serverCpuPercent": ("serverCpuPercent",),
            "serverRssMb": ("serverRssMb",),
            "deliveredPerServerCoreSecond": ("deliveredPerServerCoreSecond",)}
    out: dict[str, Any] = {"runs": runs}
    for kind in ("baseline", "service"):
        out[kind] = {name: median(runs[kind], *path) for name, path in keys.items()}
    b, s = out["baseline"], out["service"]
    out["ratio"] = {
        "delivered": round(s["deliveredPerSecond"] / b["deliveredPerSecond"], 2)
        if b["deliveredPerSecond"] and s["deliveredPerSecond"] else None,
        "p99": round(s["p99"] / b["p99"], 2) if b["p99"] and s["p99"] else None,
    }
    return out


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip()
                  for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown")
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": model, "cpus": os.cpu_count(), "python": sys.version.split()[0], "node": node}


def table(report: dict[str, Any]) -> str:
    lines = ["", "| scenario | metric | baseline | service | ratio |", "|---|---|---|---|---|"]
    for name in ("throughput", "latency"):
        r = report.get(name)
        if not r:
            continue
        b, s = r["baseline"], r["service"]
        lines.append(f"| {name} | delivered msg/s | {b['deliveredPerSecond']} | "
                     f"{s['deliveredPerSecond']} | {r['ratio']['delivered']} |")
        lines.append(f"| {name} | latency p50/p95/p99/max ms | {b['p50']}/{b['p95']}/{b['p99']}/"
                     f"{b['max']} | {s['p50']}/{s['p95']}/{s['p99']}/{s['max']} | "
                     f"p99 {r['ratio']['p99']} |")
        lines.append(f"| {name} | lost / errors | {b['lost']} / {b['errors']} | {s['lost']} / "
                     f"{s['errors']} | |")
        lines.append(f"| {name} | server CPU % / RSS MB | {b['serverCpuPercent']} / "
                     f"{b['serverRssMb']} | {s['serverCpuPercent']} / {s['serverRssMb']} | |")
    conns = report.get("connections")
    if conns:
        cells = [f"{c.get('served')}/{c.get('users')} / {c.get('connectMs', {}).get('p99')} / "
                 f"{c.get('rssPerUserKb')}" for c in (conns.get("baseline", {}), conns["service"])]
        lines.append(f"| connections | served / connect p99 ms / KB RSS per user | {cells[0]} | "
                     f"{cells[1]} | |")
    nodes = report.get("nodes")
    if nodes:
        for name in ("oneNode", "twoNodes"):
            r = nodes[name]
            lines.append(f"| throughput on MongoDB, {name} | delivered msg/s, p99 ms, lost | | "
                         f"{r.get('deliveredPerSecond')}, {r.get('latencyMs', {}).get('p99')}, "
                         f"{r.get('lost')} | |")
    for kind, t in (report.get("transports") or {}).items():
        lines.append(f"| transports | {kind}: server CPU µs per delivered message (rounds), "
                     f"msg/s, p99 ms, lost | {t['serverCpuUsPerDelivered']} ({t['perRound']}) | "
                     f"{t['deliveredPerSecond']}, {t['p99']}, {t['lost']} | |")
    for storage, h in (report.get("history") or {}).items():
        for op, v in (h.get("operations") or {}).items():
            lines.append(f"| history ({storage}) | {op} p50 ms, {h['messages']['small']} vs "
                         f"{h['messages']['large']} messages | {v['smallMs']['p50']} | "
                         f"{v['largeMs']['p50']} | {v['ratioP50']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
