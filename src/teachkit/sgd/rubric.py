"""`teachkit sgd rubric`: the judge model writes 3-6 checkable criteria for each sample's next assistant turn.

A rubric turns "is this reply as good as the reference?" into a few yes/no checks a judge can apply to any reply:
ask for the city; offer Golden Spoon in Oakland; say there are 3 restaurants; do not claim the table is booked.
Requests go through the provider layer (cache, concurrency and rate limits, retries, cost ledger), so a rerun asks
nothing already answered, and `--resume` skips the samples already written.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.errors import InputError, ProviderFault
from teachkit.jsonl import ResumableAppender, read_records
from teachkit.llm import Message, ModelClient, ModelRequest, ModelResult
from teachkit.records import Sample
from teachkit.settings import Settings
from teachkit.sgd.compile import CompileOptions, CompileResult, compile_samples, default_eval_out
from teachkit.sgd.prompts import CONVERSATION_HEADER, ROLE_LABELS, render_service_results

RUBRIC_PROMPT_VERSION = 1
MIN_CRITERIA = 3
MAX_CRITERIA = 6
# An unusable reply is asked once more, sampled: at the judge's usual temperature 0 it would come back the same.
RETRY_TEMPERATURE = 0.7
UNUSABLE_REPLY = {"malformed", "empty"}
# One short sentence per criterion: bounded so that 6 of them fit the output budget even from a rambling model.
MAX_CRITERION_CHARS = 200
RUBRIC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "criteria": {
            "type": "array",
            "items": {"type": "string", "maxLength": MAX_CRITERION_CHARS},
            "minItems": MIN_CRITERIA,
            "maxItems": MAX_CRITERIA,
        }
    },
    "required": ["criteria"],
}

RUBRIC_INSTRUCTIONS = f"""\
You write grading rubrics for the next turn of a virtual assistant in a task-oriented dialogue.
You see the task, the service results the assistant had, the conversation so far, the reference next turn and
its dialogue acts. Write {MIN_CRITERIA} to {MAX_CRITERIA} criteria that a good next turn must meet.
- Each criterion is one short sentence a grader can answer yes or no from the reply alone.
- Name the exact values the reply must ask for, offer, confirm or report (names, dates, times, prices, counts),
  taken from the reference turn and the service results.
- Include what the reply must not do when it matters: invent facts absent from the service results, claim a
  booking before the user confirmed it, ask again for something the user already said.
- Grade what the turn does, not its wording: a reply phrased differently from the reference that performs the
  same acts with the same values meets every criterion.
Reply with JSON only: {{"criteria": ["...", "..."]}}"""


@dataclass
class RubricResult:
    out: Path
    samples: int = 0
    written: int = 0
    kept: int = 0
    resumed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    not_started: int = 0
    stopped_by_budget: bool = False
    retried_invalid: int = 0

    def counts(self) -> dict[str, int]:
        return {"samples": self.samples, "written": self.written, "kept": self.kept, "resumed": self.resumed,
                "failed": len(self.failed), "not_started": self.not_started}


def describe_acts(sample: Sample) -> str:
    parts = []
    for action in sample.system_actions:
        detail = action.slot
        if action.values:
            detail = f"{action.slot}={', '.join(action.values)}" if action.slot else ", ".join(action.values)
        parts.append(f"{action.act}({detail})" if detail else action.act)
    return "; ".join(parts) or "(none annotated)"


def conversation_text(sample: Sample) -> str:
    if isinstance(sample.prompt, str):
        _, header, rest = sample.prompt.partition(CONVERSATION_HEADER + "\n")
        conversation = rest if header else sample.prompt
        return conversation.removesuffix("\nAssistant:")
    return "\n".join(
        f"{ROLE_LABELS.get(message.role, message.role)}: {message.content}"
        for message in sample.prompt
        if message.role != "system"
    )


def rubric_request(sample: Sample, *, retry: bool = False) -> ModelRequest:
    """The request for one sample's rubric; `retry` asks again after an unusable reply (another cache key)."""
    call = sample.service_call.model_dump() if sample.service_call else None
    body = "\n\n".join([
        f"Task:\n{sample.task_description or '(not given)'}",
        f"Service results the assistant had:\n{render_service_results(call, sample.service_results)}",
        f"Conversation so far:\n{conversation_text(sample)}",
        f"Reference next turn: {sample.ground_truth}",
        f"Dialogue acts of the reference turn: {describe_acts(sample)}",
    ])
    return ModelRequest(
        messages=[Message(role="system", content=RUBRIC_INSTRUCTIONS), Message(role="user", content=body)],
        json_schema=RUBRIC_SCHEMA,
        temperature=RETRY_TEMPERATURE if retry else None,
        sample_index=1 if retry else 0,
    )


