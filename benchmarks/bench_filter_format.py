"""Claim: `crafter filter` + `crafter format` of 100,000 steps take <= 2x the time of reading and writing the same
lines with the standard json module (json.loads + json.dumps of every line, one pass).

    .venv/bin/python benchmarks/bench_filter_format.py [--steps 100000] [--data EPISODES.jsonl] [--repeat 3]

The episodes are played by the scripted teacher (`teachkit.crafter.rollout.run_rollout`, 10,000-step limit) until
they hold at least --steps steps; with --data an existing episode file is used (written there first if missing).
Filter runs with the default rules (drop invalid steps, near-duplicate removal, scores recomputed); format writes
the Vertex target with thoughts and the estimated token counts. Each timing is the best of --repeat runs, as wall-clock and as CPU time (less disturbed by other processes
on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from teachkit.crafter.filter import filter_episodes
from teachkit.crafter.rollout import RolloutRequest, run_rollout
from teachkit.crafter.tuning_data import format_examples
from teachkit.settings import load_settings


def play_scripted(path: Path, steps: int) -> None:
    """Scripted episodes into `path` until it holds `steps` steps (resuming it in chunks of 20 episodes)."""
    episodes = 0
    total = 0
    while total < steps:
        episodes += 20
        settings = load_settings(overrides={
            "crafter.rollout.teacher": "scripted", "crafter.rollout.episodes": episodes,
            "crafter.rollout.max_steps": 10000, "crafter.rollout.seed": 0,
        })
        run_rollout(settings, RolloutRequest(out=path, resume=True))
        total = sum(len(json.loads(line)["steps"]) for line in path.open(encoding="utf-8"))
        print(f"  played {episodes} episodes, {total:,} steps", flush=True)


def first_steps(source: Path, target: Path, steps: int) -> tuple[int, int]:
    """Copy whole episodes from `source` until `steps` steps are reached; returns (episodes, steps)."""
    episodes = total = 0
    with source.open(encoding="utf-8") as lines, target.open("w", encoding="utf-8") as out:
        for line in lines:
            if total >= steps:
                break
            out.write(line)
            episodes += 1
            total += len(json.loads(line)["steps"])
    return episodes, total


def json_round_trip(source: Path, target: Path) -> None:
    """The baseline: every line read, parsed and written back with the standard json module."""
    with source.open(encoding="utf-8") as lines, target.open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(json.loads(line)) + "\n")


def best_of(repeat: int, work) -> tuple[float, float]:
    """The best wall-clock and the best CPU time (this process) of `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--data", type=Path, help="episode file to use (played with the scripted teacher if missing)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-filter-format-") as tmp:
        work = Path(tmp)
        data = args.data or work / "scripted.jsonl"
        if not data.exists():
            print(f"playing scripted episodes into {data} ...", flush=True)
            play_scripted(data, args.steps)
        episodes_file = work / "episodes.jsonl"
        episodes, steps = first_steps(data, episodes_file, args.steps)
        size_mb = episodes_file.stat().st_size / 1e6
        print(f"input: {episodes} episodes, {steps:,} steps, {size_mb:.1f} MB (scripted teacher)", flush=True)

        settings = load_settings(overrides={"crafter.format.with_thoughts": True})
        filtered, formatted = work / "filtered.jsonl", work / "train.jsonl"
        baseline = best_of(args.repeat, lambda: json_round_trip(episodes_file, work / "copy.jsonl"))
        filter_s = best_of(args.repeat, lambda: filter_episodes([episodes_file], filtered, settings, overwrite=True))
        report = filter_episodes([episodes_file], filtered, settings, overwrite=True)
        format_s = best_of(args.repeat, lambda: format_examples([filtered], formatted, settings, overwrite=True))
        examples = sum(1 for _ in formatted.open(encoding="utf-8"))

    ratio = (filter_s[0] + format_s[0]) / baseline[0]
    cpu_ratio = (filter_s[1] + format_s[1]) / baseline[1]
    rows = [
        ("json.loads + json.dumps of every line (baseline)", baseline, 1.0),
        (f"filter ({report.steps_kept:,} of {steps:,} steps kept)", filter_s, None),
        (f"format vertex ({examples:,} examples)", format_s, None),
        ("filter + format", (filter_s[0] + format_s[0], filter_s[1] + format_s[1]), None),
    ]
    print(f"\n{'step':<58} {'wall s':>7} {'ratio':>6} {'cpu s':>7} {'ratio':>6}")
    for name, (wall, cpu), _ in rows:
        print(f"{name:<58} {wall:>7.2f} {wall / baseline[0]:>5.2f}x {cpu:>7.2f} {cpu / baseline[1]:>5.2f}x")
    print(f"\nbaseline speed: {steps / baseline[0]:,.0f} steps/s")
    verdict = "PASS" if ratio <= 2.0 else "FAIL"
    print(f"ratio (filter + format) / json round trip: {ratio:.2f} wall-clock, {cpu_ratio:.2f} CPU time "
          f"(target <= 2.0): {verdict}")


if __name__ == "__main__":
    main()
