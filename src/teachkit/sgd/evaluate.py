"""`teachkit sgd eval`: base vs trained student on held-out samples, scored by the same judge.

Both models answer the same prompts (greedy by default, in batches); the judge scores every response; the report
gives each model's mean, stdev, min and max and the difference of means with a paired bootstrap 95% interval over
the samples both were scored on (`students.bootstrap`). A sample whose score failed for either model is left out
of the pairs and counted. The judge may differ from the training judge, so the training reward is not the only referee.
`--judge pairwise` also compares the two replies of each sample in both orders (`judges.pairwise`): the win rate
of trained over base with a bootstrap interval over dialogues, and the judge's position bias; the absolute means
beside it are then acts scores. The report is the record every evaluation writes (`records.EvalReport`,
docs/eval-report.md): the shared fields, then this eval's own.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.errors import InputError
from teachkit.eval_report import (
    eval_command,
    paired_difference,
    read_eval_report,
    score_summary,
    write_eval_report,
)
from teachkit.jsonl import read_records, write_records
from teachkit.llm.spec import local_model_name
from teachkit.manifest import now_iso, write_manifest
from teachkit.records import EvalModel, EvalReport, ItemScores, Sample, SgdEvalPair
from teachkit.settings import Settings
from teachkit.sgd.judges import (
    ActsJudge,
    Judge,
    Judgement,
    PairOutcome,
    PairwiseJudge,
    compare_both_orders,
    open_judge,
    open_pairwise_judge,
    pairwise_summary,
)
from teachkit.sgd.prompt_fit import fit_prompt
from teachkit.sgd.train import load_samples
from teachkit.students.artifacts import read_record
from teachkit.students.bootstrap import paired_scores_bootstrap
from teachkit.students.chat_template import ChatRules, end_of_turn_ids
from teachkit.students.loading import is_adapter, load_student
from teachkit.students.progress import quiet_libraries


def responses_path_for(report: Path) -> Path:
    return report.with_name(f"{report.stem}.responses.jsonl")


def score_stats(scores: list[float | None]) -> dict[str, Any]:
    """A model's line of the report's sgd fields: the shared summary's numbers."""
    return score_summary(scores).model_dump(include={"scored", "failed", "mean", "stdev", "min", "max"})


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
    chat = ChatRules.detect(tokenizer) if any(not isinstance(s.prompt, str) for s in samples) else None
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
    # Stops at any end-of-turn token (Gemma's <end_of_turn>, ChatML's <|im_end|>), not only at <eos>.
    options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": tokenizer.pad_token_id,
                               "eos_token_id": sorted(end_of_turn_ids(model, tokenizer))}
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


def last_user_turn(sample: Sample) -> str:
    if isinstance(sample.prompt, str):
        return sample.prompt.rsplit("User:", 1)[-1].replace("Assistant:", "").strip()
    users = [m.content for m in sample.prompt if m.role == "user"]
    return users[-1] if users else ""


