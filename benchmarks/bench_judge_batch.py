"""Judge rewards for one GRPO generation batch: all at once vs one at a time (as the seed pipeline did).

16 completions are scored by the `llm` judge through the real google-genai client against the loopback fake Gemini
answering after 200 ms. Target: the batch takes <= 1.5 x 200 ms (one at a time: 16 x 200 ms), and a second pass
over the same completions makes zero judge calls (the score cache answers).

    .venv/bin/python benchmarks/bench_judge_batch.py [--latency 0.2] [--completions 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from teachkit.records import ChatMessage, Sample, SystemAction
from teachkit.settings import load_settings
from teachkit.sgd.judges import open_judge
from teachkit.testing import FakeGemini
from teachkit.testing.fake_gemini import request_texts


def sample(index: int) -> Sample:
    return Sample(
        id=f"bench/1_{index:05d}/1", dialogue_id=f"1_{index:05d}", turn_index=1, split="train",
        services=["Restaurants_1"],
        prompt=[ChatMessage(role="system", content="You are a virtual assistant. Service results: none yet."),
                ChatMessage(role="user", content="Find me a place to eat, please.")],
        ground_truth="Which city should I search in?",
        system_actions=[SystemAction(act="REQUEST", slot="city")],
    )


def graded(request) -> str:
    prompt, _ = request_texts(request.body)
    reply = re.search(r"Reply to grade: (.*)$", prompt, re.DOTALL).group(1).strip()
    return json.dumps({"score": min(1.0, len(reply) / 100), "reasons": "length"})


async def score(judge, samples, responses) -> list[float | None]:
    return [j.score for j in await judge.judge_batch(samples, responses)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--completions", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.completions
    os.environ["GEMINI_API_KEY"] = "bench-key"
    rows = []
    with tempfile.TemporaryDirectory() as tmp, FakeGemini(latency_s=args.latency) as fake:
        fake.reply_fn = graded
        settings = load_settings(None, {
            "paths.cache_dir": str(Path(tmp) / "cache"), "judge.kind": "llm", "judge.base_url": fake.url,
            "judge.concurrency": n,
        })

        async def run() -> None:
            judge = open_judge(settings)
            uncached = open_judge(settings, use_cache=False)
            try:
                # Warm-up, as after the first GRPO step: the SDK clients exist and hold open connections (one for
                # the sequential client, one per request in flight for the batch).
                await score(uncached, [sample(999)], ["warm-up"])
                await score(judge, [sample(998)] * n, [f"warm-up {i}" for i in range(n)])
                for repeat in range(args.repeats):
                    samples = [sample(i) for i in range(n)]
                    responses = [f"Which city? (repeat {repeat}, completion {i})" for i in range(n)]

                    before = len(fake.requests)
                    started = time.perf_counter()
                    for s, r in zip(samples, responses, strict=True):
                        await score(uncached, [s], [r])
                    one_at_a_time = time.perf_counter() - started

                    started = time.perf_counter()
                    first = await score(judge, samples, responses)
                    batch = time.perf_counter() - started
                    calls_first = len(fake.requests) - before - n

                    before = len(fake.requests)
                    started = time.perf_counter()
                    second = await score(judge, samples, responses)
                    cached = time.perf_counter() - started
                    calls_second = len(fake.requests) - before
                    assert first == second and None not in first
                    rows.append((one_at_a_time, batch, calls_first, cached, calls_second))
            finally:
                await judge.aclose()
                await uncached.aclose()

        asyncio.run(run())

    print(f"{n} completions, fake judge latency {args.latency * 1000:.0f} ms, judge.concurrency {n}")
    print(f"{'repeat':>6} {'one at a time s':>16} {'batch s':>8} {'calls':>6} {'speed-up':>9} {'2nd pass s':>11} "
          f"{'2nd calls':>9}")
    for index, (seq, batch, calls, cached, calls_second) in enumerate(rows, start=1):
        print(f"{index:>6} {seq:>16.3f} {batch:>8.3f} {calls:>6} {seq / batch:>8.1f}x {cached:>11.4f} {calls_second:>9}")
    best = min(row[1] for row in rows)
    median = sorted(row[1] for row in rows)[len(rows) // 2]
    target = 1.5 * args.latency
    zero_calls = all(row[4] == 0 for row in rows)
    print(f"batch (best of {len(rows)}, median {median:.3f} s): {best:.3f} s = {best / args.latency:.2f} x latency "
          f"(target <= {target:.3f} s: {'met' if best <= target else 'NOT met'}); "
          f"one at a time: {min(r[0] for r in rows):.3f} s; second pass judge calls: "
          f"{max(r[4] for r in rows)} ({'met' if zero_calls else 'NOT met'})")
    return 0 if best <= target and zero_calls else 1


if __name__ == "__main__":
    sys.exit(main())
