"""Outcome benchmark: `teachkit crafter dagger` with its defaults (the recipe) teaches the embedded SmolLM2-135M to
play Crafter; the final student, behaviour cloning on the same number of labels, the random policy and the
scripted teacher are then scored on the same held-out seeds.

    .venv/bin/python benchmarks/bench_crafter_dagger.py                       # the target run: idle 2-core machine
    .venv/bin/python benchmarks/bench_crafter_dagger.py --rounds 2 --episodes 1 --max-steps 20 \\
        --round-eval-episodes 1 --eval-episodes 2 --eval-max-steps 20          # smoke: checks the plumbing only

Runs, each a teachkit command (an existing output is reused unless --fresh):
  1. crafter dagger --teacher scripted --student MODEL                        (the recipe: its defaults)
  2. crafter dagger ... --rounds 1 --episodes ROUNDS x EPISODES              (behaviour cloning on as many episodes
     as DAgger played, on the same seeds, all played by the teacher and trained on once; --skip-bc leaves it out)
  3. crafter eval --policy DAGGER/student --baseline random                   (seeds 1000.., 200 steps; students
     sample their actions at the recipe's temperature, as they did in the run)
     crafter eval --policy DAGGER/round-0/student --baseline random          (BC on round 0's labels only)
     crafter eval --policy BC/student --baseline random
     crafter eval --policy scripted

Targets (issue 13): the DAgger student's Crafter score >= 4x random's, >= 5 achievements per episode, the paired 95%
interval of student minus random above zero, and step 1 within 90 minutes on 2 idle cores. The table prints every
row with its interval, the minutes of each run and the load average before and after; a missed target says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from teachkit.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
TEACHKIT = str(Path(sys.executable).with_name("teachkit"))
BUDGET_MINUTES = 90.0


def run(stage: str, args: list[str], timings: dict[str, float], env: dict[str, str] | None = None) -> None:
    print(f"\n== {stage}: teachkit {' '.join(args)}", flush=True)
    started = time.monotonic()
    subprocess.run([TEACHKIT, *args], check=True, env={**os.environ, **(env or {})})
    timings[stage] = round((time.monotonic() - started) / 60, 1)


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def evaluate(name: str, policy: str, results: Path, options: argparse.Namespace, timings: dict[str, float],
             baseline: bool = True, temperature: float | None = None) -> dict[str, Any]:
    if options.fresh or not results.exists():
        run(f"eval {name}", ["--quiet", "crafter", "eval", "--policy", policy,
                             *(["--baseline", "random"] if baseline else []),
                             *(["--temperature", str(temperature)] if temperature is not None else []),
                             "--episodes", str(options.eval_episodes), "--max-steps", str(options.eval_max_steps),
                             "--seed", str(options.eval_seed), "--out", str(results), "--overwrite"], timings)
    return json.loads(results.read_text(encoding="utf-8"))


def row(name: str, results: dict[str, Any], label: str = "policy") -> dict[str, Any]:
    stats = results["policies"][label]
    line: dict[str, Any] = {"policy": name, "crafter_score": stats["crafter_score"],
                            "achievements": stats["mean_achievements"], "vs_random": "-"}
    if label == "policy" and "comparison" in results:
        score = next(r for r in results["comparison"] if r["statistic"] == "crafter_score")
        line["vs_random"] = f"{score['difference']:+.2f} [{score['ci95_low']:+.2f}, {score['ci95_high']:+.2f}]"
        line["_low"] = score["ci95_low"]
    return line


def run_minutes(folder: Path) -> float:
    """Minutes from a dagger run's start (dagger.json) to its summary being written."""
    started = datetime.fromisoformat(json.loads((folder / "dagger.json").read_text(encoding="utf-8"))["started_at"])
    ended = datetime.fromtimestamp((folder / "summary.json").stat().st_mtime, tz=started.tzinfo)
    return round((ended - started).total_seconds() / 60, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-dagger")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--rounds", type=int, help="crafter dagger --rounds (default: the recipe's)")
    parser.add_argument("--episodes", type=int, help="crafter dagger --episodes (default: the recipe's)")
    parser.add_argument("--max-steps", type=int, help="crafter dagger --max-steps (default: the recipe's)")
    parser.add_argument("--round-eval-episodes", type=int, help="crafter dagger --eval-episodes (default: recipe)")
    parser.add_argument("--round-eval-max-steps", type=int, help="step limit of the run's own evaluations (smoke)")
    parser.add_argument("--eval-episodes", type=int, default=20, help="held-out episodes of the final comparison")
    parser.add_argument("--eval-max-steps", type=int, default=200)
    parser.add_argument("--eval-seed", type=int, default=1000)
    parser.add_argument("--skip-bc", action="store_true", help="leave out the behaviour-cloning run")
    parser.add_argument("--skip-round-0", action="store_true",
                        help="leave out the final evaluation of DAgger's round-0 student (the run's own evaluation of "
                             "it on --round-eval-episodes seeds is still printed)")
    parser.add_argument("--fresh", action="store_true", help="redo every run, even those whose output exists")
    options = parser.parse_args()

    work: Path = options.work
    work.mkdir(parents=True, exist_ok=True)
    recipe = load_settings().crafter.dagger
    rounds, episodes = options.rounds or recipe.rounds, options.episodes or recipe.episodes
    temperature = recipe.temperature
    overrides = [flag for name, value in (("--rounds", options.rounds), ("--episodes", options.episodes),
                                          ("--max-steps", options.max_steps),
                                          ("--eval-episodes", options.round_eval_episodes))
                 if value is not None for flag in (name, str(value))]
    env = {}
    if options.round_eval_max_steps is not None:
        env["TEACHKIT_CRAFTER__EVAL__MAX_STEPS"] = str(options.round_eval_max_steps)
    timings: dict[str, float] = {}
    loads = {"before": load()}
    bc_overrides = [*overrides, "--rounds", "1", "--episodes", str(rounds * episodes)]
    runs = {"dagger": (work / "dagger", overrides), "bc": (work / "bc", bc_overrides)}
    for name, (folder, extra) in runs.items():
        if name == "bc" and options.skip_bc:
            continue
        if options.fresh or not (folder / "summary.json").exists():
            if options.fresh:
                shutil.rmtree(folder, ignore_errors=True)
            run(name, ["crafter", "dagger", "--teacher", "scripted", "--student", options.model, "--out-dir",
                       str(folder), *extra, "--resume"], timings, env)
        loads[f"after {name}"] = load()

    dagger = evaluate("dagger", str(work / "dagger" / "student"), work / "eval-dagger.json", options, timings,
                      temperature=temperature)
    rows = [row("random", dagger, "baseline"),
            row("scripted teacher", evaluate("teacher", "scripted", work / "eval-teacher.json", options, timings,
                                             baseline=False))]
    if not options.skip_round_0:
        rows.append(row("bc: round 0 only", evaluate("round-0", str(work / "dagger" / "round-0" / "student"),
                                                     work / "eval-round-0.json", options, timings,
                                                     temperature=temperature)))
    if not options.skip_bc:
        rows.append(row("bc: as many episodes as dagger", evaluate("bc", str(work / "bc" / "student"),
                                                              work / "eval-bc.json", options, timings,
                                                              temperature=temperature)))
    rows.append(row("dagger (final student)", dagger))
    loads["end"] = load()

    if "dagger" not in timings:  # made by an earlier invocation: its own start time and its summary's
        timings["dagger"] = run_minutes(work / "dagger")
    random_score = rows[0]["crafter_score"]
    final = rows[-1]
    checks = {
        "score >= 4x random": final["crafter_score"] >= 4 * random_score,
        "achievements >= 5 per episode": final["achievements"] >= 5,
        "interval of student - random above 0": final.get("_low", 0) > 0,
        f"dagger run <= {BUDGET_MINUTES:g} minutes": timings.get("dagger", 0) <= BUDGET_MINUTES,
    }
    print(f"\nseeds {options.eval_seed}..{options.eval_seed + options.eval_episodes - 1}, "
          f"{options.eval_max_steps} steps; load average (1, 5, 15 min): {loads}")
    print(f"{'policy':28} {'Crafter score':>14} {'achievements':>13}  score - random [95% interval]")
    for line in rows:
        print(f"{line['policy']:28} {line['crafter_score']:14.2f} {line['achievements']:13.2f}  {line['vs_random']}")
    print("minutes: " + ", ".join(f"{stage} {minutes}" for stage, minutes in timings.items()))
    for check, met in checks.items():
        print(f"{'met' if met else 'NOT MET'}: {check}")
    summary = json.loads((work / "dagger" / "summary.json").read_text(encoding="utf-8"))
    print("per round (held-out evaluation of the run itself): " + ", ".join(
        f"round {r['round']} {r['crafter_score']:.2f} ({r['mean_achievements']:.1f} achievements)"
        for r in summary["rounds"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
