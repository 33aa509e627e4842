"""The privileged scripted expert against random actions, in one run: Crafter score and steps per second.

    .venv/bin/python benchmarks/bench_scripted_expert.py [--seeds 50] [--steps 10000] [--json OUT.json]

Both play stock `crafter.Env` episodes (seeds 0..N-1, the given step limit) on one core, with two changes that
make the numbers about the agents rather than the renderer: the image render is skipped (neither agent looks at
pixels), and each chunk's creatures are balanced in a stable order, so an episode replays identically in any
process (stock Crafter iterates a Python set there). Reported:
1. success rate per achievement and the Crafter score S = exp(mean_i ln(1 + s_i)) - 1 of both (target: expert
   >= 55%, i.e. above human experts' 50.5%);
2. steps per second of expert + environment vs random actions + environment (target: expert >= 1,000 steps/s), and
   the expert's own planning time per step.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import crafter
import numpy as np

from teachkit.crafter.expert import ACTIONS, ScriptedExpert

ACHIEVEMENTS = tuple(crafter.constants.achievements)
INDEX = {name: index for index, name in enumerate(ACTIONS)}
_BLANK = np.zeros((64, 64, 3), np.uint8)


class BenchEnv(crafter.Env):
    """Stock Crafter without the image, and with creatures balanced in a stable order."""

    def render(self, size=None):
        return _BLANK

    def _balance_chunk(self, chunk, objs):
        return super()._balance_chunk(chunk, sorted(objs, key=lambda obj: (int(obj.pos[0]), int(obj.pos[1]))))


def crafter_score(rates: dict[str, float]) -> float:
    return math.exp(np.mean([math.log(1 + rates[name]) for name in ACHIEVEMENTS])) - 1


def play_expert(seed: int, steps: int) -> dict:
    env = BenchEnv(length=steps, seed=seed)
    env.reset()
    expert = ScriptedExpert()
    expert.reset()
    planning = stepping = 0.0
    done = False
    count = 0
    cpu = time.process_time()
    while not done:
        started = time.perf_counter()
        name, _ = expert.act(env)
        planned = time.perf_counter()
        _, _, done, _ = env.step(INDEX[name])
        stepping += time.perf_counter() - planned
        planning += planned - started
        count += 1
    cpu = time.process_time() - cpu
    unlocked = [name for name, value in env._player.achievements.items() if value > 0]
    return {"seed": seed, "steps": count, "planning_s": planning, "stepping_s": stepping, "cpu_s": cpu,
            "died": env._player.health <= 0, "unlocked": unlocked}


def play_random(seed: int, steps: int) -> dict:
    env = BenchEnv(length=steps, seed=seed)
    env.reset()
    actions = np.random.RandomState(seed).randint(len(ACTIONS), size=steps)
    done = False
    count = 0
    started, cpu = time.perf_counter(), time.process_time()
    while not done:
        _, _, done, _ = env.step(int(actions[count]))
        count += 1
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    unlocked = [name for name, value in env._player.achievements.items() if value > 0]
    return {"seed": seed, "steps": count, "stepping_s": elapsed, "cpu_s": cpu, "unlocked": unlocked}


def summarize(runs: list[dict]) -> dict[str, float]:
    return {name: 100 * sum(name in run["unlocked"] for run in runs) / len(runs) for name in ACHIEVEMENTS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=50, help="episodes: seeds 0..N-1 (default 50)")
    parser.add_argument("--steps", type=int, default=10_000, help="step limit per episode (default 10000)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    ScriptedExpert().act(_warm_env())  # numba kernels load (or compile) outside the timed runs
    expert_runs, random_runs = [], []
    for seed in range(args.seeds):
        expert_runs.append(play_expert(seed, args.steps))
        random_runs.append(play_random(seed, args.steps))
        run = expert_runs[-1]
        print(f"seed {seed:3d}: {len(run['unlocked']):2d}/22 in {run['steps']:5d} steps"
              f"{' (died)' if run['died'] else ''}", file=sys.stderr, flush=True)

    expert_rates, random_rates = summarize(expert_runs), summarize(random_runs)
    expert_steps = sum(run["steps"] for run in expert_runs)
    planning = sum(run["planning_s"] for run in expert_runs)
    expert_sps = expert_steps / (planning + sum(run["stepping_s"] for run in expert_runs))
    expert_cpu_sps = expert_steps / sum(run["cpu_s"] for run in expert_runs)
    random_steps = sum(run["steps"] for run in random_runs)
    random_sps = random_steps / sum(run["stepping_s"] for run in random_runs)
    random_cpu_sps = random_steps / sum(run["cpu_s"] for run in random_runs)
    results = {
        "seeds": args.seeds,
        "steps": args.steps,
        "expert": {"score": crafter_score(expert_rates), "rates": expert_rates, "steps_per_s": expert_sps,
                   "steps_per_cpu_s": expert_cpu_sps,
                   "planning_us_per_step": 1e6 * planning / expert_steps, "total_steps": expert_steps,
                   "deaths": sum(run["died"] for run in expert_runs),
                   "mean_unlocked": float(np.mean([len(run["unlocked"]) for run in expert_runs]))},
        "random": {"score": crafter_score(random_rates), "rates": random_rates, "steps_per_s": random_sps,
                   "steps_per_cpu_s": random_cpu_sps,
                   "total_steps": random_steps},
    }

    print(f"\n{'achievement':22s} {'expert %':>9s} {'random %':>9s}")
    for name in ACHIEVEMENTS:
        print(f"{name:22s} {expert_rates[name]:9.1f} {random_rates[name]:9.1f}")
    expert, baseline = results["expert"], results["random"]
    print(f"\nCrafter score over seeds 0-{args.seeds - 1}, {args.steps} steps: expert {expert['score']:.1f}% "
          f"(target >= 55%), random {baseline['score']:.1f}%")
    print(f"achievements per episode: expert {expert['mean_unlocked']:.1f}/22; expert deaths "
          f"{expert['deaths']}/{args.seeds} (an episode ends at death; unlocked achievements count)")
    print(f"steps/s on one core (wall clock): expert + env {expert_sps:,.0f} (target >= 1,000), random + env "
          f"{random_sps:,.0f} (ratio {expert_sps / random_sps:.2f}); expert planning "
          f"{expert['planning_us_per_step']:.0f} us/step")
    print(f"steps per CPU second (steadier on a shared machine): expert + env {expert_cpu_sps:,.0f}, random + env "
          f"{random_cpu_sps:,.0f} (ratio {expert_cpu_sps / random_cpu_sps:.2f})")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


def _warm_env() -> crafter.Env:
    env = BenchEnv(seed=0)
    env.reset()
    return env


if __name__ == "__main__":
    sys.exit(main())
