"""The compile summary: samples per split, service and act, prompt lengths in characters or tokens."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.data import example_sgd_root
from teachkit.jsonl import read_records
from teachkit.records import Sample
from teachkit.sgd.compile import CompileOptions, compile_samples
from teachkit.sgd.summary import SampleStats, percentile, prompt_text, summarize_files

EXAMPLES = example_sgd_root()


@pytest.mark.parametrize("prompt_format", ["messages", "text"])
def test_compile_counts_match_a_recount_of_the_file(tmp_path: Path, prompt_format: str) -> None:
    out = tmp_path / "samples.jsonl"
    result = compile_samples(EXAMPLES, out, CompileOptions(splits=["train", "dev"], prompt_format=prompt_format,
                                                           max_context_turns=5))
    recount = summarize_files([out])
    assert result.stats.length_summary() == recount.length_summary()
    assert result.stats.tables() == recount.tables()
    samples = list(read_records(out, Sample))
    assert sorted(result.stats.lengths) == sorted(len(prompt_text(s.prompt)) for s in samples)
    acts = Counter(act for s in samples for act in {a.act for a in s.system_actions})
    assert result.stats.by_act == acts
    assert result.stats.by_split == Counter(s.split for s in samples)


def test_length_summary_and_percentiles() -> None:
    stats = SampleStats()
    for length in range(1, 101):
        stats.add("train", ("Weather_4",), ("INFORM", "INFORM"), length)
    assert stats.length_summary() == {"unit": "chars", "min": 1, "mean": 50.5, "p50": 50, "p90": 90, "p99": 99,
                                      "max": 100}
    assert stats.by_act == Counter({"INFORM": 100})
    assert percentile([5], 50) == 5
    assert SampleStats("tokens").length_summary()["p50"] is None


def test_summary_command_counts_tokens_with_a_local_tokenizer(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "samples.jsonl"
    compile_samples(EXAMPLES, out, CompileOptions(splits=["dev"], limit=20))
    result = CliRunner().invoke(app, ["--json", "sgd", "summary", str(out), "--tokenizer", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["samples"] == 20
    lengths = summary["prompt_length"]
    assert lengths["unit"] == "tokens"
    chars = summarize_files([out]).length_summary()
    # A byte-level BPE token covers at least one character and usually several.
    assert 0 < lengths["max"] <= chars["max"] and lengths["mean"] < chars["mean"]