def read_criteria(result: ModelResult) -> tuple[list[str] | None, str | None]:
    """(criteria, None) or (None, why the reply is not a usable rubric)."""
    if not result.ok:
        return None, result.error
    parsed = result.parsed
    criteria = parsed.get("criteria") if isinstance(parsed, dict) else parsed if isinstance(parsed, list) else None
    if not isinstance(criteria, list):
        return None, "the reply has no criteria list"
    cleaned = list(dict.fromkeys(str(item).strip() for item in criteria if str(item).strip()))
    if len(cleaned) < MIN_CRITERIA:
        return None, f"the reply has {len(cleaned)} criteria, expected {MIN_CRITERIA}-{MAX_CRITERIA}"
    # More than asked for: the first ones are the model's priorities.
    return cleaned[:MAX_CRITERIA], None


def _batches(samples: Iterator[Sample], size: int) -> Iterator[list[Sample]]:
    batch: list[Sample] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def write_rubrics(
    in_path: Path,
    out_path: Path,
    client: ModelClient,
    *,
    resume: bool = False,
    overwrite: bool = False,
    limit: int | None = None,
    output: Output | None = None,
    batch_size: int | None = None,
) -> RubricResult:
    """Samples of `in_path` with a rubric each, appended to `out_path` as they are done.

    A sample that already has a rubric is copied as it is. A sample whose rubric failed is left out and listed:
    `--resume` asks again after a provider error (failures are never cached); after two unusable replies (fewer
    than 3 criteria) it needs `--resume --no-cache` for fresh ones. A fault no retry mends (a rejected key, a wrong
    model name, a spent daily quota) raises `ProviderFault` at once, with what is done kept for `--resume`.
    """
    output = output or Output()
    in_path, out_path = Path(in_path), Path(out_path)
    if in_path.resolve() == out_path.resolve():
        raise InputError(f"--out {out_path}: must differ from the input file")
    result = RubricResult(out=out_path)
    total = sum(1 for _ in read_records(in_path, Sample))
    if limit is not None:
        total = min(total, limit)
    result.samples = total
    batch_size = batch_size or max(16, client.settings.concurrency * 4)
    with ResumableAppender(out_path, Sample, resume=resume, overwrite=overwrite, warn=output.warn) as appender, \
            output.progress("rubrics", total=total, unit="samples") as bar:

        def pending() -> Iterator[Sample]:
            for number, sample in enumerate(read_records(in_path, Sample)):
                if limit is not None and number >= limit:
                    return
                if sample.id in appender.done_ids:
                    result.resumed += 1
                    bar.advance(1)
                    continue
                if sample.rubric is not None:
                    appender.append(sample)
                    result.kept += 1
                    bar.advance(1)
                    continue
                yield sample

        for batch in _batches(pending(), batch_size):
            if client.budget_exceeded:
                result.stopped_by_budget = True
                result.not_started += len(batch)
                continue
            try:
                replies, rubrics = await _ask(client, batch, result)
            except ProviderFault as fault:
                raise ProviderFault(
                    f"{fault}. {result.written + result.kept + result.resumed} samples with a rubric are in "
                    f"{out_path}; fix it and rerun with --resume for the others"
                ) from None
            for sample, reply, (criteria, error) in zip(batch, replies, rubrics, strict=True):
                if criteria is not None:
                    appender.append(sample.model_copy(update={"rubric": criteria}))
                    result.written += 1
                elif reply.error_kind == "budget":
                    # Not sent: --max-cost was reached while this batch was in flight.
                    result.stopped_by_budget = True
                    result.not_started += 1
                else:
                    result.failed.append((sample.id, error or "no rubric"))
            bar.advance(len(batch), failed=len(result.failed))
    return result


