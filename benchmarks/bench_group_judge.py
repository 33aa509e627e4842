"""`--judge group` vs `--judge llm`: judge calls and wall time of a GRPO step, and ranking agreement with `acts`.

1. A real GRPO step (TRL GRPOTrainer) of 4 prompts x 4 completions from the example corpus, once with each judge,
   through the real google-genai client against the loopback fake Gemini answering after 200 ms (judge.concurrency
   16), after one warm-up step with the acts judge. The student is a tiny random Llama built here (as the tests
   build it), so the step's time is little more than the judge's: what the judge choice changes. Target: group calls = llm calls / 4 (the group size), and no slower.
2. Ranking agreement: for every compiled sample of the example corpus, a group of 4 candidate replies of varied
   quality (the reference, its first half, another turn's reference, a generic reply) is scored by each judge; per
   group, Kendall's tau-b between the judge's scores and the acts scores of the same replies, averaged over groups
   where both rankings have at least two distinct values. The fake judge scores each reply by acts, written to one
   decimal like a model writes a score (both judges); so this measures that the group judge's labelling, sorting,
   de-duplication and mapping back of scores keeps each completion's own score: a mix-up shows as tau below the
   per-sample judge's. It cannot measure how well a real model ranks; pass --judge-model for that (a real judge,
   its API key in the environment).

    .venv/bin/python benchmarks/bench_group_judge.py [--latency 0.2] [--steps 1] [--judge-model SPEC]
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
from typing import Any

from teachkit.data import example_sgd_root
from teachkit.jsonl import read_records
from teachkit.records import Sample
from teachkit.settings import load_settings
from teachkit.sgd.compile import CompileOptions, compile_samples
from teachkit.sgd.judges import ActsJudge, open_judge
from teachkit.sgd.train import prepare_run
from teachkit.testing import FakeGemini
from teachkit.testing.fake_gemini import request_texts

ROOT = Path(__file__).resolve().parents[1]
CANDIDATE = re.compile(r"^\[([A-Z]+)\]\n(.*?)(?=\n\n\[[A-Z]+\]\n|\Z)", re.DOTALL | re.MULTILINE)
acts = ActsJudge()


def acts_fake(by_reference: dict[str, Sample]) -> Any:
    """The fake judge's reply function: each reply's acts score to one decimal (group and per-sample prompts)."""

    def reply(request: Any) -> str:
        prompt, _ = request_texts(request.body)
        reference = prompt.split("Reference reply: ", 1)[1].split("\n", 1)[0].strip()
        sample = by_reference[reference]
        if "Candidate replies (" in prompt:
            block = prompt.split("Candidate replies (", 1)[1].split("):\n", 1)[1]
            scores = {label: round(acts.score(sample, "" if text.strip() == "(empty reply)" else text).score, 1)
                      for label, text in CANDIDATE.findall(block)}
            return json.dumps({"reasons": "acts", "scores": scores})
        graded = prompt.rsplit("Reply to grade: ", 1)[1].strip()
        return json.dumps({"score": round(acts.score(sample, graded).score, 1), "reasons": "acts"})

    return reply


def kendall_tau_b(x: list[float], y: list[float]) -> float | None:
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = ((concordant + discordant + ties_x) * (concordant + discordant + ties_y)) ** 0.5
    return (concordant - discordant) / denominator if denominator else None


def tiny_student(path: Path) -> Path:
    """The tests' tiny random Llama (tests/conftest.py: its tokenizer, the same shape)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    sys.path.insert(0, str(ROOT))
    from tests.conftest import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
                         tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def grpo_step(kind: str, train_file: Path, student: Path, tmp: Path, fake: FakeGemini, steps: int,
              judge_model: str | None) -> dict[str, Any]:
    settings = load_settings(None, {
        "sgd.train.model": str(student), "sgd.train.output_dir": str(tmp / f"run-{kind}"),
        "sgd.train.max_steps": steps, "sgd.train.num_generations": 4, "sgd.train.per_device_train_batch_size": 16,
        "sgd.train.max_completion_length": 16, "sgd.train.max_prompt_length": 4000, "sgd.train.save_steps": 1000,
        "sgd.train.lora_r": 4, "sgd.train.lora_alpha": 8, "paths.cache_dir": str(tmp / f"cache-{kind}"),
        "judge.kind": kind, "judge.concurrency": 16, **({} if judge_model else {"judge.base_url": fake.url}),
    })
    run = prepare_run(train_file, settings, judge_model=judge_model)
    judge_seconds: list[float] = []
    original = run.judge.judge_batch

    async def timed(samples: list[Sample], responses: list[str]) -> Any:
        started = time.perf_counter()
        try:
            return await original(samples, responses)
        finally:
            judge_seconds.append(time.perf_counter() - started)

    run.judge.judge_batch = timed  # type: ignore[method-assign]
    before = len(fake.requests)
    started = time.perf_counter()
    try:
        run.trainer.train()
    finally:
        asyncio.run_coroutine_threadsafe(run.judge.aclose(), run.trainer.async_loop).result()
    return {"seconds": (time.perf_counter() - started) / steps, "judge_seconds": sum(judge_seconds) / steps,
            "calls": (len(fake.requests) - before) / steps, "stats": run.judge.stats.as_dict()}


