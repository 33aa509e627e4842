"""`crafter rollout` throughput: an LLM teacher against the fake Gemini server, and worker-process scaling.

    .venv/bin/python benchmarks/bench_crafter_rollout.py [--latency 0.1] [--episodes 32] [--steps 25]
                                                         [--cpu-episodes 8] [--cpu-steps 2500] [--skip-llm]

1. LLM teacher: `--episodes` episodes in flight against the fake Gemini REST server (its own process) answering
   each request after `--latency` seconds, through the real google-genai client, the full text observation, the
   action enum, and the JSONL writer. The ceiling is episodes/latency steps per second (320 for 32 at 100 ms);
   the target is >= 85% of it.
2. Workers: the scripted expert (random when it is absent) over `--cpu-episodes` episodes of `--cpu-steps` steps,
   with --workers 1 and --workers 2, start-up of the worker processes included; target >= 1.7x.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from teachkit.crafter.rollout import RolloutRequest, run_rollout
from teachkit.settings import load_settings

SERVER = """
import random, sys
from teachkit.crafter.env import ACTIONS
from teachkit.testing import FakeGemini
choose = random.Random(0).choice
with FakeGemini(latency_s=float(sys.argv[1])) as fake:
    fake.reply_fn = lambda request: choose(ACTIONS)
    print(fake.url, flush=True)
    sys.stdin.read()
"""


def llm_rollout(latency: float, episodes: int, steps: int, folder: Path) -> dict:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(latency)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        url = server.stdout.readline().strip()
        os.environ["GEMINI_API_KEY"] = "benchmark-key"
        settings = load_settings(
            None,
            {
                "crafter.rollout.teacher": f"gemini:gemini-2.5-flash@{url}",
                "crafter.rollout.episodes": episodes,
                "crafter.rollout.max_steps": steps,
                "crafter.rollout.concurrency": episodes,
                "teacher.concurrency": episodes,
                "cache": False,
            },
        )
        started = time.perf_counter()
        summary, _ = run_rollout(settings, RolloutRequest(out=folder / "llm.jsonl", overwrite=True))
        elapsed = time.perf_counter() - started
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    ceiling = episodes / latency
    rate = summary["steps"] / elapsed
    return {
        "steps": summary["steps"],
        "seconds": round(elapsed, 2),
        "steps_per_s": round(rate, 1),
        "ceiling_steps_per_s": round(ceiling, 1),
        "fraction_of_ceiling": round(rate / ceiling, 3),
        "invalid_rate_%": summary["invalid_rate_%"],
        "prompt_tokens_per_step": summary["tokens_per_step"],
    }


def cpu_rollout(teacher: str, episodes: int, steps: int, workers: int, folder: Path) -> dict:
    settings = load_settings(
        None,
        {
            "crafter.rollout.teacher": teacher,
            "crafter.rollout.episodes": episodes,
            "crafter.rollout.max_steps": steps,
            "crafter.rollout.workers": workers,
        },
    )
    started = time.perf_counter()
    summary, _ = run_rollout(
        settings, RolloutRequest(out=folder / f"{teacher}-{workers}.jsonl", overwrite=True)
    )
    elapsed = time.perf_counter() - started
    return {
        "workers": workers,
        "steps": summary["steps"],
        "seconds": round(elapsed, 2),
        "steps_per_s": round(summary["steps"] / elapsed, 1),
        "crafter_score": summary["crafter_score"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--cpu-episodes", type=int, default=8)
    parser.add_argument("--cpu-steps", type=int, default=2500)
    parser.add_argument("--skip-llm", action="store_true")
    parser.add_argument("--skip-workers", action="store_true")
    args = parser.parse_args()
    teacher = "scripted" if importlib.util.find_spec("teachkit.crafter.scripted") else "random"
    results: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("XDG_CACHE_HOME", folder)
        if not args.skip_llm:
            results["llm_teacher"] = llm_rollout(args.latency, args.episodes, args.steps, Path(folder))
        if not args.skip_workers:
            one = cpu_rollout(teacher, args.cpu_episodes, args.cpu_steps, 1, Path(folder))
            two = cpu_rollout(teacher, args.cpu_episodes, args.cpu_steps, 2, Path(folder))
            results["workers"] = {
                "teacher": teacher,
                "one": one,
                "two": two,
                "speedup": round(two["steps_per_s"] / one["steps_per_s"], 2),
            }
    print(json.dumps(results, indent=2))
    if "llm_teacher" in results:
        llm = results["llm_teacher"]
        print(
            f"LLM teacher: {llm['steps_per_s']} steps/s = {100 * llm['fraction_of_ceiling']:.0f}% of "
            f"{llm['ceiling_steps_per_s']} (target >= 85%)"
        )
    if "workers" in results:
        print(f"--workers 2: {results['workers']['speedup']}x one worker (target >= 1.7x)")


if __name__ == "__main__":
    main()
