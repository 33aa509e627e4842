"""`crafter rollout` throughput: an LLM teacher against the fake Gemini server, and worker-process scaling.

    .venv/bin/python benchmarks/bench_crafter_rollout.py [--latency 0.1] [--episodes 32] [--steps 100]
                                                         [--cpu-episodes 16] [--cpu-steps 2000] [--skip-llm]

1. LLM teacher: `--episodes` episodes in flight against the fake Gemini REST server (its own process) answering
   each request after `--latency` seconds, through the real google-genai client, the full text observation, the
   action enum, and the JSONL writer. The ceiling is episodes/latency steps per second (320 for 32 at 100 ms);
   the target is >= 85% of it. Then the same with --actions-per-call 4 (a JSON plan of 4 actions per request).
2. Workers: the scripted expert (random when it is absent) over `--cpu-episodes` episodes of `--cpu-steps` steps,
   with --workers 1 and --workers 2, start-up of the worker processes included; target >= 1.7x.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from teachkit.crafter import rollout_workers
from teachkit.crafter.rollout import RolloutRequest, run_rollout
from teachkit.settings import load_settings

SERVER = """
import json, random, sys
from teachkit.crafter.env import ACTIONS
from teachkit.testing import FakeGemini
choose = random.Random(0).choice

def reply(request):
    schema = request.body.get("generationConfig", {}).get("responseJsonSchema")
    if schema:  # a plan of several actions
        count = schema["properties"]["actions"]["maxItems"]
        return json.dumps({"actions": [choose(ACTIONS) for _ in range(count)]})
    return choose(ACTIONS)

with FakeGemini(latency_s=float(sys.argv[1])) as fake:
    fake.reply_fn = reply
    print(fake.url, flush=True)
    sys.stdin.read()
"""


def llm_rollout(latency: float, episodes: int, steps: int, folder: Path, actions_per_call: int = 1) -> dict:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(latency)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        url = server.stdout.readline().strip()
        os.environ["GEMINI_API_KEY"] = "benchmark-key"
        import google.genai  # noqa: F401 - a one-off import (about 1 s), not throughput

        settings = load_settings(
            None,
            {
                "crafter.rollout.teacher": f"gemini:gemini-2.5-flash@{url}",
                "crafter.rollout.episodes": episodes,
                "crafter.rollout.max_steps": steps,
                "crafter.rollout.concurrency": episodes,
                "crafter.rollout.actions_per_call": actions_per_call,
                "teacher.concurrency": episodes,
                "cache": False,
            },
        )
        started, cpu = time.perf_counter(), time.process_time()
        summary, _ = run_rollout(settings, RolloutRequest(out=folder / "llm.jsonl", overwrite=True))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    ceiling = episodes / latency
    rate = summary["steps"] / elapsed
    return {
        "steps": summary["steps"],
        "seconds": round(elapsed, 2),
        "steps_per_s": round(rate, 1),
        "ceiling_steps_per_s": round(ceiling * actions_per_call, 1),
        "fraction_of_ceiling": round(rate / (ceiling * actions_per_call), 3),
        "client_cpu_ms_per_step": round(1000 * cpu / summary["steps"], 2),
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
    log = folder / f"cpu-{workers}.log"
    started, cpu, own = time.perf_counter(), cpu_seconds(), time.process_time()
    with worker_cpu_logged(log):
        summary, _ = run_rollout(
            settings, RolloutRequest(out=folder / f"{teacher}-{workers}.jsonl", overwrite=True)
        )
    elapsed, cpu, own = time.perf_counter() - started, cpu_seconds() - cpu, time.process_time() - own
    per_worker: dict[str, float] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            pid, seconds = line.split()
            per_worker[pid] = per_worker.get(pid, 0.0) + float(seconds)
    return {
        "workers": workers,
        "steps": summary["steps"],
        "seconds": round(elapsed, 2),
        "steps_per_s": round(summary["steps"] / elapsed, 1),
        # CPU seconds of this process and its finished workers per wall second: about 2 when two cores were free.
        "cores_used": round(cpu / elapsed, 2),
        "cpu_s": round(cpu, 2),
        # The critical path with a free core per process: the busiest worker (or the only process).
        "busiest_process_cpu_s": round(max(per_worker.values(), default=own), 2),
        "crafter_score": summary["crafter_score"],
    }


CPU_LOG: Path | None = None
_play_in_worker = rollout_workers._play_in_worker


def timed_play(seed: int) -> str:
    """The worker task, appending `pid cpu_seconds` to CPU_LOG (forked workers see this module as it is here)."""
    started = time.process_time()
    line = _play_in_worker(seed)
    with CPU_LOG.open("a") as handle:
        handle.write(f"{os.getpid()} {time.process_time() - started}\n")
    return line


@contextlib.contextmanager
def worker_cpu_logged(log: Path):
    global CPU_LOG
    CPU_LOG = log
    rollout_workers._play_in_worker = timed_play
    try:
        yield
    finally:
        rollout_workers._play_in_worker = _play_in_worker


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--cpu-episodes", type=int, default=16)
    parser.add_argument("--cpu-steps", type=int, default=2000)
    parser.add_argument("--skip-llm", action="store_true")
    parser.add_argument("--skip-workers", action="store_true")
    args = parser.parse_args()
    teacher = "scripted" if importlib.util.find_spec("teachkit.crafter.expert") else "random"
    results: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("XDG_CACHE_HOME", folder)
        if not args.skip_llm:
            results["llm_teacher"] = llm_rollout(args.latency, args.episodes, args.steps, Path(folder))
            results["llm_teacher_4_actions_per_call"] = llm_rollout(
                args.latency, args.episodes, args.steps, Path(folder), actions_per_call=4
            )
        if not args.skip_workers:
            # Warm up first (numba loads its compiled functions on first use), so neither run pays for it.
            cpu_rollout(teacher, 1, 20, 1, Path(folder))
            one = cpu_rollout(teacher, args.cpu_episodes, args.cpu_steps, 1, Path(folder))
            two = cpu_rollout(teacher, args.cpu_episodes, args.cpu_steps, 2, Path(folder))
            results["workers"] = {
                "teacher": teacher,
                "one": one,
                "two": two,
                "speedup": round(two["steps_per_s"] / one["steps_per_s"], 2),
                # What two free cores would give: one process's CPU time over the busiest worker's.
                "speedup_from_cpu_times": round(
                    one["busiest_process_cpu_s"] / two["busiest_process_cpu_s"], 2
                ),
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
