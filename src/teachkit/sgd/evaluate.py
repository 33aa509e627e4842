"""`teachkit sgd eval`: base vs trained student on held-out samples, scored by the same judge.

Both models answer the same prompts (greedy by default, in batches); the judge scores every response; the report
gives each model's mean, stdev, min and max and the difference of means with a paired bootstrap 95% interval over
the samples both were scored on. A sample whose score failed for either model is left out of the pairs and
counted. The judge may differ from the training judge, so the training reward is not the only referee.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.errors import InputError
from teachkit.jsonl import atomic_write, read_records, write_records
from teachkit.manifest import now_iso, write_manifest
from teachkit.records import Sample, SgdEvalPair
from teachkit.settings import Settings
from teachkit.sgd.judges import Judge, Judgement, open_judge
from teachkit.sgd.train import ChatFormat, fit_prompt, load_samples
from teachkit.train.artifacts import read_record
from teachkit.train.chat import ensure_chat_template
from teachkit.train.progress import quiet_libraries


def responses_path_for(report: Path) -> Path:
    return report.with_name(f"{report.stem}.responses.jsonl")


def score_stats(scores: list[float | None]) -> dict[str, Any]:
    values = [s for s in scores if s is not None]
    return {
        "scored": len(values),
        "failed": len(scores) - len(values),
        "mean": statistics.fmean(values) if values else None,
        "stdev": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values) if values else None,
        "max": max(values) if values else None,
    }


def paired_bootstrap(
    base: list[float | None],
    trained: list[float | None],
    *,
    resamples: int,
    seed: int,
    confidence: float = 0.95,
    groups: list[str] | None = None,
) -> dict[str, Any]:
    """Mean of (trained - base) over the samples both have a score for, and its percentile bootstrap interval:
    resample the pairs with replacement, take the mean difference of each resample, read the quantiles.

    With `groups` (the dialogue of each sample), `ci95_by_group` also resamples whole groups: turns of one dialogue
    are not independent, and this interval says how much the result owes to which dialogues were drawn.
    """
    import numpy as np

    kept = [i for i, (b, t) in enumerate(zip(base, trained, strict=True)) if b is not None and t is not None]
    diffs = np.array([trained[i] - base[i] for i in kept], dtype=float)
    result: dict[str, Any] = {"pairs": int(diffs.size), "mean_difference": None, "ci95": None,
                              "resamples": resamples, "interval_above_zero": False}
    if diffs.size == 0:
        return result
    rng = np.random.default_rng(seed)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(resampled_means(diffs, resamples, rng), [tail, 100 - tail])
    result.update(mean_difference=float(diffs.mean()), ci95=[float(low), float(high)],
                  interval_above_zero=bool(low > 0))
    if groups is not None:
        names = sorted({groups[i] for i in kept})
        index = {name: n for n, name in enumerate(names)}
        sums = np.zeros(len(names))
        counts = np.zeros(len(names))
        for position, i in enumerate(kept):
            sums[index[groups[i]]] += diffs[position]
            counts[index[groups[i]]] += 1
        picks = rng.integers(0, len(names), size=(resamples, len(names)))
        means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
        group_low, group_high = np.percentile(means, [tail, 100 - tail])
        result.update(groups=len(names), ci95_by_group=[float(group_low), float(group_high)])
    return result


def resampled_means(values: Any, resamples: int, rng: Any) -> Any:
    import numpy as np

    means = np.empty(resamples)
    # In chunks: resamples x values indices at once would need gigabytes for a large eval.
    chunk = max(1, 2_000_000 // values.size)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        picks = rng.integers(0, values.size, size=(stop - start, values.size))
        means[start:stop] = values[picks].mean(axis=1)
    return means


def spread(samples: list[Sample], n: int) -> list[Sample]:
    """`n` samples spread evenly over the file (consecutive samples are turns of one dialogue), in file order."""
    if len(samples) <= n:
        return samples
    return [samples[i * len(samples) // n] for i in range(n)]


@dataclass
class Generated:
    responses: list[str]
    seconds: float


def generate_responses(
    model: Any, tokenizer: Any, samples: list[Sample], *, max_prompt_length: int, max_new_tokens: int,
    batch_size: int, temperature: float, seed: int, label: str, out: Output,
) -> Generated:
    """One response per sample, in batches of similar prompt length (less padding), in the samples' order."""
    import torch

    started = time.monotonic()
    chat = ChatFormat.detect(tokenizer) if any(not isinstance(s.prompt, str) for s in samples) else None
    texts: list[str] = []
    for sample in samples:
        fitted = fit_prompt(sample, tokenizer, chat, max_prompt_length)
        if isinstance(fitted.prompt, str):
            texts.append(fitted.prompt)
        else:
            texts.append(tokenizer.apply_chat_template(fitted.prompt, tokenize=False, add_generation_prompt=True))
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    responses: list[str] = [""] * len(texts)
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": tokenizer.pad_token_id}
    if temperature > 0:
        options.update(do_sample=True, temperature=temperature, top_p=1.0, top_k=0)
        torch.manual_seed(seed)
    else:
        options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    with out.progress(f"generating ({label})", total=len(texts), unit="prompts") as task, torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            encoded = tokenizer([texts[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False)
            encoded = {k: v.to(device) for k, v in encoded.items()}
            output = model.generate(**encoded, **options)
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            for index, tokens in zip(batch, new_tokens, strict=True):
                responses[index] = tokenizer.decode(tokens, skip_special_tokens=True).strip()
            task.advance(len(batch))
    return Generated(responses, time.monotonic() - started)


def load_student(name: str, settings: Settings, adapter: Path | None = None) -> tuple[Any, Any]:
    """A model for generation; with `adapter`, a LoRA adapter folder merged into `name` (merged weights generate
    faster than LoRA layers left beside them), prompted with the tokenizer saved beside the adapter. A tokenizer
    without a chat template gets ChatML, as in training."""
    from teachkit.models import load_model_and_tokenizer, load_tokenizer

    model, tokenizer = load_model_and_tokenizer(name, settings)
    if adapter is not None:
        from peft import PeftModel

        if (adapter / "tokenizer_config.json").is_file():
            tokenizer = load_tokenizer(str(adapter), settings)
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        model.eval()
    ensure_chat_template(tokenizer)
    return model, tokenizer


def is_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").is_file()


def last_user_turn(sample: Sample) -> str:
    if isinstance(sample.prompt, str):
        return sample.prompt.rsplit("User:", 1)[-1].replace("Assistant:", "").strip()
    users = [m.content for m in sample.prompt if m.role == "user"]
    return users[-1] if users else ""


@dataclass
class EvalReport:
    document: dict[str, Any]
    report_path: Path
    responses_path: Path


def evaluate(
    eval_path: Path,
    settings: Settings,
    *,
    base_model: str | None,
    trained: Path | None,
    report_path: Path,
    responses_path: Path | None = None,
    judge_model: str | None = None,
    reuse_base: Path | None = None,
    overwrite: bool = False,
    out: Output | None = None,
) -> EvalReport:
    """Generate with the base (and the trained) student on n samples of the file, judge both, compare.

    `base_model` None: the base the trained folder records (`teachkit-training.json`), else `sgd.train.model`.
    `reuse_base`: an earlier report of this eval whose base responses are taken instead of generated again (one
    base run serves every checkpoint compared with it); they are judged again, so the judge may differ.
    """
    out = out or Output()
    config = settings.sgd.eval
    started_at = now_iso()
    responses_path = responses_path or responses_path_for(report_path)
    for path in (report_path, responses_path):
        if path.exists() and not overwrite:
            raise InputError(f"{path}: already exists; pass --overwrite to replace it")
    if trained is not None and not trained.is_dir():
        raise InputError(f"--trained {trained}: no such folder; give the --output-dir of `teachkit sgd train`")
    if base_model is None:
        record = read_record(trained) if trained is not None else None
        base_model = record.base_model if record is not None else settings.sgd.train.model
    samples = spread(load_samples(eval_path), config.n)
    judge = open_judge(settings, model=judge_model)
    quiet_libraries(out)

    generation = {"max_new_tokens": config.max_new_tokens, "temperature": config.temperature,
                  "batch_size": config.batch_size, "max_prompt_length": config.max_prompt_length, "seed": config.seed}
    runs: dict[str, Generated] = {}
    students: list[tuple[str, str, Path | None]] = []
    if reuse_base is not None:
        runs["base"] = Generated(reused_responses(reuse_base, samples, base_model, generation), 0.0)
    else:
        students.append(("base", base_model, None))
    if trained is not None:
        # An adapter goes onto the base model; a full checkpoint is loaded as it is.
        students.append(("trained", base_model, trained) if is_adapter(trained) else ("trained", str(trained), None))
    for label, name, adapter in students:
        model, tokenizer = load_student(name, settings, adapter)
        runs[label] = generate_responses(
            model, tokenizer, samples, max_prompt_length=config.max_prompt_length,
            max_new_tokens=config.max_new_tokens, batch_size=config.batch_size, temperature=config.temperature,
            seed=config.seed, label=label, out=out,
        )
        del model
        gc.collect()

    judgements = asyncio.run(judge_all(judge, samples, {label: run.responses for label, run in runs.items()}, out))
    base_scores = [j.score for j in judgements["base"]]
    document: dict[str, Any] = {
        "eval_file": str(eval_path),
        "samples": len(samples),
        "judge": judge.describe(),
        "judge_stats": judge.stats.as_dict(),
        "generation": generation,
        "base": {"model": base_model, "seconds": round(runs["base"].seconds, 1), **score_stats(base_scores)},
    }
    if reuse_base is not None:
        document["base"]["responses_from"] = str(reuse_base)
    if trained is not None:
        trained_scores = [j.score for j in judgements["trained"]]
        document["trained"] = {"model": str(trained), "seconds": round(runs["trained"].seconds, 1),
                               **score_stats(trained_scores)}
        document["difference"] = paired_bootstrap(base_scores, trained_scores, resamples=config.bootstrap,
                                                  seed=config.seed, groups=[s.dialogue_id for s in samples])
    pairs = []
    for index, sample in enumerate(samples):
        base = judgements["base"][index]
        other = judgements["trained"][index] if trained is not None else None
        pairs.append(SgdEvalPair(
            id=sample.id,
            last_user=last_user_turn(sample),
            reference=sample.ground_truth,
            base_response=runs["base"].responses[index],
            base_score=base.score,
            base_reasons=base.reasons or base.error or "",
            trained_response=runs["trained"].responses[index] if other is not None else None,
            trained_score=other.score if other is not None else None,
            trained_reasons=(other.reasons or other.error or "") if other is not None else "",
        ))
    write_records(responses_path, pairs)
    document["responses_file"] = str(responses_path)
    with atomic_write(report_path) as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    counts = {"samples": len(samples), **judge.stats.as_dict()}
    write_manifest(report_path, settings=settings, inputs=[eval_path], started_at=started_at, counts=counts)
    write_manifest(responses_path, settings=settings, inputs=[eval_path], started_at=started_at, counts=counts)
    return EvalReport(document, report_path, responses_path)


def reused_responses(report: Path, samples: list[Sample], base_model: str, generation: dict[str, Any]) -> list[str]:
    """The base responses of an earlier report, checked to answer these samples with this model and settings."""
    try:
        document = json.loads(Path(report).read_text(encoding="utf-8"))
        previous_model, previous_generation = document["base"]["model"], document["generation"]
        responses_file = Path(document["responses_file"])
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"--reuse-base {report}: not a report written by `teachkit sgd eval`") from None
    if previous_model != base_model:
        raise InputError(f"--reuse-base {report}: its base model is {previous_model!r}, not {base_model!r}")
    if previous_generation != generation:
        changed = ", ".join(k for k in generation if previous_generation.get(k) != generation[k])
        raise InputError(f"--reuse-base {report}: generated with other settings ({changed}); run the base again")
    pairs = {pair.id: pair for pair in read_records(responses_file, SgdEvalPair)}
    responses = []
    for sample in samples:
        pair = pairs.get(sample.id)
        if pair is None or pair.reference != sample.ground_truth:
            raise InputError(f"--reuse-base {report}: has no response for sample {sample.id} of this eval file "
                             "(another file or --n)")
        responses.append(pair.base_response)
    return responses


async def judge_all(
    judge: Judge, samples: list[Sample], responses: dict[str, list[str]], out: Output
) -> dict[str, list[Judgement]]:
    """Every model's responses judged at once (one event loop, so the judge's client lives in one loop)."""
    try:
        with out.progress("judging", total=len(samples) * len(responses), unit="responses") as task:
            async def one(label: str) -> tuple[str, list[Judgement]]:
                result = await judge.judge_batch(samples, responses[label])
                task.advance(len(result))
                return label, result

            results = await asyncio.gather(*(one(label) for label in responses))
    finally:
        await judge.aclose()
    return dict(results)