async def _ask(
    client: ModelClient, batch: list[Sample], result: RubricResult
) -> tuple[list[ModelResult], list[tuple[list[str] | None, str | None]]]:
    """The final reply and the rubric read from it, per sample."""
    replies = await client.generate_batch([rubric_request(sample) for sample in batch])
    rubrics = [read_criteria(reply) for reply in replies]
    # A reply that is not a usable rubric is cached like any other; one sampled retry (another cache key) usually
    # fixes it. A provider failure was retried by the client already and is not cached: --resume asks again.
    again = [i for i, (reply, (criteria, _)) in enumerate(zip(replies, rubrics, strict=True))
             if criteria is None and (reply.ok or reply.error_kind in UNUSABLE_REPLY)]
    if again:
        result.retried_invalid += len(again)
        second = await client.generate_batch([rubric_request(batch[i], retry=True) for i in again])
        for index, reply in zip(again, second, strict=True):
            replies[index] = reply
            rubrics[index] = read_criteria(reply)
    return replies, rubrics


def compile_with_rubrics(
    root: Path,
    out: Path,
    options: CompileOptions,
    client: ModelClient,
    *,
    eval_out: Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    output: Output | None = None,
) -> tuple[CompileResult, list[RubricResult]]:
    """`compile --with-rubric`: compile into a staging folder, then write the rubrics into `out` (and `eval_out`).

    Compiling is deterministic, so `--resume` recompiles and the rubric pass skips the samples already written.
    """
    output = output or Output()
    out = Path(out)
    targets = [out]
    if options.eval_fraction > 0:
        eval_out = Path(eval_out) if eval_out is not None else default_eval_out(out)
        targets.append(eval_out)
    for target in targets:
        if target.exists() and target.stat().st_size and not (resume or overwrite):
            raise InputError(f"{target}: already exists; add --resume to continue it, or --overwrite to start again")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".staging", dir=out.parent))
    try:
        staged_out = staging / "samples.jsonl"
        staged_eval = staging / "eval.jsonl" if options.eval_fraction > 0 else None
        compiled = compile_samples(root, staged_out, options, eval_out=staged_eval, overwrite=True, output=output)
        compiled.out, compiled.eval_out = out, eval_out if options.eval_fraction > 0 else None

        async def both() -> list[RubricResult]:
            try:
                done = [await write_rubrics(staged_out, out, client, resume=resume, overwrite=overwrite,
                                            output=output)]
                if staged_eval is not None and eval_out is not None:
                    done.append(await write_rubrics(staged_eval, eval_out, client, resume=resume,
                                                    overwrite=overwrite, output=output))
                return done
            finally:
                await client.aclose()

        return compiled, asyncio.run(both())
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run_rubrics(in_path: Path, out_path: Path, client: ModelClient, **kwargs: Any) -> RubricResult:
    """`write_rubrics` in its own event loop, closing the client at the end."""

    async def run() -> RubricResult:
        try:
            return await write_rubrics(in_path, out_path, client, **kwargs)
        finally:
            await client.aclose()

    return asyncio.run(run())


def outcome_error(results: list[RubricResult], max_cost: float | None) -> str | None:
    """The one-line error (exit 1) for a run that left samples without a rubric, or None when all got one."""
    failed = [item for result in results for item in result.failed]
    if failed:
        first_id, first_error = failed[0]
        return (
            f"{len(failed)} sample(s) got no rubric (first: {first_id}: {first_error}); they are not in the output: "
            "rerun with --resume to ask again (add --no-cache when the replies were unusable rubrics)"
        )
    if any(result.stopped_by_budget for result in results):
        return (f"stopped at --max-cost {max_cost:g} USD before every sample had a rubric; rerun with --resume "
                "(and a higher --max-cost) to finish")
    return None