def candidates(sample: Sample, other: Sample) -> list[str]:
    words = sample.ground_truth.split()
    return [sample.ground_truth, " ".join(words[: max(1, len(words) // 2)]), other.ground_truth,
            "How can I help you?"]


async def agreement(kind: str, samples: list[Sample], tmp: Path, fake: FakeGemini,
                    judge_model: str | None) -> tuple[float, int]:
    settings = load_settings(None, {"paths.cache_dir": str(tmp / f"agree-{kind}"), "judge.kind": kind,
                                    "judge.concurrency": 16,
                                    **({} if judge_model else {"judge.base_url": fake.url})})
    judge = open_judge(settings, model=judge_model)
    taus = []
    try:
        batch_samples, batch_replies = [], []
        for index, sample in enumerate(samples):
            replies = candidates(sample, samples[(index + 7) % len(samples)])
            batch_samples += [sample] * len(replies)
            batch_replies += replies
        judged = await judge.judge_batch(batch_samples, batch_replies)
    finally:
        await judge.aclose()
    for start in range(0, len(judged), 4):
        scores = [j.score for j in judged[start : start + 4]]
        if None in scores:
            continue
        reference = [acts.score(batch_samples[start], r).score for r in batch_replies[start : start + 4]]
        tau = kendall_tau_b(scores, reference)  # type: ignore[arg-type]
        if tau is not None:
            taus.append(tau)
    return sum(taus) / len(taus), len(taus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--judge-model", default=None, help="a real judge (e.g. gemini:gemini-2.5-flash) instead")
    args = parser.parse_args()
    os.environ.setdefault("GEMINI_API_KEY", "bench-key")
    with tempfile.TemporaryDirectory() as name, FakeGemini(latency_s=args.latency) as fake:
        tmp = Path(name)
        train_file = tmp / "train.jsonl"
        compile_samples(example_sgd_root(), train_file, CompileOptions(splits=["train"]), overwrite=True)
        samples = list(read_records(train_file, Sample))
        fake.reply_fn = acts_fake({s.ground_truth.strip(): s for s in samples})
        student = tiny_student(tmp / "student")
        # A first trainer pays for imports and set-up: an acts step first, so that neither judge's step does.
        grpo_step("acts", train_file, student, tmp, fake, 1, None)
        steps = {kind: grpo_step(kind, train_file, student, tmp, fake, args.steps, args.judge_model)
                 for kind in ("llm", "group")}
        agree = {kind: asyncio.run(agreement(kind, samples, tmp, fake, args.judge_model)) for kind in ("llm", "group")}

    print(f"GRPO step: 4 prompts x 4 completions, tiny student, fake Gemini judge at {args.latency * 1000:.0f} ms, "
          f"judge.concurrency 16, {args.steps} step(s)")
    print(f"{'judge':>6} {'calls/step':>10} {'step s':>7} {'judge s':>8} {'failures':>8}")
    for kind, row in steps.items():
        print(f"{kind:>6} {row['calls']:>10.1f} {row['seconds']:>7.2f} {row['judge_seconds']:>8.3f} "
              f"{row['stats']['judge_failures']:>8}")
    print(f"agreement with acts (Kendall tau-b per group of 4 candidates, mean over {len(samples)} samples' groups):")
    for kind, (tau, groups) in agree.items():
        print(f"{kind:>6} tau {tau:.3f} over {groups} groups with a ranking")
    ratio_met = steps["group"]["calls"] * 4 == steps["llm"]["calls"]
    no_slower = steps["group"]["judge_seconds"] <= steps["llm"]["judge_seconds"] * 1.1
    print(f"calls group x 4 = llm: {'met' if ratio_met else 'NOT met'}; group judge time <= llm (+10% noise): "
          f"{'met' if no_slower else 'NOT met'}")
    return 0 if ratio_met and no_slower else 1


if __name__ == "__main__":
    sys.exit(main())
