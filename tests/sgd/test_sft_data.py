"""`sgd format`: compiled samples to fine-tuning data that `crafter finetune` trains on (local and vertex)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.data import example_sgd_root
from teachkit.jsonl import read_records
from teachkit.records import Sample
from teachkit.sft_data.formats import check

runner = CliRunner()


def cli(*args: str) -> object:
    return runner.invoke(app, list(args))


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    out = tmp_path / "samples.jsonl"
    result = cli("--json", "sgd", "compile", "--sgd-root", str(example_sgd_root()), "--split", "train",
                 "--limit", "40", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_messages_keep_the_prompt_and_reply_with_the_reference_split_by_dialogue(samples: Path, tmp_path: Path):
    out = tmp_path / "sft.jsonl"
    result = cli("--json", "sgd", "format", str(samples), "--out", str(out), "--validation-fraction", "0.3")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    by_id = {sample.id: sample for sample in read_records(samples, Sample)}
    validation = tmp_path / "sft.validation.jsonl"
    assert summary["validation_output"] == str(validation)
    assert summary["train_examples"] + summary["validation_examples"] == len(by_id)
    assert summary["validation_dialogues"] >= 1 and summary["training_tokens"] > 0
    assert summary["next"] == f"teachkit crafter finetune {out} --backend local"

    records = {name: [json.loads(line)["messages"] for line in path.read_text().splitlines()]
               for name, path in (("train", out), ("validation", validation))}
    assert len(records["train"]) == summary["train_examples"]
    # Each example: the sample's own prompt messages (system message kept first), then the reference as the reply.
    dialogue_of: dict[str, str] = {}
    for sample in by_id.values():
        messages = [m.model_dump() for m in sample.prompt] + [{"role": "assistant", "content": sample.ground_truth}]
        dialogue_of[json.dumps(messages)] = f"{sample.split}/{sample.dialogue_id}"
    written = records["train"] + records["validation"]
    assert sorted(map(json.dumps, written)) == sorted(dialogue_of)
    assert all(messages[0]["role"] == "system" for messages in written)
    assert all(check({"messages": messages}, "messages") == [] for messages in written)
    # Whole dialogues go to one side: no dialogue has examples in both files.
    sides = {name: {dialogue_of[json.dumps(messages)] for messages in records[name]} for name in records}
    assert sides["train"] and sides["validation"] and not sides["train"] & sides["validation"]

    manifest = json.loads((tmp_path / "sft.jsonl.manifest.json").read_text())
    assert manifest["format"]["target"] == "messages"
    assert manifest["counts"]["examples"] == summary["train_examples"]
    assert manifest["inputs"][0]["path"] == str(samples)


def test_formatted_samples_train_a_local_student_one_step(samples: Path, tiny_model_dir: Path, tmp_path: Path):
    out = tmp_path / "sft.jsonl"
    assert cli("sgd", "format", str(samples), "--out", str(out)).exit_code == 0
    result = cli("--json", "crafter", "finetune", str(out), "--backend", "local", "--model", str(tiny_model_dir),
                 "--output-dir", str(tmp_path / "student"), "--max-steps", "1", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 1 and summary["examples"] == 40
    assert (tmp_path / "student" / "adapter_model.safetensors").is_file()
    record = json.loads((tmp_path / "student" / "teachkit-training.json").read_text())
    # The student's record keeps the system prompt the data carries most often, for prompting it later.
    assert record["prompt"]["source_format"] == "messages" and record["prompt"]["system_prompt"]


def test_vertex_target_plans_a_tuning_job(samples: Path, tmp_path: Path):
    out = tmp_path / "sft.jsonl"
    formatted = cli("--json", "sgd", "format", str(samples), "--out", str(out), "--target", "vertex")
    assert formatted.exit_code == 0, formatted.output
    first = json.loads(out.read_text().splitlines()[0])
    assert first["systemInstruction"]["parts"][0]["text"] and first["contents"][-1]["role"] == "model"
    result = cli("--json", "crafter", "finetune", str(out), "--backend", "vertex", "--dry-run",
                 "--project", "p", "--bucket", "b")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["train_examples"] == 40 and summary["dry_run"]
    assert summary["uploads"][0]["object"].startswith("gs://b/teachkit/sft-")


def test_an_existing_output_is_refused_and_a_validation_file_needs_a_fraction(samples: Path, tmp_path: Path):
    out = tmp_path / "sft.jsonl"
    assert cli("sgd", "format", str(samples), "--out", str(out)).exit_code == 0
    again = cli("sgd", "format", str(samples), "--out", str(out))
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    lonely = cli("sgd", "format", str(samples), "--out", str(tmp_path / "x.jsonl"), "--validation-file",
                 str(tmp_path / "v.jsonl"))
    assert lonely.exit_code == 2 and "--validation-fraction" in lonely.stderr
