"""Uploads must not hurt chat latency (issue 15): a steady chat between a few pairs of
Socket.IO clients (loadgen.js ``latency``: open loop, fixed rate, send -> receive latency)
against ``chat-server``, alone and while ``--uploaders`` clients upload 8-megapixel JPEGs
in a loop (``POST /api/v1/me/uploads``), in alternating rounds on fresh servers. Default
media settings (``CHAT_MEDIA_WORKERS=2``, queue 8); ``CHAT_UPLOAD_RATE=off`` so that the
per-user upload limit does not pace the uploaders.

The server and its media workers are pinned to one core (``BENCH_SERVER_CPU``, 0), the
chat load generator and the uploaders to the other (``BENCH_LOADGEN_CPU``): the media
workers compete with the event loop for that one core, the hardest case. ``--server-cpus
0,1`` lets the server's processes use both. Server CPU is read from /proc at the load
generator's MARK lines: the main process (the event loop and its threads) and its
descendants (the media worker processes) apart.

    .venv/bin/python benchmarks/uploads.py [--rounds 4] [--duration 30] [--pairs 4]
                                          [--rate 100] [--uploaders 4] [--quick]
                                          [--server-cpus 0] [--env CHAT_X=1 ...]
                                          [--renice-workers 10]

``--renice-workers N`` is an experiment: it renices the media worker processes after the
server started (the server has no such setting). The photo is made once per invocation in a
temporary directory and removed at the end; results go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench
from bench import CLK_TCK, LOADGEN_CPU, RESULTS, SECRET, Server, pinned, run_loadgen

PHOTO_SIZE = (3264, 2448)  # 8 megapixels


# ---------------------------------------------------------------- the photo and the uploaders

def make_photo(path: Path) -> int:
    """A 3264x2448 JPEG of gradients and full-resolution noise: about 2.5 MB, like a phone
    photo, so that decoding and re-encoding it cost what a real one costs."""
    from PIL import Image

    gradient = Image.linear_gradient("L").resize(PHOTO_SIZE)
    noise = [Image.effect_noise(PHOTO_SIZE, 20) for _ in range(2)]
    image = Image.merge("RGB", (Image.blend(gradient, noise[0], 0.5), noise[1],
                                gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    path.write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def user_token(user_id: int) -> str:
    import jwt

    claims = {"sub": str(user_id), "userType": "customer", "exp": int(time.time()) + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def upload_loop(url: str, photo: Path, clients: int) -> None:
    """Runs in its own process until its stdin closes: ``clients`` users, each uploading
    the photo again as soon as the last upload was answered. Prints ``READY`` once every
    client had one answer, then at the end ``UPLOADS <json>``: [start ms, end ms, status]
    per upload (epoch milliseconds, comparable with loadgen.js's MARK lines)."""
    import aiohttp

    boundary = "bench-boundary-7d1c0f"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    body += await asyncio.to_thread(photo.read_bytes) + f"\r\n--{boundary}--\r\n".encode()
    records: list[tuple[float, float, int]] = []
    answered: set[int] = set()
    ready = asyncio.Event()
    stop = asyncio.Event()

    async def client(n: int, session: aiohttp.ClientSession) -> None:
        headers = {"Authorization": f"Bearer {user_token(5000 + n)}",
                   "Content-Type": f"multipart/form-data; boundary={boundary}"}
        while not stop.is_set():
            started = time.time() * 1000
            try:
                async with session.post(f"{url}/api/v1/me/uploads", data=body,
                                        headers=headers) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            records.append((started, time.time() * 1000, status))
            answered.add(n)
            if len(answered) == clients:
                ready.set()

    async def watch_stdin() -> None:
        await asyncio.to_thread(sys.stdin.read)
        stop.set()

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        tasks = [asyncio.create_task(client(n, session)) for n in range(clients)]
        watcher = asyncio.create_task(watch_stdin())
        await ready.wait()
        print("READY", flush=True)
        await watcher
        await asyncio.gather(*tasks)
    print("UPLOADS " + json.dumps(records), flush=True)


class Uploaders:
    """The upload loop in a process of its own, pinned with the chat load generator."""

    def __init__(self, url: str, photo: Path, clients: int) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--upload-loop", url,
                   str(photo), str(clients)]
        self.process = subprocess.Popen(pinned(LOADGEN_CPU, command), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY"):
            self.process.kill()
            raise SystemExit(f"the uploaders did not start: {line!r}")

    def stop(self) -> list[tuple[float, float, int]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        records: list[tuple[float, float, int]] = []
        for line in self.process.stdout:
            if line.startswith("UPLOADS "):
                records = [tuple(r) for r in json.loads(line[len("UPLOADS "):])]
        self.process.wait(150)
        return records


# ---------------------------------------------------------------- CPU of a process tree

def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_cpu(root: int) -> tuple[float, float]:
    """(the process's own CPU seconds, its descendants' CPU seconds): live descendants'
    utime + stime + their reaped children, and the root's reaped children."""
    own = _stat(root)
    if own is None:
        return 0.0, 0.0
    main = (int(own[11]) + int(own[12])) / CLK_TCK
    others = (int(own[13]) + int(own[14])) / CLK_TCK
    for pid in descendants(root):
        if (fields := _stat(pid)) is not None:
            others += sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK
    return main, others


# ---------------------------------------------------------------- one run, the rounds

def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]


def one_run(with_uploads: bool, photo: Path, opts: argparse.Namespace) -> dict[str, Any]:
    media = Path(tempfile.mkdtemp(prefix="bench-media-"))
    env = {"CHAT_UPLOAD_RATE": "off", "CHAT_MEDIA_DIR": str(media)}
    env.update(dict(pair.split("=", 1) for pair in opts.env))
    server = Server("service", extra_env=env)
    if opts.renice_workers is not None:  # an experiment: the workers at a lower priority
        for pid in descendants(server.process.pid):
            os.setpriority(os.PRIO_PROCESS, pid, opts.renice_workers)
    samples: dict[str, tuple[float, float, float]] = {}

    def on_mark(name: str) -> None:
        main, workers = tree_cpu(server.process.pid)
        samples[name] = (time.time() * 1000, main, workers)

    uploaders = None
    records: list[tuple[float, float, int]] = []
    load = os.getloadavg()[0]
    try:
        if with_uploads:
            uploaders = Uploaders(server.url, photo, opts.uploaders)
        args = ["--pairs", str(opts.pairs), "--rate", str(opts.rate), "--duration",
                str(opts.duration), "--warmup", str(opts.warmup)]
        result = run_loadgen(server, "latency", args, on_mark=on_mark)
    finally:
        if uploaders is not None:
            records = uploaders.stop()
        server.stop()
        shutil.rmtree(media, ignore_errors=True)
    result["loadAverage1m"] = round(load, 2)
    if "start" in samples and "end" in samples:
        (t0, m0, w0), (t1, m1, w1) = samples["start"], samples["end"]
        seconds = (t1 - t0) / 1000
        result["mainCpuPercent"] = round(100 * (m1 - m0) / seconds, 1)
        result["mainCpuSeconds"] = round(m1 - m0, 2)
        result["workersCpuPercent"] = round(100 * (w1 - w0) / seconds, 1)
        inside = [r for r in records if t0 <= r[1] < t1]
        done = [r for r in inside if r[2] == 201]
        statuses: dict[str, int] = {}
        for r in inside:
            statuses[str(r[2])] = statuses.get(str(r[2]), 0) + 1
        times = [r[1] - r[0] for r in done]
        result["uploads"] = {
            "perSecond": round(len(done) / seconds, 2), "statuses": statuses,
            "ms": {"p50": percentile(times, 0.5), "p99": percentile(times, 0.99)},
            "done": len(done),
        } if with_uploads else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--rate", type=int, default=100, help="chat messages per second")
    parser.add_argument("--uploaders", type=int, default=4)
    parser.add_argument("--server-cpus", default=str(bench.SERVER_CPU),
                        help="the cores of the server and its media workers (taskset -c)")
    parser.add_argument("--env", action="append", default=[], help="CHAT_X=value for the server")
    parser.add_argument("--renice-workers", type=int, help="an experiment: nice the workers")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--upload-loop", nargs=3, metavar=("URL", "PHOTO", "CLIENTS"),
                        help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.upload_loop:
        url, photo, clients = opts.upload_loop
        asyncio.run(upload_loop(url, Path(photo), int(clients)))
        return
    if opts.quick:
        opts.rounds, opts.duration, opts.warmup = 1, 5, 1
    bench.SERVER_CPU = opts.server_cpus  # a str: taskset -c takes a list of cores
    photo = Path(tempfile.mkdtemp(prefix="bench-photo-")) / "photo.jpg"
    size = make_photo(photo)
    print(f"photo: {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEG, {size / 2**20:.2f} MB", flush=True)
    kinds = {"chat alone": False, "chat + uploads": True}
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    try:
        for n in range(opts.rounds):
            order = list(kinds) if n % 2 == 0 else list(reversed(kinds))
            for kind in order:
                r = one_run(kinds[kind], photo, opts)
                runs[kind].append(r)
                lat = r.get("latencyMs", {})
                up = r.get("uploads") or {}
                print(f"  round {n + 1} {kind}: latency p50 {lat.get('p50')} p99 {lat.get('p99')} "
                      f"max {lat.get('max')} ms, lost {r.get('lost')}, errors {r.get('errors')}; "
                      f"server CPU main {r.get('mainCpuPercent')} % workers "
                      f"{r.get('workersCpuPercent')} %; uploads {up.get('perSecond')}/s "
                      f"{up.get('statuses')} p50 {up.get('ms', {}).get('p50')} ms; "
                      f"load {r.get('loadAverage1m')}", flush=True)
    finally:
        shutil.rmtree(photo.parent, ignore_errors=True)
    report = {"options": {k: v for k, v in vars(opts).items() if k != "upload_loop"},
              "photoBytes": size, "summary": summarize(runs), "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"uploads-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report["summary"], indent=2))
    print(f"full results: {out}")


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    def values(kind: str, *path: str) -> list[float]:
        out = []
        for run in runs[kind]:
            value: Any = run
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, int | float):
                out.append(value)
        return out

    summary: dict[str, Any] = {}
    for kind in runs:
        summary[kind] = {name: {"median": statistics.median(v) if v else None, "rounds": v}
                         for name, path in (("p50", ("latencyMs", "p50")),
                                            ("p99", ("latencyMs", "p99")),
                                            ("max", ("latencyMs", "max")),
                                            ("lost", ("lost",)), ("errors", ("errors",)),
                                            ("mainCpuPercent", ("mainCpuPercent",)),
                                            ("workersCpuPercent", ("workersCpuPercent",)),
                                            ("uploadsPerSecond", ("uploads", "perSecond")),
                                            ("uploadP50Ms", ("uploads", "ms", "p50")),
                                            ("loadAverage1m", ("loadAverage1m",)))
                         for v in [values(kind, *path)]}
    alone, loaded = (values(k, "latencyMs", "p99") for k in runs)
    # Paired by round: the two runs of a round are a minute apart on the same machine.
    summary["p99RatioPerRound"] = [round(b / a, 2) for a, b in zip(alone, loaded, strict=False)
                                   if a]
    # The event loop's CPU an upload adds: the main process's CPU over that of the round's
    # run without uploads (the chat's share), per upload done.
    summary["mainCpuMsPerUploadPerRound"] = [
        round(1000 * (b["mainCpuSeconds"] - a["mainCpuSeconds"]) / b["uploads"]["done"], 1)
        for a, b in zip(*runs.values(), strict=False)
        if "mainCpuSeconds" in a and "mainCpuSeconds" in b and (b.get("uploads") or {}).get("done")]
    if alone and loaded:
        summary["p99RatioOfMedians"] = round(statistics.median(loaded) / statistics.median(alone), 2)
    return summary


if __name__ == "__main__":
    main()