def rubric_file(
    in_path: Path,
    out_path: Path,
    settings: Settings,
    *,
    judge_model: str | None = None,
    max_cost: float | None = None,
    resume: bool = False,
    overwrite: bool = False,
    limit: int | None = None,
    output: Output | None = None,
    batch: bool = False,
    wait: bool = True,
    fetch_only: bool = False,
) -> tuple[RubricResult, dict[str, Any]]:
    """The `rubric` stage: rubrics for `in_path` into `out_path` with its manifest; (result, judge ledger).

    `batch`: every request goes in one Gemini batch job at the batch price (`llm/gemini_batch.py`), recorded in
    `OUT.batch.json` before waiting; `--resume` fetches the recorded job instead of submitting again. `wait` False
    returns at once after submitting (raises `BatchPending`); `fetch_only` (`teachkit batch fetch`) never submits.
    """
    from teachkit.llm import open_client
    from teachkit.manifest import now_iso, write_manifest

    started = now_iso()
    client = open_client(judge_model, settings, role="judge", max_cost=max_cost)
    if not batch:
        result = run_rubrics(in_path, out_path, client, resume=resume, overwrite=overwrite, limit=limit,
                             output=output)
        ledger = client.ledger.summary()
        extra: dict[str, Any] = {"judge": ledger}
    else:
        from teachkit.llm.gemini_batch import BatchClient, job_record_path

        record = job_record_path(out_path)
        if record.exists() and overwrite:
            record.unlink()
        elif record.exists() and not resume:
            raise InputError(f"{record}: a batch job was submitted for {out_path}; add --resume to fetch it, or "
                             "--overwrite to submit anew")
        stage = {"command": "sgd rubric", "in": str(in_path), "out": str(out_path), "limit": limit}
        jobs = BatchClient(client, record, poll=settings.batch, wait=wait, submit=not fetch_only,
                           output=output, stage=stage)
        # One job for the whole file: a batch job is paid per token, not per call, and waits the same for 10 or 10,000.
        result = run_rubrics(in_path, out_path, jobs, resume=resume, overwrite=overwrite, limit=limit,
                             output=output, batch_size=sys.maxsize)
        jobs.finished()
        ledger = jobs.ledger.summary()
        extra = {"judge": ledger, "batch_jobs": [job.name for job in jobs.record.jobs]}
    write_manifest(out_path, settings=settings, inputs=[in_path], counts=result.counts(), started_at=started,
                   extra={**extra, "failed": [{"id": i, "error": e} for i, e in result.failed]})
    return result, ledger


def fetch_rubric_jobs(
    record: Any, record_path: Path, settings: Settings, *, wait: bool = True, output: Output | None = None
) -> tuple[RubricResult, dict[str, Any]]:
    """`teachkit batch fetch`: finish the `sgd rubric --batch` run that submitted the jobs of `record`, submitting
    nothing new."""
    from teachkit.llm.gemini_batch import job_record_path

    stage = record.stage
    if stage.get("command") != "sgd rubric":
        raise InputError(f"{record_path}: jobs of `teachkit {stage.get('command', '?')}`; rerun that command with "
                         "--batch: it fetches the recorded jobs instead of submitting again")
    out_path = Path(stage["out"])
    if Path(record_path).resolve() != job_record_path(out_path).resolve():
        raise InputError(f"{record_path}: records jobs for {out_path}; keep it beside that file as "
                         f"{job_record_path(out_path).name}")
    return rubric_file(Path(stage["in"]), out_path, settings, judge_model=record.model_spec, resume=True,
                       limit=stage.get("limit"), output=output, batch=True, wait=wait, fetch_only=True)
