"""The `teachkit sgd compile` stage: compile the samples, write their rubrics too with `--with-rubric` (the rubric
pass in `rubric.py` runs on a compile of its own), then the prompt stats and a manifest per output.

It sits above `compile.py` and `rubric.py` so that each of them imports only what is below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.sgd.compile import CompileOptions, CompileResult, compile_samples
from teachkit.sgd.summary import SampleStats


@dataclass
class CompileRun:
    """What `teachkit sgd compile` did: the compile, the prompt stats (in tokens when a tokenizer was given), and
    the rubric pass of `--with-rubric` with its judge ledger."""

    result: CompileResult
    stats: SampleStats
    rubrics: list[Any] = field(default_factory=list)
    judge: dict[str, Any] | None = None

    def counts(self) -> dict[str, int]:
        result = self.result
        return {"samples": result.samples, "eval_samples": result.eval_samples, "dialogues": result.dialogues,
                "eval_dialogues": result.eval_dialogues, "duplicates_removed": result.duplicates,
                "bad_skipped": len(result.report.bad)}

    def bad_rows(self) -> list[dict[str, str]]:
        return [{"file": str(bad.path), "dialogue": bad.dialogue_id or "(whole file)", "problem": bad.problem}
                for bad in self.result.report.bad]

    def summary(self) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
        """The closing summary: (key/value data, tables)."""
        data: dict[str, Any] = {"output": str(self.result.out)}
        if self.result.eval_out is not None:
            data["eval_output"] = str(self.result.eval_out)
        data.update(self.counts())
        data["prompt_length"] = self.stats.length_summary()
        for index, rubric in enumerate(self.rubrics):
            data["rubrics" if index == 0 else "eval_rubrics"] = {
                "written": rubric.written, "failed": len(rubric.failed), "not_started": rubric.not_started}
        if self.judge is not None:
            data["judge"] = {key: self.judge[key] for key in ("model", "requests", "cache_hits", "cost_usd")}
        return data, {**self.stats.tables(), "bad_dialogues": self.bad_rows()}


def run_compile(
    root: Path,
    out: Path,
    options: CompileOptions,
    settings: Any,
    *,
    eval_out: Path | None = None,
    overwrite: bool = False,
    tokenizer: str | None = None,
    with_rubric: bool = False,
    judge_model: str | None = None,
    max_cost: float | None = None,
    resume: bool = False,
    output: Output | None = None,
) -> CompileRun:
    """The `compile` stage: samples (and rubrics with `with_rubric`), prompt stats, and a manifest per output."""
    from teachkit.manifest import now_iso, write_manifest

    started = now_iso()
    rubrics: list[Any] = []
    judge = None
    if with_rubric:
        from teachkit.llm import open_client
        from teachkit.sgd.rubric import compile_with_rubrics

        # Opened first: a missing key or an unknown model stops the run before any work.
        client = open_client(judge_model, settings, role="judge", max_cost=max_cost)
        result, rubrics = compile_with_rubrics(root, out, options, client, eval_out=eval_out, resume=resume,
                                               overwrite=overwrite, output=output)
        judge = client.ledger.summary()
    else:
        result = compile_samples(root, out, options, eval_out=eval_out, overwrite=overwrite, output=output)
    stats = result.stats
    if tokenizer:
        from teachkit.checkpoints import load_tokenizer
        from teachkit.sgd.summary import summarize_files

        written = [path for path in (result.out, result.eval_out) if path is not None]
        stats = summarize_files(written, load_tokenizer(tokenizer, settings))
    run = CompileRun(result, stats, rubrics, judge)
    extra: dict[str, Any] = {"sgd_root": str(root), "dialogue_files": len(result.report.files),
                             "bad": run.bad_rows(), "prompt_length": stats.length_summary(), **stats.tables()}
    if judge is not None:
        extra["judge"] = judge
    for path in (result.out, result.eval_out):
        if path is not None and path.exists():
            write_manifest(path, settings=settings, inputs=result.inputs, counts=run.counts(), started_at=started,
                           extra=extra)
    return run
