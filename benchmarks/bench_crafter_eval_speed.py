"""Local-student decisions per second in `crafter eval`: the current LocalPolicy against the one of commit dd31101
(before issue 13), same model, seeds and run.

    .venv/bin/python benchmarks/bench_crafter_eval_speed.py [--episodes 8] [--steps 10] [--observation compact]

The student is the embedded smollm2-135m, prompted as a DAgger student is (compact observation, no system prompt of
its own: SmolLM2's template adds its default one, which both implementations keep in a prefix cache). Both play the
same seeds through `evaluate.play_policy` (the rollout loop, all episodes in flight, one forward pass per step).
The previous implementation is read with `git show dd31101:src/teachkit/crafter/local_policy.py` into a temporary
module; its one use of an attribute transformers 5.24 renamed (`.past_key_values` of the output, now `.cache`) is
adapted, nothing else. Target (issue 13): >= 2x decisions/s.
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

PREVIOUS_COMMIT = "dd31101"
REPO = Path(__file__).resolve().parents[1]


def previous_local_policy() -> type:
    source = subprocess.run(["git", "show", f"{PREVIOUS_COMMIT}:src/teachkit/crafter/local_policy.py"], cwd=REPO,
                            check=True, capture_output=True, text=True).stdout
    source = source.replace("use_cache=True).past_key_values", "use_cache=True).cache")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(source)
    spec = importlib.util.spec_from_file_location("previous_local_policy", handle.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules["previous_local_policy"] = module
    spec.loader.exec_module(module)
    return module.LocalPolicy


def decisions_per_second(label: str, teacher: object, seeds: list[int], settings: object, observation: str) -> dict:
    from teachkit.console import Output
    from teachkit.crafter.evaluate import Policy, play_policy

    started = time.perf_counter()
    episodes = play_policy(Policy(label, "local:smollm2-135m", teacher, observation), seeds, settings, Output())
    seconds = time.perf_counter() - started
    decisions = sum(episode.totals.steps for episode in episodes)
    return {"decisions": decisions, "seconds": round(seconds, 1), "decisions_per_s": round(decisions / seconds, 2),
            "actions": [step.action for step in episodes[0].steps]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--observation", choices=["compact", "full"], default="compact")
    args = parser.parse_args()

    from teachkit.crafter.local_policy import LocalPolicy
    from teachkit.records import StudentPrompt
    from teachkit.settings import load_settings
    from teachkit.students.loading import load_student

    settings = load_settings(None, {"crafter.eval.max_steps": args.steps, "crafter.eval.concurrency": args.episodes})
    student = load_student("smollm2-135m", settings)
    prompt = StudentPrompt(observation_format=args.observation, history=0)
    seeds = [1000 + index for index in range(args.episodes)]
    previous = previous_local_policy()("local:smollm2-135m", student.model, student.tokenizer, prompt)
    now = LocalPolicy("local:smollm2-135m", student.model, student.tokenizer, prompt,
                      cpu_bf16_autocast=settings.crafter.eval.cpu_bf16_autocast)
    before = decisions_per_second("previous", previous, seeds, settings, args.observation)
    after = decisions_per_second("now", now, seeds, settings, args.observation)
    ratio = after["decisions_per_s"] / before["decisions_per_s"]
    same = sum(a == b for a, b in zip(before.pop("actions"), after.pop("actions"), strict=True))
    print(json.dumps({
        "load_average": os.getloadavg(), "episodes": args.episodes, "steps": args.steps,
        "cpu_bf16_autocast": settings.crafter.eval.cpu_bf16_autocast, "previous": before, "now": after,
        "speedup": round(ratio, 2), "target": ">= 2", "met": ratio >= 2,
        "same_actions_in_episode_0": f"{same}/{args.steps}",
    }, indent=2))


if __name__ == "__main__":
    main()
