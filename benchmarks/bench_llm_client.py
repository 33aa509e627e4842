"""Throughput of the model client against the fake Gemini server, and of its response cache.

    .venv/bin/python benchmarks/bench_llm_client.py [--requests 512] [--concurrency 32] [--latency 0.1]

Three passes over the same requests, through the real google-genai SDK:
1. one at a time, no cache (the seed pipeline's way): about 1/latency requests per second;
2. `--concurrency` at once, filling a fresh cache: the target is >= 85% of concurrency/latency (320 req/s);
3. the same requests again: every one from the cache, none reaching the server; lookups per second;
4. pass 2 again without the cache through httpx2 instead of aiohttp (google-genai's two async transports), to
   compare the client's CPU per request.
The fake server runs in its own process so that its threads do not share the client's interpreter lock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

from teachkit.llm import Message, ModelRequest, open_client
from teachkit.settings import load_settings

SERVER = """
import sys, json
from teachkit.testing import FakeGemini
with FakeGemini(latency_s=float(sys.argv[1])) as fake:
    print(fake.url, flush=True)
    for line in sys.stdin:
        print(json.dumps({"requests": len(fake.requests)}), flush=True)
"""


class ServerProcess:
    def __init__(self, latency_s: float):
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, str(latency_s)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        self.url = self.process.stdout.readline().strip()

    def request_count(self) -> int:
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())["requests"]

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


async def timed_pass(client, requests, one_at_a_time: bool = False) -> tuple[float, float, list]:
    """(wall seconds, this process's CPU seconds, results)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    if one_at_a_time:
        results = [await client.generate(request) for request in requests]
    else:
        results = await client.generate_batch(requests)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    await client.aclose()
    return elapsed, cpu, results


def without_aiohttp(run):
    """Run `run()` with google-genai sending through httpx2 although aiohttp is installed (the SDK checks this
    module flag on every async request)."""
    from google.genai import _api_client

    saved, _api_client.has_aiohttp = _api_client.has_aiohttp, False
    try:
        return run()
    finally:
        _api_client.has_aiohttp = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=512)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.1, help="server latency per request, seconds")
    parser.add_argument("--repeat", type=int, default=3,
                        help="concurrent passes of each kind (each into a fresh cache); the best is reported")
    args = parser.parse_args()

    os.environ["GEMINI_API_KEY"] = "bench-key"
    server = ServerProcess(args.latency)
    spec = f"gemini:gemini-2.5-flash@{server.url}"
    requests = [ModelRequest(messages=[Message(role="user", content=f"observation {i}: a tree to the north")])
                for i in range(args.requests)]

    def fresh_settings():
        cache_dir = tempfile.mkdtemp(prefix="teachkit-bench-")
        return load_settings(None, {"paths.cache_dir": cache_dir, "teacher.concurrency": args.concurrency,
                                    "teacher.timeout_s": 30.0})

    try:
        sequential_s, _, sequential = asyncio.run(
            timed_pass(open_client(spec, fresh_settings(), use_cache=False), requests, one_at_a_time=True))
        fills = []
        for _ in range(args.repeat):
            settings = fresh_settings()
            fills.append(asyncio.run(timed_pass(open_client(spec, settings, use_cache=True), requests)))
        before = server.request_count()
        cached_s, _, cached = asyncio.run(timed_pass(open_client(spec, settings, use_cache=True), requests))
        reached_server = server.request_count() - before
        via_httpx2 = [
            without_aiohttp(lambda: asyncio.run(timed_pass(open_client(spec, fresh_settings(), use_cache=False),
                                                           requests)))
            for _ in range(args.repeat)
        ]
    finally:
        server.stop()
    assert all(r.ok for r in sequential + cached) and all(r.ok for _, _, rs in fills + via_httpx2 for r in rs)
    assert all(r.from_cache for r in cached)
    concurrent_s, concurrent_cpu, _ = min(fills, key=lambda run: run[0])
    httpx2_s, httpx2_cpu, _ = min(via_httpx2, key=lambda run: run[0])
    n = args.requests
    ideal = args.concurrency / args.latency
    sequential_rate, concurrent_rate, lookup_rate = n / sequential_s, n / concurrent_s, n / cached_s
    rows = [
        ("one at a time (no cache)", sequential_s, sequential_rate),
        (f"concurrency {args.concurrency} (filling the cache)", concurrent_s, concurrent_rate),
        ("again, from the cache", cached_s, lookup_rate),
        (f"concurrency {args.concurrency} via httpx2 (no cache)", httpx2_s, n / httpx2_s),
    ]
    print(f"{n} requests, fake Gemini with {args.latency * 1000:.0f} ms latency, ideal at concurrency "
          f"{args.concurrency}: {ideal:.0f} req/s; concurrent passes: best of {args.repeat}")
    print(f"{'pass':<40} {'seconds':>9} {'req/s':>10}")
    for name, seconds, rate in rows:
        print(f"{name:<40} {seconds:>9.2f} {rate:>10.1f}")
    print("all concurrent passes, req/s: " + ", ".join(f"{n / seconds:.0f}" for seconds, _, _ in fills)
          + "; via httpx2: " + ", ".join(f"{n / seconds:.0f}" for seconds, _, _ in via_httpx2))
    print(f"concurrent vs ideal: {concurrent_rate / ideal:.1%} (target >= 85%)")
    cpu_ms = concurrent_cpu / n * 1000
    print(f"client CPU per request: {cpu_ms:.2f} ms (one core's ceiling {1000 / cpu_ms:.0f} req/s); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"client CPU per request via httpx2: {httpx2_cpu / n * 1000:.2f} ms "
          f"(aiohttp needs {concurrent_cpu / httpx2_cpu:.0%} of that)")
    print(f"concurrent vs one at a time: {concurrent_rate / sequential_rate:.1f}x")
    print(f"second pass: {reached_server} requests reached the server; {lookup_rate:,.0f} cache lookups/s "
          f"({lookup_rate / concurrent_rate:.0f}x the concurrent pass)")


if __name__ == "__main__":
    main()
