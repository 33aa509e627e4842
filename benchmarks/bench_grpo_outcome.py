"""Outcome: does GRPO with the `acts` judge make smollm2-135m better at SGD turns it never trained on?

Compiles the example corpus (src/teachkit/data/sgd_example: train split for training, dev split held out: other dialogues), scores
the base model on the held-out samples, trains smollm2-135m + LoRA with GRPO against the acts judge for at most
--max-minutes (default: what is left of a 60-minute budget after the two evals, estimated), evaluates the trained
adapter on the same held-out samples with the same judge, and prints the difference of means with its paired
bootstrap 95% interval. Target: +0.05 or more, interval above zero.

    .venv/bin/python benchmarks/bench_grpo_outcome.py                         # the example corpus (about 60 min)
    mkdir -p data/sgd && tar -xzf ../shared/data/sgd/sgd-train-dev.tar.gz -C data/sgd     # the real SGD splits
    .venv/bin/python benchmarks/bench_grpo_outcome.py --corpus data/sgd --train-sample 3000 \
        --held-out-sample 1500 --eval-n 300 --learning-rate 3e-4 --batch 8 --max-minutes 30   # the issue-13 run
    .venv/bin/python benchmarks/bench_grpo_outcome.py --max-steps 4 --eval-n 16   # a smoke run
    .venv/bin/python benchmarks/bench_grpo_outcome.py --device-note "1x H100"   # on a GPU machine

Everything goes through the same functions as `teachkit sgd compile/train/eval`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from teachkit.checkpoints import load_tokenizer
from teachkit.console import Output
from teachkit.jsonl import read_records, write_records
from teachkit.records import Sample
from teachkit.settings import load_settings
from teachkit.sgd.compile import CompileOptions, compile_samples
from teachkit.sgd.evaluate import evaluate
from teachkit.sgd.prompt_fit import fit_prompt
from teachkit.sgd.train import train_grpo
from teachkit.students.chat_template import ChatRules

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--corpus", type=Path, default=ROOT / "src" / "teachkit" / "data" / "sgd_example")
    parser.add_argument("--train-sample", type=int, default=None,
                        help="compile this many random train samples (the real split has 111,833; the example 445)")
    parser.add_argument("--held-out-sample", type=int, default=None, help="the same for the dev split")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "runs" / "bench-grpo-outcome")
    parser.add_argument("--budget-minutes", type=float, default=60.0, help="the whole run, evals included")
    parser.add_argument("--max-minutes", type=float, default=None, help="training time (default: budget - evals)")
    parser.add_argument("--max-steps", type=int, default=1000, help="upper bound; the time limit usually ends it")
    parser.add_argument("--eval-n", type=int, default=200, help="held-out samples evaluated (at most)")
    parser.add_argument("--num-generations", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4, help="completions per step (prompts = batch / generations)")
    parser.add_argument("--max-completion-length", type=int, default=40)
    parser.add_argument("--max-new-tokens", type=int, default=40, help="eval generation length")
    parser.add_argument("--max-prompt-length", type=int, default=320)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpu-bf16-autocast", action=argparse.BooleanOptionalAction, default=True,
                        help="train under bf16 autocast on a CPU with avx512_bf16/AMX (sgd.train.cpu_bf16_autocast)")
    parser.add_argument("--device-note", default="2-core CPU (this machine)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    out = Output(quiet=False, verbose=True)

    train_file, held_out_file = work / "train.jsonl", work / "heldout.jsonl"
    compile_samples(args.corpus, train_file, CompileOptions(splits=["train"], sample=args.train_sample,
                                                            seed=args.seed), overwrite=True)
    compile_samples(args.corpus, held_out_file, CompileOptions(splits=["dev"], sample=args.held_out_sample,
                                                               seed=args.seed), overwrite=True)
    # On 2 CPU cores the prompt length is the cost: GRPO forwards prompt + completion for every completion, and the
    # system message with the service results is 270 tokens at the median. Only samples whose prompt fits
    # --max-prompt-length (after cutting old turns) are used, for training and for the held-out eval alike.
    tokenizer = load_tokenizer(args.model, load_settings())
    chat = ChatRules.detect(tokenizer)
    counts = {}
    for name, path in (("train", train_file), ("held_out", held_out_file)):
        samples = list(read_records(path, Sample))
        kept = [s for s in samples if not fit_prompt(s, tokenizer, chat, args.max_prompt_length).over_limit]
        write_records(path, kept)
        counts[name] = (len(samples), len(kept))
    train_count = counts["train"][1]
    print(f"compiled {counts['train'][0]} training and {counts['held_out'][0]} held-out samples (dev split: other "
          f"dialogues); {counts['train'][1]} and {counts['held_out'][1]} fit {args.max_prompt_length} prompt tokens",
          flush=True)

    settings = load_settings(None, {
        "judge.kind": "acts",
        "sgd.train.model": args.model,
        "sgd.train.output_dir": str(work / "grpo"),
        "sgd.train.max_steps": args.max_steps,
        "sgd.train.learning_rate": args.learning_rate,
        "sgd.train.lora_r": args.lora_r,
        "sgd.train.lora_alpha": args.lora_r * 2,
        "sgd.train.num_generations": args.num_generations,
        "sgd.train.per_device_train_batch_size": args.batch,
        "sgd.train.max_completion_length": args.max_completion_length,
        "sgd.train.max_prompt_length": args.max_prompt_length,
        "sgd.train.temperature": args.temperature,
        "sgd.train.save_steps": 10,
        "sgd.train.seed": args.seed,
        "sgd.train.cpu_bf16_autocast": args.cpu_bf16_autocast,
        "sgd.eval.n": args.eval_n,
        "sgd.eval.max_new_tokens": args.max_new_tokens,
        "sgd.eval.max_prompt_length": args.max_prompt_length,
        "sgd.eval.batch_size": 8,
    })

    # The base model's eval first: its duration also estimates the trained model's eval.
    eval_started = time.monotonic()
    base = evaluate(held_out_file, settings, base_model=args.model, trained=None,
                    report_path=work / "base-report.json", overwrite=True, out=out)
    eval_minutes = (time.monotonic() - eval_started) / 60
    elapsed = (time.monotonic() - started) / 60
    # The trained eval takes about as long as the base eval (the base responses are reused, not generated again);
    # keep a minute for loading and saving.
    max_minutes = args.max_minutes or max(1.0, args.budget_minutes - elapsed - eval_minutes - 1.0)
    settings.sgd.train.max_minutes = max_minutes
    print(f"base eval: mean {base.document['base']['mean']:.4f} in {eval_minutes:.1f} min; training for at most "
          f"{max_minutes:.1f} min", flush=True)

    report = train_grpo(train_file, settings, overwrite=True, out=out)
    trained = evaluate(held_out_file, settings, base_model=args.model, trained=work / "grpo",
                       report_path=work / "report.json", reuse_base=work / "base-report.json", overwrite=True,
                       out=out)
    total_minutes = (time.monotonic() - started) / 60

    document = trained.document
    difference = document["difference"]
    low, high = difference["ci95"]
    result = {
        "device": args.device_note,
        "model": args.model,
        "training_samples": train_count,
        "held_out_samples": document["samples"],
        "samples_before_length_filter": {name: total for name, (total, _) in counts.items()},
        "steps": report.steps,
        "prompts_seen": report.steps * args.batch // args.num_generations,
        "train_minutes": round(report.runtime_s / 60, 1),
        "total_minutes": round(total_minutes, 1),
        "base_mean": document["base"]["mean"],
        "trained_mean": document["trained"]["mean"],
        "difference": difference["mean_difference"],
        "ci95": [low, high],
        "ci95_by_dialogue": difference.get("ci95_by_group"),
        "target_met": difference["mean_difference"] >= 0.05 and low > 0 and total_minutes <= args.budget_minutes,
        "reward_first_steps": [h.reward for h in report.history[:5]],
        "reward_last_steps": [h.reward for h in report.history[-5:]],
        "settings": {k: v for k, v in vars(args).items() if k not in {"corpus", "work_dir"}},
    }
    (work / "outcome.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_curve(report.history, result, work / "curve.png")
    print(json.dumps(result, indent=2))
    print(f"held-out acts mean {result['base_mean']:.4f} -> {result['trained_mean']:.4f}: "
          f"{result['difference']:+.4f} [{low:+.4f}, {high:+.4f}] after {report.steps} steps, "
          f"{result['total_minutes']} min in all; target (+0.05, interval above zero, <= {args.budget_minutes:g} min): "
          f"{'met' if result['target_met'] else 'not met'}")
    return 0


def plot_curve(history: list, result: dict, path: Path) -> None:
    """The training reward per GRPO step (and its moving mean over 10 steps) beside the held-out means of the base
    and the trained student, with the trained mean's interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h.step for h in history if h.reward is not None]
    rewards = [h.reward for h in history if h.reward is not None]
    window = [sum(rewards[max(0, i - 9): i + 1]) / len(rewards[max(0, i - 9): i + 1]) for i in range(len(rewards))]
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot(steps, rewards, ".", color="0.7", label="training reward (acts judge), per step")
    axis.plot(steps, window, color="C0", label="training reward, mean of 10 steps")
    low, high = result["ci95"]
    axis.axhline(result["base_mean"], color="C3", linestyle="--", label=f"held-out, base: {result['base_mean']:.3f}")
    axis.axhline(result["trained_mean"], color="C2", linestyle="--",
                 label=f"held-out, trained: {result['trained_mean']:.3f} (diff {result['difference']:+.3f} "
                       f"[{low:+.3f}, {high:+.3f}])")
    axis.set_xlabel("GRPO step")
    axis.set_ylabel("acts judge score")
    axis.set_title(f"sgd GRPO, {result['model']}: {result['held_out_samples']} held-out dev samples")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