@dataclass
class SgdEvalResult:
    document: dict[str, Any]  # the report as written (`records.EvalReport`), which the command prints
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
    batch: bool = False,
) -> SgdEvalResult:
    """Generate with the base (and the trained) student on n samples of the file, judge both, compare.

    `base_model` None: the base the trained folder records (`teachkit-training.json`), else `sgd.train.model`.
    `reuse_base`: an earlier report of this eval whose base responses are taken instead of generated again (one
    base run serves every checkpoint compared with it); they are judged again, so the judge may differ.
    `batch`: the llm judge's requests go as Gemini batch jobs at the batch price, recorded beside the report; a rerun
    of a stopped eval fetches the recorded jobs instead of submitting again.
    """
    out = out or Output()
    config = settings.sgd.eval
    started_at = now_iso()
    responses_path = responses_path or responses_path_for(report_path)
    for path in (report_path, responses_path):
        if path.exists() and not overwrite:
            raise InputError(f"{path}: already exists; pass --overwrite to replace it")
    if trained is not None:
        trained = Path(local_model_name(str(trained), where="--trained"))
        if not trained.is_dir():
            raise InputError(f"--trained {trained}: no such folder; give the --output-dir of `teachkit sgd train`")
    if base_model is None:
        record = read_record(trained) if trained is not None else None
        base_model = record.base_model if record is not None else settings.sgd.train.model
    local_model_name(base_model, where="--base-model")  # a wrong spec stops before any generation
    samples = spread(load_samples(eval_path), config.n)
    comparer = open_comparer(settings, trained, judge_model)
    # Under --judge pairwise the absolute means beside the win rate are acts scores: free, and never a second bill.
    judge = ActsJudge() if comparer is not None else open_judge(settings, model=judge_model)
    jobs = judge_in_batch_jobs(judge, settings, report_path, out) if batch else None
    quiet_libraries(out)

    generation = {"max_new_tokens": config.max_new_tokens, "temperature": config.temperature,
                  "batch_size": config.batch_size, "max_prompt_length": config.max_prompt_length, "seed": config.seed}
    runs: dict[str, Generated] = {}
    students: list[tuple[str, str, str | None]] = []
    if reuse_base is not None:
        runs["base"] = Generated(reused_responses(reuse_base, samples, base_model, generation), 0.0)
    else:
        students.append(("base", base_model, None))
    if trained is not None:
        students.append(("trained", str(trained), base_model if is_adapter(trained) else None))
    for label, name, base in students:
        # An adapter goes onto the base model, merged; a full checkpoint is loaded as it is.
        student = load_student(name, settings, base=base)
        runs[label] = generate_responses(
            student.model, student.tokenizer, samples, max_prompt_length=config.max_prompt_length,
            max_new_tokens=config.max_new_tokens, batch_size=config.batch_size, temperature=config.temperature,
            seed=config.seed, label=label, out=out,
        )
        del student
        gc.collect()

    judgements = asyncio.run(judge_all(judge, samples, {label: run.responses for label, run in runs.items()}, out))
    if jobs is not None:
        jobs.finished()
    outcomes = None
    if comparer is not None:
        outcomes = asyncio.run(compare_pairs(comparer, samples, runs["base"].responses, runs["trained"].responses,
                                             out))
    base_scores = [j.score for j in judgements["base"]]
    document: dict[str, Any] = {
        "eval_file": str(eval_path),
        "samples": len(samples),
        "judge": judge.describe(),
        "judge_stats": judge.stats.as_dict(),
        **({"judge_batch": {"jobs": [job.name for job in jobs.record.jobs], **jobs.ledger.summary()}}
           if jobs is not None else {}),
        "generation": generation,
        "base": {"model": base_model, "seconds": round(runs["base"].seconds, 1), **score_stats(base_scores)},
    }
    if reuse_base is not None:
        document["base"]["responses_from"] = str(reuse_base)
    if trained is not None:
        trained_scores = [j.score for j in judgements["trained"]]
        document["trained"] = {"model": str(trained), "seconds": round(runs["trained"].seconds, 1),
                               **score_stats(trained_scores)}
        document["difference"] = paired_scores_bootstrap(base_scores, trained_scores, resamples=config.bootstrap,
                                                         seed=config.seed, groups=[s.dialogue_id for s in samples])
    if comparer is not None and outcomes is not None:
        document["pairwise"] = {
            "judge": comparer.describe(),
            **pairwise_summary(outcomes, [s.dialogue_id for s in samples], resamples=config.bootstrap,
                               seed=config.seed),
            "judge_stats": comparer.stats.as_dict(),
        }
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
            pairwise=outcomes[index].outcome if outcomes is not None else None,
            pairwise_reasons=outcomes[index].reasons() if outcomes is not None else "",
        ))
    write_records(responses_path, pairs)
    document["responses_file"] = str(responses_path)
    shared = shared_report(document, samples, runs, judgements, settings, started_at)
    write_eval_report(report_path, shared)
    counts = {"samples": len(samples), **(comparer or judge).stats.as_dict()}
    write_manifest(report_path, settings=settings, inputs=[eval_path], started_at=started_at, counts=counts)
    write_manifest(responses_path, settings=settings, inputs=[eval_path], started_at=started_at, counts=counts)
    return SgdEvalResult(json.loads(shared.to_json()), report_path, responses_path)


