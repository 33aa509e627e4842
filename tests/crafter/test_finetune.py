"""`crafter finetune --backend local`: TRL SFT + LoRA on the tiny model, and what the run leaves behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.console import Output
from teachkit.crafter.finetune import (
    FinetuneRequest,
    check_training_files,
    observation_format_of,
    prepare_local,
    read_examples,
    student_prompt,
)
from teachkit.crafter.formats import Example, render
from teachkit.records import TrainedModel
from teachkit.settings import load_settings
from teachkit.train.artifacts import TRAINING_RECORD

COMPACT = "t{i} day H9 F9 D9 E9\ninv: wood {i}\nface W: tree\nnear: tree W1"


def write_examples(path: Path, target: str, count: int = 8, *, system: str | None = None, history: int = 0) -> Path:
    lines = []
    for index in range(count):
        turns: list[tuple[str, str]] = []
        for earlier in range(history):
            turns += [("user", COMPACT.format(i=index + earlier)), ("model", "Action: move_left")]
        turns += [("user", COMPACT.format(i=index)), ("model", "Action: do")]
        lines.append(json.dumps(render(Example(system=system, turns=turns), target)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_local_finetune_changes_the_adapter_and_not_the_base(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    train = write_examples(tmp_path / "train.jsonl", "messages")
    (tmp_path / "train.jsonl.manifest.json").write_text(json.dumps({"inputs": []}))
    result = CliRunner().invoke(app, [
        "--json", "crafter", "finetune", str(train), "--backend", "local", "--model", str(tiny_model_dir),
        "--output-dir", str(tmp_path / "student"), "--max-steps", "3", "--batch-size", "4", "--learning-rate",
        "0.05", "--lora-r", "4", "--merge",
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 3 and summary["device"] == "cpu" and summary["dtype"] == "float32"
    student = tmp_path / "student"

    adapter = load_file(student / "adapter_model.safetensors")
    lora_b = {name: tensor for name, tensor in adapter.items() if "lora_B" in name}
    assert lora_b and all(tensor.abs().sum() > 0 for tensor in lora_b.values())  # B starts at zero: it learned

    # The merged model differs from the base by exactly the LoRA update; every other weight is the base's.
    base = load_file(tiny_model_dir / "model.safetensors")
    merged = load_file(student / "merged" / "model.safetensors")
    config = json.loads((student / "adapter_config.json").read_text())
    scale = config["lora_alpha"] / config["r"]
    adapted = 0
    for name, weight in base.items():
        prefix = "base_model.model." + name.removesuffix(".weight")
        a, b = adapter.get(prefix + ".lora_A.weight"), adapter.get(prefix + ".lora_B.weight")
        if a is None:
            assert torch.equal(merged[name], weight), name
        else:
            adapted += 1
            assert torch.allclose(merged[name] - weight, scale * b @ a, atol=1e-6), name
    assert adapted == 14  # q, k, v, o, gate, up, down in each of the 2 layers

    record = TrainedModel.model_validate_json((student / TRAINING_RECORD).read_text())
    assert record.data[0].path == str(train.resolve()) and record.data[0].examples == 8
    assert record.data[0].manifest == str(train.resolve()) + ".manifest.json"
    assert record.prompt is not None and record.prompt.observation_format == "compact"
    card = (student / "README.md").read_text()
    assert str(train.resolve()) in card and "train.jsonl.manifest.json" in card
    assert (student / "tokenizer.json").is_file() and (student / "merged" / "config.json").is_file()

    again = CliRunner().invoke(app, ["crafter", "finetune", str(train), "--model", str(tiny_model_dir),
                                     "--output-dir", str(student), "--max-steps", "1"])
    assert again.exit_code == 2 and "--overwrite" in again.stderr


@pytest.mark.parametrize("target", ["vertex", "prompt-completion"])
def test_loss_falls_on_the_model_turn_only(tiny_model_dir: Path, tmp_path: Path, target: str) -> None:
    train = write_examples(tmp_path / "train.jsonl", target, count=2, system="You play Crafter.", history=1)
    settings = load_settings(None, {"crafter.finetune.local_model": str(tiny_model_dir),
                                    "crafter.finetune.output_dir": str(tmp_path / "out")})
    reports = check_training_files(train, None, settings, Output(), vertex=False)
    run = prepare_local(FinetuneRequest(train), reports, settings, Output())
    row = run.trainer.train_dataset[0]
    trained = [token for token, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
    text = run.tokenizer.decode(trained)
    # Only the last reply is trained: not the system prompt, the observations or the earlier reply.
    assert text.startswith("Action: do<|im_end|>") and "move_left" not in text and "tree" not in text
    assert run.prompt.history == 1 and run.prompt.system_prompt == "You play Crafter."


def test_student_prompt_reads_the_observation_format_from_the_episodes(tmp_path: Path) -> None:
    episodes = tmp_path / "episodes.jsonl"
    episodes.write_text(json.dumps({"id": "seed-0", "observation_format": "full"}) + "\n")
    train = write_examples(tmp_path / "train.jsonl", "vertex")
    examples = read_examples(train, "vertex")
    assert observation_format_of(train, examples) == "compact"  # no manifest: told from the text
    (tmp_path / "train.jsonl.manifest.json").write_text(json.dumps({"inputs": [{"path": str(episodes)}]}))
    assert observation_format_of(train, examples) == "full"  # the episodes' own record wins
    prompt = student_prompt(train, examples, "vertex")
    assert not prompt.with_thoughts and prompt.history == 0 and prompt.system_prompt is None


def test_local_dry_run_loads_nothing(tmp_path: Path) -> None:
    train = write_examples(tmp_path / "train.jsonl", "messages", count=10)
    result = CliRunner().invoke(app, ["--json", "crafter", "finetune", str(train), "--dry-run", "--batch-size", "4",
                                      "--epochs", "2", "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 6 and summary["train_examples"] == 10
    assert not (tmp_path / "out").exists()


def test_bad_training_file_exits_2_with_the_line(tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    train.write_text('{"messages": [{"role": "user", "content": "hi"}]}\nnot json\n')
    result = CliRunner().invoke(app, ["crafter", "finetune", str(train)])
    assert result.exit_code == 2
    assert f"{train}:1:" in result.stderr and "more" in result.stderr
