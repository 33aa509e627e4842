"""Outcome benchmark: the embedded SmolLM2-135M, fine-tuned locally on scripted-expert trajectories, against its
base model in Crafter (same seeds, same prompt, same one-forward-pass-per-step policy).

    .venv/bin/python benchmarks/bench_crafter_student.py
    .venv/bin/python benchmarks/bench_crafter_student.py --train-episodes 60 --sft-steps 600 --max-minutes 60
    .venv/bin/python benchmarks/bench_crafter_student.py --eval-episodes 2 --eval-max-steps 50 --sft-steps 20  # smoke

Pipeline, each stage a teachkit command (its output is reused on a rerun unless --fresh):
  1. crafter rollout --teacher scripted --observation compact   (training seeds 0..E-1)
  2. crafter filter                                             (drop invalid steps, near-duplicates)
  3. crafter format --target messages --tokenizer smollm2-135m  (a one-line system prompt, no history or thoughts)
  4. crafter finetune --backend local --model smollm2-135m      (LoRA; at most --max-minutes)
  5. crafter eval --policy STUDENT --baseline smollm2-135m      (seeds 1000.., 200 steps)

Target: the student's Crafter score >= 3x the base's; if the base scores 0, the student unlocks >= 3 distinct
achievements in most episodes. The table shows both, with the stage times, examples and tokens per step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEACHKIT = str(Path(sys.executable).with_name("teachkit"))


def run(stage: str, args: list[str], timings: dict[str, float]) -> None:
    print(f"\n== {stage}: teachkit {' '.join(args)}", flush=True)
    started = time.monotonic()
    subprocess.run([TEACHKIT, *args], check=True)
    timings[stage] = round(time.monotonic() - started, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-student")
    parser.add_argument("--train-episodes", type=int, default=40)
    parser.add_argument("--train-max-steps", type=int, default=200)
    parser.add_argument("--examples", type=int, default=None, help="train on a random subset of this many examples")
    parser.add_argument("--sft-steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--max-minutes", type=float, default=60.0, help="fine-tuning time limit")
    parser.add_argument("--eval-episodes", type=int, default=8)
    parser.add_argument("--eval-max-steps", type=int, default=200)
    parser.add_argument("--eval-seed", type=int, default=1000)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--system", default="You play Crafter. Reply with the next action.",
                        help="system prompt of the training data (short: the model's default would cost more)")
    parser.add_argument("--fresh", action="store_true", help="redo every stage, even those whose output exists")
    options = parser.parse_args()

    work: Path = options.work
    work.mkdir(parents=True, exist_ok=True)
    episodes, filtered, train = work / "episodes.jsonl", work / "filtered.jsonl", work / "train.jsonl"
    student, results = work / "student", work / "eval.json"
    timings: dict[str, float] = {}

    def needed(path: Path) -> bool:
        return options.fresh or not path.exists()

    if needed(episodes):
        run("rollout", ["--quiet", "crafter", "rollout", "--teacher", "scripted", "--observation", "compact",
                        "--episodes", str(options.train_episodes), "--max-steps", str(options.train_max_steps),
                        "--seed", "0", "--workers", "2", "--out", str(episodes), "--overwrite"], timings)
    if needed(filtered):
        run("filter", ["--quiet", "crafter", "filter", str(episodes), "--out", str(filtered), "--overwrite"], timings)
    if needed(train):
        subset = ["--subset", str(options.examples), "--seed", "0"] if options.examples else []
        run("format", ["--quiet", "crafter", "format", str(filtered), "--out", str(train), "--target", "messages",
                       "--system", options.system, "--tokenizer", options.model, *subset, "--overwrite"], timings)
    if needed(student / "teachkit-training.json"):
        run("finetune", ["crafter", "finetune", str(train), "--backend", "local", "--model", options.model,
                         "--output-dir", str(student), "--max-steps", str(options.sft_steps), "--batch-size",
                         str(options.batch_size), "--learning-rate", str(options.learning_rate), "--lora-r",
                         str(options.lora_r), "--max-minutes", str(options.max_minutes), "--overwrite"], timings)
    run("eval", ["crafter", "eval", "--policy", str(student), "--baseline", options.model,
                 "--episodes", str(options.eval_episodes), "--max-steps", str(options.eval_max_steps),
                 "--seed", str(options.eval_seed), "--out", str(results), "--overwrite"], timings)

    report = json.loads(results.read_text())
    student_stats, base_stats = report["policies"]["policy"], report["policies"]["baseline"]
    training = json.loads((student / "teachkit-training.json").read_text())
    manifest = json.loads((train.with_name(train.name + ".manifest.json")).read_text())
    steps = [json.loads(line)["steps"] for line in work.joinpath("eval.policy.jsonl").read_text().splitlines()]
    tokens_per_step = statistics.mean(step["tokens"]["prompt"] for episode in steps for step in episode)
    student_score, base_score = student_stats["crafter_score"], base_stats["crafter_score"]
    ratio = student_score / base_score if base_score else float("inf")
    most = student_stats["episodes_with_3_or_more"] > options.eval_episodes / 2
    met = ratio >= 3 if base_score else most
    score_row = next(row for row in report["comparison"] if row["statistic"] == "crafter_score")
    rows = {
        "training examples (file)": manifest["counts"].get("examples"),
        "training tokens (SmolLM2 tokenizer)": manifest["counts"].get("tokens"),
        "SFT steps x batch": f"{training['metrics']['steps']} x {options.batch_size}",
        "SFT loss first -> last logged": f"{training['metrics'].get('first_logged_loss')} -> "
                                         f"{training['metrics'].get('last_logged_loss')}",
        "prompt tokens per step (compact observation)": round(tokens_per_step, 1),
        "base Crafter score": base_score,
        "student Crafter score": student_score,
        "ratio student / base": round(ratio, 2) if base_score else "inf (base 0)",
        "score difference, bootstrap 95% CI": f"{score_row['difference']} [{score_row['ci95_low']}, "
                                              f"{score_row['ci95_high']}]",
        "base mean achievements / episode": base_stats["mean_achievements"],
        "student mean achievements / episode": student_stats["mean_achievements"],
        "student episodes with >= 3 achievements": f"{student_stats['episodes_with_3_or_more']} of "
                                                   f"{options.eval_episodes}",
        "target met": met,
        **{f"time {stage} (s)": seconds for stage, seconds in timings.items()},
    }
    width = max(len(name) for name in rows)
    print("\nbench_crafter_student")
    for name, value in rows.items():
        print(f"  {name:<{width}}  {value}")
    (work / "bench.json").write_text(json.dumps({"options": {k: str(v) for k, v in vars(options).items()},
                                                 "results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