def shared_report(document: dict[str, Any], samples: list[Sample], runs: dict[str, Generated],
                  judgements: dict[str, list[Judgement]], settings: Settings, started_at: str) -> EvalReport:
    """The report in the shape every evaluation writes (`records.EvalReport`), this eval's own fields included."""
    labels = [label for label in ("base", "trained") if label in judgements]
    scores = {label: [j.score for j in judgements[label]] for label in labels}
    differences = []
    if "difference" in document:
        differences.append(paired_difference(
            "mean_score", "trained", "base", model_value=document["trained"]["mean"],
            baseline_value=document["base"]["mean"], bootstrap=document["difference"]))
    return EvalReport(
        pipeline="sgd",
        command=eval_command("sgd eval", settings, ["sgd.eval", "judge"], started_at),
        item_score=f"the judge's score of the response, 0 to 1 ({document['judge']})",
        models=[EvalModel(label=label, spec=document[label]["model"], seconds=runs[label].seconds,
                          details={"responses_from": document[label]["responses_from"]}
                          if "responses_from" in document[label] else {})
                for label in labels],
        items=[ItemScores(id=sample.id, group=sample.dialogue_id,
                          scores={label: scores[label][index] for label in labels})
               for index, sample in enumerate(samples)],
        summaries={label: score_summary(scores[label]) for label in labels},
        differences=differences,
        **document,
    )


def open_comparer(settings: Settings, trained: Path | None, judge_model: str | None) -> PairwiseJudge | None:
    """The pairwise comparer under `--judge pairwise` (None for the other judges), checked before any generation."""
    kind = settings.judge.kind
    if kind == "group":
        raise InputError("--judge group ranks the completions of a GRPO group in `teachkit sgd train`; sgd eval "
                         "takes acts, llm, mix or pairwise")
    if kind != "pairwise":
        return None
    if trained is None:
        raise InputError("--judge pairwise compares the base and the trained student: pass --trained DIR")
    return open_pairwise_judge(settings, model=judge_model)


async def compare_pairs(
    comparer: PairwiseJudge, samples: list[Sample], base: list[str], trained: list[str], out: Output
) -> list[PairOutcome]:
    """Base and trained replies compared in both orders (one event loop, so the judge's client lives in one)."""
    try:
        with out.progress("comparing", total=len(samples), unit="pairs") as task:
            outcomes = await compare_both_orders(comparer, samples, base, trained)
            task.advance(len(samples))
    finally:
        await comparer.aclose()
    return outcomes


def judge_in_batch_jobs(judge: Judge, settings: Settings, report_path: Path, out: Output) -> Any:
    """Route the llm judge's requests through batch jobs recorded beside the report (`--batch`)."""
    from teachkit.llm.gemini_batch import BatchClient, job_record_path
    from teachkit.sgd.judges import LlmJudge, MixJudge

    llm = judge.llm if isinstance(judge, MixJudge) else judge
    if not isinstance(llm, LlmJudge):
        raise InputError("--batch: the acts judge calls no model; use it with --judge llm or --judge mix")
    llm.client = BatchClient(llm.client, job_record_path(report_path), poll=settings.batch, output=out,
                             stage={"command": "sgd eval", "out": str(report_path)})
    return llm.client


def reused_responses(report: Path, samples: list[Sample], base_model: str, generation: dict[str, Any]) -> list[str]:
    """The base responses of an earlier report, checked to answer these samples with this model and settings."""
    previous = read_eval_report(report, where="--reuse-base")
    if previous.pipeline != "sgd" or previous.base is None or previous.generation is None or not previous.responses_file:
        raise InputError(f"--reuse-base {report}: not a report written by `teachkit sgd eval`")
    previous_model, previous_generation = previous.base["model"], previous.generation
    responses_file = Path(previous.responses_file)
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
